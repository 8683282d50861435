#include "trainflow/ml/scale.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "column_transform.hpp"

namespace trainflow::ml {
namespace {

constexpr std::string_view kMagic = "TFSCALER";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kName = "FittedScaler";

// The non-missing values of numeric column `col` over the rows of `data`.
std::vector<double> present_values(const Dataset& data, std::size_t col) {
  std::vector<double> values;
  values.reserve(data.num_rows());
  for (std::size_t r = 0; r < data.num_rows(); ++r) {
    const double v = data.numeric(col, r);
    if (!std::isnan(v)) values.push_back(v);
  }
  return values;
}

// Fits every selected column with `fit_one(name, values)`, which returns its ScaleParams.
template <class Fn>
Result<FittedScaler> fit_columns(const Dataset& train, std::span<const std::string> columns,
                                 std::string_view what, Fn fit_one) {
  Result<std::vector<std::size_t>> indices =
      detail::resolve_columns(train, columns, detail::ColumnKind::kNumeric, what);
  if (!indices) return std::move(indices).error();
  std::vector<ScaleParams> params;
  params.reserve(indices->size());
  for (std::size_t col : *indices) {
    const std::string& name = train.column(col).name();
    std::vector<double> values = present_values(train, col);
    if (values.empty()) {
      return invalid_argument(std::string(what) + ": column '" + name +
                              "' has no non-missing value in the training data");
    }
    ScaleParams p = fit_one(values);
    p.column = name;
    params.push_back(std::move(p));
  }
  return FittedScaler(std::move(params));
}

// Numpy's default ('linear') quantile of sorted `values` at `q` percent.
double quantile(const std::vector<double>& sorted, double q) {
  const double position = q / 100 * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const double fraction = position - static_cast<double>(below);
  if (below + 1 >= sorted.size()) return sorted.back();
  return sorted[below] + fraction * (sorted[below + 1] - sorted[below]);
}

}  // namespace

Result<FittedScaler> StandardScaler::fit(const Dataset& train,
                                         std::span<const std::string> columns) const {
  return fit_columns(train, columns, "StandardScaler", [&](const std::vector<double>& values) {
    // Two passes: the mean, then the squared deviations from it (stable for large offsets).
    const auto n = static_cast<double>(values.size());
    double sum = 0;
    for (double v : values) sum += v;
    double mean = sum / n;
    double correction = 0;
    double squares = 0;
    for (double v : values) {
      correction += v - mean;
      squares += (v - mean) * (v - mean);
    }
    const double variance = (squares - correction * correction / n) / n;
    mean += correction / n;
    ScaleParams p;
    p.center = options_.with_mean ? mean : 0;
    const double std_dev = std::sqrt(std::max(variance, 0.0));
    p.scale = options_.with_std && std_dev > 0 && std::isfinite(std_dev) ? std_dev : 1;
    return p;
  });
}

Result<FittedScaler> MinMaxScaler::fit(const Dataset& train,
                                       std::span<const std::string> columns) const {
  if (!(options_.min < options_.max) || !std::isfinite(options_.max - options_.min)) {
    return invalid_argument("MinMaxScaler: the range [" + std::to_string(options_.min) + ", " +
                            std::to_string(options_.max) +
                            "] is not valid; min must be less than max and max - min finite");
  }
  return fit_columns(train, columns, "MinMaxScaler", [&](const std::vector<double>& values) {
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    ScaleParams p;
    p.center = *lo;
    const double range = *hi - *lo;
    // A constant column divides by a range of 1, as scikit-learn does, so it maps to min.
    const double span = options_.max - options_.min;
    p.scale = (range > 0 && std::isfinite(range) ? range : 1) / span;
    p.offset = options_.min;
    return p;
  });
}

Result<FittedScaler> RobustScaler::fit(const Dataset& train,
                                       std::span<const std::string> columns) const {
  if (!(options_.q_low >= 0 && options_.q_low <= options_.q_high && options_.q_high <= 100)) {
    return invalid_argument("RobustScaler: quantiles q_low = " + std::to_string(options_.q_low) +
                            ", q_high = " + std::to_string(options_.q_high) +
                            " are not valid; need 0 <= q_low <= q_high <= 100");
  }
  return fit_columns(train, columns, "RobustScaler", [&](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    ScaleParams p;
    p.center = options_.with_centering ? quantile(values, 50) : 0;
    const double range = quantile(values, options_.q_high) - quantile(values, options_.q_low);
    p.scale = options_.with_scaling && range > 0 && std::isfinite(range) ? range : 1;
    return p;
  });
}

Result<Dataset> FittedScaler::transform(const Dataset& data) const {
  std::vector<std::size_t> indices;
  std::vector<Column> replacements;
  indices.reserve(params_.size());
  replacements.reserve(params_.size());
  for (const ScaleParams& p : params_) {
    const std::optional<std::size_t> col = data.find(p.column);
    if (!col) {
      return not_found("FittedScaler::transform: the dataset has no column '" + p.column +
                       "', which the scaler was fitted on");
    }
    if (!data.column(*col).is_numeric()) {
      return invalid_argument("FittedScaler::transform: column '" + p.column +
                              "' is categorical but was fitted as numeric");
    }
    std::vector<double> out(data.num_rows());
    for (std::size_t r = 0; r < out.size(); ++r) {
      out[r] = detail::scale_value(data.numeric(*col, r), p.center, p.scale, p.offset);
    }
    indices.push_back(*col);
    replacements.push_back(Column::float64(p.column, std::move(out)));
  }
  return detail::replace_columns(data, indices, std::move(replacements));
}

std::string FittedScaler::to_bytes() const {
  detail::ByteWriter writer(kMagic, kVersion);
  writer.u32(static_cast<std::uint32_t>(params_.size()));
  for (const ScaleParams& p : params_) {
    writer.str(p.column);
    writer.f64(p.center);
    writer.f64(p.scale);
    writer.f64(p.offset);
  }
  return std::move(writer).finish();
}

Result<FittedScaler> FittedScaler::from_bytes(std::string_view bytes) {
  Result<detail::ByteReader> opened = detail::ByteReader::open(bytes, kMagic, kVersion, kName);
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = *opened;
  const std::uint32_t count = reader.u32();
  // Each map takes at least 4 + 3 * 8 bytes: bound the count before allocating.
  if (count > reader.remaining() / 28) reader.fail();
  std::vector<ScaleParams> params;
  for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) {
    ScaleParams p;
    p.column = reader.str();
    p.center = reader.f64();
    p.scale = reader.f64();
    p.offset = reader.f64();
    if (!(std::isfinite(p.scale) && p.scale != 0)) reader.fail();
    params.push_back(std::move(p));
  }
  if (Status status = reader.finish(kName); !status.ok()) return status;
  return FittedScaler(std::move(params));
}

}  // namespace trainflow::ml

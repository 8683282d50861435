#include "trainflow/ml/impute.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "column_transform.hpp"

namespace trainflow::ml {
namespace {

constexpr std::string_view kMagic = "TFIMPUTE";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kName = "FittedImputer";

// The non-missing values of numeric column `col` over the rows of `data`, sorted when `sorted`.
std::vector<double> present_values(const Dataset& data, std::size_t col, bool sorted) {
  std::vector<double> values;
  values.reserve(data.num_rows());
  for (std::size_t r = 0; r < data.num_rows(); ++r) {
    const double v = data.numeric(col, r);
    if (!std::isnan(v)) values.push_back(v);
  }
  if (sorted) std::sort(values.begin(), values.end());
  return values;
}

Result<ImputeFill> fit_numeric(const Dataset& train, std::size_t col,
                               const SimpleImputerOptions& options) {
  ImputeFill fill;
  fill.column = train.column(col).name();
  if (options.strategy == ImputeStrategy::kConstant) {
    fill.value = options.fill_value;
    return fill;
  }
  const std::vector<double> values =
      present_values(train, col, options.strategy != ImputeStrategy::kMean);
  if (values.empty()) {
    return invalid_argument("SimpleImputer: column '" + fill.column +
                            "' has no non-missing value in the training data; drop it or use "
                            "ImputeStrategy::kConstant");
  }
  const std::size_t n = values.size();
  switch (options.strategy) {
    case ImputeStrategy::kMean: {
      // Two-pass mean: the correction term removes the rounding error of the first pass.
      double sum = 0;
      for (double v : values) sum += v;
      const double first = sum / static_cast<double>(n);
      double correction = 0;
      for (double v : values) correction += v - first;
      fill.value = first + correction / static_cast<double>(n);
      break;
    }
    case ImputeStrategy::kMedian:
      fill.value = n % 2 == 1 ? values[n / 2] : std::midpoint(values[n / 2 - 1], values[n / 2]);
      break;
    case ImputeStrategy::kMostFrequent: {
      std::size_t best_count = 0;
      for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        while (j < n && values[j] == values[i]) ++j;
        if (j - i > best_count) {  // strictly greater: the smallest value wins ties
          best_count = j - i;
          fill.value = values[i];
        }
        i = j;
      }
      break;
    }
    case ImputeStrategy::kConstant: break;
  }
  return fill;
}

Result<ImputeFill> fit_categorical(const Dataset& train, std::size_t col,
                                   const SimpleImputerOptions& options) {
  const Column& column = train.column(col);
  ImputeFill fill;
  fill.column = column.name();
  fill.categorical = true;
  switch (options.strategy) {
    case ImputeStrategy::kMean:
    case ImputeStrategy::kMedian:
      return invalid_argument("SimpleImputer: column '" + fill.column +
                              "' is categorical; mean and median apply only to numeric columns "
                              "(use kMostFrequent or kConstant)");
    case ImputeStrategy::kConstant: fill.category = options.fill_category; return fill;
    case ImputeStrategy::kMostFrequent: break;
  }
  std::vector<std::size_t> counts(column.categories().size(), 0);
  for (std::size_t r = 0; r < train.num_rows(); ++r) {
    const std::int32_t code = train.code(col, r);
    if (code >= 0) ++counts[static_cast<std::size_t>(code)];
  }
  const auto best = std::max_element(counts.begin(), counts.end());  // first maximum wins ties
  if (best == counts.end() || *best == 0) {
    return invalid_argument("SimpleImputer: column '" + fill.column +
                            "' has no non-missing value in the training data; drop it or use "
                            "ImputeStrategy::kConstant");
  }
  fill.category = column.categories()[static_cast<std::size_t>(best - counts.begin())];
  return fill;
}

Column impute_numeric(const Dataset& data, std::size_t col, double value) {
  std::vector<double> out(data.num_rows());
  for (std::size_t r = 0; r < out.size(); ++r) {
    const double v = data.numeric(col, r);
    out[r] = std::isnan(v) ? value : v;
  }
  return Column::float64(data.column(col).name(), std::move(out));
}

Column impute_categorical(const Dataset& data, std::size_t col, const std::string& category) {
  const Column& column = data.column(col);
  std::vector<std::string> categories = column.categories();
  auto found = std::find(categories.begin(), categories.end(), category);
  const auto code = static_cast<std::int32_t>(found - categories.begin());
  if (found == categories.end()) categories.push_back(category);
  std::vector<std::int32_t> out(data.num_rows());
  for (std::size_t r = 0; r < out.size(); ++r) {
    const std::int32_t c = data.code(col, r);
    out[r] = c < 0 ? code : c;
  }
  return Column::categorical(column.name(), std::move(out), std::move(categories));
}

}  // namespace

Result<FittedImputer> SimpleImputer::fit(const Dataset& train,
                                         std::span<const std::string> columns) const {
  const bool numeric_only =
      options_.strategy == ImputeStrategy::kMean || options_.strategy == ImputeStrategy::kMedian;
  // Explicit categorical columns are checked by fit_categorical, with a better message.
  Result<std::vector<std::size_t>> indices = detail::resolve_columns(
      train, columns,
      numeric_only && columns.empty() ? detail::ColumnKind::kNumeric : detail::ColumnKind::kAny,
      "SimpleImputer");
  if (!indices) return std::move(indices).error();
  std::vector<ImputeFill> fills;
  fills.reserve(indices->size());
  for (std::size_t col : *indices) {
    Result<ImputeFill> fill = train.column(col).is_numeric()
                                  ? fit_numeric(train, col, options_)
                                  : fit_categorical(train, col, options_);
    if (!fill) return std::move(fill).error();
    fills.push_back(std::move(*fill));
  }
  return FittedImputer(std::move(fills));
}

Result<Dataset> FittedImputer::transform(const Dataset& data) const {
  std::vector<std::size_t> indices;
  std::vector<Column> replacements;
  indices.reserve(fills_.size());
  replacements.reserve(fills_.size());
  for (const ImputeFill& fill : fills_) {
    const std::optional<std::size_t> col = data.find(fill.column);
    if (!col) {
      return not_found("FittedImputer::transform: the dataset has no column '" + fill.column +
                       "', which the imputer was fitted on");
    }
    if (data.column(*col).is_numeric() == fill.categorical) {
      return invalid_argument("FittedImputer::transform: column '" + fill.column + "' is " +
                              std::string(to_string(data.column(*col).type())) +
                              " but was fitted as " +
                              (fill.categorical ? "categorical" : "numeric"));
    }
    indices.push_back(*col);
    replacements.push_back(fill.categorical ? impute_categorical(data, *col, fill.category)
                                            : impute_numeric(data, *col, fill.value));
  }
  return detail::replace_columns(data, indices, std::move(replacements));
}

std::string FittedImputer::to_bytes() const {
  detail::ByteWriter writer(kMagic, kVersion);
  writer.u32(static_cast<std::uint32_t>(fills_.size()));
  for (const ImputeFill& fill : fills_) {
    writer.str(fill.column);
    writer.u8(fill.categorical ? 1 : 0);
    if (fill.categorical) {
      writer.str(fill.category);
    } else {
      writer.f64(fill.value);
    }
  }
  return std::move(writer).finish();
}

Result<FittedImputer> FittedImputer::from_bytes(std::string_view bytes) {
  Result<detail::ByteReader> opened = detail::ByteReader::open(bytes, kMagic, kVersion, kName);
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = *opened;
  const std::uint32_t count = reader.u32();
  // Each fill takes at least 4 + 1 + 4 bytes: bound the count before allocating.
  if (count > reader.remaining() / 9) reader.fail();
  std::vector<ImputeFill> fills;
  for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) {
    ImputeFill fill;
    fill.column = reader.str();
    const std::uint8_t kind = reader.u8();
    if (kind > 1) reader.fail();
    fill.categorical = kind == 1;
    if (fill.categorical) {
      fill.category = reader.str();
    } else {
      fill.value = reader.f64();
    }
    fills.push_back(std::move(fill));
  }
  if (Status status = reader.finish(kName); !status.ok()) return status;
  return FittedImputer(std::move(fills));
}

}  // namespace trainflow::ml

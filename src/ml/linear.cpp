#include "trainflow/ml/linear.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "column_transform.hpp"
#include "model_support.hpp"

namespace trainflow::ml {
namespace {

constexpr std::string_view kMagic = "TFLINEAR";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kName = "LinearModel";

}  // namespace

LinearModel::LinearModel(std::vector<std::string> feature_names, std::vector<double> weights,
                         double intercept, std::size_t rank)
    : feature_names_(std::move(feature_names)),
      weights_(std::move(weights)),
      intercept_(intercept),
      rank_(rank) {
  assert(weights_.size() == feature_names_.size() && "one weight per feature");
  assert(rank_ <= feature_names_.size() && "rank above the feature count");
}

Result<std::vector<double>> LinearModel::predict_values(const Dataset& data) const {
  Result<std::vector<std::size_t>> cols =
      detail::bind_features(data, feature_names_, "LinearModel::predict");
  if (!cols) return std::move(cols).error();
  std::vector<double> out(data.num_rows());
  for (std::size_t r = 0; r < out.size(); ++r) {
    double sum = intercept_;
    for (std::size_t j = 0; j < cols->size(); ++j) sum += weights_[j] * data.numeric((*cols)[j], r);
    out[r] = sum;
  }
  return out;
}

const std::vector<std::string>& LinearModel::classes() const noexcept {
  static const std::vector<std::string> kNone;
  return kNone;
}

Result<Predictions> LinearModel::predict(const Dataset& data) const {
  Result<std::vector<double>> values = predict_values(data);
  if (!values) return std::move(values).error();
  Predictions out;
  out.task = Task::kRegression;
  out.values = std::move(*values);
  return out;
}

std::string LinearModel::to_bytes() const {
  detail::ByteWriter writer(kMagic, kVersion);
  writer.u32(static_cast<std::uint32_t>(feature_names_.size()));
  for (std::size_t j = 0; j < feature_names_.size(); ++j) {
    writer.str(feature_names_[j]);
    writer.f64(weights_[j]);
  }
  writer.f64(intercept_);
  writer.u64(rank_);
  return std::move(writer).finish();
}

Result<LinearModel> LinearModel::from_bytes(std::string_view bytes) {
  Result<detail::ByteReader> opened = detail::ByteReader::open(bytes, kMagic, kVersion, kName);
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = *opened;
  const std::uint32_t count = reader.u32();
  // Each feature takes at least 4 + 8 bytes: bound the count before allocating.
  if (count > reader.remaining() / 12) reader.fail();
  std::vector<std::string> names;
  std::vector<double> weights;
  std::unordered_set<std::string> seen;
  for (std::uint32_t j = 0; j < count && !reader.failed(); ++j) {
    std::string name = reader.str();
    const double weight = reader.f64();
    if (!std::isfinite(weight) || !seen.insert(name).second) reader.fail();
    names.push_back(std::move(name));
    weights.push_back(weight);
  }
  const double intercept = reader.f64();
  const std::uint64_t rank = reader.u64();
  if (!std::isfinite(intercept) || rank > count) reader.fail();
  if (Status status = reader.finish(kName); !status.ok()) return status;
  return LinearModel(std::move(names), std::move(weights), intercept,
                     static_cast<std::size_t>(rank));
}

Result<LinearModel> fit_linear_regression(const Dataset& train,
                                          const LinearRegressionOptions& options) {
  constexpr std::string_view kWhat = "fit_linear_regression";
  const std::string where(kWhat);
  if (!(std::isfinite(options.l2) && options.l2 >= 0)) {
    return invalid_argument(where + ": l2 = " + std::to_string(options.l2) +
                            " must be finite and >= 0");
  }
  const std::optional<std::size_t> target = train.target_index();
  if (!target) {
    return invalid_argument(where +
                            ": the dataset has no target column; name one in Dataset::make");
  }
  if (!train.column(*target).is_numeric()) {
    return invalid_argument(where + ": target column '" + train.target_name() +
                            "' is categorical; linear regression needs a numeric target");
  }
  Result<std::vector<std::size_t>> checked = detail::training_features(train, kWhat);
  if (!checked) return std::move(checked).error();
  const std::vector<std::size_t>& features = *checked;
  if (Status status = detail::check_finite(train, *target, kWhat); !status.ok()) return status;

  Eigen::MatrixXd x = train.to_matrix(features);
  Eigen::VectorXd y = train.to_vector(*target);
  const auto d = x.cols();
  Eigen::RowVectorXd x_mean = Eigen::RowVectorXd::Zero(d);
  double y_mean = 0;
  if (options.fit_intercept) {
    x_mean = x.colwise().mean();
    y_mean = y.mean();
    x.rowwise() -= x_mean;
    y.array() -= y_mean;
  }

  Eigen::VectorXd w;
  std::size_t rank = 0;
  if (options.l2 > 0) {
    Eigen::MatrixXd gram = x.transpose() * x;
    gram.diagonal().array() += options.l2;
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(gram);
    w = ldlt.solve(x.transpose() * y);
    rank = static_cast<std::size_t>(d);
  } else {
    const Eigen::CompleteOrthogonalDecomposition<Eigen::MatrixXd> cod(x);
    w = cod.solve(y);
    rank = static_cast<std::size_t>(cod.rank());
  }
  const double intercept = options.fit_intercept ? y_mean - x_mean.dot(w) : 0.0;
  if (!w.allFinite() || !std::isfinite(intercept)) {
    return invalid_argument(where +
                            ": the solution is not finite; the values are too large, scale them");
  }

  return LinearModel(detail::column_names(train, features),
                     std::vector<double>(w.data(), w.data() + w.size()), intercept, rank);
}

}  // namespace trainflow::ml

// Linear regression: ordinary least squares and ridge, solved in closed form with Eigen, and the
// LinearModel they return.
//
// fit_linear_regression() learns y ~ b + w . x from the numeric feature columns of a dataset with a
// numeric target, minimising ||y - X w - b||^2 + l2 * ||w||^2 (the intercept b is not penalised),
// like scikit-learn's Ridge(alpha=l2) and, for l2 == 0, LinearRegression. Categorical features
// must be encoded and missing values imputed first. A LinearModel is a value that serialises to
// bytes and back bit-exactly.
//
//   Result<LinearModel> model = fit_linear_regression(train, {.l2 = 1.0});
//   if (!model) std::cerr << model.error().message();
//   Result<std::vector<double>> y_hat = model->predict_values(test);   // columns matched by name
//
// fit_linear_regression is pure and thread-safe; a LinearModel is immutable: safe to share by
// threads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/model.hpp"

namespace trainflow::ml {

struct LinearRegressionOptions {
  // Ridge penalty on the weights (not on the intercept), finite and >= 0. Default 0: ordinary
  // least squares, solved for the minimum-norm weights when features are collinear. A larger l2
  // shrinks the weights toward 0, trading bias for lower variance and a well-conditioned system.
  double l2 = 0.0;
  // Learn an intercept. Default true; false fits a model through the origin (b = 0), which is
  // right only when the features and target are already centred.
  bool fit_intercept = true;
};

// A fitted linear model: prediction = intercept + sum_j weights[j] * x[feature_names[j]].
class LinearModel final : public Model {
 public:
  // From explicit parameters. REQUIRES: weights.size() == feature_names.size(), names distinct,
  // rank <= feature_names.size() (asserted in debug builds).
  LinearModel(std::vector<std::string> feature_names, std::vector<double> weights, double intercept,
              std::size_t rank);

  // The model's predictions for the rows of `data` (a view predicts its own rows), in row order.
  // Feature columns are found by name, so `data` may hold them in any order, hold other columns,
  // and need no target. Each prediction is intercept + sum of weights[j] * x_j summed in the
  // order of feature_names(). Fails with kNotFound naming a feature column that `data` lacks,
  // kInvalidArgument naming a feature column that is categorical, or the column and row of a
  // missing or infinite value.
  Result<std::vector<double>> predict_values(const Dataset& data) const;

  // Model: kind "linear_regression", Task::kRegression, no classes; predict() gives
  // predict_values() as Predictions::values.
  std::string_view kind() const noexcept override { return "linear_regression"; }
  Task task() const noexcept override { return Task::kRegression; }
  const std::vector<std::string>& feature_names() const noexcept override { return feature_names_; }
  const std::vector<std::string>& classes() const noexcept override;
  Result<Predictions> predict(const Dataset& data) const override;

  // feature_names(): in the order of the training dataset's numeric feature columns.
  // One weight per feature, in the order of feature_names().
  const std::vector<double>& weights() const noexcept { return weights_; }
  // 0 when fitted with fit_intercept = false.
  double intercept() const noexcept { return intercept_; }
  // The numerical rank of the linear system that fit solved: for l2 == 0 the rank of the
  // (centred) design matrix found by the rank-revealing decomposition, below
  // feature_names().size() when features are collinear; for l2 > 0 always
  // feature_names().size(), since the penalised system is positive definite.
  std::size_t rank() const noexcept { return rank_; }

  // Little-endian bytes: magic "TFLINEAR", version, feature count, each feature's name and
  // weight (the double's bits), the intercept's bits, the rank, then XXH3-64 of all of it.
  std::string to_bytes() const override;
  // Reads to_bytes()'s output; predictions of the result equal the original's bit for bit.
  // Fails with kInvalidArgument saying what is wrong (bad magic, unsupported version, checksum
  // mismatch, truncated or malformed payload, a repeated feature name, a non-finite weight,
  // a rank above the feature count); never crashes, and allocates no more than the input's size
  // suggests.
  static Result<LinearModel> from_bytes(std::string_view bytes);

 private:
  std::vector<std::string> feature_names_;
  std::vector<double> weights_;
  double intercept_ = 0;
  std::size_t rank_ = 0;
};

// Fits y = b + w . x on every numeric feature column of `train` (every numeric column but the
// target, in dataset order) against its target.
//
// With fit_intercept, X and y are centred on their training means, w solves the centred problem
// and b = mean(y) - mean(X) . w; otherwise the uncentred problem is solved and b = 0. For
// l2 > 0, w solves (X^T X + l2 I) w = X^T y by Eigen's LDLT (Cholesky) factorisation. For
// l2 == 0, w = X^+ y by Eigen's CompleteOrthogonalDecomposition of X (column-pivoted QR then a
// complete orthogonal factorisation; Eigen's default rank threshold): the least-squares solution
// of minimum Euclidean norm, which for rank-deficient X (e.g. a duplicated column) splits the
// weight evenly rather than failing. Time O(n d^2) for n rows and d features; memory O(n d).
//
// Fails with kInvalidArgument when: options.l2 is negative or not finite; `train` has no target
// or a categorical target, no rows, or no numeric feature column; a feature column is
// categorical (named, with a hint to encode it first); a feature or target value is missing or
// infinite (column and row named, with a hint to impute missing values first); the solution is
// not finite (the values overflow; scale them).
Result<LinearModel> fit_linear_regression(const Dataset& train,
                                          const LinearRegressionOptions& options = {});

}  // namespace trainflow::ml

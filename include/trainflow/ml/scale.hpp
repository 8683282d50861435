// Scalers: StandardScaler, MinMaxScaler and RobustScaler learn a per-column affine map of numeric
// columns from training data; the FittedScaler they return applies it to any dataset.
//
// Every scaler maps value x of a fitted column to (x - center) / scale + offset, with center,
// scale and offset learned on the training rows only, so test statistics never leak into
// training. Missing values (NaN) are ignored by fit and stay missing in transform. A FittedScaler
// is a value that serialises to bytes and back bit-exactly.
//
//   Result<FittedScaler> fitted = StandardScaler().fit(train);   // every numeric feature column
//   Result<Dataset> scaled = fitted->transform(test);
//
// Scalers and FittedScalers are immutable after construction: safe to share by threads.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml {

// One column's learned map: x -> (x - center) / scale + offset. scale is never 0.
struct ScaleParams {
  std::string column;
  double center = 0;
  double scale = 1;
  double offset = 0;
};

class FittedScaler {
 public:
  // A dataset with the same columns in the same order, of exactly data.num_rows() rows in the
  // row order of `data`, that is not a view, in which every fitted column is replaced by a new
  // float64 column of mapped values, computed in one pass over the rows of `data` only; NaN
  // stays NaN. Other columns, the target included, are shared with `data` (not copied) when it
  // is not a view, and gathered for its rows when it is. Fails with kNotFound naming a fitted
  // column that `data` lacks, kInvalidArgument naming one that is categorical in `data`.
  Result<Dataset> transform(const Dataset& data) const;

  // The maps, in the order of the columns given to fit().
  const std::vector<ScaleParams>& params() const noexcept { return params_; }

  // Little-endian bytes: magic "TFSCALER", version, the maps, XXH3-64 checksum.
  std::string to_bytes() const;
  // Reads to_bytes()'s output. Fails with kInvalidArgument saying what is wrong (bad magic,
  // unsupported version, checksum mismatch, truncated or malformed payload); never crashes.
  static Result<FittedScaler> from_bytes(std::string_view bytes);

  // From explicit maps. REQUIRES: every scale is finite and non-zero.
  explicit FittedScaler(std::vector<ScaleParams> params) : params_(std::move(params)) {}

 private:
  std::vector<ScaleParams> params_;
};

// Common to every scaler's fit(): `columns` names numeric columns of `train`; empty means every
// numeric feature column (every numeric column but the target). Fails with kNotFound naming an
// unknown column; kInvalidArgument naming the target, a repeated column, a categorical column,
// or a column with no non-missing training value.

struct StandardScalerOptions {
  // Subtract the mean. Default true; false keeps sparse-style data uncentered (center 0).
  bool with_mean = true;
  // Divide by the population standard deviation (ddof = 0, like scikit-learn); a zero-variance
  // column is divided by 1. Default true.
  bool with_std = true;
};

// Standardises to zero mean and unit variance. Mean and variance use a two-pass algorithm, stable
// for data with a large offset (1e9 + small noise).
class StandardScaler {
 public:
  explicit StandardScaler(StandardScalerOptions options = {}) : options_(options) {}
  Result<FittedScaler> fit(const Dataset& train, std::span<const std::string> columns = {}) const;

 private:
  StandardScalerOptions options_;
};

struct MinMaxScalerOptions {
  // The target range [min, max]. Defaults 0 and 1. REQUIRES (checked by fit): min < max, max - min
  // finite.
  double min = 0;
  double max = 1;
};

// Maps the training range [data_min, data_max] linearly onto [min, max]. A constant column is
// treated as having a range of 1 (like scikit-learn), so its training value maps to min. Values
// outside the training range extrapolate linearly: no clipping.
class MinMaxScaler {
 public:
  explicit MinMaxScaler(MinMaxScalerOptions options = {}) : options_(options) {}
  Result<FittedScaler> fit(const Dataset& train, std::span<const std::string> columns = {}) const;

 private:
  MinMaxScalerOptions options_;
};

struct RobustScalerOptions {
  // Subtract the median. Default true.
  bool with_centering = true;
  // Divide by the quantile range q_high - q_low; a zero range divides by 1. Default true.
  bool with_scaling = true;
  // Quantiles in percent, numpy's default 'linear' interpolation. Defaults 25 and 75 (the IQR).
  // REQUIRES (checked by fit): 0 <= q_low <= q_high <= 100.
  double q_low = 25;
  double q_high = 75;
};

// Centres on the median and scales by a quantile range: insensitive to outliers.
class RobustScaler {
 public:
  explicit RobustScaler(RobustScalerOptions options = {}) : options_(options) {}
  Result<FittedScaler> fit(const Dataset& train, std::span<const std::string> columns = {}) const;

 private:
  RobustScalerOptions options_;
};

}  // namespace trainflow::ml

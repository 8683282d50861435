// Private support shared by the models (linear.cpp, logistic.cpp, mlp.cpp, model.cpp): choosing
// and checking feature columns, gathering them row-major, and learning the classes of a target.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml::detail {

// Ok when every value of numeric column `col` over the rows of `data` is finite; otherwise
// kInvalidArgument naming the column and the first missing or infinite row.
Status check_finite(const Dataset& data, std::size_t col, std::string_view what);

// The columns a model trains on: every numeric feature column of `train`, in dataset order.
// Fails with kInvalidArgument when `train` has no target, has no rows, has a categorical feature
// column (named, with a hint to encode it), has no numeric feature, or holds a missing or
// infinite feature value (column and row named, with a hint to impute).
Result<std::vector<std::size_t>> training_features(const Dataset& train, std::string_view what);

// The indices in `data` of the columns called `names`, each checked numeric and finite. Fails
// with kNotFound naming a missing column, kInvalidArgument as check_finite or for a categorical
// column.
Result<std::vector<std::size_t>> bind_features(const Dataset& data,
                                               std::span<const std::string> names,
                                               std::string_view what);

std::vector<std::string> column_names(const Dataset& data, std::span<const std::size_t> cols);

// Columns `cols` of data's rows as a rows x cols row-major matrix of Scalar, gathered in cache-
// sized blocks of rows (float32 columns are read as floats, float64 ones as doubles).
// REQUIRES: every column numeric.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> feature_rows(
    const Dataset& data, std::span<const std::size_t> cols) {
  const std::size_t n = data.num_rows();
  const std::size_t d = cols.size();
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out(
      static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(d));
  constexpr std::size_t kBlock = 256;
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t end = std::min(n, begin + kBlock);
    for (std::size_t j = 0; j < d; ++j) {
      const Column& column = data.column(cols[j]);
      Scalar* dst = out.data() + j;
      if (column.type() == ColumnType::kFloat32) {
        const std::span<const float> v = column.float32();
        for (std::size_t r = begin; r < end; ++r) {
          dst[r * d] = static_cast<Scalar>(v[data.source_row(r)]);
        }
      } else {
        const std::span<const double> v = column.float64();
        for (std::size_t r = begin; r < end; ++r) {
          dst[r * d] = static_cast<Scalar>(v[data.source_row(r)]);
        }
      }
    }
  }
  return out;
}

// A classification target as learned by fit: the class names (see model.hpp) and each training
// row's class index.
struct TrainingClasses {
  std::vector<std::string> classes;
  std::vector<std::int32_t> labels;
};

// Fails with kInvalidArgument when `train` has no target, a target value is missing or infinite
// (row named), or fewer than two classes occur.
Result<TrainingClasses> training_classes(const Dataset& train, std::string_view what);

}  // namespace trainflow::ml::detail

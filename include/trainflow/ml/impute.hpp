// SimpleImputer: fills missing values of chosen columns with a statistic learned on training data.
//
// fit() learns one fill per column from the training rows only; the FittedImputer it returns is a
// value that transforms any dataset (train, test, a view) with those fills, so test statistics
// never leak into training. Fitted state serialises to bytes and back bit-exactly.
//
//   SimpleImputer imputer({.strategy = ImputeStrategy::kMedian});
//   Result<FittedImputer> fitted = imputer.fit(train);          // every numeric feature column
//   Result<Dataset> clean = fitted->transform(test);
//
// SimpleImputer and FittedImputer are immutable after construction: safe to share by threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml {

enum class ImputeStrategy : std::uint8_t {
  kMean,          // numeric only: mean of the non-missing training values
  kMedian,        // numeric only: median; an even count gives the mean of the two middle values
  kMostFrequent,  // numeric: most frequent value, the smallest on ties (like scikit-learn);
                  // categorical: most frequent category, the first in dictionary order on ties
  kConstant,      // numeric: fill_value; categorical: fill_category
};

struct SimpleImputerOptions {
  // Default kMean.
  ImputeStrategy strategy = ImputeStrategy::kMean;
  // The numeric fill of kConstant. Default 0.
  double fill_value = 0;
  // The categorical fill of kConstant; added to a column's dictionary (at the end) when absent.
  // Default "missing".
  std::string fill_category = "missing";
};

// One column's learned fill.
struct ImputeFill {
  std::string column;
  bool categorical = false;
  double value = 0;      // the fill of a numeric column
  std::string category;  // the fill of a categorical column
};

class FittedImputer {
 public:
  // A dataset with the same columns in the same order, of exactly data.num_rows() rows in the
  // row order of `data`, that is not a view, in which every fitted column has its missing values
  // filled. Numeric fitted columns become new float64 columns (float32 ones are widened);
  // categorical fitted columns stay categorical, with the fill category appended to the
  // dictionary when absent. New columns are computed at the rows of `data` only. Other columns,
  // the target included, are shared with `data` (not copied) when it is not a view, and gathered
  // for its rows when it is.
  // Fails with kNotFound naming a fitted column that `data` lacks, kInvalidArgument naming one
  // whose kind (numeric / categorical) differs from the one fitted.
  Result<Dataset> transform(const Dataset& data) const;

  // The fills, in the order of the columns given to fit().
  const std::vector<ImputeFill>& fills() const noexcept { return fills_; }

  // Little-endian bytes: magic "TFIMPUTE", version, the fills, XXH3-64 checksum.
  std::string to_bytes() const;
  // Reads to_bytes()'s output. Fails with kInvalidArgument saying what is wrong (bad magic,
  // unsupported version, checksum mismatch, truncated or malformed payload); never crashes.
  static Result<FittedImputer> from_bytes(std::string_view bytes);

 private:
  friend class SimpleImputer;
  explicit FittedImputer(std::vector<ImputeFill> fills) : fills_(std::move(fills)) {}
  std::vector<ImputeFill> fills_;
};

class SimpleImputer {
 public:
  explicit SimpleImputer(SimpleImputerOptions options = {}) : options_(std::move(options)) {}

  // Learns the fill of each column in `columns` (by name) from the rows of `train`. Empty
  // `columns` means every feature column (every column but the target) the strategy applies to:
  // numeric ones for kMean/kMedian, all of them otherwise. Fails with kNotFound naming an unknown
  // column; kInvalidArgument naming the target, a repeated column, a categorical column for
  // kMean/kMedian, or a column with no non-missing training value for kMean, kMedian or
  // kMostFrequent (scikit-learn drops such columns; we refuse, so that no column disappears).
  Result<FittedImputer> fit(const Dataset& train, std::span<const std::string> columns = {}) const;

  const SimpleImputerOptions& options() const noexcept { return options_; }

 private:
  SimpleImputerOptions options_;
};

}  // namespace trainflow::ml

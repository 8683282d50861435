// Categorical encoders: OrdinalEncoder and OneHotEncoder turn categorical columns into float64
// columns that models can read, with the categories learned from training data.
//
// fit() learns, for each chosen categorical column, the categories that occur in the training
// rows (missing values and dictionary entries that no training row uses are not categories), in
// the dictionary order of the training column. The fitted encoder it returns matches categories
// by their string, never by their code, so a test set whose dictionary lists the same categories
// in another order is encoded exactly like the training set. A category that did not occur in
// training is "unknown" at transform time. Fitted state serialises to bytes and back bit-exactly.
//
//   Result<FittedOneHotEncoder> fitted = OneHotEncoder({.max_categories = 10}).fit(train);
//   Result<Dataset> encoded = fitted->transform(test);   // "plan" -> "plan=basic", "plan=pro"
//
// Encoders and fitted encoders are immutable after construction: safe to share by threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml {

// The categories a fitted encoder learned for one column.
struct EncodedColumn {
  std::string column;
  // Ordinal: every training category, in dictionary order; category i is encoded as i.
  // One-hot: the kept categories, in dictionary order; each gets the output column
  // "<column>=<category>".
  std::vector<std::string> categories;
  // One-hot only: the infrequent training categories (dictionary order) that share the output
  // column "<column>=other". Empty when no category was bucketed; always empty for ordinal.
  std::vector<std::string> other;
};

struct OrdinalEncoderOptions {
  enum class Unknown : std::uint8_t {
    kError,       // transform fails with kInvalidArgument naming the column, row and category
    kUseMissing,  // an unknown category is encoded as NaN, like a missing value
  };
  // Default kError: an unseen category usually means train and test data disagree.
  Unknown unknown = Unknown::kError;
};

class FittedOrdinalEncoder {
 public:
  // A dataset with the same columns in the same order, of exactly data.num_rows() rows in the
  // row order of `data`, that is not a view, in which every fitted column is replaced by a
  // float64 column of the same name holding the index of each row's category in
  // columns()[k].categories; missing values give NaN, unknown categories NaN or an error (see
  // OrdinalEncoderOptions::unknown). New columns are computed at the rows of `data` only. Other
  // columns, the target included, are shared with `data` (not copied) when it is not a view, and
  // gathered for its rows when it is. Fails with
  // kNotFound naming a fitted column that `data` lacks, kInvalidArgument naming one that is
  // numeric or the target in `data`, and with kError kInvalidArgument naming the column, the row of
  // `data` and the unknown category.
  Result<Dataset> transform(const Dataset& data) const;

  // The learned categories, in the order of the columns given to fit().
  const std::vector<EncodedColumn>& columns() const noexcept { return columns_; }
  OrdinalEncoderOptions::Unknown unknown() const noexcept { return unknown_; }

  // Little-endian bytes: magic "TFORDENC", version, the unknown policy, the columns, XXH3-64
  // checksum.
  std::string to_bytes() const;
  // Reads to_bytes()'s output. Fails with kInvalidArgument saying what is wrong (bad magic,
  // unsupported version, checksum mismatch, truncated or malformed payload); never crashes.
  static Result<FittedOrdinalEncoder> from_bytes(std::string_view bytes);

 private:
  friend class OrdinalEncoder;
  FittedOrdinalEncoder(std::vector<EncodedColumn> columns, OrdinalEncoderOptions::Unknown unknown)
      : columns_(std::move(columns)), unknown_(unknown) {}
  std::vector<EncodedColumn> columns_;
  OrdinalEncoderOptions::Unknown unknown_;
};

class OrdinalEncoder {
 public:
  explicit OrdinalEncoder(OrdinalEncoderOptions options = {}) : options_(options) {}

  // Learns the categories of each column in `columns` (by name) from the rows of `train`. Empty
  // `columns` means every categorical feature column (never the target). Fails with kNotFound
  // naming an unknown column; kInvalidArgument naming the target, a repeated column or a numeric
  // column. A column without any non-missing training value is accepted: every value then
  // transforms to NaN or is unknown.
  Result<FittedOrdinalEncoder> fit(const Dataset& train,
                                   std::span<const std::string> columns = {}) const;

  const OrdinalEncoderOptions& options() const noexcept { return options_; }

 private:
  OrdinalEncoderOptions options_;
};

struct OneHotEncoderOptions {
  enum class Unknown : std::uint8_t {
    kError,   // transform fails with kInvalidArgument naming the column, row and category
    kIgnore,  // an unknown category gives all zeros, like a missing value
  };
  // Default kError: an unseen category usually means train and test data disagree.
  Unknown unknown = Unknown::kError;
  // Default 0: no limit, one output column per training category. Otherwise, when a column has
  // more than max_categories training categories, only the max_categories - 1 most frequent in
  // the training rows are kept (ties: dictionary order) and the rest share one "<column>=other"
  // column (scikit-learn's max_categories / infrequent categories). Bounds the width of the
  // output at the cost of merging rare categories.
  std::size_t max_categories = 0;
  // Default true: each encoded column is replaced by its indicator columns. When false the
  // original column stays, and its indicator columns follow it.
  bool drop_original = true;
};

class FittedOneHotEncoder {
 public:
  // A dataset of exactly data.num_rows() rows in the row order of `data`, that is not a view,
  // in which each fitted column is followed by, or with drop_original replaced by, one float64
  // column per kept category, named "<column>=<category>" in the order of
  // columns()[k].categories, then "<column>=other" when columns()[k].other is not empty. A row
  // holds 1 in the column of its category (or in "other" for a bucketed one) and 0 elsewhere; a
  // missing value gives all zeros, and so does an unknown category with kIgnore. New columns are
  // computed at the rows of `data` only. Other columns, the target included, keep their order and
  // are shared with `data` (not copied) when it is not a view, and gathered for its rows when it
  // is. Fails with kNotFound naming a fitted column that `data` lacks; kInvalidArgument naming one
  // that is numeric or the target in `data`, naming both columns when an output name equals the
  // name of a column of the result (an existing column or another output column), and, with kError,
  // naming the column, the row of `data` and the unknown category.
  Result<Dataset> transform(const Dataset& data) const;

  // The learned categories, in the order of the columns given to fit().
  const std::vector<EncodedColumn>& columns() const noexcept { return columns_; }
  OneHotEncoderOptions::Unknown unknown() const noexcept { return unknown_; }
  bool drop_original() const noexcept { return drop_original_; }

  // Little-endian bytes: magic "TFONEHOT", version, the unknown policy, drop_original, the
  // columns, XXH3-64 checksum.
  std::string to_bytes() const;
  // Reads to_bytes()'s output. Fails with kInvalidArgument saying what is wrong (bad magic,
  // unsupported version, checksum mismatch, truncated or malformed payload); never crashes.
  static Result<FittedOneHotEncoder> from_bytes(std::string_view bytes);

 private:
  friend class OneHotEncoder;
  FittedOneHotEncoder(std::vector<EncodedColumn> columns, OneHotEncoderOptions::Unknown unknown,
                      bool drop_original)
      : columns_(std::move(columns)), unknown_(unknown), drop_original_(drop_original) {}
  std::vector<EncodedColumn> columns_;
  OneHotEncoderOptions::Unknown unknown_;
  bool drop_original_;
};

class OneHotEncoder {
 public:
  explicit OneHotEncoder(OneHotEncoderOptions options = {}) : options_(options) {}

  // Learns the kept and bucketed categories of each column in `columns` (by name) from the rows
  // of `train`. Empty `columns` means every categorical feature column (never the target). Fails
  // with kNotFound naming an unknown column; kInvalidArgument naming the target, a repeated
  // column or a numeric column. A column without any non-missing training value is accepted and
  // produces no output column.
  Result<FittedOneHotEncoder> fit(const Dataset& train,
                                  std::span<const std::string> columns = {}) const;

  const OneHotEncoderOptions& options() const noexcept { return options_; }

 private:
  OneHotEncoderOptions options_;
};

}  // namespace trainflow::ml

// ColumnTransformer: imputes, scales and encodes chosen columns of a dataset with one chain of
// the existing fitted transforms per group of columns, applied to any dataset in one fused,
// parallel pass.
//
// Each step names columns and a chain: numeric columns are optionally imputed (SimpleImputer),
// then optionally scaled (StandardScaler, MinMaxScaler, RobustScaler); categorical columns are
// optionally imputed, then encoded (OneHotEncoder, OrdinalEncoder). fit() fits every chain on the
// training rows only, exactly as calling the standalone fit() and transform() one after the other
// would; the FittedColumnTransformer it returns transforms any dataset (train, test, a view) with
// the learned state, writing each output column once, in row blocks spread over threads, with no
// full-size intermediate dataset. Its results equal, bit for bit, those of the chained standalone
// transforms, at any thread count. Fitted state serialises to bytes and back bit-exactly.
//
//   ColumnTransformer transformer({.steps = {
//       NumericStep{.impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMedian},
//                   .scale = StandardScalerOptions{}},
//       CategoricalStep{.columns = {"plan"}, .encode = OneHotEncoderOptions{.max_categories =
//       8}}}});
//   Result<FittedColumnTransformer> fitted = transformer.fit(train);
//   Result<Dataset> features = fitted->transform(test, {.threads = 4});
//   Dataset batch_features;                       // reused batch after batch
//   for (const Dataset& batch : batches) {
//     if (Status s = fitted->transform_into(batch, batch_features); !s.ok()) return s;
//     consume(batch_features);
//   }
//
// ColumnTransformer and FittedColumnTransformer are immutable after construction: safe to share
// by threads (transform_into() writes only its `out`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/encode.hpp"
#include "trainflow/ml/impute.hpp"
#include "trainflow/ml/scale.hpp"

namespace trainflow::ml {

// A chain for numeric columns: impute, then scale; either may be left out (a step with neither
// keeps its columns unchanged, even with Remainder::kDrop).
struct NumericStep {
  // Numeric columns by name. Default empty: every numeric feature column of the training data.
  std::vector<std::string> columns = {};
  // Default none. Any strategy; kMostFrequent and kConstant use the numeric fill.
  std::optional<SimpleImputerOptions> impute = std::nullopt;
  // Default none (std::monostate): the (imputed) values are kept as they are.
  std::variant<std::monostate, StandardScalerOptions, MinMaxScalerOptions, RobustScalerOptions>
      scale = std::monostate{};
};

// A chain for categorical columns: impute, then encode.
struct CategoricalStep {
  // Categorical columns by name. Default empty: every categorical feature column of the training
  // data.
  std::vector<std::string> columns = {};
  // Default none: missing values stay missing (all zeros for one-hot, NaN for ordinal). Only
  // kMostFrequent and kConstant apply to categorical columns; fit() refuses the others.
  std::optional<SimpleImputerOptions> impute = std::nullopt;
  // Default one-hot with OneHotEncoderOptions' defaults.
  std::variant<OneHotEncoderOptions, OrdinalEncoderOptions> encode = OneHotEncoderOptions{};
};

// What happens to the feature columns that no step names.
enum class Remainder : std::uint8_t {
  kPassthrough,  // kept unchanged, in place
  kDrop,         // left out of the output
};

struct ColumnTransformerOptions {
  // The steps, in any order. A column may be named (explicitly, or by an empty `columns`) by one
  // step only. Default none: every feature column is a remainder column.
  std::vector<std::variant<NumericStep, CategoricalStep>> steps = {};
  // Default kPassthrough, so that no column disappears unless asked to.
  Remainder remainder = Remainder::kPassthrough;
};

struct ColumnTransformOptions {
  // How many threads transform() uses at most, the caller's included; datasets of a single
  // block use one. Default 1. 0 is an error. The result does not depend on it.
  unsigned threads = 1;
  // Rows per block of the pass; a thread works on whole blocks. Default 16384, small enough for
  // a block's columns to stay in cache and large enough to amortise the per-block set-up. 0 is an
  // error. The result does not depend on it.
  std::size_t block_rows = 16384;
  // How the pass writes its float64 outputs. kStreaming: non-temporal stores, which send whole
  // cache lines to memory without first reading them (an ordinary store reads every line it
  // writes) and without evicting the inputs from the cache: faster when the outputs are far
  // larger than the cache and already mapped. kCached: ordinary stores, which leave the last rows
  // written in the cache for a consumer that reads them next, and are faster into new buffers
  // (whose pages the kernel has just zeroed, through the cache). Default kAuto: kStreaming for
  // outputs written into buffers reused by transform_into when the float64 outputs exceed the
  // last-level cache, kCached otherwise. The result does not depend on it.
  enum class Stores : std::uint8_t { kAuto, kCached, kStreaming };
  Stores stores = Stores::kAuto;
};

// One fitted step: its columns and the fitted transforms of its chain, each fitted on exactly
// these columns in this order. A step whose `columns` came out empty has no fitted transforms.
struct FittedColumnStep {
  bool categorical = false;
  std::vector<std::string> columns = {};
  std::optional<FittedImputer> imputer = std::nullopt;
  std::optional<FittedScaler> scaler = std::nullopt;  // numeric steps only
  // Categorical steps only: exactly one of the two when `columns` is not empty.
  std::optional<FittedOneHotEncoder> one_hot = std::nullopt;
  std::optional<FittedOrdinalEncoder> ordinal = std::nullopt;
};

class FittedColumnTransformer {
 public:
  // A dataset of exactly data.num_rows() rows, in the row order of `data`, that is not a view.
  // Its columns are those of the training data in their order, each:
  //   - the target: kept unchanged (and the target of the result) when `data` has a column of
  //     that name, left out otherwise;
  //   - a column of a numeric step: imputed and/or scaled into a float64 column of the same name
  //     (a step with neither keeps the column unchanged);
  //   - a column of a categorical step: with one-hot, replaced by (or, with drop_original false,
  //     the imputed column followed by) its indicator columns "<column>=<category>" then
  //     "<column>=other", exactly as FittedOneHotEncoder; with ordinal, a float64 column of codes
  //     of the same name;
  //   - any other feature column: kept unchanged with Remainder::kPassthrough, left out with
  //     kDrop.
  // That is output_columns() (less the target when `data` lacks it). Columns of `data` unknown
  // to the training data are left out. Unchanged columns are shared with `data` (not copied)
  // when `data` is not a view, and gathered for its rows when it is. Every other output column
  // is computed only at the rows of `data`, in one pass over blocks of `options.block_rows` rows
  // on up to `options.threads` threads, and written once; values equal, bit for bit, those of
  // applying each step's fitted transforms one after the other with their own transform().
  // Fails with kInvalidArgument when options.threads or options.block_rows is 0; kNotFound
  // naming a column that the output needs and `data` lacks; kInvalidArgument naming a column
  // whose kind (numeric / categorical) differs from the one fitted, or a categorical step's
  // column that is the target of `data`; and, for an encoder with Unknown::kError, with the
  // standalone encoder's message (column, row of `data`, category) for the first row in row
  // order holding an unknown category (the first such column in output order within that row),
  // whatever the thread count.
  Result<Dataset> transform(const Dataset& data, const ColumnTransformOptions& options = {}) const;

  // As transform(), with the result stored in `out` (replacing what it held), reusing the memory
  // of the float64 columns that `out` held: the steady-state path of a pipeline that transforms
  // batch after batch into the same Dataset. Memory that is already mapped is written at memory
  // speed, while a new column's pages are first faulted in and zeroed by the kernel (about 6
  // times slower for large outputs, docs/BENCHMARKS.md). The values are bit for bit those of
  // transform(), whatever `out` held.
  //
  // Reuse never changes data that anyone else can see: a float64 column of `out` lends its
  // memory to an output float64 column (an imputed, scaled, one-hot or ordinal column, or one
  // gathered from a view) only when it has exactly data.num_rows() rows, was made by a transform
  // (Column::float64 from a ColumnBuffer) and `out` is its only owner: no copy or view of `out`,
  // and no copy of that column, lives elsewhere (Dataset::release_columns(),
  // Column::release_buffer()). Any other output column is allocated as transform() allocates
  // it; so is every column when `out` is `data`. Whatever `out` held and did not lend is
  // released. To keep the previous result while reusing, keep a copy of it: its columns are then
  // shared and new memory is used.
  //
  // Fails as transform() does. On a failure found before the pass (options, missing or
  // mistyped columns) `out` is unchanged; on an unknown category found by the pass `out` is an
  // empty dataset. Not thread-safe for the same `out`; different `out`s may be used by
  // different threads at once (the transformer itself is shared read-only).
  Status transform_into(const Dataset& data, Dataset& out,
                        const ColumnTransformOptions& options = {}) const;

  // The names of the output columns, in order, for data holding every training column.
  const std::vector<std::string>& output_columns() const noexcept { return output_columns_; }
  // The training data's columns, in order, and its target name (empty when it had none).
  const std::vector<std::string>& input_columns() const noexcept { return input_columns_; }
  const std::string& target_name() const noexcept { return target_; }
  // The fitted steps, in the order of ColumnTransformerOptions::steps.
  const std::vector<FittedColumnStep>& steps() const noexcept { return steps_; }
  Remainder remainder() const noexcept { return remainder_; }

  // Little-endian bytes: magic "TFCOLTRF", version, the remainder policy, the training columns
  // and target, each step with its fitted transforms (their own to_bytes()), XXH3-64 checksum.
  std::string to_bytes() const;
  // Reads to_bytes()'s output. Fails with kInvalidArgument saying what is wrong (bad magic,
  // unsupported version, checksum mismatch, truncated or malformed payload, steps inconsistent
  // with the training columns); never crashes.
  static Result<FittedColumnTransformer> from_bytes(std::string_view bytes);

 private:
  friend class ColumnTransformer;
  FittedColumnTransformer() = default;
  // Checks the parts against each other and derives output_columns_. `what` prefixes messages.
  Status build(std::string_view what);

  std::vector<std::string> input_columns_;
  std::string target_;
  std::vector<FittedColumnStep> steps_;
  Remainder remainder_ = Remainder::kPassthrough;
  // Derived by build(): the output names, and for each input column the index of its step,
  // kRemainder or kTarget.
  std::vector<std::string> output_columns_;
  std::vector<std::int64_t> step_of_input_;
  static constexpr std::int64_t kRemainder = -1;
  static constexpr std::int64_t kTarget = -2;
};

class ColumnTransformer {
 public:
  explicit ColumnTransformer(ColumnTransformerOptions options = {})
      : options_(std::move(options)) {}

  // Fits every step on the rows of `train`: the imputer on the step's columns, then the scaler
  // or encoder on the imputed values of those columns, as the standalone fit() and transform()
  // calls would. Fails with the standalone fit()'s error (prefixed with the step's index) for a
  // step's columns; kInvalidArgument naming a column that two steps name, a numeric column in a
  // categorical step, an imputation strategy that does not apply, or two output columns with
  // the same name; kNotFound naming an unknown column.
  Result<FittedColumnTransformer> fit(const Dataset& train) const;

  const ColumnTransformerOptions& options() const noexcept { return options_; }

 private:
  ColumnTransformerOptions options_;
};

}  // namespace trainflow::ml

// Dataset: a columnar table of numeric and categorical columns with an optional target column,
// seen through an optional row selection, so that splits and folds share the data without copies.
//
//   auto ds = trainflow::ml::Dataset::make(
//       {Column::float64("age", {31, 45, NaN}), Column::categorical("plan", {0, 1, -1}, {"basic",
//       "pro"}),
//        Column::float64("churned", {0, 1, 0})},
//       "churned");
//   trainflow::ml::Dataset train = ds->take(train_rows);   // zero-copy view
//   Eigen::MatrixXd x = train.to_matrix(train.numeric_feature_indices());
//
// Missing values: NaN in numeric columns, code -1 in categorical columns.
// Datasets and Columns are immutable values: cheap to copy (shared storage), safe to read from
// any number of threads.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "trainflow/core/status.hpp"

namespace trainflow::ml {

enum class ColumnType : std::uint8_t {
  kFloat64,      // double; NaN = missing
  kFloat32,      // float; NaN = missing
  kCategorical,  // int32 codes into a dictionary of strings; -1 = missing
};

// "float64", "float32", "categorical".
std::string_view to_string(ColumnType type) noexcept;

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace detail {
// Memory for ColumnBuffer: `count` elements of `size` bytes, uninitialised (null when empty);
// throws std::bad_alloc when it cannot be had. Released with release_column_memory() given the
// same count and size.
void* allocate_column_memory(std::size_t count, std::size_t size);
void release_column_memory(void* memory, std::size_t count, std::size_t size) noexcept;
}  // namespace detail

// Storage for a float64 column's values that starts uninitialised: nothing zero-fills it, so
// writing a value is the first touch of its memory (done best by the thread that writes it).
// Buffers of 2 MiB or more are mapped on their own, 2 MiB aligned, and unmapped when released.
// For kernels that write every value once; Column::float64() takes it without a copy. Move-only.
//
//   auto values = ColumnBuffer<double>::uninitialized(n);
//   for (std::size_t i = 0; i < n; ++i) values[i] = f(i);
//   Column c = Column::float64("y", std::move(values));
template <class T>
class ColumnBuffer {
 public:
  static_assert(std::is_same_v<T, double>, "ColumnBuffer holds float64 values");
  // `size` values with unspecified contents (reading one before writing it is undefined).
  // Throws std::bad_alloc when memory is short, like std::vector.
  static ColumnBuffer uninitialized(std::size_t size) { return ColumnBuffer(Allocate{}, size); }

  T* data() noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }

 private:
  struct Allocate {};
  struct Release {
    std::size_t size = 0;
    void operator()(T* p) const noexcept { detail::release_column_memory(p, size, sizeof(T)); }
  };
  ColumnBuffer(Allocate /*tag*/, std::size_t size)
      : data_(static_cast<T*>(detail::allocate_column_memory(size, sizeof(T))), Release{size}),
        size_(size) {}
  std::unique_ptr<T[], Release> data_;
  std::size_t size_ = 0;
};

class Column {
 public:
  // An empty float64 column without a name.
  Column();

  static Column float64(std::string name, std::vector<double> values);
  // The column owns the buffer's memory; every value must have been written.
  static Column float64(std::string name, ColumnBuffer<double> values);
  static Column float32(std::string name, std::vector<float> values);
  // REQUIRES: every code is -1 or indexes `categories`; categories are distinct (both asserted
  // in debug builds).
  static Column categorical(std::string name, std::vector<std::int32_t> codes,
                            std::vector<std::string> categories);
  // Dictionary-encodes `values` in order of first appearance; std::nullopt becomes missing.
  static Column categorical_from(std::string name,
                                 std::span<const std::optional<std::string>> values);

  const std::string& name() const noexcept;
  ColumnType type() const noexcept;
  bool is_numeric() const noexcept { return type() != ColumnType::kCategorical; }
  std::size_t size() const noexcept;

  // The values. REQUIRES: the matching type(). Valid while any copy of this Column lives.
  std::span<const double> float64() const noexcept;
  std::span<const float> float32() const noexcept;
  std::span<const std::int32_t> codes() const noexcept;
  // The dictionary of a categorical column; empty for numeric ones.
  const std::vector<std::string>& categories() const noexcept;

  // Value i as a double (NaN when missing). REQUIRES: is_numeric(); i < size().
  double numeric(std::size_t i) const noexcept;
  bool missing(std::size_t i) const noexcept;

  // The same values under another name (shared, no copy).
  Column renamed(std::string name) const;

  // Hands back the memory of a float64 column made from a ColumnBuffer, for a producer to write
  // new values into, when this Column is the only owner of its values: no copy of it, no
  // renamed() column and no Dataset shares them. Otherwise std::nullopt, and the values stay,
  // unchanged, with their other owners. Leaves *this an empty column either way. The returned
  // buffer holds the old values (treat them as unspecified).
  std::optional<ColumnBuffer<double>> release_buffer() &&;

 private:
  struct Storage;
  explicit Column(std::shared_ptr<const Storage> storage) noexcept;
  std::shared_ptr<const Storage> storage_;
};

class Dataset {
 public:
  // No columns, no rows.
  Dataset();

  // A dataset of `columns`. Fails with kInvalidArgument naming the offending column when lengths
  // differ, a name is empty or repeated, `target` is not empty and names no column, or the
  // columns have more than 2^32 - 1 rows (views index rows with uint32).
  static Result<Dataset> make(std::vector<Column> columns, std::string target = {});

  std::size_t num_rows() const noexcept;
  std::size_t num_columns() const noexcept;
  // The whole underlying column, not restricted to this dataset's rows. REQUIRES: i <
  // num_columns().
  const Column& column(std::size_t i) const noexcept;
  std::optional<std::size_t> find(std::string_view name) const noexcept;

  // The target column's name; empty when there is none.
  const std::string& target_name() const noexcept;
  std::optional<std::size_t> target_index() const noexcept;
  // Every column but the target, in order; and the numeric / categorical ones among them.
  std::vector<std::size_t> feature_indices() const;
  std::vector<std::size_t> numeric_feature_indices() const;
  std::vector<std::size_t> categorical_feature_indices() const;

  // Row r of this dataset is row source_row(r) of its columns. REQUIRES: r < num_rows().
  std::size_t source_row(std::size_t r) const noexcept;
  // True when this dataset sees a selection of its columns' rows.
  bool is_view() const noexcept;

  // Cell access through the row selection. REQUIRES: col < num_columns(), row < num_rows(), and
  // for numeric(): a numeric column (NaN when missing); for code(): a categorical one (-1).
  double numeric(std::size_t col, std::size_t row) const noexcept;
  std::int32_t code(std::size_t col, std::size_t row) const noexcept;
  bool missing(std::size_t col, std::size_t row) const noexcept;

  // Zero-copy views. `rows` index this dataset's rows (REQUIRES: each < num_rows()), may repeat
  // and may be in any order. The result shares the columns; take() allocates one uint32 per
  // row of the result (mapped through this dataset's selection, so views never chain), slice()
  // allocates nothing.
  Dataset take(std::span<const std::uint32_t> rows) const;
  // Rows [begin, end). REQUIRES: begin <= end <= num_rows().
  Dataset slice(std::size_t begin, std::size_t end) const;
  // The named columns, in the given order, same rows; the target stays the target if selected.
  // Fails with kNotFound naming the first unknown column, kInvalidArgument naming a column
  // selected twice.
  Result<Dataset> select_columns(std::span<const std::string> names) const;
  // A copy whose columns hold exactly this dataset's rows (no selection); *this when it is not
  // a view.
  Dataset materialize() const;
  // The columns of the underlying table (all rows, whatever the selection), moved out when this
  // Dataset is the only owner of the table (no copy or view of it lives), copied otherwise (the
  // copies share their values). Leaves *this an empty dataset either way. With
  // Column::release_buffer(), lets a producer reuse the memory of a result nobody else holds.
  std::vector<Column> release_columns() &&;

  // Numeric columns `cols` of this dataset's rows as float64 matrices (missing stays NaN).
  // REQUIRES: every column in `cols` is numeric.
  Eigen::MatrixXd to_matrix(std::span<const std::size_t> cols) const;
  RowMatrix to_row_matrix(std::span<const std::size_t> cols) const;
  // One numeric column of this dataset's rows. REQUIRES: numeric column.
  Eigen::VectorXd to_vector(std::size_t col) const;

  // Writes this dataset's rows (a view is written materialised) in the native binary format
  // (little-endian; layout in src/ml/dataset_io.cpp): magic bytes, format version, each column
  // (name, type, row count, raw values, categories), the target name, and an XXH3-64 checksum
  // of every byte before it. The file is written to `<path>.tmp.<pid>.<n>` (created
  // exclusively) in the same directory, fsynced, renamed over `path`, and the directory is
  // fsynced, so a reader sees the old file or the whole new one. On failure the temporary is
  // removed, `path` is untouched, and the Status names the path and the OS error: kNotFound
  // (missing directory), kFailedPrecondition (permissions, read-only, a directory in the way),
  // kResourceExhausted (disk full), kUnavailable (other I/O errors).
  Status save(const std::filesystem::path& path) const;
  // Reads a file written by save(); the result is not a view. Fails with kInvalidArgument
  // naming the path, the byte offset and what is wrong (not a trainflow dataset, unsupported
  // version, truncated, a length larger than the rest of the file, bad codes or categories,
  // checksum mismatch); with the OS error codes of save() when the file cannot be read. Every
  // declared length is checked against the bytes left in the file before anything is
  // allocated for it, so memory use stays within a small multiple of the file's size.
  static Result<Dataset> load(const std::filesystem::path& path);
  // The bytes save() would write, in memory: deterministic (equal datasets, equal bytes), so they
  // can be stored by content.
  std::string to_bytes() const;
  // Reads to_bytes()'s output (or a saved file's bytes), checked like load(); messages name
  // "dataset bytes" and the byte offset.
  static Result<Dataset> from_bytes(std::string_view bytes);

  // Writes this dataset's rows as CSV: a header row of column names, then one line per row,
  // lines ending in "\n", fields separated by ','. Fields holding ',', '"', CR or LF are quoted
  // with quotes doubled (RFC 4180). Missing values are empty fields; an empty category is
  // written "" so that it differs from a missing one. float64 values are written in the
  // shortest form that std::from_chars reads back to the same double (0.1, 1e-300, inf), and
  // float32 values in the shortest form that reads back to the same float. A dataset without
  // columns gives an empty file. Atomic, and fails, like save().
  Status write_csv(const std::filesystem::path& path) const;

  // Same column names, types, categories, target and values row by row (NaN equals NaN).
  friend bool operator==(const Dataset& a, const Dataset& b);

 private:
  struct Impl;
  explicit Dataset(std::shared_ptr<const Impl> impl) noexcept;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace trainflow::ml

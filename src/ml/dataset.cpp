#include "trainflow/ml/dataset.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>

namespace trainflow::ml {

std::string_view to_string(ColumnType type) noexcept {
  switch (type) {
    case ColumnType::kFloat64: return "float64";
    case ColumnType::kFloat32: return "float32";
    case ColumnType::kCategorical: return "categorical";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Column

namespace {

// The values of a column, shared by every Column that renames it. Exactly one of the three value
// vectors is used, the one matching `type`.
struct ColumnValues {
  ColumnType type = ColumnType::kFloat64;
  // The values, in storage that one of the owners below holds.
  std::span<const double> f64;
  std::span<const float> f32;
  std::span<const std::int32_t> codes;
  std::vector<std::string> categories;
  std::vector<double> f64_owner;
  ColumnBuffer<double> f64_buffer_owner = ColumnBuffer<double>::uninitialized(0);
  std::vector<float> f32_owner;
  std::vector<std::int32_t> codes_owner;

  std::size_t size() const noexcept {
    switch (type) {
      case ColumnType::kFloat64: return f64.size();
      case ColumnType::kFloat32: return f32.size();
      case ColumnType::kCategorical: return codes.size();
    }
    return 0;
  }
};

}  // namespace

struct Column::Storage {
  std::string name;
  std::shared_ptr<const ColumnValues> values;
};

namespace {

const std::shared_ptr<const ColumnValues>& empty_values() {
  static const std::shared_ptr<const ColumnValues> kEmpty = std::make_shared<const ColumnValues>();
  return kEmpty;
}

}  // namespace

namespace detail {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

// Large buffers are mapped directly (not through malloc, whose heap may hand out memory that it
// then trims and regrows): whole 2 MiB pages, 2 MiB aligned. They are not advised to be
// transparent huge pages (MADV_HUGEPAGE): measured, that halved the transform's time when run
// alone but doubled it after other large allocations (docs/BENCHMARKS.md).
std::size_t mapped_bytes(std::size_t bytes) {
  return (bytes + kHugePage - 1) / kHugePage * kHugePage;
}

void* allocate_column_memory(std::size_t count, std::size_t size) {
  if (count > (std::numeric_limits<std::size_t>::max() - 2 * kHugePage) / size) {
    throw std::bad_alloc();
  }
  const std::size_t bytes = count * size;
  if (bytes == 0) return nullptr;
  if (bytes < kHugePage) {
    void* memory = std::malloc(bytes);
    if (memory == nullptr) throw std::bad_alloc();
    return memory;
  }
  const std::size_t length = mapped_bytes(bytes);
  void* mapping = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) throw std::bad_alloc();
  auto* const start = static_cast<char*>(mapping);
  const auto address = reinterpret_cast<std::uintptr_t>(start);
  const std::size_t head = (kHugePage - address % kHugePage) % kHugePage;
  if (head > 0) ::munmap(start, head);
  ::munmap(start + head + length, kHugePage - head);  // never empty: head < kHugePage
  return start + head;
}

void release_column_memory(void* memory, std::size_t count, std::size_t size) noexcept {
  if (memory == nullptr) return;
  const std::size_t bytes = count * size;
  if (bytes < kHugePage) {
    std::free(memory);
  } else {
    ::munmap(memory, mapped_bytes(bytes));
  }
}

}  // namespace detail

// One shared empty column, so that default construction (e.g. in std::vector::resize) does not
// allocate.
Column::Column()
    : storage_([] {
        static const std::shared_ptr<const Storage> kEmpty =
            std::make_shared<const Storage>(Storage{{}, empty_values()});
        return kEmpty;
      }()) {}

Column::Column(std::shared_ptr<const Storage> storage) noexcept : storage_(std::move(storage)) {}

Column Column::float64(std::string name, std::vector<double> values) {
  auto v = std::make_shared<ColumnValues>();
  v->type = ColumnType::kFloat64;
  v->f64_owner = std::move(values);
  v->f64 = v->f64_owner;
  return Column(std::make_shared<const Storage>(Storage{std::move(name), std::move(v)}));
}

Column Column::float64(std::string name, ColumnBuffer<double> values) {
  auto v = std::make_shared<ColumnValues>();
  v->type = ColumnType::kFloat64;
  v->f64 = std::span<const double>(values.data(), values.size());
  v->f64_buffer_owner = std::move(values);
  return Column(std::make_shared<const Storage>(Storage{std::move(name), std::move(v)}));
}

Column Column::float32(std::string name, std::vector<float> values) {
  auto v = std::make_shared<ColumnValues>();
  v->type = ColumnType::kFloat32;
  v->f32_owner = std::move(values);
  v->f32 = v->f32_owner;
  return Column(std::make_shared<const Storage>(Storage{std::move(name), std::move(v)}));
}

Column Column::categorical(std::string name, std::vector<std::int32_t> codes,
                           std::vector<std::string> categories) {
#ifndef NDEBUG
  for (std::int32_t code : codes) {
    assert(code >= -1 && static_cast<std::size_t>(code + 1) <= categories.size() &&
           "categorical code out of range");
  }
  {
    std::vector<std::string_view> sorted(categories.begin(), categories.end());
    std::sort(sorted.begin(), sorted.end());
    assert(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end() &&
           "categories must be distinct");
  }
#endif
  auto v = std::make_shared<ColumnValues>();
  v->type = ColumnType::kCategorical;
  v->codes_owner = std::move(codes);
  v->codes = v->codes_owner;
  v->categories = std::move(categories);
  return Column(std::make_shared<const Storage>(Storage{std::move(name), std::move(v)}));
}

Column Column::categorical_from(std::string name,
                                std::span<const std::optional<std::string>> values) {
  std::vector<std::int32_t> codes;
  codes.reserve(values.size());
  std::vector<std::string> categories;
  std::unordered_map<std::string_view, std::int32_t> index;
  // Keys view into `values`, which outlive this loop; `categories` is filled from them.
  for (const std::optional<std::string>& value : values) {
    if (!value) {
      codes.push_back(-1);
      continue;
    }
    auto [it, inserted] =
        index.try_emplace(std::string_view{*value}, static_cast<std::int32_t>(categories.size()));
    if (inserted) categories.push_back(*value);
    codes.push_back(it->second);
  }
  auto v = std::make_shared<ColumnValues>();
  v->type = ColumnType::kCategorical;
  v->codes_owner = std::move(codes);
  v->codes = v->codes_owner;
  v->categories = std::move(categories);
  return Column(std::make_shared<const Storage>(Storage{std::move(name), std::move(v)}));
}

const std::string& Column::name() const noexcept {
  return storage_->name;
}
ColumnType Column::type() const noexcept {
  return storage_->values->type;
}
std::size_t Column::size() const noexcept {
  return storage_->values->size();
}

std::span<const double> Column::float64() const noexcept {
  assert(type() == ColumnType::kFloat64);
  return storage_->values->f64;
}
std::span<const float> Column::float32() const noexcept {
  assert(type() == ColumnType::kFloat32);
  return storage_->values->f32;
}
std::span<const std::int32_t> Column::codes() const noexcept {
  assert(type() == ColumnType::kCategorical);
  return storage_->values->codes;
}
const std::vector<std::string>& Column::categories() const noexcept {
  return storage_->values->categories;
}

double Column::numeric(std::size_t i) const noexcept {
  const ColumnValues& v = *storage_->values;
  assert(i < v.size());
  switch (v.type) {
    case ColumnType::kFloat64: return v.f64[i];
    case ColumnType::kFloat32: return static_cast<double>(v.f32[i]);
    case ColumnType::kCategorical: break;
  }
  assert(false && "Column::numeric on a categorical column");
  return std::numeric_limits<double>::quiet_NaN();
}

bool Column::missing(std::size_t i) const noexcept {
  const ColumnValues& v = *storage_->values;
  assert(i < v.size());
  switch (v.type) {
    case ColumnType::kFloat64: return std::isnan(v.f64[i]);
    case ColumnType::kFloat32: return std::isnan(v.f32[i]);
    case ColumnType::kCategorical: return v.codes[i] < 0;
  }
  return false;
}

Column Column::renamed(std::string name) const {
  return Column(std::make_shared<const Storage>(Storage{std::move(name), storage_->values}));
}

std::optional<ColumnBuffer<double>> Column::release_buffer() && {
  const std::shared_ptr<const Storage> storage = std::exchange(storage_, Column().storage_);
  // A use count of 1 is ours alone: no other owner exists to add one concurrently (no weak_ptr
  // to a Storage or ColumnValues is ever made).
  if (storage.use_count() != 1 || storage->values.use_count() != 1) return std::nullopt;
  // use_count() reads relaxed: order our writes after the reads of owners that have let go.
  std::atomic_thread_fence(std::memory_order_acquire);
  // Every ColumnValues is created non-const (make_shared<ColumnValues>), so writing through
  // the sole owner is defined.
  auto& values = const_cast<ColumnValues&>(*storage->values);
  if (values.type != ColumnType::kFloat64 || values.f64_buffer_owner.size() == 0) {
    return std::nullopt;
  }
  values.f64 = {};
  return std::move(values.f64_buffer_owner);
}

// ---------------------------------------------------------------------------------------------
// Dataset

namespace {

// The columns of a dataset and what is derived from them; shared by all its views.
struct Table {
  std::vector<Column> columns;
  std::string target;
  std::optional<std::size_t> target_index;
  std::size_t num_rows = 0;  // of every column
  // Keys view the names inside `columns`, which this Table owns and never changes.
  std::unordered_map<std::string_view, std::size_t> by_name;
};

}  // namespace

// Row r (r < count) of the dataset is row `rows ? (*rows)[offset + r] : offset + r` of the
// columns. A slice shares `rows` and moves `offset`; a take builds a new index through the old
// one, so views never chain.
struct Dataset::Impl {
  std::shared_ptr<const Table> table;
  std::shared_ptr<const std::vector<std::uint32_t>> rows;  // null: the rows [offset, offset+count)
  std::size_t offset = 0;
  std::size_t count = 0;

  std::size_t source_row(std::size_t r) const noexcept {
    assert(r < count);
    return rows ? (*rows)[offset + r] : offset + r;
  }
};

namespace {

std::string in_quotes(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '\'';
  out += name;
  out += '\'';
  return out;
}

}  // namespace

// One shared empty dataset, so that default construction does not allocate.
Dataset::Dataset()
    : impl_([] {
        static const std::shared_ptr<const Impl> kEmpty = [] {
          auto impl = std::make_shared<Impl>();
          impl->table = std::make_shared<const Table>();
          return std::shared_ptr<const Impl>(std::move(impl));
        }();
        return kEmpty;
      }()) {}

Dataset::Dataset(std::shared_ptr<const Impl> impl) noexcept : impl_(std::move(impl)) {}

Result<Dataset> Dataset::make(std::vector<Column> columns, std::string target) {
  auto table = std::make_shared<Table>();
  const std::size_t rows = columns.empty() ? 0 : columns.front().size();
  if (rows > std::numeric_limits<std::uint32_t>::max()) {
    return invalid_argument("column " + in_quotes(columns.front().name()) + " has " +
                            std::to_string(rows) + " rows; a dataset holds at most " +
                            std::to_string(std::numeric_limits<std::uint32_t>::max()) +
                            " rows: split the data into several datasets");
  }
  table->by_name.reserve(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const Column& c = columns[i];
    if (c.name().empty()) {
      return invalid_argument("column " + std::to_string(i) +
                              " has an empty name: give every column a distinct non-empty name");
    }
    if (c.size() != rows) {
      return invalid_argument("column " + in_quotes(c.name()) + " has " + std::to_string(c.size()) +
                              " rows but column " + in_quotes(columns.front().name()) + " has " +
                              std::to_string(rows) + ": all columns need the same number of rows");
    }
    // Names view `columns`; the Column objects are moved into the table below, but their names
    // live in the shared storage and do not move.
    auto [it, inserted] = table->by_name.try_emplace(std::string_view{c.name()}, i);
    if (!inserted) {
      return invalid_argument("column name " + in_quotes(c.name()) + " is used by columns " +
                              std::to_string(it->second) + " and " + std::to_string(i) +
                              ": rename one of them (Column::renamed)");
    }
  }
  if (!target.empty()) {
    auto it = table->by_name.find(target);
    if (it == table->by_name.end()) {
      return invalid_argument("target column " + in_quotes(target) +
                              " is not one of the dataset's columns: pass the name of a column, "
                              "or an empty target for none");
    }
    table->target_index = it->second;
  }
  table->columns = std::move(columns);
  table->target = std::move(target);
  table->num_rows = rows;
  auto impl = std::make_shared<Impl>();
  impl->count = rows;
  impl->table = std::move(table);
  return Dataset(std::move(impl));
}

std::size_t Dataset::num_rows() const noexcept {
  return impl_->count;
}
std::size_t Dataset::num_columns() const noexcept {
  return impl_->table->columns.size();
}
const Column& Dataset::column(std::size_t i) const noexcept {
  assert(i < num_columns());
  return impl_->table->columns[i];
}
std::optional<std::size_t> Dataset::find(std::string_view name) const noexcept {
  const auto& by_name = impl_->table->by_name;
  auto it = by_name.find(name);
  if (it == by_name.end()) return std::nullopt;
  return it->second;
}

const std::string& Dataset::target_name() const noexcept {
  return impl_->table->target;
}
std::optional<std::size_t> Dataset::target_index() const noexcept {
  return impl_->table->target_index;
}

std::vector<std::size_t> Dataset::feature_indices() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < num_columns(); ++i) {
    if (i != target_index()) out.push_back(i);
  }
  return out;
}
std::vector<std::size_t> Dataset::numeric_feature_indices() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < num_columns(); ++i) {
    if (i != target_index() && column(i).is_numeric()) out.push_back(i);
  }
  return out;
}
std::vector<std::size_t> Dataset::categorical_feature_indices() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < num_columns(); ++i) {
    if (i != target_index() && !column(i).is_numeric()) out.push_back(i);
  }
  return out;
}

std::size_t Dataset::source_row(std::size_t r) const noexcept {
  return impl_->source_row(r);
}

bool Dataset::is_view() const noexcept {
  return impl_->rows != nullptr || impl_->offset != 0 || impl_->count != impl_->table->num_rows;
}

double Dataset::numeric(std::size_t col, std::size_t row) const noexcept {
  return column(col).numeric(source_row(row));
}
std::int32_t Dataset::code(std::size_t col, std::size_t row) const noexcept {
  return column(col).codes()[source_row(row)];
}
bool Dataset::missing(std::size_t col, std::size_t row) const noexcept {
  return column(col).missing(source_row(row));
}

Dataset Dataset::take(std::span<const std::uint32_t> rows) const {
  auto index = std::make_shared<std::vector<std::uint32_t>>();
  index->reserve(rows.size());
  for (std::uint32_t r : rows) {
    assert(r < num_rows() && "Dataset::take: row out of range");
    // source_row < table rows <= UINT32_MAX (checked by make), so the cast is exact.
    index->push_back(static_cast<std::uint32_t>(source_row(r)));
  }
  auto impl = std::make_shared<Impl>();
  impl->table = impl_->table;
  impl->count = index->size();
  impl->rows = std::move(index);
  return Dataset(std::move(impl));
}

Dataset Dataset::slice(std::size_t begin, std::size_t end) const {
  assert(begin <= end && end <= num_rows() && "Dataset::slice: bad range");
  auto impl = std::make_shared<Impl>(*impl_);
  impl->offset += begin;
  impl->count = end - begin;
  return Dataset(std::move(impl));
}

Result<Dataset> Dataset::select_columns(std::span<const std::string> names) const {
  std::vector<Column> columns;
  columns.reserve(names.size());
  std::string target;
  for (const std::string& name : names) {
    auto i = find(name);
    if (!i) {
      return not_found("select_columns: no column named " + in_quotes(name) +
                       "; the dataset's columns are listed by Dataset::column(i).name()");
    }
    if (*i == target_index()) target = name;
    columns.push_back(column(*i));
  }
  // make() rejects a name selected twice.
  auto selected = make(std::move(columns), std::move(target));
  if (!selected) return std::move(selected).error();
  auto impl = std::make_shared<Impl>(*impl_);
  impl->table = selected->impl_->table;
  return Dataset(std::move(impl));
}

namespace {

template <class T>
std::vector<T> gather(std::span<const T> values, const Dataset& ds) {
  std::vector<T> out(ds.num_rows());
  for (std::size_t r = 0; r < out.size(); ++r) out[r] = values[ds.source_row(r)];
  return out;
}

}  // namespace

std::vector<Column> Dataset::release_columns() && {
  const std::shared_ptr<const Impl> impl = std::exchange(impl_, Dataset().impl_);
  // As in Column::release_buffer(): a use count of 1 is ours alone. Impl and Table are created
  // non-const (make_shared<Impl>, make_shared<Table>); the one const Table, the shared empty
  // one, always has its static owner besides.
  if (impl.use_count() == 1 && impl->table.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);
    return std::move(const_cast<Table&>(*impl->table).columns);
  }
  return impl->table->columns;
}

Dataset Dataset::materialize() const {
  if (!is_view()) return *this;
  std::vector<Column> columns;
  columns.reserve(num_columns());
  for (const Column& c : impl_->table->columns) {
    switch (c.type()) {
      case ColumnType::kFloat64:
        columns.push_back(Column::float64(c.name(), gather(c.float64(), *this)));
        break;
      case ColumnType::kFloat32:
        columns.push_back(Column::float32(c.name(), gather(c.float32(), *this)));
        break;
      case ColumnType::kCategorical:
        columns.push_back(Column::categorical(c.name(), gather(c.codes(), *this), c.categories()));
        break;
    }
  }
  auto made = make(std::move(columns), target_name());
  assert(made.has_value() && "materialize: a valid dataset stays valid");
  return std::move(made).value();
}

namespace {

// Calls put(r, j, value) for every row r of `ds` and every j-th column of `cols`.
template <class Put>
void for_each_numeric(const Dataset& ds, std::span<const std::size_t> cols, Put put) {
  const std::size_t n = ds.num_rows();
  for (std::size_t j = 0; j < cols.size(); ++j) {
    const Column& c = ds.column(cols[j]);
    assert(c.is_numeric() && "to_matrix: categorical column");
    if (c.type() == ColumnType::kFloat64) {
      auto v = c.float64();
      for (std::size_t r = 0; r < n; ++r) put(r, j, v[ds.source_row(r)]);
    } else {
      auto v = c.float32();
      for (std::size_t r = 0; r < n; ++r) put(r, j, static_cast<double>(v[ds.source_row(r)]));
    }
  }
}

}  // namespace

Eigen::MatrixXd Dataset::to_matrix(std::span<const std::size_t> cols) const {
  Eigen::MatrixXd m(static_cast<Eigen::Index>(num_rows()), static_cast<Eigen::Index>(cols.size()));
  for_each_numeric(*this, cols, [&](std::size_t r, std::size_t j, double x) {
    m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) = x;
  });
  return m;
}

RowMatrix Dataset::to_row_matrix(std::span<const std::size_t> cols) const {
  RowMatrix m(static_cast<Eigen::Index>(num_rows()), static_cast<Eigen::Index>(cols.size()));
  for_each_numeric(*this, cols, [&](std::size_t r, std::size_t j, double x) {
    m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) = x;
  });
  return m;
}

Eigen::VectorXd Dataset::to_vector(std::size_t col) const {
  Eigen::VectorXd v(static_cast<Eigen::Index>(num_rows()));
  const std::size_t cols[] = {col};
  for_each_numeric(*this, cols, [&](std::size_t r, std::size_t, double x) {
    v(static_cast<Eigen::Index>(r)) = x;
  });
  return v;
}

namespace {

bool same_value(double a, double b) noexcept {
  return a == b || (std::isnan(a) && std::isnan(b));
}

}  // namespace

bool operator==(const Dataset& a, const Dataset& b) {
  if (a.num_columns() != b.num_columns() || a.num_rows() != b.num_rows() ||
      a.target_name() != b.target_name()) {
    return false;
  }
  const std::size_t n = a.num_rows();
  for (std::size_t i = 0; i < a.num_columns(); ++i) {
    const Column& ca = a.column(i);
    const Column& cb = b.column(i);
    if (ca.name() != cb.name() || ca.type() != cb.type() || ca.categories() != cb.categories()) {
      return false;
    }
    if (ca.type() == ColumnType::kCategorical) {
      auto va = ca.codes();
      auto vb = cb.codes();
      for (std::size_t r = 0; r < n; ++r) {
        if (va[a.source_row(r)] != vb[b.source_row(r)]) return false;
      }
    } else {
      for (std::size_t r = 0; r < n; ++r) {
        if (!same_value(ca.numeric(a.source_row(r)), cb.numeric(b.source_row(r)))) return false;
      }
    }
  }
  return true;
}

}  // namespace trainflow::ml

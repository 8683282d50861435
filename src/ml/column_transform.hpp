// Private support shared by the fitted transforms (impute.cpp, scale.cpp, encode.cpp,
// column_transformer.cpp): column selection, rebuilding a dataset with some columns replaced,
// the value maps that must agree bit for bit between them, and the checked byte format of fitted
// states.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trainflow/core/hash.hpp"
#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/encode.hpp"

namespace trainflow::ml::detail {

enum class ColumnKind : std::uint8_t { kNumeric, kAny };

// The indices of `names` in `data`, or, when `names` is empty, every feature column of `kind`.
// Fails with kNotFound naming an unknown column, kInvalidArgument naming the target, a repeated
// column, or (for kNumeric) a categorical column. `what` names the caller in messages.
inline Result<std::vector<std::size_t>> resolve_columns(const Dataset& data,
                                                        std::span<const std::string> names,
                                                        ColumnKind kind, std::string_view what) {
  std::vector<std::size_t> out;
  if (names.empty()) {
    return kind == ColumnKind::kNumeric ? data.numeric_feature_indices() : data.feature_indices();
  }
  for (const std::string& name : names) {
    const std::optional<std::size_t> index = data.find(name);
    if (!index) {
      return not_found(std::string(what) + ": no column '" + name + "' in the dataset");
    }
    if (data.target_index() == index) {
      return invalid_argument(std::string(what) + ": column '" + name +
                              "' is the target; targets are never transformed");
    }
    for (std::size_t seen : out) {
      if (seen == *index) {
        return invalid_argument(std::string(what) + ": column '" + name + "' is named twice");
      }
    }
    if (kind == ColumnKind::kNumeric && !data.column(*index).is_numeric()) {
      return invalid_argument(std::string(what) + ": column '" + name +
                              "' is categorical; only numeric columns can be used");
    }
    out.push_back(*index);
  }
  return out;
}

// Column `col` of `data` restricted to the rows of `data`, in row order: the column itself
// (shared, not copied) when `data` is not a view, otherwise a new column of the same name, type
// and dictionary holding the view's rows.
inline Column gather_column(const Dataset& data, std::size_t col) {
  const Column& column = data.column(col);
  if (!data.is_view()) return column;
  const std::size_t n = data.num_rows();
  switch (column.type()) {
    case ColumnType::kFloat64: {
      const std::span<const double> in = column.float64();
      std::vector<double> out(n);
      for (std::size_t r = 0; r < n; ++r) out[r] = in[data.source_row(r)];
      return Column::float64(column.name(), std::move(out));
    }
    case ColumnType::kFloat32: {
      const std::span<const float> in = column.float32();
      std::vector<float> out(n);
      for (std::size_t r = 0; r < n; ++r) out[r] = in[data.source_row(r)];
      return Column::float32(column.name(), std::move(out));
    }
    case ColumnType::kCategorical: break;
  }
  const std::span<const std::int32_t> in = column.codes();
  std::vector<std::int32_t> out(n);
  for (std::size_t r = 0; r < n; ++r) out[r] = in[data.source_row(r)];
  return Column::categorical(column.name(), std::move(out), column.categories());
}

// A dataset of exactly data.num_rows() rows that is not a view: the columns of `data` in order,
// those at `indices` replaced by `replacements` (REQUIRES: each data.num_rows() long, in row
// order of `data`), the others gathered (shared when `data` is not a view), same target.
inline Result<Dataset> replace_columns(const Dataset& data, std::span<const std::size_t> indices,
                                       std::vector<Column> replacements) {
  std::vector<Column> columns(data.num_columns());
  std::vector<bool> replaced(data.num_columns(), false);
  for (std::size_t k = 0; k < indices.size(); ++k) {
    columns[indices[k]] = std::move(replacements[k]);
    replaced[indices[k]] = true;
  }
  for (std::size_t i = 0; i < data.num_columns(); ++i) {
    if (!replaced[i]) columns[i] = gather_column(data, i);
  }
  return Dataset::make(std::move(columns), data.target_name());
}

// A scaler's map of one value: (x - center) / scale + offset. The one expression every scaling
// path uses, so that fused and step-by-step transforms agree bit for bit.
inline double scale_value(double x, double center, double scale, double offset) {
  return (x - center) / scale + offset;
}

// Output slots of categorical encoders. A category's slot is the index of its output (ordinal
// code or indicator column); an unknown category has kUnknownSlot; kMissingSlot marks a missing
// value that is not imputed.
constexpr std::int32_t kUnknownSlot = -1;
constexpr std::int32_t kMissingSlot = -2;

// How the codes of one categorical column of a dataset map to an encoder's slots.
struct CategorySlots {
  // The slot of each code of the column's dictionary.
  std::vector<std::int32_t> by_code;
  // The slot of a missing value: kMissingSlot, or the slot of the imputed fill category.
  std::int32_t missing = kMissingSlot;
};

// The slots of the codes of `dictionary` (a categorical column's categories) under the fitted
// encoder column `fitted`: the index of a category in fitted.categories, categories.size() for a
// category of fitted.other, kUnknownSlot for any other. Categories are matched by string. With
// `fill`, a missing value takes the slot of that category (the imputed value).
inline CategorySlots category_slots(const std::vector<std::string>& dictionary,
                                    const EncodedColumn& fitted,
                                    const std::string* fill = nullptr) {
  std::unordered_map<std::string_view, std::int32_t> slot_of;
  for (std::size_t i = 0; i < fitted.categories.size(); ++i) {
    slot_of.emplace(fitted.categories[i], static_cast<std::int32_t>(i));
  }
  for (const std::string& category : fitted.other) {
    slot_of.emplace(category, static_cast<std::int32_t>(fitted.categories.size()));
  }
  const auto lookup = [&](std::string_view category) {
    const auto found = slot_of.find(category);
    return found == slot_of.end() ? kUnknownSlot : found->second;
  };
  CategorySlots slots;
  slots.by_code.reserve(dictionary.size());
  for (const std::string& category : dictionary) slots.by_code.push_back(lookup(category));
  if (fill != nullptr) slots.missing = lookup(*fill);
  return slots;
}

// The per-row lookup of every categorical encoder. For each row r in [begin, end), in order,
// reads the code of source row source(r) in `codes` and, when its category has a slot >= 0 under
// `slots`, calls write(r, slot); a missing value without a slot is skipped. An unknown category
// stops the scan when `stop_at_unknown`, and is skipped otherwise. Returns the row that stopped
// the scan, or `end`.
template <class Source, class Write>
std::size_t for_each_slot(std::span<const std::int32_t> codes, const CategorySlots& slots,
                          std::size_t begin, std::size_t end, bool stop_at_unknown,
                          const Source& source, const Write& write) {
  for (std::size_t r = begin; r < end; ++r) {
    const std::int32_t code = codes[source(r)];
    const std::int32_t slot =
        code < 0 ? slots.missing : slots.by_code[static_cast<std::size_t>(code)];
    if (slot >= 0) {
      write(r, slot);
    } else if (slot == kUnknownSlot && stop_at_unknown) {
      return r;
    }
  }
  return end;
}

// The error of an encoder meeting, in column `column` at row `row` of the transformed dataset, a
// category that did not occur in training. `what` names the fitted type, `fix` the option that
// accepts unknown categories.
inline Status unknown_category(std::string_view what, std::string_view column, std::size_t row,
                               std::string_view category, std::string_view fix) {
  return invalid_argument(std::string(what) + "::transform: column '" + std::string(column) +
                          "', row " + std::to_string(row) + ": category '" + std::string(category) +
                          "' did not occur in the training data; refit on data that holds it, "
                          "or use " +
                          std::string(fix));
}

// Little-endian writer of a fitted state: magic, version, payload, then XXH3-64 of all of it.
class ByteWriter {
 public:
  ByteWriter(std::string_view magic, std::uint32_t version) : bytes_(magic) { u32(version); }
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes_.append(s);
  }
  std::string finish() && {
    u64(hash_bytes(bytes_.data(), bytes_.size()));
    return std::move(bytes_);
  }

 private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
  }
  std::string bytes_;
};

// Reader for ByteWriter's format. open() checks the magic, version and checksum; the getters
// check bounds and set a sticky failure with the offset of the first bad read.
class ByteReader {
 public:
  static Result<ByteReader> open(std::string_view bytes, std::string_view magic,
                                 std::uint32_t version, std::string_view what) {
    const std::string where = std::string(what) + "::from_bytes: ";
    if (bytes.size() < magic.size() + 4 + 8) {
      return invalid_argument(where + "truncated: " + std::to_string(bytes.size()) +
                              " bytes is shorter than the header and checksum");
    }
    if (bytes.substr(0, magic.size()) != magic) {
      return invalid_argument(where + "not a serialised " + std::string(what) + " (bad magic)");
    }
    ByteReader reader(bytes.substr(0, bytes.size() - 8), magic.size());
    ByteReader tail(bytes.substr(bytes.size() - 8), 0);
    const std::uint64_t stored = tail.u64();
    if (stored != hash_bytes(bytes.data(), bytes.size() - 8)) {
      return invalid_argument(where + "checksum mismatch: the bytes are corrupt or truncated");
    }
    const std::uint32_t got = reader.u32();
    if (got != version) {
      return invalid_argument(where + "unsupported version " + std::to_string(got) +
                              " (this build reads version " + std::to_string(version) + ")");
    }
    return reader;
  }

  std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::string str() {
    const std::uint32_t n = u32();
    if (failed_ || n > bytes_.size() - pos_) {
      fail();
      return {};
    }
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  bool failed() const { return failed_; }
  std::size_t offset() const { return pos_; }
  // Fails unless every payload byte was read without error.
  Status finish(std::string_view what) const {
    if (failed_ || pos_ != bytes_.size()) {
      return invalid_argument(std::string(what) + "::from_bytes: malformed payload at byte " +
                              std::to_string(pos_));
    }
    return ok_status();
  }
  void fail() { failed_ = true; }

 private:
  ByteReader(std::string_view bytes, std::size_t pos) : bytes_(bytes), pos_(pos) {}
  std::uint64_t get(std::size_t n) {
    if (failed_ || n > bytes_.size() - pos_) {
      fail();
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    return v;
  }
  std::string_view bytes_;
  std::size_t pos_;
  bool failed_ = false;
};

}  // namespace trainflow::ml::detail

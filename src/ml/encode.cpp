#include "trainflow/ml/encode.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "column_transform.hpp"

namespace trainflow::ml {
namespace {

constexpr std::string_view kOrdinalMagic = "TFORDENC";
constexpr std::string_view kOneHotMagic = "TFONEHOT";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kOrdinalName = "FittedOrdinalEncoder";
constexpr std::string_view kOneHotName = "FittedOneHotEncoder";

// resolve_columns() for categorical columns: every categorical feature column when `names` is
// empty; otherwise the named ones, refusing numeric columns.
Result<std::vector<std::size_t>> resolve_categorical(const Dataset& data,
                                                     std::span<const std::string> names,
                                                     std::string_view what) {
  if (names.empty()) return data.categorical_feature_indices();
  Result<std::vector<std::size_t>> indices =
      detail::resolve_columns(data, names, detail::ColumnKind::kAny, what);
  if (!indices) return indices;
  for (std::size_t col : *indices) {
    if (data.column(col).is_numeric()) {
      return invalid_argument(std::string(what) + ": column '" + data.column(col).name() + "' is " +
                              std::string(to_string(data.column(col).type())) +
                              "; only categorical columns can be encoded");
    }
  }
  return indices;
}

// How many training rows hold each code of categorical column `col`.
std::vector<std::size_t> code_counts(const Dataset& train, std::size_t col) {
  std::vector<std::size_t> counts(train.column(col).categories().size(), 0);
  for (std::size_t r = 0; r < train.num_rows(); ++r) {
    const std::int32_t code = train.code(col, r);
    if (code >= 0) ++counts[static_cast<std::size_t>(code)];
  }
  return counts;
}

// The index in `data` of the fitted column `name`, which must be categorical there.
Result<std::size_t> find_fitted(const Dataset& data, const std::string& name,
                                std::string_view what) {
  const std::optional<std::size_t> col = data.find(name);
  if (!col) {
    return not_found(std::string(what) + "::transform: the dataset has no column '" + name +
                     "', which the encoder was fitted on");
  }
  if (data.column(*col).is_numeric()) {
    return invalid_argument(std::string(what) + "::transform: column '" + name + "' is " +
                            std::string(to_string(data.column(*col).type())) +
                            " but was fitted as categorical");
  }
  if (data.target_index() == col) {
    return invalid_argument(std::string(what) + "::transform: column '" + name +
                            "' is the target of the dataset; targets are never transformed");
  }
  return *col;
}

// The category of row `row` of categorical column `col`. REQUIRES: not missing.
const std::string& category_at(const Dataset& data, std::size_t col, std::size_t row) {
  return data.column(col).categories()[static_cast<std::size_t>(data.code(col, row))];
}

// Finds the fitted column `fitted` in `data` (failing as find_fitted()) and calls write(r, slot)
// for each row r of `data` whose category has a slot under `fitted`. Returns the column's index;
// when `stop_at_unknown`, fails instead at the first row holding an unknown category, with the
// error of encoder `what` (`fix` names the option that accepts unknown categories).
template <class Write>
Result<std::size_t> encode_column(const Dataset& data, const EncodedColumn& fitted,
                                  std::string_view what, bool stop_at_unknown, std::string_view fix,
                                  const Write& write) {
  Result<std::size_t> col = find_fitted(data, fitted.column, what);
  if (!col) return col;
  const Column& column = data.column(*col);
  const std::size_t unknown_row = detail::for_each_slot(
      column.codes(), detail::category_slots(column.categories(), fitted), 0, data.num_rows(),
      stop_at_unknown, [&data](std::size_t r) { return data.source_row(r); }, write);
  if (unknown_row != data.num_rows()) {
    return detail::unknown_category(what, fitted.column, unknown_row,
                                    category_at(data, *col, unknown_row), fix);
  }
  return col;
}

// The reader of an encoder's bytes, opened, with the Unknown policy read (the first payload
// byte; the reader fails when it exceeds `max_unknown`).
struct OpenedEncoder {
  detail::ByteReader reader;
  std::uint8_t unknown = 0;
};
Result<OpenedEncoder> open_encoder(std::string_view bytes, std::string_view magic,
                                   std::string_view what, std::uint8_t max_unknown) {
  Result<detail::ByteReader> opened = detail::ByteReader::open(bytes, magic, kVersion, what);
  if (!opened) return std::move(opened).error();
  const std::uint8_t unknown = opened->u8();
  if (unknown > max_unknown) opened->fail();
  return OpenedEncoder{std::move(*opened), unknown};
}

void write_strings(detail::ByteWriter& writer, const std::vector<std::string>& strings) {
  writer.u32(static_cast<std::uint32_t>(strings.size()));
  for (const std::string& s : strings) writer.str(s);
}

// Reads write_strings()'s output; fails the reader on a count larger than the bytes left (each
// string takes at least 4 bytes) and on a repeated string (`seen` spans calls, so categories
// and other categories of one column stay distinct).
std::vector<std::string> read_strings(detail::ByteReader& reader,
                                      std::unordered_set<std::string>& seen) {
  const std::uint32_t count = reader.u32();
  if (count > reader.remaining() / 4) reader.fail();
  std::vector<std::string> strings;
  for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) {
    std::string s = reader.str();
    if (!seen.insert(s).second) reader.fail();
    strings.push_back(std::move(s));
  }
  return strings;
}

void write_columns(detail::ByteWriter& writer, const std::vector<EncodedColumn>& columns,
                   bool with_other) {
  writer.u32(static_cast<std::uint32_t>(columns.size()));
  for (const EncodedColumn& column : columns) {
    writer.str(column.column);
    write_strings(writer, column.categories);
    if (with_other) write_strings(writer, column.other);
  }
}

std::vector<EncodedColumn> read_columns(detail::ByteReader& reader, bool with_other) {
  const std::uint32_t count = reader.u32();
  // Each column takes at least 4 + 4 bytes: bound the count before allocating.
  if (count > reader.remaining() / 8) reader.fail();
  std::vector<EncodedColumn> columns;
  std::unordered_set<std::string> names;
  for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) {
    EncodedColumn column;
    column.column = reader.str();
    if (!names.insert(column.column).second) reader.fail();
    std::unordered_set<std::string> seen;
    column.categories = read_strings(reader, seen);
    if (with_other) column.other = read_strings(reader, seen);
    columns.push_back(std::move(column));
  }
  return columns;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// OrdinalEncoder

Result<FittedOrdinalEncoder> OrdinalEncoder::fit(const Dataset& train,
                                                 std::span<const std::string> columns) const {
  Result<std::vector<std::size_t>> indices = resolve_categorical(train, columns, "OrdinalEncoder");
  if (!indices) return std::move(indices).error();
  std::vector<EncodedColumn> fitted;
  fitted.reserve(indices->size());
  for (std::size_t col : *indices) {
    const Column& column = train.column(col);
    const std::vector<std::size_t> counts = code_counts(train, col);
    EncodedColumn encoded;
    encoded.column = column.name();
    for (std::size_t code = 0; code < counts.size(); ++code) {
      if (counts[code] > 0) encoded.categories.push_back(column.categories()[code]);
    }
    fitted.push_back(std::move(encoded));
  }
  return FittedOrdinalEncoder(std::move(fitted), options_.unknown);
}

Result<Dataset> FittedOrdinalEncoder::transform(const Dataset& data) const {
  std::vector<std::size_t> indices;
  std::vector<Column> replacements;
  indices.reserve(columns_.size());
  replacements.reserve(columns_.size());
  for (const EncodedColumn& fitted : columns_) {
    std::vector<double> out(data.num_rows(), std::numeric_limits<double>::quiet_NaN());
    Result<std::size_t> col = encode_column(
        data, fitted, kOrdinalName, unknown_ == OrdinalEncoderOptions::Unknown::kError,
        "OrdinalEncoderOptions::Unknown::kUseMissing (in a workflow file: unknown: use_missing, or "
        "ignore for column_transformer)",
        [&out](std::size_t r, std::int32_t slot) { out[r] = static_cast<double>(slot); });
    if (!col) return std::move(col).error();
    indices.push_back(*col);
    replacements.push_back(Column::float64(fitted.column, std::move(out)));
  }
  return detail::replace_columns(data, indices, std::move(replacements));
}

std::string FittedOrdinalEncoder::to_bytes() const {
  detail::ByteWriter writer(kOrdinalMagic, kVersion);
  writer.u8(static_cast<std::uint8_t>(unknown_));
  write_columns(writer, columns_, /*with_other=*/false);
  return std::move(writer).finish();
}

Result<FittedOrdinalEncoder> FittedOrdinalEncoder::from_bytes(std::string_view bytes) {
  Result<OpenedEncoder> opened =
      open_encoder(bytes, kOrdinalMagic, kOrdinalName,
                   static_cast<std::uint8_t>(OrdinalEncoderOptions::Unknown::kUseMissing));
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = opened->reader;
  std::vector<EncodedColumn> columns = read_columns(reader, /*with_other=*/false);
  if (Status status = reader.finish(kOrdinalName); !status.ok()) return status;
  return FittedOrdinalEncoder(std::move(columns),
                              static_cast<OrdinalEncoderOptions::Unknown>(opened->unknown));
}

// ---------------------------------------------------------------------------------------------
// OneHotEncoder

Result<FittedOneHotEncoder> OneHotEncoder::fit(const Dataset& train,
                                               std::span<const std::string> columns) const {
  Result<std::vector<std::size_t>> indices = resolve_categorical(train, columns, "OneHotEncoder");
  if (!indices) return std::move(indices).error();
  std::vector<EncodedColumn> fitted;
  fitted.reserve(indices->size());
  for (std::size_t col : *indices) {
    const Column& column = train.column(col);
    const std::vector<std::size_t> counts = code_counts(train, col);
    std::vector<std::size_t> seen;  // codes occurring in the training rows, dictionary order
    for (std::size_t code = 0; code < counts.size(); ++code) {
      if (counts[code] > 0) seen.push_back(code);
    }
    std::vector<bool> kept(counts.size(), true);
    if (options_.max_categories > 0 && seen.size() > options_.max_categories) {
      std::vector<std::size_t> by_count = seen;
      // Stable: equal counts keep dictionary order, so the first ones are kept.
      std::stable_sort(by_count.begin(), by_count.end(),
                       [&](std::size_t a, std::size_t b) { return counts[a] > counts[b]; });
      for (std::size_t k = options_.max_categories - 1; k < by_count.size(); ++k) {
        kept[by_count[k]] = false;
      }
    }
    EncodedColumn encoded;
    encoded.column = column.name();
    for (std::size_t code : seen) {
      (kept[code] ? encoded.categories : encoded.other).push_back(column.categories()[code]);
    }
    fitted.push_back(std::move(encoded));
  }
  return FittedOneHotEncoder(std::move(fitted), options_.unknown, options_.drop_original);
}

Result<Dataset> FittedOneHotEncoder::transform(const Dataset& data) const {
  const std::size_t rows = data.num_rows();
  // The indicator columns that follow (or replace) each column of `data`.
  std::vector<std::vector<Column>> added(data.num_columns());
  std::vector<bool> dropped(data.num_columns(), false);
  for (const EncodedColumn& fitted : columns_) {
    const std::size_t width = fitted.categories.size() + (fitted.other.empty() ? 0 : 1);
    std::vector<std::vector<double>> out(width, std::vector<double>(rows, 0.0));
    Result<std::size_t> col = encode_column(
        data, fitted, kOneHotName, unknown_ == OneHotEncoderOptions::Unknown::kError,
        "OneHotEncoderOptions::Unknown::kIgnore (in a workflow file: unknown: ignore)",
        [&out](std::size_t r, std::int32_t slot) { out[static_cast<std::size_t>(slot)][r] = 1.0; });
    if (!col) return std::move(col).error();
    for (std::size_t k = 0; k < width; ++k) {
      const std::string category = k < fitted.categories.size() ? fitted.categories[k] : "other";
      added[*col].push_back(Column::float64(fitted.column + "=" + category, std::move(out[k])));
    }
    dropped[*col] = drop_original_;
  }

  // Every name of the result, described, to name both columns of a collision.
  std::unordered_map<std::string, std::string> origin;
  for (std::size_t i = 0; i < data.num_columns(); ++i) {
    const std::string& name = data.column(i).name();
    if (!dropped[i]) origin.emplace(name, "the existing column '" + name + "'");
  }
  std::vector<Column> columns;
  for (std::size_t i = 0; i < data.num_columns(); ++i) {
    if (!dropped[i]) columns.push_back(detail::gather_column(data, i));
    for (Column& column : added[i]) {
      const std::string self =
          "the output column '" + column.name() + "' of column '" + data.column(i).name() + "'";
      const auto [at, inserted] = origin.emplace(column.name(), self);
      if (!inserted) {
        return invalid_argument("FittedOneHotEncoder::transform: " + self + " has the name of " +
                                at->second + "; rename a column or category before encoding");
      }
      columns.push_back(std::move(column));
    }
  }
  return Dataset::make(std::move(columns), data.target_name());
}

std::string FittedOneHotEncoder::to_bytes() const {
  detail::ByteWriter writer(kOneHotMagic, kVersion);
  writer.u8(static_cast<std::uint8_t>(unknown_));
  writer.u8(drop_original_ ? 1 : 0);
  write_columns(writer, columns_, /*with_other=*/true);
  return std::move(writer).finish();
}

Result<FittedOneHotEncoder> FittedOneHotEncoder::from_bytes(std::string_view bytes) {
  Result<OpenedEncoder> opened =
      open_encoder(bytes, kOneHotMagic, kOneHotName,
                   static_cast<std::uint8_t>(OneHotEncoderOptions::Unknown::kIgnore));
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = opened->reader;
  const std::uint8_t drop_original = reader.u8();
  if (drop_original > 1) reader.fail();
  std::vector<EncodedColumn> columns = read_columns(reader, /*with_other=*/true);
  if (Status status = reader.finish(kOneHotName); !status.ok()) return status;
  return FittedOneHotEncoder(std::move(columns),
                             static_cast<OneHotEncoderOptions::Unknown>(opened->unknown),
                             drop_original == 1);
}

}  // namespace trainflow::ml

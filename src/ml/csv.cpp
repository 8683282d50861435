#include "trainflow/ml/csv.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "fast_float.hpp"
#include "parallel.hpp"

// How parsing works (see also docs/design.md):
// 1. The first record is parsed alone: it gives the column count (and names, with a header).
// 2. With threads > 1 the rest is cut into chunks that end just after a LF preceded by an even
//    number of quotes (counted from the start of the data). For valid CSV that is exactly a
//    record boundary. For invalid CSV every chunk up to the one holding the first error starts
//    at the same record boundary a sequential parse would reach, so the first error found,
//    chunk by chunk in file order, is the one a sequential parse reports.
// 3. Each chunk is tokenized on its own thread into per-column field views; numbers are parsed
//    on the way (speculatively for inferred columns).
// 4. Columns that end up categorical are dictionary-encoded per chunk (in parallel), then the
//    dictionaries are merged in chunk order, which keeps the order of first appearance.

namespace trainflow::ml {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::size_t kMaxCategories = static_cast<std::size_t>(INT32_MAX);
// More threads than this parse in this many chunks (the result does not depend on it).
constexpr unsigned kMaxChunks = 256;

// A bump allocator for unescaped quoted fields; views into it stay valid while it lives.
class Arena {
 public:
  char* allocate(std::size_t n) {
    if (n > left_) {
      const std::size_t size = std::max(n, kBlockBytes);
      blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
      next_ = blocks_.back().get();
      left_ = size;
    }
    char* p = next_;
    next_ += n;
    left_ -= n;
    return p;
  }

 private:
  static constexpr std::size_t kBlockBytes = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;
  std::size_t left_ = 0;
};

// An error found while parsing, located by byte offset; turned into "source:line:col: ..." at the
// end. Ragged rows are numbered after all chunks before theirs are known.
struct ParseError {
  std::size_t offset = 0;
  std::string message;
  bool ragged = false;
  std::size_t local_row = 0;  // ragged: complete records before it in its chunk
  std::size_t fields = 0;     // ragged: how many fields the row has
  bool at_least = false;      // ragged: the count stopped at a malformed field
};

enum class Terminator : std::uint8_t { kDelimiter, kRecordEnd };

struct Field {
  std::string_view value;  // unquoted and unescaped
  std::size_t offset = 0;  // of the field's first byte (its opening quote when quoted)
  std::size_t end = 0;     // of the byte that ends it (delimiter, CR, LF), or of the end of input
  std::size_t next = 0;    // where the next field or record starts
  Terminator terminator = Terminator::kRecordEnd;
};

// Up to 40 bytes of `text` for an error message, control bytes escaped.
std::string excerpt(std::string_view text) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  return out;
}

std::string join_names(const std::vector<std::string>& names) {
  constexpr std::size_t kMax = 20;
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i == kMax) {
      out += ", ... (" + std::to_string(names.size()) + " in all)";
      break;
    }
    const std::string& name = names[i];
    if (!out.empty()) out += ", ";
    out += '\'';
    out += excerpt(name);
    out += '\'';
  }
  return out;
}

// Splits `text` into fields. Stateless apart from its configuration; shared by threads.
class Scanner {
 public:
  Scanner(std::string_view text, const CsvOptions& options)
      : base_(text.data()), delimiter_(options.delimiter), max_field_(options.max_field_bytes) {
    stop_[static_cast<unsigned char>(options.delimiter)] = true;
    stop_['\n'] = true;
    stop_['"'] = true;
  }

  // Scans the field that starts at `pos`, not reading at or past `end`. REQUIRES: pos <= end.
  bool scan(std::size_t pos, std::size_t end, Arena& arena, Field& field, ParseError& error) const {
    field.offset = pos;
    if (pos < end && base_[pos] == '"') return scan_quoted(pos, end, arena, field, error);
    // Up to max + 1 bytes and a CR: enough to tell a field of max bytes from a longer one.
    const std::size_t window =
        end - pos > 1 && end - pos - 1 > max_field_ ? pos + max_field_ + 2 : end;
    std::size_t q = pos;
    while (q < window && !stop_[static_cast<unsigned char>(base_[q])]) ++q;
    if (q == window && window < end) return too_long(pos, error);
    if (q < end && base_[q] == '"') {
      error.offset = q;
      error.message =
          "a quote inside an unquoted field; quote the whole field and double the quotes inside "
          "it (\"a \"\"b\"\" c\")";
      return false;
    }
    std::size_t length = q - pos;
    field.end = q;
    if (q == end || base_[q] == '\n') {
      if (length > 0 && base_[q - 1] == '\r') {
        --length;
        --field.end;
      }
      field.terminator = Terminator::kRecordEnd;
    } else {
      field.terminator = Terminator::kDelimiter;
    }
    if (length > max_field_) return too_long(pos, error);
    field.value = std::string_view(base_ + pos, length);
    field.next = q < end ? q + 1 : end;
    return true;
  }

 private:
  bool scan_quoted(std::size_t pos, std::size_t end, Arena& arena, Field& field,
                   ParseError& error) const {
    const std::size_t content = pos + 1;
    // The closing quote of a field of at most max_field_ bytes lies below content + max + 1.
    const std::size_t limit = end - content > max_field_ ? content + max_field_ + 1 : end;
    std::size_t escapes = 0;
    std::size_t q = content;
    for (;;) {
      const void* hit = q < limit ? std::memchr(base_ + q, '"', limit - q) : nullptr;
      if (hit == nullptr) {
        if (limit < end) return too_long(pos, error);
        error.offset = pos;
        error.message =
            "a quoted field starts here but its closing quote is missing; add the closing quote "
            "and double every quote inside the field";
        return false;
      }
      q = static_cast<std::size_t>(static_cast<const char*>(hit) - base_);
      if (q + 1 < end && base_[q + 1] == '"') {
        ++escapes;
        q += 2;
        continue;
      }
      break;
    }
    const std::size_t raw = q - content;
    if (escapes == 0) {
      field.value = std::string_view(base_ + content, raw);
    } else {
      char* out = arena.allocate(raw - escapes);
      std::size_t n = 0;
      for (std::size_t i = content; i < q; ++i) {
        out[n++] = base_[i];
        if (base_[i] == '"') ++i;  // the second quote of a pair
      }
      field.value = std::string_view(out, n);
    }
    const std::size_t after = q + 1;
    field.end = after;
    if (after >= end) {
      field.terminator = Terminator::kRecordEnd;
      field.next = end;
      return true;
    }
    const char c = base_[after];
    if (c == delimiter_) {
      field.terminator = Terminator::kDelimiter;
      field.next = after + 1;
      return true;
    }
    if (c == '\n' || (c == '\r' && (after + 1 == end || base_[after + 1] == '\n'))) {
      field.terminator = Terminator::kRecordEnd;
      field.next = std::min(end, after + (c == '\r' ? 2 : 1));
      return true;
    }
    error.offset = after;
    error.message =
        "text after the closing quote of a quoted field; quote the whole field and "
        "double the quotes inside it";
    return false;
  }

  bool too_long(std::size_t pos, ParseError& error) const {
    error.offset = pos;
    error.message = "a field longer than CsvOptions::max_field_bytes (" +
                    std::to_string(max_field_) +
                    " bytes) starts here; look for a missing closing quote, or raise the limit";
    return false;
  }

  const char* base_;
  char delimiter_;
  std::size_t max_field_;
  std::array<bool, 256> stop_{};
};

// Skips empty lines (LF, CRLF, or a CR at the end of input) from `pos`.
std::size_t skip_blank_lines(const char* base, std::size_t pos, std::size_t end) {
  while (pos < end) {
    if (base[pos] == '\n') {
      ++pos;
    } else if (base[pos] == '\r' && (pos + 1 == end || base[pos + 1] == '\n')) {
      pos += pos + 1 == end ? 1 : 2;
    } else {
      break;
    }
  }
  return pos;
}

// True when the decimal number in [b, e) (syntax accepted by from_chars) has magnitude >= 1 by
// its leading digit and exponent; decides between overflow and underflow.
bool magnitude_at_least_one(const char* b, const char* e) {
  const char* p = b;
  if (p < e && *p == '-') ++p;
  long long integer_digits = 0;  // from the first non-zero one
  long long fraction_zeros = 0;  // leading zeros after the point, when the integer part is zero
  bool in_integer = false;
  bool seen = false;
  for (; p < e && *p >= '0' && *p <= '9'; ++p) {
    if (seen || *p != '0') {
      seen = in_integer = true;
      ++integer_digits;
    }
  }
  if (p < e && *p == '.') {
    for (++p; p < e && *p >= '0' && *p <= '9'; ++p) {
      if (!seen) {
        if (*p == '0') {
          ++fraction_zeros;
        } else {
          seen = true;
        }
      }
    }
  }
  long long exponent = 0;
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    bool negative = false;
    if (p < e && (*p == '-' || *p == '+')) negative = *p++ == '-';
    for (; p < e && *p >= '0' && *p <= '9'; ++p) {
      if (exponent < 1'000'000'000'000LL) exponent = exponent * 10 + (*p - '0');
    }
    if (negative) exponent = -exponent;
  }
  return (in_integer ? integer_digits : -fraction_zeros) + exponent > 0;
}

// Parses all of `text` as a number (see csv.hpp for the syntax).
template <class T>
bool parse_number(std::string_view text, T& out) {
  // Most fields are plain decimals that the exact fast path takes whole; the rest (spaces,
  // '+', "inf", long mantissas, large exponents) go the general way, with the same results.
  if (detail::parse_decimal_fast(text.data(), text.data() + text.size(), out)) return true;
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') {
    ++b;
    if (b == e || *b == '-' || *b == '+') return false;
  }
  const auto [ptr, ec] = std::from_chars(b, e, out, std::chars_format::general);
  if (ptr != e || ec == std::errc::invalid_argument) return false;
  if (ec == std::errc::result_out_of_range) {
    const T magnitude = magnitude_at_least_one(b, e) ? std::numeric_limits<T>::infinity() : T{0};
    out = *b == '-' ? -magnitude : magnitude;
  }
  return true;
}

enum class ColumnKind : std::uint8_t {
  kInferred,     // numeric if every value is a number, else categorical
  kNumeric,      // forced float64 / float32
  kCategorical,  // forced categorical
};

struct ColumnPlan {
  std::string name;
  ColumnKind kind = ColumnKind::kInferred;
  bool f32 = false;  // numeric values (if numeric) as float
};

// One column's values within one chunk.
struct ChunkColumn {
  // kCategorical, and kInferred once `numeric` fails: every field's text; a null data() means
  // missing. An inferred column that is numeric in this chunk has none (recover_texts() makes
  // them when another chunk makes the column categorical).
  std::vector<std::string_view> texts;
  // The numbers while `numeric` holds (kInferred) or always (kNumeric); one of the two is used.
  std::vector<double> f64;
  std::vector<float> f32;
  bool numeric = true;
  // Filled for categorical columns after tokenizing: codes into `dictionary` (first appearance).
  std::vector<std::int32_t> codes;
  std::vector<std::string_view> dictionary;
};

struct Chunk {
  std::size_t begin = 0;
  std::size_t end = 0;
  // Where the text its numeric columns reserve for ends: `end`, except for the first of several
  // chunks, which reserves for the whole text so that the others' values can be appended to its
  // columns (no new column, no copy of its own values).
  std::size_t reserve_end = 0;
  std::size_t rows = 0;
  std::vector<ChunkColumn> columns;
  Arena arena;
  std::optional<ParseError> error;
};

// Tokenizes chunks into columns. Immutable; shared by threads.
class Parser {
 public:
  Parser(std::string_view text, const CsvOptions& options, const std::vector<ColumnPlan>& plans)
      : base_(text.data()),
        scanner_(text, options),
        plans_(plans),
        delimiter_(options.delimiter),
        max_field_(options.max_field_bytes) {
    // A delimiter that can continue a number would end fields where the scanner does not.
    const bool number_delimiter =
        std::string_view("0123456789+-.eE").find(options.delimiter) != std::string_view::npos;
    for (const ColumnPlan& plan : plans_) {
      fast_.push_back(number_delimiter || plan.kind == ColumnKind::kCategorical ? FastPath::kNone
                      : plan.f32                                                ? FastPath::kFloat32
                                 : FastPath::kFloat64);
    }
    na_values_.assign(options.na_values.begin(), options.na_values.end());
    for (const std::string_view na : na_values_) {
      if (na.empty()) {
        na_empty_ = true;
      } else {
        na_first_[static_cast<unsigned char>(na.front())] = true;
      }
    }
  }

  // Fills the texts of column j (an inferred column that was numeric so far in this chunk) for
  // the chunk's first `rows` records by scanning them again; they parsed before, so they scan.
  void recover_texts(Chunk& chunk, std::size_t j, std::size_t rows) const {
    ChunkColumn& column = chunk.columns[j];
    column.texts.clear();
    column.texts.reserve(rows + 1);
    const std::size_t end = chunk.end;
    std::size_t pos = chunk.begin;
    Field field;
    ParseError error;
    for (std::size_t r = 0; r < rows; ++r) {
      pos = skip_blank_lines(base_, pos, end);
      for (std::size_t k = 0;; ++k) {
        const bool scanned = scanner_.scan(pos, end, chunk.arena, field, error);
        assert(scanned);
        static_cast<void>(scanned);
        if (k == j)
          column.texts.push_back(is_missing(field.value) ? std::string_view{} : field.value);
        pos = field.next;
        if (field.terminator == Terminator::kRecordEnd) break;
      }
    }
  }

  void parse(Chunk& chunk) const {
    const std::size_t columns = plans_.size();
    std::size_t pos = chunk.begin;
    const std::size_t end = chunk.end;
    Field field;
    ParseError error;
    std::size_t first_record = 0;
    for (;;) {
      pos = skip_blank_lines(base_, pos, end);
      if (pos >= end) return;
      // Only a chunk with a record gets columns: then it holds at least one byte per column, so
      // the per-column overhead stays proportional to the input.
      if (chunk.columns.empty()) {
        chunk.columns.resize(columns);
        first_record = pos;
      }
      std::size_t column = 0;
      for (;;) {
        if (column < columns && fast_[column] != FastPath::kNone && chunk.columns[column].numeric &&
            (fast_[column] == FastPath::kFloat64
                 ? fast_number(chunk.columns[column].f64, pos, end, field)
                 : fast_number(chunk.columns[column].f32, pos, end, field))) {
          ++column;
          pos = field.next;
          if (field.terminator == Terminator::kRecordEnd) break;
          continue;
        }
        if (!scanner_.scan(pos, end, chunk.arena, field, error)) {
          chunk.error = std::move(error);
          return;
        }
        if (column == columns) {
          chunk.error = too_many_fields(chunk, field, end);
          return;
        }
        if (!store(chunk, column, field, error)) {
          chunk.error = std::move(error);
          return;
        }
        ++column;
        pos = field.next;
        if (field.terminator == Terminator::kRecordEnd) break;
      }
      if (column < columns) {
        error.offset = field.end;
        error.ragged = true;
        error.local_row = chunk.rows;
        error.fields = column;
        chunk.error = std::move(error);
        return;
      }
      if (++chunk.rows == 1) reserve(chunk, pos - first_record);
    }
  }

 private:
  ParseError too_many_fields(Chunk& chunk, const Field& first_extra, std::size_t end) const {
    ParseError error;
    error.offset = first_extra.offset;
    error.ragged = true;
    error.local_row = chunk.rows;
    error.fields = plans_.size() + 1;
    Field field = first_extra;
    ParseError ignored;
    while (field.terminator == Terminator::kDelimiter) {
      if (!scanner_.scan(field.next, end, chunk.arena, field, ignored)) {
        error.at_least = true;
        break;
      }
      ++error.fields;
    }
    return error;
  }

  // The numeric fast path: when the field at `pos` is a plain decimal number that
  // detail::parse_short_decimal() or parse_decimal_prefix() takes, unquoted, not an NA token (its
  // first byte starts none) and ended by the delimiter or a record end, appends its value and sets
  // field.end, .next and .terminator as Scanner::scan() would. Otherwise returns false having done
  // nothing, and the field takes the general way (which also finds its errors).
  template <class T>
  bool fast_number(std::vector<T>& values, std::size_t pos, std::size_t end, Field& field) const {
    const char* const b = base_ + pos;
    const char* const e = base_ + end;
    if (pos == end || na_first_[static_cast<unsigned char>(*b)]) return false;
    T value;
    const char* q = detail::parse_short_decimal(b, base_, e, value);
    if (q == nullptr) q = detail::parse_decimal_prefix(b, e, value);
    if (q == nullptr || static_cast<std::size_t>(q - b) > max_field_) return false;
    const auto at = static_cast<std::size_t>(q - base_);
    if (q == e) {
      field.terminator = Terminator::kRecordEnd;
      field.next = end;
    } else if (*q == delimiter_) {
      field.terminator = Terminator::kDelimiter;
      field.next = at + 1;
    } else if (*q == '\n') {
      field.terminator = Terminator::kRecordEnd;
      field.next = at + 1;
    } else if (*q == '\r' && q + 1 != e && q[1] == '\n') {
      field.terminator = Terminator::kRecordEnd;
      field.next = at + 2;
    } else {
      return false;
    }
    field.end = at;
    values.push_back(value);
    return true;
  }

  // Reserves each column's values for the rows that the chunk (numeric columns: the text up to
  // chunk.reserve_end) would hold if every record were as long as its first one (`bytes`), with
  // a margin; never more than that text can hold (a record has at least one byte per column).
  // Growing past it only costs reallocations, and reserved but unused memory is never touched.
  void reserve(Chunk& chunk, std::size_t bytes) const {
    const auto rows_in = [&](std::size_t size) {
      const std::size_t most = size / plans_.size() + 1;
      return std::min(most, size / std::max<std::size_t>(bytes, 1) * 9 / 8 + 64);
    };
    const std::size_t rows = rows_in(chunk.end - chunk.begin);
    const std::size_t numbers = rows_in(std::max(chunk.end, chunk.reserve_end) - chunk.begin);
    for (std::size_t j = 0; j < plans_.size(); ++j) {
      ChunkColumn& column = chunk.columns[j];
      const ColumnPlan& plan = plans_[j];
      if (plan.kind == ColumnKind::kCategorical) {
        column.texts.reserve(rows);
      } else if (!column.numeric) {
        column.texts.reserve(rows);
      } else if (plan.f32) {
        column.f32.reserve(numbers);
      } else {
        column.f64.reserve(numbers);
      }
    }
  }

  // Compares with the NA tokens only when the first byte can start one.
  bool is_missing(std::string_view text) const noexcept {
    if (text.empty()) return na_empty_;
    if (!na_first_[static_cast<unsigned char>(text.front())]) return false;
    return std::find(na_values_.begin(), na_values_.end(), text) != na_values_.end();
  }

  bool store(Chunk& chunk, std::size_t j, const Field& field, ParseError& error) const {
    ChunkColumn& column = chunk.columns[j];
    const ColumnPlan& plan = plans_[j];
    const bool missing = is_missing(field.value);
    switch (plan.kind) {
      case ColumnKind::kNumeric:
        if (plan.f32 ? push_number(column.f32, field.value, missing)
                     : push_number(column.f64, field.value, missing)) {
          return true;
        }
        error.offset = field.offset;
        error.message =
            "column '" + excerpt(plan.name) + "' is " +
            std::string(to_string(plan.f32 ? ColumnType::kFloat32 : ColumnType::kFloat64)) +
            " by CsvOptions::types, but this field is '" + excerpt(field.value) +
            "', not a number; fix the field, add its text to CsvOptions::na_values, "
            "or make the column categorical";
        return false;
      case ColumnKind::kInferred:
        if (column.numeric) {
          if (plan.f32 ? push_number(column.f32, field.value, missing)
                       : push_number(column.f64, field.value, missing)) {
            return true;
          }
          column.numeric = false;
          std::vector<double>().swap(column.f64);
          std::vector<float>().swap(column.f32);
          recover_texts(chunk, j, chunk.rows);
        }
        column.texts.push_back(missing ? std::string_view{} : field.value);
        return true;
      case ColumnKind::kCategorical:
        column.texts.push_back(missing ? std::string_view{} : field.value);
        return true;
    }
    return true;
  }

  template <class T>
  static bool push_number(std::vector<T>& values, std::string_view text, bool missing) {
    T value = std::numeric_limits<T>::quiet_NaN();
    if (!missing && !parse_number(text, value)) return false;
    values.push_back(value);
    return true;
  }

  const char* base_;
  Scanner scanner_;
  const std::vector<ColumnPlan>& plans_;
  std::vector<std::string_view> na_values_;
  enum class FastPath : std::uint8_t { kNone, kFloat64, kFloat32 };
  std::vector<FastPath> fast_;  // per column: whether and how fast_number() may take it
  char delimiter_;
  std::size_t max_field_;
  std::array<bool, 256> na_first_{};  // the first bytes of the NA tokens
  bool na_empty_ = false;             // whether "" is an NA token
};

// Dictionary-encodes a categorical column of one chunk in order of first appearance.
void encode(ChunkColumn& column) {
  std::unordered_map<std::string_view, std::int32_t> index;
  column.codes.reserve(column.texts.size());
  for (const std::string_view text : column.texts) {
    if (text.data() == nullptr) {
      column.codes.push_back(-1);
      continue;
    }
    const auto [it, inserted] =
        index.try_emplace(text, static_cast<std::int32_t>(column.dictionary.size()));
    if (inserted) column.dictionary.push_back(text);
    column.codes.push_back(it->second);
  }
  std::vector<std::string_view>().swap(column.texts);
}

// The number of quotes in [p, p + n), 16 bytes at a time where SSE2 is there.
std::size_t count_quotes(const char* p, std::size_t n) {
  std::size_t count = 0;
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  while (n - i >= 16) {
    // Each byte of `counts` counts the quotes at its lane in up to 255 blocks of 16 bytes.
    const std::size_t blocks = std::min<std::size_t>((n - i) / 16, 255);
    __m128i counts = _mm_setzero_si128();
    for (std::size_t k = 0; k < blocks; ++k, i += 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      counts = _mm_sub_epi8(counts, _mm_cmpeq_epi8(x, quote));  // a match is -1
    }
    const __m128i sums = _mm_sad_epu8(counts, _mm_setzero_si128());
    count += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; i < n; ++i) count += p[i] == '"' ? 1 : 0;
  return count;
}

// Chunk boundaries: `start`, then positions just after a LF with an even number of quotes in
// [start, position), near equal fractions of the data, then text.size().
std::vector<std::size_t> chunk_bounds(std::string_view text, std::size_t start, unsigned threads) {
  std::vector<std::size_t> bounds{start};
  const char* base = text.data();
  const std::size_t size = text.size();
  const std::size_t step = (size - start) / threads;
  std::size_t pos = start;
  bool in_quotes = false;
  for (unsigned k = 1; k < threads && pos < size; ++k) {
    const std::size_t target = std::max(pos, start + step * k);
    in_quotes = in_quotes != ((count_quotes(base + pos, target - pos) & 1) != 0);
    pos = target;
    bool found = false;
    while (pos < size && !found) {
      const char c = base[pos++];
      if (c == '"') {
        in_quotes = !in_quotes;
      } else if (c == '\n' && !in_quotes) {
        found = true;
      }
    }
    if (found && pos < size) bounds.push_back(pos);
  }
  bounds.push_back(size);
  return bounds;
}

class CsvReader {
 public:
  CsvReader(std::string_view text, const CsvOptions& options, std::string_view source)
      : text_(text), options_(options), source_(source) {}

  Result<Dataset> read() {
    if (options_.threads == 0) {
      return invalid_argument(std::string(source_) +
                              ": CsvOptions::threads is 0; use 1 or more threads");
    }
    const char d = options_.delimiter;
    if (d == '"' || d == '\r' || d == '\n') {
      return invalid_argument(std::string(source_) +
                              ": CsvOptions::delimiter cannot be a quote, CR or LF; use e.g. ',', "
                              "';' or '\\t'");
    }
    if (text_.substr(0, kBom.size()) == kBom) bom_ = kBom.size();

    std::size_t data_start = 0;
    if (Status s = read_first_record(data_start); !s.ok()) return s;
    if (Status s = plan_columns(); !s.ok()) return s;

    const std::vector<std::size_t> bounds =
        chunk_bounds(text_, data_start, std::min(options_.threads, kMaxChunks));
    std::vector<Chunk> chunks(bounds.size() - 1);
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      chunks[i].begin = bounds[i];
      chunks[i].end = bounds[i + 1];
      chunks[i].reserve_end = i == 0 ? text_.size() : chunks[i].end;
    }
    const Parser parser(text_, options_, plans_);
    detail::run_tasks(chunks.size(), [&](std::size_t i) { parser.parse(chunks[i]); });

    std::size_t rows = 0;
    for (const Chunk& chunk : chunks) {
      if (chunk.error) return error_at(*chunk.error, rows);
      rows += chunk.rows;
    }
    std::erase_if(chunks, [](const Chunk& chunk) { return chunk.rows == 0; });
    return assemble(parser, chunks, rows);
  }

 private:
  // Parses the first record: the column count, and the names when options_.header.
  Status read_first_record(std::size_t& data_start) {
    const std::size_t size = text_.size();
    const std::size_t first = skip_blank_lines(text_.data(), bom_, size);
    if (first >= size) {
      return invalid_argument(std::string(source_) + ": empty file, expected " +
                              (options_.header ? "a header row" : "at least one row"));
    }
    const Scanner scanner(text_, options_);
    Field field;
    ParseError error;
    header_start_ = first;
    std::size_t pos = first;
    std::unordered_set<std::string_view> seen;  // views into text_ or arena_: stable
    for (;;) {
      if (!scanner.scan(pos, size, arena_, field, error)) return error_at(error, 0);
      if (options_.header) {
        std::string name(field.value);
        if (name.empty()) {
          return at(field.offset, "column " + std::to_string(plans_.size() + 1) +
                                      " of the header has no name; name every column");
        }
        if (!seen.insert(field.value).second) {
          return at(field.offset, "the header names column '" + excerpt(name) +
                                      "' twice; give every column a distinct name");
        }
        plans_.push_back({std::move(name)});
      } else {
        plans_.push_back({"c" + std::to_string(plans_.size())});
      }
      pos = field.next;
      if (field.terminator == Terminator::kRecordEnd) break;
    }
    data_start = options_.header ? pos : first;
    return ok_status();
  }

  Status plan_columns() {
    std::vector<std::string> names;
    names.reserve(plans_.size());
    for (const ColumnPlan& plan : plans_) names.push_back(plan.name);
    for (const auto& [name, type] : options_.types) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        return at(header_start_, "CsvOptions::types names column '" + excerpt(name) +
                                     "', which the file does not have; the columns are " +
                                     join_names(names));
      }
    }
    if (!options_.target.empty() &&
        std::find(names.begin(), names.end(), options_.target) == names.end()) {
      return at(header_start_, "target column '" + excerpt(options_.target) +
                                   "' is not in the file; the columns are " + join_names(names));
    }
    for (ColumnPlan& plan : plans_) {
      const auto it = options_.types.find(plan.name);
      if (it == options_.types.end()) {
        plan.f32 = options_.float32;
      } else if (it->second == ColumnType::kCategorical) {
        plan.kind = ColumnKind::kCategorical;
      } else {
        plan.kind = ColumnKind::kNumeric;
        plan.f32 = it->second == ColumnType::kFloat32;
      }
    }
    return ok_status();
  }

  Result<Dataset> assemble(const Parser& parser, std::vector<Chunk>& chunks, std::size_t rows) {
    std::vector<bool> categorical(plans_.size());
    bool any_categorical = false;
    for (std::size_t j = 0; j < plans_.size(); ++j) {
      categorical[j] = plans_[j].kind == ColumnKind::kCategorical;
      if (plans_[j].kind == ColumnKind::kInferred) {
        for (const Chunk& chunk : chunks)
          categorical[j] = categorical[j] || !chunk.columns[j].numeric;
      }
      any_categorical = any_categorical || categorical[j];
    }
    if (any_categorical && rows > kMaxCategories) {
      return invalid_argument(std::string(source_) + ": " + std::to_string(rows) +
                              " rows are more than categorical codes (int32) can index; split "
                              "the file");
    }
    if (any_categorical) {
      detail::run_tasks(chunks.size(), [&](std::size_t i) {
        for (std::size_t j = 0; j < plans_.size(); ++j) {
          if (!categorical[j]) continue;
          if (chunks[i].columns[j].numeric && plans_[j].kind == ColumnKind::kInferred) {
            parser.recover_texts(chunks[i], j, chunks[i].rows);
            std::vector<double>().swap(chunks[i].columns[j].f64);
            std::vector<float>().swap(chunks[i].columns[j].f32);
          }
          encode(chunks[i].columns[j]);
        }
      });
    }

    // Columns are independent: with several chunks they are joined on as many threads (task t
    // takes columns t, t + tasks, ...).
    std::vector<Column> columns(plans_.size());
    const std::size_t tasks = std::max<std::size_t>(1, std::min(chunks.size(), plans_.size()));
    detail::run_tasks(tasks, [&](std::size_t t) {
      for (std::size_t j = t; j < plans_.size(); j += tasks) {
        const ColumnPlan& plan = plans_[j];
        if (categorical[j]) {
          columns[j] = merge_categorical(chunks, j, rows);
        } else if (plan.f32) {
          columns[j] = Column::float32(plan.name, concatenate(chunks, j, &ChunkColumn::f32, rows));
        } else if (chunks.size() == 1 || first_holds_all(chunks, j, &ChunkColumn::f64, rows)) {
          columns[j] = Column::float64(plan.name, concatenate(chunks, j, &ChunkColumn::f64, rows));
        } else {
          // Uninitialised memory: the copy below is its first touch (no zero-fill before it).
          auto values = ColumnBuffer<double>::uninitialized(rows);
          std::size_t at = 0;
          for (Chunk& chunk : chunks) {
            std::vector<double>& part = chunk.columns[j].f64;
            std::copy(part.begin(), part.end(), values.data() + at);
            at += part.size();
            std::vector<double>().swap(part);
          }
          columns[j] = Column::float64(plan.name, std::move(values));
        }
      }
    });
    return Dataset::make(std::move(columns), options_.target);
  }

  // Whether the first chunk's values of column j have room for all `rows` (it reserved for the
  // whole text, Chunk::reserve_end), so that the other chunks' values are appended to them.
  template <class T>
  static bool first_holds_all(const std::vector<Chunk>& chunks, std::size_t j,
                              std::vector<T> ChunkColumn::*member, std::size_t rows) {
    return !chunks.empty() && (chunks[0].columns[j].*member).capacity() >= rows;
  }

  template <class T>
  static std::vector<T> concatenate(std::vector<Chunk>& chunks, std::size_t j,
                                    std::vector<T> ChunkColumn::*member, std::size_t rows) {
    if (chunks.size() == 1) return std::move(chunks[0].columns[j].*member);
    std::vector<T> values;
    std::size_t from = 0;
    if (first_holds_all(chunks, j, member, rows)) {
      values = std::move(chunks[0].columns[j].*member);
      from = 1;
    } else {
      values.reserve(rows);
    }
    for (Chunk& chunk : std::span(chunks).subspan(from)) {
      std::vector<T>& part = chunk.columns[j].*member;
      values.insert(values.end(), part.begin(), part.end());
      std::vector<T>().swap(part);
    }
    return values;
  }

  Column merge_categorical(std::vector<Chunk>& chunks, std::size_t j, std::size_t rows) const {
    std::unordered_map<std::string_view, std::int32_t> index;
    std::vector<std::string> categories;
    std::vector<std::int32_t> codes;
    codes.reserve(rows);
    std::vector<std::int32_t> remap;
    for (Chunk& chunk : chunks) {
      ChunkColumn& column = chunk.columns[j];
      remap.clear();
      for (const std::string_view text : column.dictionary) {
        const auto [it, inserted] =
            index.try_emplace(text, static_cast<std::int32_t>(categories.size()));
        if (inserted) categories.emplace_back(text);
        remap.push_back(it->second);
      }
      for (const std::int32_t code : column.codes) {
        codes.push_back(code < 0 ? -1 : remap[static_cast<std::size_t>(code)]);
      }
      std::vector<std::int32_t>().swap(column.codes);
    }
    return Column::categorical(plans_[j].name, std::move(codes), std::move(categories));
  }

  Status at(std::size_t offset, const std::string& message) const {
    const std::size_t line =
        1 + static_cast<std::size_t>(std::count(text_.begin(), text_.begin() + offset, '\n'));
    const std::size_t newline = text_.substr(0, offset).rfind('\n');
    const std::size_t line_start = newline == std::string_view::npos ? bom_ : newline + 1;
    const std::size_t column = offset >= line_start ? offset - line_start + 1 : 1;
    return invalid_argument(std::string(source_) + ":" + std::to_string(line) + ":" +
                            std::to_string(column) + ": " + message);
  }

  // `rows_before`: complete data rows in the chunks before the error's.
  Status error_at(const ParseError& error, std::size_t rows_before) const {
    if (!error.ragged) return at(error.offset, error.message);
    const std::size_t row = rows_before + error.local_row + 1;
    const std::string count = (error.at_least ? "at least " : "") + std::to_string(error.fields);
    return at(error.offset,
              "row " + std::to_string(row) + " has " + count + " fields, " +
                  (options_.header ? "the header has " : "row 1 has ") +
                  std::to_string(plans_.size()) +
                  "; give every row the same number of fields (quote a field that contains the "
                  "delimiter)");
  }

  std::string_view text_;
  const CsvOptions& options_;
  std::string_view source_;
  std::size_t bom_ = 0;
  std::size_t header_start_ = 0;  // of the first record
  std::vector<ColumnPlan> plans_;
  Arena arena_;  // the header's unescaped names
};

// A read-only mapping of a whole file, unmapped on destruction.
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }

  // Maps `path`; an empty file gives an empty text without a mapping.
  Status open(const std::filesystem::path& path) {
    const std::string name = path.string();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return os_error(name, "cannot open the file", errno);
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      const int e = errno;
      ::close(fd);
      return os_error(name, "cannot read the file", e);
    }
    if (!S_ISREG(info.st_mode)) {
      ::close(fd);
      return invalid_argument(name + ": not a regular file; pass the path of a CSV file");
    }
    size_ = static_cast<std::size_t>(info.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        return os_error(name, "cannot map the file into memory", e);
      }
      data_ = data;
      ::madvise(data_, size_, MADV_WILLNEED);
    }
    ::close(fd);
    return ok_status();
  }

  std::string_view text() const noexcept {
    return data_ == nullptr ? std::string_view{}
                            : std::string_view(static_cast<const char*>(data_), size_);
  }

 private:
  static Status os_error(const std::string& name, const char* what, int error) {
    return invalid_argument(name + ": " + what + ": " + std::system_category().message(error) +
                            "; check the path and its permissions");
  }

  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

Result<Dataset> parse_csv(std::string_view text, const CsvOptions& options,
                          std::string_view source_name) {
  return CsvReader(text, options, source_name).read();
}

Result<Dataset> read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  MappedFile file;
  if (Status s = file.open(path); !s.ok()) return s;
  const std::string name = path.string();
  return CsvReader(file.text(), options, name).read();
}

}  // namespace trainflow::ml

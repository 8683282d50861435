#include "trainflow/ml/csv.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace trainflow::ml {
namespace {

using Cells = std::vector<std::optional<std::string>>;

Dataset parse_ok(std::string_view text, const CsvOptions& options = {}) {
  Result<Dataset> ds = parse_csv(text, options);
  EXPECT_TRUE(ds.has_value()) << ds.error().to_string();
  return ds.has_value() ? *std::move(ds) : Dataset{};
}

// The error message of parsing `text`; empty (and a test failure) when it parses.
std::string parse_error(std::string_view text, const CsvOptions& options = {}) {
  Result<Dataset> ds = parse_csv(text, options);
  EXPECT_FALSE(ds.has_value()) << "parsed without error: " << text;
  if (ds.has_value()) return {};
  EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
  return ds.error().message();
}

// A categorical column's cells as text (nullopt when missing).
Cells texts(const Dataset& ds, std::size_t col) {
  const Column& c = ds.column(col);
  EXPECT_EQ(c.type(), ColumnType::kCategorical) << c.name();
  Cells out;
  if (c.type() != ColumnType::kCategorical) return out;
  for (std::int32_t code : c.codes()) {
    out.push_back(code < 0
                      ? std::nullopt
                      : std::optional<std::string>(c.categories()[static_cast<std::size_t>(code)]));
  }
  return out;
}

std::vector<double> numbers(const Dataset& ds, std::size_t col) {
  const Column& c = ds.column(col);
  EXPECT_TRUE(c.is_numeric()) << c.name();
  std::vector<double> out;
  if (!c.is_numeric()) return out;
  for (std::size_t i = 0; i < c.size(); ++i) out.push_back(c.numeric(i));
  return out;
}

std::vector<std::string> names(const Dataset& ds) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ds.num_columns(); ++i) out.push_back(ds.column(i).name());
  return out;
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

#define EXPECT_STARTS_WITH(text, prefix) \
  EXPECT_TRUE(starts_with((text), (prefix))) << "  actual: " << (text) << "\nexpected: " << (prefix)

// A fresh directory under the system's temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("trainflow_csv_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path write(const std::string& name, std::string_view content) const {
    std::filesystem::path p = path_ / name;
    std::ofstream out(p, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    return p;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------------------------
// RFC 4180

TEST(CsvTest, ParsesQuotedFieldsWithEscapedQuotesDelimitersAndNewlines) {
  Dataset ds = parse_ok(
      "name,note\n"
      "\"Smith, J\",\"said \"\"hi\"\"\"\n"
      "plain,\"two\nlines\"\n"
      "\"\",\"a\r\nb\"\n");
  ASSERT_EQ(ds.num_rows(), 3u);
  EXPECT_EQ(texts(ds, 0), (Cells{"Smith, J", "plain", std::nullopt}));
  EXPECT_EQ(texts(ds, 1), (Cells{"said \"hi\"", "two\nlines", "a\r\nb"}));
}

TEST(CsvTest, AcceptsCrlfAndMissingFinalNewline) {
  Dataset crlf = parse_ok("a,b\r\n1,x\r\n2,y");
  ASSERT_EQ(crlf.num_rows(), 2u);
  EXPECT_EQ(names(crlf), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(numbers(crlf, 0), (std::vector<double>{1, 2}));
  EXPECT_EQ(texts(crlf, 1), (Cells{"x", "y"}));
  EXPECT_TRUE(crlf == parse_ok("a,b\n1,x\n2,y\n"));
  EXPECT_TRUE(crlf == parse_ok("a,b\r\n1,x\r\n2,\"y\"\r\n"));
  // A CR that does not end a line is data.
  EXPECT_EQ(texts(parse_ok("a\nx\ry\n"), 0), (Cells{"x\ry"}));
}

TEST(CsvTest, SkipsByteOrderMarkAndBlankLines) {
  Dataset ds = parse_ok(
      "\xEF\xBB\xBF"
      "id,v\n\n1,2\r\n\r\n3,4\n\n");
  EXPECT_EQ(names(ds), (std::vector<std::string>{"id", "v"}));
  EXPECT_EQ(numbers(ds, 0), (std::vector<double>{1, 3}));
  // Columns on the first line count from after the mark.
  EXPECT_STARTS_WITH(parse_error("\xEF\xBB\xBF"
                                 "a,a\n"),
                     "<memory>:1:3: ");
}

TEST(CsvTest, EmptyFieldsAreMissing) {
  Dataset ds = parse_ok("a,b,c\n1,,x\n,2,\n");
  EXPECT_EQ(numbers(ds, 0)[0], 1);
  EXPECT_TRUE(std::isnan(numbers(ds, 0)[1]));
  EXPECT_TRUE(std::isnan(numbers(ds, 1)[0]));
  EXPECT_EQ(numbers(ds, 1)[1], 2);
  EXPECT_EQ(texts(ds, 2), (Cells{"x", std::nullopt}));
  // A trailing delimiter is an empty last field.
  Dataset trailing = parse_ok("a,b\n1,");
  ASSERT_EQ(trailing.num_rows(), 1u);
  EXPECT_TRUE(trailing.missing(1, 0));
}

// ---------------------------------------------------------------------------------------------
// Inference

TEST(CsvTest, InfersNumericAndCategoricalColumns) {
  Dataset ds = parse_ok(
      "int,real,mixed,spaced,special\n"
      "1,2.5,1,  3 ,inf\n"
      "-7,1e3,x, +4,-Infinity\n"
      "+2,.5,2,\t5\t,NA\n");
  EXPECT_EQ(ds.column(0).type(), ColumnType::kFloat64);
  EXPECT_EQ(numbers(ds, 0), (std::vector<double>{1, -7, 2}));
  EXPECT_EQ(numbers(ds, 1), (std::vector<double>{2.5, 1000, 0.5}));
  // One non-number makes the whole column categorical; numbers keep their text.
  EXPECT_EQ(texts(ds, 2), (Cells{"1", "x", "2"}));
  EXPECT_EQ(numbers(ds, 3), (std::vector<double>{3, 4, 5}));
  std::vector<double> special = numbers(ds, 4);
  EXPECT_EQ(special[0], std::numeric_limits<double>::infinity());
  EXPECT_EQ(special[1], -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(special[2]));
}

TEST(CsvTest, NumbersMustBeWholeFields) {
  for (const char* text : {"1x", "0x10", "1e", "--1", "++1", "1 2", "1,5", " ", "+"}) {
    std::string csv = std::string("a\n\"") + text + "\"\n";
    Dataset ds = parse_ok(csv);
    EXPECT_EQ(ds.column(0).type(), ColumnType::kCategorical) << text;
  }
}

TEST(CsvTest, OutOfRangeNumbersBecomeInfinityOrZero) {
  Dataset ds = parse_ok("a\n1e400\n-1e400\n1e-400\n-0.0000e-999\n123456e99999999999999\n");
  std::vector<double> v = numbers(ds, 0);
  EXPECT_EQ(v[0], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[1], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[2], 0.0);
  EXPECT_EQ(v[3], 0.0);
  EXPECT_EQ(v[4], std::numeric_limits<double>::infinity());
  CsvOptions f32;
  f32.float32 = true;
  Dataset small = parse_ok("a\n1e39\n1e-50\n", f32);
  ASSERT_EQ(small.column(0).type(), ColumnType::kFloat32);
  EXPECT_EQ(small.column(0).float32()[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(small.column(0).float32()[1], 0.0f);
}

TEST(CsvTest, NaTokensAreMissingQuotedOrNot) {
  Dataset ds = parse_ok("a,b\n1,x\nNA,N/A\nnull,\"NA\"\nNaN,nan\n");
  EXPECT_EQ(ds.column(0).type(), ColumnType::kFloat64);
  EXPECT_EQ(numbers(ds, 0)[0], 1);
  for (std::size_t r = 1; r < 4; ++r) EXPECT_TRUE(ds.missing(0, r)) << r;
  EXPECT_EQ(texts(ds, 1), (Cells{"x", std::nullopt, std::nullopt, std::nullopt}));

  CsvOptions custom;
  custom.na_values = {"?"};
  Dataset c = parse_ok("a,b\n?,NA\n1,\n", custom);
  EXPECT_TRUE(c.missing(0, 0));
  EXPECT_EQ(numbers(c, 0)[1], 1);
  // "NA" and "" are ordinary text now.
  EXPECT_EQ(texts(c, 1), (Cells{"NA", ""}));
}

TEST(CsvTest, AllMissingColumnIsFloat64NaN) {
  Dataset ds = parse_ok("a,b\n1,\n2,NA\n");
  EXPECT_EQ(ds.column(1).type(), ColumnType::kFloat64);
  EXPECT_TRUE(ds.missing(1, 0));
  EXPECT_TRUE(ds.missing(1, 1));
  Dataset header_only = parse_ok("a,b\n");
  EXPECT_EQ(header_only.num_rows(), 0u);
  EXPECT_EQ(header_only.column(0).type(), ColumnType::kFloat64);
}

TEST(CsvTest, CategoriesFollowFirstAppearance) {
  Dataset ds = parse_ok("c\nz\ny\nz\nNA\nx\ny\n");
  EXPECT_EQ(ds.column(0).categories(), (std::vector<std::string>{"z", "y", "x"}));
  std::vector<std::int32_t> codes(ds.column(0).codes().begin(), ds.column(0).codes().end());
  EXPECT_EQ(codes, (std::vector<std::int32_t>{0, 1, 0, -1, 2, 1}));
}

TEST(CsvTest, TypeOverridesReplaceInference) {
  CsvOptions options;
  options.types = {
      {"zip", ColumnType::kCategorical}, {"x", ColumnType::kFloat32}, {"y", ColumnType::kFloat64}};
  Dataset ds = parse_ok("zip,x,y,z\n01234,1.5,2,3\n99,NA,,4\n", options);
  EXPECT_EQ(texts(ds, 0), (Cells{"01234", "99"}));
  ASSERT_EQ(ds.column(1).type(), ColumnType::kFloat32);
  EXPECT_EQ(ds.column(1).float32()[0], 1.5f);
  EXPECT_TRUE(ds.missing(1, 1));
  EXPECT_EQ(ds.column(2).type(), ColumnType::kFloat64);
  EXPECT_EQ(ds.column(3).type(), ColumnType::kFloat64);
}

TEST(CsvTest, Float32OptionAppliesToInferredNumericColumns) {
  CsvOptions options;
  options.float32 = true;
  options.types = {{"d", ColumnType::kFloat64}};
  Dataset ds = parse_ok("f,d,c\n0.1,0.1,a\n", options);
  ASSERT_EQ(ds.column(0).type(), ColumnType::kFloat32);
  EXPECT_EQ(ds.column(0).float32()[0], 0.1f);
  ASSERT_EQ(ds.column(1).type(), ColumnType::kFloat64);
  EXPECT_EQ(ds.column(1).float64()[0], 0.1);
  EXPECT_EQ(ds.column(2).type(), ColumnType::kCategorical);
}

TEST(CsvTest, OtherDelimiters) {
  CsvOptions semicolon;
  semicolon.delimiter = ';';
  Dataset ds = parse_ok("a;b\n1,5;\"x;y\"\n", semicolon);
  EXPECT_EQ(texts(ds, 0), (Cells{"1,5"}));
  EXPECT_EQ(texts(ds, 1), (Cells{"x;y"}));

  CsvOptions tab;
  tab.delimiter = '\t';
  Dataset t = parse_ok("a\tb\n1\t\"x\ty\"\n", tab);
  EXPECT_EQ(numbers(t, 0), (std::vector<double>{1}));
  EXPECT_EQ(texts(t, 1), (Cells{"x\ty"}));

  CsvOptions bad;
  bad.delimiter = '"';
  EXPECT_STARTS_WITH(parse_error("a\n", bad), "<memory>: CsvOptions::delimiter cannot be");
}

TEST(CsvTest, WithoutHeaderNamesColumnsByPosition) {
  CsvOptions options;
  options.header = false;
  options.target = "c1";
  Dataset ds = parse_ok("1,a\n2,b\n", options);
  EXPECT_EQ(names(ds), (std::vector<std::string>{"c0", "c1"}));
  EXPECT_EQ(ds.num_rows(), 2u);
  EXPECT_EQ(ds.target_index(), std::optional<std::size_t>{1});
  EXPECT_STARTS_WITH(parse_error("1,a\n2\n", options),
                     "<memory>:2:2: row 2 has 1 fields, row 1 has 2;");
  EXPECT_STARTS_WITH(parse_error("", options), "<memory>: empty file, expected at least one row");
}

TEST(CsvTest, SelectsTarget) {
  CsvOptions options;
  options.target = "y";
  Dataset ds = parse_ok("x,y\n1,0\n2,1\n", options);
  EXPECT_EQ(ds.target_name(), "y");
  EXPECT_EQ(ds.target_index(), std::optional<std::size_t>{1});
  EXPECT_EQ(ds.feature_indices(), (std::vector<std::size_t>{0}));
  EXPECT_EQ(parse_ok("x,y\n1,0\n").target_name(), "");
}

// ---------------------------------------------------------------------------------------------
// Errors: what, where and how to fix it

TEST(CsvTest, RaggedRowsNameRowLineAndColumn) {
  EXPECT_STARTS_WITH(parse_error("a,b,c\n1,2,3\n4,5\n"),
                     "<memory>:3:4: row 2 has 2 fields, the header has 3; give every row");
  EXPECT_STARTS_WITH(parse_error("a,b\n1,2\r\n3,4,5,6\n"),
                     "<memory>:3:5: row 2 has 4 fields, the header has 2;");
  // Lines count physical lines: the quoted field spans two.
  EXPECT_STARTS_WITH(parse_error("a,b\n\"x\ny\",1\n3\n"),
                     "<memory>:4:2: row 2 has 1 fields, the header has 2;");
  // CRLF: the position is the CR.
  EXPECT_STARTS_WITH(parse_error("a,b\r\n1\r\n"), "<memory>:2:2: row 1 has 1 fields");
  // Too many fields with a malformed one among them.
  EXPECT_STARTS_WITH(parse_error("a\n1,2,x\"\n"),
                     "<memory>:2:3: row 1 has at least 2 fields, the header has 1;");
}

TEST(CsvTest, QuoteErrorsPointAtTheQuote) {
  EXPECT_STARTS_WITH(parse_error("a,b\n1,\"xy\n2,3\n"),
                     "<memory>:2:3: a quoted field starts here but its closing quote is missing");
  EXPECT_STARTS_WITH(parse_error("a,b\n1,x\"y\n"),
                     "<memory>:2:4: a quote inside an unquoted field; quote the whole field");
  EXPECT_STARTS_WITH(parse_error("a\n\"x\"y\n"),
                     "<memory>:2:4: text after the closing quote of a quoted field");
  EXPECT_STARTS_WITH(parse_error("a\n\"x\"\ry\n"), "<memory>:2:4: text after the closing quote");
  EXPECT_STARTS_WITH(parse_error("\"a"), "<memory>:1:1: a quoted field starts here");
}

TEST(CsvTest, NonNumericTextInForcedNumericColumn) {
  CsvOptions options;
  options.types = {{"b", ColumnType::kFloat64}};
  EXPECT_STARTS_WITH(parse_error("a,b\n1,2\n3,\"ab\nc\"\n", options),
                     "<memory>:3:3: column 'b' is float64 by CsvOptions::types, but this field is "
                     "'ab\\x0ac', not a number;");
  options.types = {{"a", ColumnType::kFloat32}};
  EXPECT_STARTS_WITH(parse_error("a\n1\n\n  x\n", options),
                     "<memory>:4:1: column 'a' is float32 by CsvOptions::types, but this field "
                     "is '  x'");
}

TEST(CsvTest, EmptyInputIsAnError) {
  for (const char* text : {"", "\n", "\r\n\n", "\xEF\xBB\xBF"}) {
    EXPECT_EQ(parse_error(text), "<memory>: empty file, expected a header row") << text;
  }
}

TEST(CsvTest, HeaderNamesMustBeDistinctAndNonEmpty) {
  EXPECT_STARTS_WITH(parse_error("a,b,a\n1,2,3\n"),
                     "<memory>:1:5: the header names column 'a' twice; give every column");
  EXPECT_STARTS_WITH(parse_error("a,\"\",c\n"),
                     "<memory>:1:3: column 2 of the header has no name; name every column");
  // The header's own syntax errors are positioned too.
  EXPECT_STARTS_WITH(parse_error("a,b\"\n"), "<memory>:1:4: a quote inside an unquoted field");
}

TEST(CsvTest, UnknownTargetOrOverrideListsColumns) {
  CsvOptions options;
  options.target = "label";
  EXPECT_EQ(parse_error("x,y\n1,2\n", options),
            "<memory>:1:1: target column 'label' is not in the file; the columns are 'x', 'y'");
  // After blank lines the header is not on line 1.
  EXPECT_STARTS_WITH(parse_error("\n\nx,y\n", options), "<memory>:3:1: target column 'label'");
  CsvOptions types;
  types.types = {{"z", ColumnType::kFloat64}};
  EXPECT_EQ(parse_error("x,y\n1,2\n", types),
            "<memory>:1:1: CsvOptions::types names column 'z', which the file does not have; the "
            "columns are 'x', 'y'");
}

TEST(CsvTest, FieldLongerThanLimit) {
  CsvOptions options;
  options.max_field_bytes = 4;
  EXPECT_EQ(numbers(parse_ok("a\n1234\r\n", options), 0), (std::vector<double>{1234}));
  EXPECT_EQ(texts(parse_ok("a\n\"12\"\"\"\n", options), 0), (Cells{"12\""}));
  EXPECT_STARTS_WITH(parse_error("a\n12345\n", options),
                     "<memory>:2:1: a field longer than CsvOptions::max_field_bytes (4 bytes) "
                     "starts here");
  EXPECT_STARTS_WITH(parse_error("a\n1,12345", options), "<memory>:2:3: a field longer");
  EXPECT_STARTS_WITH(parse_error("a\n\"12345\"\n", options), "<memory>:2:1: a field longer");
  EXPECT_STARTS_WITH(parse_error("a\n\"123\"\"\"\n", options), "<memory>:2:1: a field longer");
  // An unterminated quote in a long file fails at the limit, as a long field.
  EXPECT_STARTS_WITH(parse_error("a\n\"" + std::string(100, 'x') + "\n", options),
                     "<memory>:2:1: a field longer");
}

TEST(CsvTest, RejectsZeroThreads) {
  CsvOptions options;
  options.threads = 0;
  EXPECT_STARTS_WITH(parse_error("a\n1\n", options), "<memory>: CsvOptions::threads is 0");
}

// ---------------------------------------------------------------------------------------------
// Files

TEST(CsvTest, ReadsFileLikeText) {
  TempDir dir;
  const std::string text = "a,b\n1,\"x\ny\"\n2,z\n";
  const std::filesystem::path path = dir.write("data.csv", text);
  Result<Dataset> file = read_csv(path);
  ASSERT_TRUE(file.has_value()) << file.error().to_string();
  EXPECT_TRUE(*file == parse_ok(text));

  const std::filesystem::path bad = dir.write("bad.csv", "a,b\n1\n");
  Result<Dataset> ragged = read_csv(bad);
  ASSERT_FALSE(ragged.has_value());
  EXPECT_STARTS_WITH(ragged.error().message(), bad.string() + ":2:2: row 1 has 1 fields");
}

TEST(CsvTest, FileErrorsNameThePath) {
  TempDir dir;
  const std::filesystem::path empty = dir.write("empty.csv", "");
  Result<Dataset> e = read_csv(empty);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().message(), empty.string() + ": empty file, expected a header row");

  const std::filesystem::path missing = dir.path() / "missing.csv";
  Result<Dataset> m = read_csv(missing);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code(), StatusCode::kInvalidArgument);
  EXPECT_STARTS_WITH(m.error().message(),
                     missing.string() + ": cannot open the file: No such file or directory");

  Result<Dataset> d = read_csv(dir.path());
  ASSERT_FALSE(d.has_value());
  EXPECT_STARTS_WITH(d.error().message(), dir.path().string() + ": not a regular file");
}

TEST(CsvTest, PalmerPenguinsWhenInstalled) {
  const std::filesystem::path path = "/usr/lib/R/site-library/palmerpenguins/extdata/penguins.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not installed";
  CsvOptions options;
  options.target = "species";
  Result<Dataset> ds = read_csv(path, options);
  ASSERT_TRUE(ds.has_value()) << ds.error().to_string();
  EXPECT_EQ(ds->num_rows(), 344u);
  EXPECT_EQ(ds->column(*ds->target_index()).categories(),
            (std::vector<std::string>{"Adelie", "Gentoo", "Chinstrap"}));
  const std::size_t bill = *ds->find("bill_length_mm");
  EXPECT_EQ(ds->column(bill).type(), ColumnType::kFloat64);
  EXPECT_TRUE(ds->missing(bill, 3));
}

// ---------------------------------------------------------------------------------------------
// Parallel parsing

// ~200k rows, most with a quoted field holding newlines, CRLFs and delimiters, so that every
// chunk boundary the reader aims at lands near (often inside) such a field.
std::string generated_csv(std::size_t rows) {
  std::mt19937_64 rng(42);
  std::string text = "id,x,label,note\n";
  for (std::size_t i = 0; i < rows; ++i) {
    text += std::to_string(i);
    text += ',';
    text += (rng() % 17 == 0) ? "NA" : std::to_string(static_cast<double>(rng() % 100000) / 8);
    text += ',';
    text += "L" + std::to_string(rng() % 50);
    text += ',';
    switch (rng() % 4) {
      case 0: text += "\"line one\nline two, with \"\"quotes\"\"\n\""; break;
      case 1: text += "\"a,b\r\nc\""; break;
      case 2: text += "note" + std::to_string(rng() % 1000); break;
      default: text += "\"\n\n,\n\""; break;
    }
    text += (i % 3 == 0) ? "\r\n" : "\n";
  }
  return text;
}

class CsvParallelTest : public testing::TestWithParam<unsigned> {};

TEST_P(CsvParallelTest, ParallelEqualsSequential) {
  static const std::string text = generated_csv(200'000);
  static const Result<Dataset> sequential = parse_csv(text);
  ASSERT_TRUE(sequential.has_value()) << sequential.error().to_string();
  ASSERT_EQ(sequential->num_rows(), 200'000u);
  // Spot checks: ids in order, so no record was lost, split or duplicated.
  for (std::size_t r = 0; r < 200'000; r += 9973) EXPECT_EQ(sequential->numeric(0, r), double(r));
  EXPECT_EQ(sequential->column(2).categories().size(), 50u);

  CsvOptions options;
  options.threads = GetParam();
  Result<Dataset> parallel = parse_csv(text, options);
  ASSERT_TRUE(parallel.has_value()) << parallel.error().to_string();
  EXPECT_TRUE(*parallel == *sequential);
  EXPECT_EQ(parallel->column(2).categories(), sequential->column(2).categories());
  EXPECT_EQ(parallel->column(3).categories(), sequential->column(3).categories());

  TempDir dir;
  Result<Dataset> file = read_csv(dir.write("big.csv", text), options);
  ASSERT_TRUE(file.has_value()) << file.error().to_string();
  EXPECT_TRUE(*file == *sequential);

  // float32 columns are joined the same way (appended to the first chunk's when it reserved
  // for the whole text, copied into a new column otherwise).
  CsvOptions f32;
  f32.float32 = true;
  const Result<Dataset> f32_sequential = parse_csv(text, f32);
  ASSERT_TRUE(f32_sequential.has_value()) << f32_sequential.error().to_string();
  f32.threads = GetParam();
  const Result<Dataset> f32_parallel = parse_csv(text, f32);
  ASSERT_TRUE(f32_parallel.has_value()) << f32_parallel.error().to_string();
  EXPECT_EQ(f32_parallel->column(0).type(), ColumnType::kFloat32);
  EXPECT_TRUE(*f32_parallel == *f32_sequential);
}

TEST_P(CsvParallelTest, ParallelReportsTheFirstError) {
  std::string text = generated_csv(20'000);
  const std::string good = text;
  // Two errors: the reported one is the first in the file, whatever the chunking.
  const std::size_t first = text.size() / 2;
  const std::size_t at = text.find(",note", first);
  ASSERT_NE(at, std::string::npos);
  text.insert(at + 1, "x\"");  // a quote inside an unquoted field
  text.insert(text.size() - 1, ",extra");
  CsvOptions options;
  Result<Dataset> sequential = parse_csv(text, options);
  ASSERT_FALSE(sequential.has_value());
  EXPECT_NE(sequential.error().message().find("a quote inside an unquoted field"),
            std::string::npos);
  options.threads = GetParam();
  Result<Dataset> parallel = parse_csv(text, options);
  ASSERT_FALSE(parallel.has_value());
  EXPECT_EQ(parallel.error(), sequential.error());

  // A ragged row near the end: the row number counts the rows of every chunk before it.
  std::string ragged = good;
  ragged.insert(ragged.size() - 1, ",extra");
  Result<Dataset> r = parse_csv(ragged, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find(": row 20000 has 5 fields, the header has 4"),
            std::string::npos)
      << r.error().message();
}

// Chunks are cut just after LFs preceded by an even number of quotes. Here a quoted field
// holding most of the lines covers every point the cuts aim at, so every LF near them is inside
// quotes and the cuts move past the field (or no cut is made); without quotes they stand.
TEST_P(CsvParallelTest, LineBreaksInsideQuotesAtEveryCut) {
  std::string numbers = "a,b,c\n";
  std::string quoted = "a,b,c\n1,2,x\n";
  quoted += "3,4,\"";
  for (int i = 0; i < 5000; ++i) quoted += "line " + std::to_string(i) + ", \"\"q\"\"\n";
  quoted += "\"\n";
  for (int i = 0; i < 300; ++i) {
    const std::string row = std::to_string(i) + "," + std::to_string(i * 0.25) + ",y\n";
    numbers += row;
    quoted += row;
  }
  CsvOptions options;
  for (const std::string& text : {numbers, quoted}) {
    options.threads = 1;
    const Dataset sequential = parse_ok(text, options);
    options.threads = GetParam();
    EXPECT_TRUE(parse_ok(text, options) == sequential) << GetParam();
  }
  const Dataset ds = parse_ok(quoted, options);
  ASSERT_EQ(ds.num_rows(), 302u);
  EXPECT_EQ(ds.column(2).categories()[1].substr(0, 10), "line 0, \"q");

  // Errors after the long field: row numbers count its record once.
  std::string ragged = quoted + "7,8\n";
  Result<Dataset> r = parse_csv(ragged, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find(": row 303 has 2 fields, the header has 3"), std::string::npos)
      << r.error().message();
  // A quote that is never closed: reported at the quote, however the text was cut.
  std::string open = numbers;
  open.insert(open.find("\n150,") + 1, "150,1,\"x\n");
  r = parse_csv(open, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find(":152:7: a quoted field starts here but its closing quote "
                                     "is missing"),
            std::string::npos)
      << r.error().message();
}

TEST(CsvTest, MoreThreadsThanRecords) {
  const std::string text = "a,b,c\n1,x,\"p\nq\"\n\n2,y,r\n";
  CsvOptions options;
  options.types = {{"c", ColumnType::kCategorical}};
  const Dataset sequential = parse_ok(text, options);
  ASSERT_EQ(sequential.num_rows(), 2u);
  for (unsigned threads : {3u, 16u, 1000u}) {
    options.threads = threads;
    EXPECT_TRUE(parse_ok(text, options) == sequential) << threads;
    // No data rows at all: every chunk is empty.
    Dataset empty = parse_ok("a,b,c\n\n\n", options);
    EXPECT_EQ(empty.num_rows(), 0u);
    EXPECT_EQ(empty.column(2).type(), ColumnType::kCategorical);
  }
}

INSTANTIATE_TEST_SUITE_P(Csv, CsvParallelTest, testing::Values(1u, 2u, 4u, 8u));

// ---------------------------------------------------------------------------------------------
// Randomized

std::string random_cell(std::mt19937& rng, bool numeric, char delimiter) {
  static const char* const kNa[] = {"", "NA", "N/A", "NaN", "nan", "null"};
  if (rng() % 6 == 0) return kNa[rng() % 6];
  if (numeric) {
    switch (rng() % 4) {
      case 0: return std::to_string(static_cast<int>(rng() % 2001) - 1000);
      case 1: return std::to_string(static_cast<double>(rng() % 100000) / 64);
      case 2: return "1e" + std::to_string(rng() % 20);
      default: return "-inf";
    }
  }
  const std::string alphabet = std::string("x\"\n\r ") + delimiter + "ab";
  std::string cell = "x";  // never a number, never empty
  const std::size_t n = rng() % 6;
  for (std::size_t i = 0; i < n; ++i)
    cell.insert(rng() % (cell.size() + 1), 1, alphabet[rng() % alphabet.size()]);
  return cell;
}

bool needs_quotes(const std::string& cell, char delimiter) {
  return cell.find_first_of(std::string("\"\n\r") + delimiter) != std::string::npos;
}

std::string quoted(const std::string& cell) {
  std::string out = "\"";
  for (char c : cell) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

TEST(CsvTest, RandomTextsParseTheSameOnOneAndFourThreads) {
  std::mt19937 rng(2024);
  const std::vector<std::string> na = CsvOptions{}.na_values;
  int parsed = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    const char delimiter = ",;\t"[rng() % 3];
    const std::size_t columns = 1 + rng() % 4;
    const std::size_t rows = rng() % 12;
    std::vector<bool> numeric(columns);
    for (std::size_t c = 0; c < columns; ++c) numeric[c] = rng() % 2 == 0;
    std::vector<std::vector<std::string>> cells(rows, std::vector<std::string>(columns));
    const bool crlf = rng() % 2 == 0;
    std::string text = rng() % 8 == 0 ? "\xEF\xBB\xBF" : "";
    for (std::size_t c = 0; c < columns; ++c) {
      text += (c ? std::string(1, delimiter) : "") +
              (rng() % 3 == 0 ? quoted("h" + std::to_string(c)) : "h" + std::to_string(c));
    }
    for (std::size_t r = 0; r < rows; ++r) {
      text += crlf ? "\r\n" : "\n";
      for (std::size_t c = 0; c < columns; ++c) {
        cells[r][c] = random_cell(rng, numeric[c], delimiter);
        const std::string& cell = cells[r][c];
        // An empty single-column line would be a blank line: quote it.
        const bool quote =
            needs_quotes(cell, delimiter) || rng() % 4 == 0 || (columns == 1 && cell.empty());
        if (c) text += delimiter;
        text += quote ? quoted(cell) : cell;
      }
    }
    if (rng() % 2) text += crlf ? "\r\n" : "\n";
    // Sometimes break it: the two thread counts must still agree.
    const bool corrupt = rng() % 5 == 0;
    if (corrupt) text.insert(rng() % (text.size() + 1), 1, "\"\n,x"[rng() % 4]);

    CsvOptions options;
    options.delimiter = delimiter;
    Result<Dataset> one = parse_csv(text, options);
    options.threads = 4;
    Result<Dataset> four = parse_csv(text, options);
    ASSERT_EQ(one.has_value(), four.has_value()) << text;
    if (!one.has_value()) {
      ASSERT_EQ(one.error(), four.error()) << text;
      ASSERT_FALSE(corrupt == false) << one.error().message() << "\n" << text;
      continue;
    }
    ASSERT_TRUE(*one == *four) << text;
    if (corrupt) continue;
    ++parsed;
    // The values are the cells that were written.
    ASSERT_EQ(one->num_rows(), rows) << text;
    for (std::size_t c = 0; c < columns; ++c) {
      const Column& column = one->column(c);
      ASSERT_EQ(column.name(), "h" + std::to_string(c));
      for (std::size_t r = 0; r < rows; ++r) {
        const std::string& cell = cells[r][c];
        const bool missing = std::find(na.begin(), na.end(), cell) != na.end();
        ASSERT_EQ(one->missing(c, r), missing) << text;
        if (missing) continue;
        if (numeric[c]) {
          ASSERT_EQ(column.numeric(r), std::strtod(cell.c_str(), nullptr)) << text;
        } else {
          ASSERT_EQ(column.categories()[static_cast<std::size_t>(column.codes()[r])], cell) << text;
        }
      }
    }
  }
  EXPECT_GT(parsed, 1000);
}

TEST(CsvTest, RandomBytesNeverCrashAndErrorsHavePositions) {
  std::mt19937 rng(7);
  const std::string alphabet = std::string("a1,\"\n\r\0 ;.e-", 13) + "\xEF\xBB\xBF";
  const std::regex located(R"(^<memory>:\d+:\d+: .+)");
  int errors = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string text(rng() % 48, '\0');
    for (char& c : text)
      c = rng() % 16 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    CsvOptions options;
    options.max_field_bytes = 1 + rng() % 16;
    options.header = rng() % 4 != 0;
    Result<Dataset> one = parse_csv(text, options);
    options.threads = 1 + rng() % 5;
    Result<Dataset> many = parse_csv(text, options);
    ASSERT_EQ(one.has_value(), many.has_value()) << text;
    if (one.has_value()) {
      ASSERT_TRUE(*one == *many);
      continue;
    }
    ++errors;
    ASSERT_EQ(one.error(), many.error());
    const std::string& message = one.error().message();
    ASSERT_TRUE(std::regex_match(message, located) || starts_with(message, "<memory>: empty file"))
        << message;
  }
  EXPECT_GT(errors, 1000);
  EXPECT_LT(errors, 19000);
}

}  // namespace
}  // namespace trainflow::ml

namespace trainflow::ml {
namespace {

// An inferred column keeps no texts while its values parse as numbers; a late text value (in the
// same chunk, or in a later chunk only) must still give every earlier field's text, NA tokens
// missing and quoted fields unescaped.
TEST(CsvTest, ColumnTurningCategoricalLateKeepsEarlierTexts) {
  std::string csv = "a,b\n";
  Cells expected;
  for (int i = 0; i < 3000; ++i) {
    const std::string value = i % 7 == 3    ? "NA"
                              : i % 11 == 5 ? "\"1\"\"5\""
                                            : std::to_string(i) + ".5";
    csv += value + "," + std::to_string(i) + "\n";
    expected.push_back(value == "NA"     ? std::nullopt
                       : value[0] == '"' ? std::optional<std::string>("1\"5")
                                         : std::optional<std::string>(value));
  }
  csv += "late,1\n";
  expected.push_back("late");
  for (const unsigned threads : {1U, 2U, 4U, 8U}) {
    CsvOptions options;
    options.threads = threads;
    Dataset ds = parse_ok(csv, options);
    EXPECT_EQ(texts(ds, 0), expected) << threads << " threads";
    EXPECT_EQ(ds.column(1).type(), ColumnType::kFloat64);
  }
}

// Numbers in the fast path's shapes and beyond it read exactly as std::from_chars reads them.
TEST(CsvTest, NumbersMatchFromCharsBitForBit) {
  std::mt19937_64 rng(99);
  std::string csv = "x\n";
  std::vector<std::string> fields;
  for (int i = 0; i < 200000; ++i) {
    const int digits = 1 + static_cast<int>(rng() % 20);
    std::string s = rng() % 4 == 0 ? "-" : "";
    for (int d = 0; d < digits; ++d) s += static_cast<char>('0' + rng() % 10);
    if (rng() % 2 == 0) s.insert(s.size() - static_cast<std::size_t>(rng() % digits), ".");
    if (s.back() == '.') s += '0';
    if (s.front() == '.' || s.rfind("-.", 0) == 0) s.insert(s.front() == '-' ? 1 : 0, "0");
    if (rng() % 3 == 0) s += "e" + std::to_string(static_cast<int>(rng() % 70) - 35);
    fields.push_back(s);
    csv += s + "\n";
  }
  for (const bool f32 : {false, true}) {
    CsvOptions options;
    options.float32 = f32;
    Dataset ds = parse_ok(csv, options);
    const Column& c = ds.column(0);
    ASSERT_EQ(c.size(), fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const std::string& s = fields[i];
      if (f32) {
        float expected = 0;
        if (std::from_chars(s.data(), s.data() + s.size(), expected).ec != std::errc{}) continue;
        ASSERT_EQ(std::memcmp(&expected, &c.float32()[i], sizeof expected), 0) << s;
      } else {
        double expected = 0;
        if (std::from_chars(s.data(), s.data() + s.size(), expected).ec != std::errc{}) continue;
        ASSERT_EQ(std::memcmp(&expected, &c.float64()[i], sizeof expected), 0) << s;
      }
    }
  }
}

}  // namespace
}  // namespace trainflow::ml

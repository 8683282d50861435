#include "trainflow/ml/dataset.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "trainflow/core/hash.hpp"

namespace trainflow::ml {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

// A fresh directory, removed with everything in it when this object goes.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("trainflow_dataset_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++) + "_" + (info ? info->name() : "none"));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }

  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

  // The names in the directory, sorted.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

Dataset make_or_die(std::vector<Column> columns, std::string target = {}) {
  auto ds = Dataset::make(std::move(columns), std::move(target));
  EXPECT_TRUE(ds.has_value()) << ds.error().to_string();
  return ds.has_value() ? *ds : Dataset{};
}

// age (float64), plan (categorical), score (float32), churned (float64, target); 5 rows.
Dataset sample() {
  return make_or_die({Column::float64("age", {31, 45, kNaN, 22, 60}),
                      Column::categorical("plan", {0, 1, -1, 1, 0}, {"basic", "pro"}),
                      Column::float32("score", {0.5f, kNaNf, 0.1f, 2.0f, -1.0f}),
                      Column::float64("churned", {0, 1, 0, 1, 1})},
                     "churned");
}

std::vector<double> column_values(const Dataset& ds, std::size_t col) {
  std::vector<double> out;
  for (std::size_t r = 0; r < ds.num_rows(); ++r) out.push_back(ds.numeric(col, r));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Column

TEST(ColumnTest, DefaultIsEmptyUnnamedFloat64) {
  Column c;
  EXPECT_EQ(c.name(), "");
  EXPECT_EQ(c.type(), ColumnType::kFloat64);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(c.float64().empty());
  EXPECT_TRUE(c.categories().empty());
}

TEST(ColumnTest, TypeNames) {
  EXPECT_EQ(to_string(ColumnType::kFloat64), "float64");
  EXPECT_EQ(to_string(ColumnType::kFloat32), "float32");
  EXPECT_EQ(to_string(ColumnType::kCategorical), "categorical");
}

TEST(ColumnTest, Float64HoldsValuesAndNanIsMissing) {
  Column c = Column::float64("x", {1.5, kNaN, -3});
  EXPECT_EQ(c.name(), "x");
  EXPECT_EQ(c.type(), ColumnType::kFloat64);
  EXPECT_TRUE(c.is_numeric());
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c.float64()[0], 1.5);
  EXPECT_EQ(c.numeric(2), -3.0);
  EXPECT_TRUE(std::isnan(c.numeric(1)));
  EXPECT_FALSE(c.missing(0));
  EXPECT_TRUE(c.missing(1));
  EXPECT_FALSE(c.missing(2));
}

TEST(ColumnTest, Float32NumericIsTheExactDouble) {
  Column c = Column::float32("x", {0.1f, kNaNf});
  EXPECT_EQ(c.type(), ColumnType::kFloat32);
  EXPECT_TRUE(c.is_numeric());
  EXPECT_EQ(c.float32()[0], 0.1f);
  EXPECT_EQ(c.numeric(0), static_cast<double>(0.1f));
  EXPECT_NE(c.numeric(0), 0.1);
  EXPECT_TRUE(std::isnan(c.numeric(1)));
  EXPECT_TRUE(c.missing(1));
  EXPECT_FALSE(c.missing(0));
}

TEST(ColumnTest, CategoricalHoldsCodesAndMinusOneIsMissing) {
  Column c = Column::categorical("plan", {1, -1, 0}, {"basic", "pro"});
  EXPECT_EQ(c.type(), ColumnType::kCategorical);
  EXPECT_FALSE(c.is_numeric());
  EXPECT_EQ(c.codes()[0], 1);
  EXPECT_EQ(c.categories(), (std::vector<std::string>{"basic", "pro"}));
  EXPECT_FALSE(c.missing(0));
  EXPECT_TRUE(c.missing(1));
  EXPECT_FALSE(c.missing(2));
}

TEST(ColumnTest, CategoricalFromEncodesInOrderOfFirstAppearance) {
  const std::vector<std::optional<std::string>> values = {"b", "a", std::nullopt, "b", "c",
                                                          "a", ""};
  Column c = Column::categorical_from("letters", values);
  EXPECT_EQ(c.name(), "letters");
  EXPECT_EQ(c.categories(), (std::vector<std::string>{"b", "a", "c", ""}));
  const std::vector<std::int32_t> expected = {0, 1, -1, 0, 2, 1, 3};
  EXPECT_EQ(std::vector<std::int32_t>(c.codes().begin(), c.codes().end()), expected);
  EXPECT_TRUE(c.missing(2));
  EXPECT_FALSE(c.missing(6));  // the empty string is a category, not missing
}

TEST(ColumnTest, RenamedSharesTheValues) {
  Column c = Column::float64("x", {1, 2, 3});
  Column r = c.renamed("y");
  EXPECT_EQ(r.name(), "y");
  EXPECT_EQ(c.name(), "x");
  EXPECT_EQ(r.float64().data(), c.float64().data());
}

TEST(ColumnTest, CopiesShareTheValues) {
  Column c = Column::categorical("c", {0, 0}, {"a"});
  Column copy = c;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.codes().data(), c.codes().data());
  EXPECT_EQ(&copy.categories(), &c.categories());
}

// ---------------------------------------------------------------------------------------------
// Construction and validation

// A float64 column of `n` values i * 0.5 in a ColumnBuffer, as transforms make them.
Column buffer_column(std::string name, std::size_t n) {
  ColumnBuffer<double> values = ColumnBuffer<double>::uninitialized(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = 0.5 * static_cast<double>(i);
  return Column::float64(std::move(name), std::move(values));
}

TEST(ColumnTest, ReleaseBufferOnlyFromTheSoleOwner) {
  Column only = buffer_column("x", 1000);
  const double* memory = only.float64().data();
  std::optional<ColumnBuffer<double>> buffer = std::move(only).release_buffer();
  ASSERT_TRUE(buffer.has_value());
  EXPECT_EQ(buffer->data(), memory);
  EXPECT_EQ(buffer->size(), 1000u);
  EXPECT_EQ(only.size(), 0u);  // NOLINT(bugprone-use-after-move): left empty

  Column shared = buffer_column("x", 1000);
  const Column copy = shared;
  EXPECT_FALSE(std::move(shared).release_buffer().has_value());
  EXPECT_EQ(copy.float64()[999], 499.5);
  Column renamed_source = buffer_column("x", 10);
  const Column renamed = renamed_source.renamed("y");
  EXPECT_FALSE(std::move(renamed_source).release_buffer().has_value());
  EXPECT_EQ(renamed.float64()[9], 4.5);
  // Only float64 columns made from a ColumnBuffer.
  EXPECT_FALSE(Column::float64("v", {1.0, 2.0}).release_buffer().has_value());
  EXPECT_FALSE(Column::categorical("c", {0}, {"a"}).release_buffer().has_value());
}

TEST(DatasetTest, ReleaseColumnsMovesThemOnlyFromTheSoleOwner) {
  Dataset lone = make_or_die({buffer_column("x", 100)});
  std::vector<Column> columns = std::move(lone).release_columns();
  EXPECT_EQ(lone.num_columns(), 0u);  // NOLINT(bugprone-use-after-move): left empty
  ASSERT_EQ(columns.size(), 1u);
  EXPECT_TRUE(std::move(columns[0]).release_buffer().has_value());

  // A copy or a view keeps the table: the columns come out shared, and stay intact.
  Dataset copied = make_or_die({buffer_column("x", 100)});
  const Dataset copy = copied;
  std::vector<Column> shared = std::move(copied).release_columns();
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_FALSE(std::move(shared[0]).release_buffer().has_value());
  EXPECT_EQ(copy.numeric(0, 99), 49.5);
  Dataset viewed = make_or_die({buffer_column("x", 100)});
  const Dataset view = viewed.slice(90, 100);
  std::vector<Column> of_view = std::move(viewed).release_columns();
  EXPECT_FALSE(std::move(of_view[0]).release_buffer().has_value());
  EXPECT_EQ(view.numeric(0, 9), 49.5);
  EXPECT_TRUE(Dataset().release_columns().empty());
}

TEST(DatasetTest, DefaultIsEmpty) {
  Dataset ds;
  EXPECT_EQ(ds.num_rows(), 0u);
  EXPECT_EQ(ds.num_columns(), 0u);
  EXPECT_EQ(ds.target_name(), "");
  EXPECT_FALSE(ds.target_index().has_value());
  EXPECT_FALSE(ds.is_view());
  EXPECT_TRUE(ds.feature_indices().empty());
}

TEST(DatasetTest, MakeBuildsTheTable) {
  Dataset ds = sample();
  EXPECT_EQ(ds.num_rows(), 5u);
  EXPECT_EQ(ds.num_columns(), 4u);
  EXPECT_EQ(ds.column(1).name(), "plan");
  EXPECT_EQ(ds.find("score"), std::optional<std::size_t>{2});
  EXPECT_EQ(ds.find("nope"), std::nullopt);
  EXPECT_EQ(ds.target_name(), "churned");
  EXPECT_EQ(ds.target_index(), std::optional<std::size_t>{3});
  EXPECT_FALSE(ds.is_view());
  EXPECT_EQ(ds.numeric(0, 1), 45.0);
  EXPECT_EQ(ds.code(1, 1), 1);
  EXPECT_TRUE(ds.missing(0, 2));
  EXPECT_TRUE(ds.missing(1, 2));
  EXPECT_TRUE(ds.missing(2, 1));
  EXPECT_FALSE(ds.missing(3, 0));
}

TEST(DatasetTest, MakeWithoutTargetHasNoTarget) {
  auto ds = Dataset::make({Column::float64("a", {1})});
  ASSERT_TRUE(ds.has_value());
  EXPECT_EQ(ds->target_name(), "");
  EXPECT_FALSE(ds->target_index().has_value());
}

TEST(DatasetTest, MakeRejectsMismatchedLengthsNamingTheColumn) {
  auto ds = Dataset::make({Column::float64("a", {1, 2, 3}), Column::float64("b", {1, 2, 3}),
                           Column::categorical("short_one", {0, 0}, {"x"})});
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.error().message().find("'short_one' has 2 rows"), std::string::npos)
      << ds.error().message();
  EXPECT_NE(ds.error().message().find("same number of rows"), std::string::npos);
}

TEST(DatasetTest, MakeRejectsDuplicateNamesNamingTheColumn) {
  auto ds = Dataset::make(
      {Column::float64("a", {1}), Column::float64("dup", {2}), Column::float32("dup", {3})});
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.error().message().find("'dup'"), std::string::npos) << ds.error().message();
  EXPECT_NE(ds.error().message().find("columns 1 and 2"), std::string::npos);
}

TEST(DatasetTest, MakeRejectsEmptyNameNamingTheColumnPosition) {
  auto ds = Dataset::make({Column::float64("a", {1}), Column::float64("", {2})});
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.error().message().find("column 1 has an empty name"), std::string::npos)
      << ds.error().message();
}

TEST(DatasetTest, MakeRejectsUnknownTargetNamingIt) {
  auto ds = Dataset::make({Column::float64("a", {1})}, "label");
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.error().message().find("'label'"), std::string::npos) << ds.error().message();
}

TEST(DatasetTest, FeatureIndicesLeaveOutTheTarget) {
  Dataset ds = sample();  // age, plan, score, churned (target)
  EXPECT_EQ(ds.feature_indices(), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(ds.numeric_feature_indices(), (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(ds.categorical_feature_indices(), (std::vector<std::size_t>{1}));

  Dataset target_first =
      make_or_die({Column::categorical("y", {0}, {"a"}), Column::float64("x", {1}),
                   Column::categorical("c", {0}, {"a"})},
                  "y");
  EXPECT_EQ(target_first.feature_indices(), (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(target_first.numeric_feature_indices(), (std::vector<std::size_t>{1}));
  EXPECT_EQ(target_first.categorical_feature_indices(), (std::vector<std::size_t>{2}));

  Dataset no_target =
      make_or_die({Column::float64("x", {1}), Column::categorical("c", {0}, {"a"})});
  EXPECT_EQ(no_target.feature_indices(), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(no_target.categorical_feature_indices(), (std::vector<std::size_t>{1}));
}

// ---------------------------------------------------------------------------------------------
// Views

TEST(DatasetTest, CopiesAndViewsShareTheColumns) {
  Dataset ds = sample();
  Dataset copy = ds;  // NOLINT(performance-unnecessary-copy-initialization)
  const std::uint32_t rows[] = {1, 0};
  Dataset view = ds.take(rows);
  EXPECT_EQ(copy.column(0).float64().data(), ds.column(0).float64().data());
  EXPECT_EQ(view.column(0).float64().data(), ds.column(0).float64().data());
  EXPECT_EQ(ds.slice(1, 3).column(1).codes().data(), ds.column(1).codes().data());
}

TEST(DatasetTest, TakeReordersAndRepeatsRows) {
  Dataset ds = sample();
  const std::uint32_t rows[] = {3, 0, 3, 2};
  Dataset view = ds.take(rows);
  EXPECT_TRUE(view.is_view());
  ASSERT_EQ(view.num_rows(), 4u);
  EXPECT_EQ(view.num_columns(), 4u);
  EXPECT_EQ(view.target_name(), "churned");
  EXPECT_EQ(view.source_row(0), 3u);
  EXPECT_EQ(view.source_row(3), 2u);
  EXPECT_EQ(view.numeric(0, 0), 22.0);
  EXPECT_EQ(view.numeric(0, 1), 31.0);
  EXPECT_EQ(view.numeric(0, 2), 22.0);
  EXPECT_TRUE(std::isnan(view.numeric(0, 3)));
  EXPECT_EQ(view.code(1, 0), 1);
  EXPECT_EQ(view.code(1, 1), 0);
  EXPECT_EQ(view.code(1, 3), -1);
  EXPECT_TRUE(view.missing(1, 3));
  EXPECT_FALSE(view.missing(1, 0));
  EXPECT_EQ(view.numeric(2, 3), static_cast<double>(0.1f));
  EXPECT_TRUE(view.missing(0, 3));
  EXPECT_FALSE(view.missing(0, 1));
  // The column itself is the whole underlying column.
  EXPECT_EQ(view.column(0).size(), 5u);
}

TEST(DatasetTest, TakeOfNothingIsEmpty) {
  Dataset view = sample().take({});
  EXPECT_EQ(view.num_rows(), 0u);
  EXPECT_EQ(view.num_columns(), 4u);
  EXPECT_TRUE(view.is_view());
}

TEST(DatasetTest, SliceSelectsARange) {
  Dataset ds = sample();
  Dataset s = ds.slice(1, 4);
  EXPECT_TRUE(s.is_view());
  ASSERT_EQ(s.num_rows(), 3u);
  EXPECT_EQ(s.source_row(0), 1u);
  EXPECT_EQ(column_values(s, 3), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(s.code(1, 2), 1);
  EXPECT_EQ(ds.slice(2, 2).num_rows(), 0u);
  EXPECT_FALSE(ds.slice(0, 5).is_view());
}

TEST(DatasetTest, ViewsCompose) {
  Dataset ds = make_or_die({Column::float64("x", {10, 11, 12, 13, 14, 15, 16, 17})});
  const std::uint32_t outer[] = {7, 5, 3, 1, 0};
  const std::uint32_t inner[] = {4, 1, 1, 0};
  // take of take: x[outer[inner[i]]].
  Dataset tt = ds.take(outer).take(inner);
  EXPECT_EQ(column_values(tt, 0), (std::vector<double>{10, 15, 15, 17}));
  EXPECT_EQ(tt.source_row(0), 0u);
  // slice of take.
  Dataset st = ds.take(outer).slice(1, 3);
  EXPECT_EQ(column_values(st, 0), (std::vector<double>{15, 13}));
  // take of slice.
  const std::uint32_t pick[] = {2, 0};
  Dataset ts = ds.slice(3, 7).take(pick);
  EXPECT_EQ(column_values(ts, 0), (std::vector<double>{15, 13}));
  EXPECT_EQ(ts.source_row(0), 5u);
  // slice of slice, and slice of a slice of a take.
  EXPECT_EQ(column_values(ds.slice(2, 7).slice(1, 3), 0), (std::vector<double>{13, 14}));
  EXPECT_EQ(column_values(ds.take(outer).slice(1, 5).slice(2, 4), 0),
            (std::vector<double>{11, 10}));
}

TEST(DatasetTest, MaterializeCopiesExactlyTheViewsRows) {
  Dataset ds = sample();
  const std::uint32_t rows[] = {4, 2, 2};
  Dataset view = ds.take(rows);
  Dataset m = view.materialize();
  EXPECT_FALSE(m.is_view());
  EXPECT_EQ(m.num_rows(), 3u);
  EXPECT_EQ(m.column(0).size(), 3u);
  EXPECT_NE(m.column(0).float64().data(), ds.column(0).float64().data());
  EXPECT_EQ(m, view);
  EXPECT_EQ(m.target_name(), "churned");
  EXPECT_EQ(m.column(1).categories(), ds.column(1).categories());
  const std::vector<std::int32_t> codes = {0, -1, -1};
  EXPECT_EQ(std::vector<std::int32_t>(m.column(1).codes().begin(), m.column(1).codes().end()),
            codes);
  const std::vector<float> scores = {-1.0f, 0.1f, 0.1f};
  EXPECT_EQ(std::vector<float>(m.column(2).float32().begin(), m.column(2).float32().end()), scores);
  // Materialising a dataset that is not a view shares its columns.
  EXPECT_EQ(ds.materialize().column(0).float64().data(), ds.column(0).float64().data());
}

TEST(DatasetTest, SelectColumnsKeepsOrderRowsAndTarget) {
  Dataset ds = sample();
  const std::uint32_t rows[] = {1, 3};
  const std::vector<std::string> names = {"churned", "age"};
  auto sel = ds.take(rows).select_columns(names);
  ASSERT_TRUE(sel.has_value()) << sel.error().to_string();
  EXPECT_EQ(sel->num_columns(), 2u);
  EXPECT_EQ(sel->column(0).name(), "churned");
  EXPECT_EQ(sel->target_name(), "churned");
  EXPECT_EQ(sel->target_index(), std::optional<std::size_t>{0});
  EXPECT_EQ(sel->find("age"), std::optional<std::size_t>{1});
  EXPECT_EQ(sel->num_rows(), 2u);
  EXPECT_EQ(column_values(*sel, 1), (std::vector<double>{45, 22}));
}

TEST(DatasetTest, SelectColumnsWithoutTheTargetHasNone) {
  const std::vector<std::string> names = {"plan"};
  auto sel = sample().select_columns(names);
  ASSERT_TRUE(sel.has_value());
  EXPECT_EQ(sel->target_name(), "");
  EXPECT_FALSE(sel->target_index().has_value());
  EXPECT_EQ(sel->categorical_feature_indices(), (std::vector<std::size_t>{0}));
}

TEST(DatasetTest, SelectColumnsRejectsUnknownAndRepeatedNames) {
  const std::vector<std::string> unknown = {"age", "ghost", "phantom"};
  auto sel = sample().select_columns(unknown);
  ASSERT_FALSE(sel.has_value());
  EXPECT_EQ(sel.error().code(), StatusCode::kNotFound);
  EXPECT_NE(sel.error().message().find("'ghost'"), std::string::npos) << sel.error().message();

  const std::vector<std::string> twice = {"age", "age"};
  auto dup = sample().select_columns(twice);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.error().message().find("'age'"), std::string::npos) << dup.error().message();
}

// ---------------------------------------------------------------------------------------------
// Conversion to Eigen

TEST(DatasetTest, ToMatrixIsColumnMajorWithValuesConvertedAndNanKept) {
  Dataset ds =
      make_or_die({Column::float64("a", {1, 2, kNaN}), Column::categorical("c", {0, 0, 0}, {"x"}),
                   Column::float32("b", {0.1f, 5.0f, -0.5f})});
  const std::size_t cols[] = {2, 0};
  Eigen::MatrixXd m = ds.to_matrix(cols);
  ASSERT_EQ(m.rows(), 3);
  ASSERT_EQ(m.cols(), 2);
  // Column-major: column b first (3 values), then column a.
  const double* d = m.data();
  EXPECT_EQ(d[0], static_cast<double>(0.1f));
  EXPECT_EQ(d[1], 5.0);
  EXPECT_EQ(d[2], -0.5);
  EXPECT_EQ(d[3], 1.0);
  EXPECT_EQ(d[4], 2.0);
  EXPECT_TRUE(std::isnan(d[5]));
  EXPECT_EQ(m(1, 1), 2.0);

  RowMatrix rm = ds.to_row_matrix(cols);
  ASSERT_EQ(rm.rows(), 3);
  ASSERT_EQ(rm.cols(), 2);
  const double* rd = rm.data();
  EXPECT_EQ(rd[0], static_cast<double>(0.1f));
  EXPECT_EQ(rd[1], 1.0);
  EXPECT_EQ(rd[2], 5.0);
  EXPECT_EQ(rd[3], 2.0);
  EXPECT_EQ(rd[4], -0.5);
  EXPECT_TRUE(std::isnan(rd[5]));
}

TEST(DatasetTest, ToMatrixAndToVectorFollowTheView) {
  Dataset ds =
      make_or_die({Column::float64("a", {1, 2, 3, 4}), Column::float32("b", {10, 20, 30, 40})});
  const std::uint32_t rows[] = {3, 1, 1};
  Dataset view = ds.take(rows);
  const std::size_t cols[] = {0, 1};
  Eigen::MatrixXd expected(3, 2);
  expected << 4, 40, 2, 20, 2, 20;
  EXPECT_EQ(view.to_matrix(cols), expected);
  EXPECT_EQ(RowMatrix(view.to_row_matrix(cols)), RowMatrix(expected));
  Eigen::VectorXd v = ds.slice(1, 3).to_vector(1);
  ASSERT_EQ(v.size(), 2);
  EXPECT_EQ(v(0), 20.0);
  EXPECT_EQ(v(1), 30.0);
  EXPECT_EQ(view.to_matrix({}).cols(), 0);
  EXPECT_EQ(view.to_matrix({}).rows(), 3);
}

// ---------------------------------------------------------------------------------------------
// Equality

TEST(DatasetTest, EqualityComparesValuesThroughViews) {
  Dataset ds = sample();
  EXPECT_EQ(ds, sample());  // separate storage, NaN == NaN
  const std::uint32_t rows[] = {2, 3};
  EXPECT_EQ(ds.take(rows), ds.slice(2, 4));
  EXPECT_FALSE(ds.take(rows) == ds.slice(1, 3));
  EXPECT_FALSE(ds == ds.slice(0, 4));
  EXPECT_EQ(Dataset{}, Dataset{});
}

TEST(DatasetTest, EqualityComparesNamesTypesCategoriesAndTarget) {
  auto base = [] {
    return std::vector<Column>{Column::float64("x", {1, kNaN}),
                               Column::categorical("c", {0, -1}, {"a", "b"})};
  };
  Dataset a = make_or_die(base(), "x");
  EXPECT_EQ(a, make_or_die(base(), "x"));
  EXPECT_FALSE(a == make_or_die(base()));                                              // target
  EXPECT_FALSE(a == make_or_die({Column::float64("y", {1, kNaN}), base()[1]}));        // name
  EXPECT_FALSE(a == make_or_die({Column::float32("x", {1, kNaNf}), base()[1]}, "x"));  // type
  EXPECT_FALSE(a == make_or_die({base()[0], Column::categorical("c", {0, -1}, {"a", "z"})}, "x"));
  EXPECT_FALSE(a == make_or_die({Column::float64("x", {1, 2}), base()[1]}, "x"));  // NaN != 2
  EXPECT_FALSE(a == make_or_die({base()[0], Column::categorical("c", {0, 1}, {"a", "b"})}, "x"));
}

// ---------------------------------------------------------------------------------------------
// save / load

TEST(DatasetTest, SaveLoadRoundTrip) {
  const TempDir tmp;
  Dataset ds = sample();
  const fs::path path = tmp / "sample.tfds";
  ASSERT_TRUE(ds.save(path).ok());
  auto loaded = Dataset::load(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  EXPECT_EQ(*loaded, ds);
  EXPECT_EQ(loaded->column(2).type(), ColumnType::kFloat32);
  EXPECT_EQ(loaded->target_index(), std::optional<std::size_t>{3});
  EXPECT_EQ(tmp.listing(), (std::vector<std::string>{"sample.tfds"}));  // no temporary left
}

TEST(DatasetTest, SaveLoadKeepsExactBits) {
  const TempDir tmp;
  const std::vector<double> d = {0.1,
                                 -0.0,
                                 1e-300,
                                 4.9e-324,
                                 std::numeric_limits<double>::max(),
                                 -std::numeric_limits<double>::infinity(),
                                 kNaN};
  const std::vector<float> f = {0.1f, -0.0f, 1e-45f, std::numeric_limits<float>::infinity()};
  Dataset ds = make_or_die({Column::float64("d", d)});
  Dataset fs32 = make_or_die({Column::float32("f", f)});
  ASSERT_TRUE(ds.save(tmp / "d").ok());
  ASSERT_TRUE(fs32.save(tmp / "f").ok());
  auto ld = Dataset::load(tmp / "d");
  auto lf = Dataset::load(tmp / "f");
  ASSERT_TRUE(ld.has_value() && lf.has_value());
  for (std::size_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(ld->column(0).float64()[i]),
              std::bit_cast<std::uint64_t>(d[i]));
  }
  for (std::size_t i = 0; i < f.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint32_t>(lf->column(0).float32()[i]),
              std::bit_cast<std::uint32_t>(f[i]));
  }
}

TEST(DatasetTest, SaveWritesTheRowsOfAView) {
  const TempDir tmp;
  Dataset ds = sample();
  const std::uint32_t rows[] = {4, 1, 1, 2};
  Dataset view = ds.take(rows);
  ASSERT_TRUE(view.save(tmp / "view").ok());
  auto loaded = Dataset::load(tmp / "view");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  EXPECT_FALSE(loaded->is_view());
  EXPECT_EQ(loaded->num_rows(), 4u);
  EXPECT_EQ(*loaded, view);
  EXPECT_EQ(*loaded, view.materialize());
  EXPECT_EQ(loaded->code(1, 3), -1);
}

TEST(DatasetTest, SaveLoadEmptyAndZeroRowDatasets) {
  const TempDir tmp;
  ASSERT_TRUE(Dataset{}.save(tmp / "empty").ok());
  auto empty = Dataset::load(tmp / "empty");
  ASSERT_TRUE(empty.has_value()) << empty.error().to_string();
  EXPECT_EQ(*empty, Dataset{});
  EXPECT_EQ(empty->num_columns(), 0u);

  Dataset zero = sample().slice(0, 0);
  ASSERT_TRUE(zero.save(tmp / "zero").ok());
  auto loaded = Dataset::load(tmp / "zero");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  EXPECT_EQ(loaded->num_rows(), 0u);
  EXPECT_EQ(loaded->num_columns(), 4u);
  EXPECT_EQ(loaded->column(1).categories(), (std::vector<std::string>{"basic", "pro"}));
  EXPECT_EQ(*loaded, zero);
}

TEST(DatasetTest, SaveLoadUnicodeNamesAndCategories) {
  const TempDir tmp;
  Dataset ds = make_or_die({Column::float64("größe_°C", {1.5, 2.5}),
                            Column::categorical("城市", {1, -1}, {"東京", "Zürich 🚆"}),
                            Column::categorical("empty_cat", {0, 0}, {""})},
                           "城市");
  const fs::path path = tmp / "ünïcode file.tfds";
  ASSERT_TRUE(ds.save(path).ok());
  auto loaded = Dataset::load(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  EXPECT_EQ(*loaded, ds);
  EXPECT_EQ(loaded->column(1).categories()[1], "Zürich 🚆");
}

TEST(DatasetTest, SavedFileHasMagicVersionAndTrailingChecksum) {
  const TempDir tmp;
  ASSERT_TRUE(sample().save(tmp / "f").ok());
  const std::string bytes = read_bytes(tmp / "f");
  ASSERT_GT(bytes.size(), 20u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89TFD\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(8, 4), std::string("\x01\x00\x00\x00", 4));  // version 1, little-endian
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, bytes.data() + bytes.size() - 8, 8);
  EXPECT_EQ(checksum, hash_bytes(bytes.data(), bytes.size() - 8));
}

TEST(DatasetTest, SaveReplacesAnExistingFile) {
  const TempDir tmp;
  const fs::path path = tmp / "data";
  ASSERT_TRUE(sample().save(path).ok());
  Dataset other = make_or_die({Column::float64("z", {7})});
  ASSERT_TRUE(other.save(path).ok());
  auto loaded = Dataset::load(path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, other);
  EXPECT_EQ(tmp.listing(), (std::vector<std::string>{"data"}));
}

// Expects the failure of writing `path`, whose directory does not exist.
void expect_missing_directory(const Status& s, const fs::path& path) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find(path.string()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos) << s.message();
}

TEST(DatasetTest, SaveIntoMissingDirectoryFailsNamingThePath) {
  const TempDir tmp;
  const fs::path path = tmp / "no_such_dir" / "data.tfds";
  expect_missing_directory(sample().save(path), path);
}

TEST(DatasetTest, FailedRenameRemovesTheTemporary) {
  const TempDir tmp;
  const fs::path path = tmp / "taken";
  fs::create_directories(path / "child");  // rename of a file over a non-empty directory fails
  Status s = sample().save(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path.string()), std::string::npos) << s.message();
  EXPECT_EQ(tmp.listing(), (std::vector<std::string>{"taken"}));
  Status csv = sample().write_csv(path);
  ASSERT_FALSE(csv.ok());
  EXPECT_EQ(tmp.listing(), (std::vector<std::string>{"taken"}));
}

TEST(DatasetTest, LoadMissingFileFailsNamingThePath) {
  const TempDir tmp;
  const fs::path path = tmp / "absent.tfds";
  auto loaded = Dataset::load(path);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code(), StatusCode::kNotFound);
  EXPECT_NE(loaded.error().message().find(path.string()), std::string::npos);
}

TEST(DatasetTest, LoadDetectsEveryFlippedByte) {
  const TempDir tmp;
  Dataset ds = make_or_die({Column::float64("a", {1, kNaN}), Column::float32("b", {2, 3}),
                            Column::categorical("c", {1, -1}, {"x", "yz"})},
                           "c");
  const fs::path good = tmp / "good";
  ASSERT_TRUE(ds.save(good).ok());
  const std::string bytes = read_bytes(good);
  ASSERT_GT(bytes.size(), 100u);
  const fs::path bad = tmp / "bad";
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80}) {
      std::string corrupt = bytes;
      corrupt[i] = static_cast<char>(static_cast<unsigned char>(corrupt[i]) ^ mask);
      write_bytes(bad, corrupt);
      auto loaded = Dataset::load(bad);
      ASSERT_FALSE(loaded.has_value()) << "byte " << i << " mask " << int{mask};
      EXPECT_EQ(loaded.error().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(loaded.error().message().find(bad.string()), std::string::npos);
    }
  }
}

TEST(DatasetTest, LoadRejectsEveryTruncation) {
  const TempDir tmp;
  Dataset ds =
      make_or_die({Column::float64("a", {1, 2}), Column::categorical("c", {0, -1}, {"x"})}, "a");
  ASSERT_TRUE(ds.save(tmp / "good").ok());
  const std::string bytes = read_bytes(tmp / "good");
  const fs::path bad = tmp / "bad";
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(bad, std::string_view(bytes).substr(0, n));
    auto loaded = Dataset::load(bad);
    ASSERT_FALSE(loaded.has_value()) << "length " << n;
    EXPECT_EQ(loaded.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(loaded.error().message().find(" at byte "), std::string::npos)
        << loaded.error().message();
  }
  // One byte too many fails as well.
  write_bytes(bad, bytes + '\0');
  EXPECT_FALSE(Dataset::load(bad).has_value());
}

// Builds a file in the native format with a correct checksum.
class FileBuilder {
 public:
  FileBuilder() { bytes_.assign("\x89TFD\r\n\x1a\n", 8); }
  FileBuilder& u8(std::uint8_t v) { return raw(&v, 1); }
  FileBuilder& u32(std::uint32_t v) { return raw(&v, 4); }
  FileBuilder& u64(std::uint64_t v) { return raw(&v, 8); }
  FileBuilder& i32(std::int32_t v) { return raw(&v, 4); }
  FileBuilder& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  FileBuilder& raw(const void* p, std::size_t n) {
    bytes_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string finish() const {
    std::string out = bytes_;
    const std::uint64_t sum = hash_bytes(out.data(), out.size());
    out.append(reinterpret_cast<const char*>(&sum), 8);
    return out;
  }

 private:
  std::string bytes_;
};

TEST(DatasetTest, BuiltFileLoads) {
  const TempDir tmp;
  // Proves that FileBuilder writes the format, so the tests below fail for the reason they name.
  const std::string bytes = FileBuilder{}
                                .u32(1)
                                .u64(1)
                                .str("c")
                                .u8(2)
                                .u64(2)
                                .i32(0)
                                .i32(-1)
                                .u64(1)
                                .str("x")
                                .str("c")
                                .finish();
  write_bytes(tmp / "f", bytes);
  auto loaded = Dataset::load(tmp / "f");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  EXPECT_EQ(*loaded, make_or_die({Column::categorical("c", {0, -1}, {"x"})}, "c"));
}

TEST(DatasetTest, LoadRejectsHugeDeclaredLengthsWithoutAllocating) {
  const TempDir tmp;
  // Each would need terabytes if believed; a wrong implementation throws bad_alloc or aborts.
  const std::uint64_t huge = std::uint64_t{1} << 40;
  const std::vector<std::string> files = {
      FileBuilder{}.u32(1).u64(huge).finish(),                        // columns
      FileBuilder{}.u32(1).u64(1).u64(huge).finish(),                 // name length
      FileBuilder{}.u32(1).u64(1).str("a").u8(0).u64(huge).finish(),  // float64 rows
      FileBuilder{}.u32(1).u64(1).str("a").u8(0).u64(~std::uint64_t{0} / 4).finish(),  // overflow
      FileBuilder{}.u32(1).u64(1).str("a").u8(2).u64(0).u64(huge).finish(),            // categories
      FileBuilder{}.u32(1).u64(1).str("a").u8(2).u64(0).u64(1).u64(huge).finish(),
      FileBuilder{}.u32(1).u64(0).u64(huge).finish(),  // target length
  };
  for (std::size_t i = 0; i < files.size(); ++i) {
    write_bytes(tmp / "huge", files[i]);
    auto loaded = Dataset::load(tmp / "huge");
    ASSERT_FALSE(loaded.has_value()) << "file " << i;
    EXPECT_NE(loaded.error().message().find("truncated"), std::string::npos)
        << loaded.error().message();
  }
}

TEST(DatasetTest, LoadRejectsWrongMagic) {
  const TempDir tmp;
  std::string bytes = FileBuilder{}.u32(1).u64(0).str("").finish();
  write_bytes(tmp / "ok", bytes);
  ASSERT_TRUE(Dataset::load(tmp / "ok").has_value());
  bytes[1] = 'X';
  write_bytes(tmp / "f", bytes);
  auto loaded = Dataset::load(tmp / "f");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message().find("not a trainflow dataset"), std::string::npos)
      << loaded.error().message();
  write_bytes(tmp / "csv", "a,b\n1,2\n");
  EXPECT_FALSE(Dataset::load(tmp / "csv").has_value());
}

TEST(DatasetTest, LoadRejectsWrongVersion) {
  const TempDir tmp;
  write_bytes(tmp / "f", FileBuilder{}.u32(2).u64(0).str("").finish());
  auto loaded = Dataset::load(tmp / "f");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message().find("version 2"), std::string::npos)
      << loaded.error().message();
  EXPECT_NE(loaded.error().message().find("at byte 8"), std::string::npos);
}

TEST(DatasetTest, LoadRejectsInconsistentContentWithAValidChecksum) {
  const TempDir tmp;
  struct Case {
    std::string bytes;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {FileBuilder{}.u32(1).u64(1).str("c").u8(2).u64(1).i32(1).u64(1).str("x").str("").finish(),
       "has code 1"},
      {FileBuilder{}.u32(1).u64(1).str("c").u8(2).u64(1).i32(-2).u64(1).str("x").str("").finish(),
       "has code -2"},
      {FileBuilder{}.u32(1).u64(1).str("c").u8(2).u64(0).u64(2).str("x").str("x").str("").finish(),
       "repeats category 'x'"},
      {FileBuilder{}.u32(1).u64(1).str("a").u8(7).u64(0).u64(0).str("").finish(), "unknown type 7"},
      {FileBuilder{}.u32(1).u64(1).str("a").u8(0).u64(0).u64(1).str("x").str("").finish(),
       "numeric but has categories"},
      {FileBuilder{}.u32(1).u64(1).str("a").u8(0).u64(0).u64(0).str("y").finish(), "'y'"},
      {FileBuilder{}
           .u32(1)
           .u64(2)
           .str("a")
           .u8(0)
           .u64(1)
           .u64(0)
           .u64(0)
           .str("b")
           .u8(0)
           .u64(0)
           .u64(0)
           .str("")
           .finish(),
       "'b' has 0 rows"},
      {FileBuilder{}.u32(1).u64(0).str("").u8(0).finish(), "unexpected bytes"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    write_bytes(tmp / "f", cases[i].bytes);
    auto loaded = Dataset::load(tmp / "f");
    ASSERT_FALSE(loaded.has_value()) << "case " << i;
    EXPECT_EQ(loaded.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(loaded.error().message().find(cases[i].expected), std::string::npos)
        << "case " << i << ": " << loaded.error().message();
  }
}

TEST(DatasetTest, LoadErrorsQuoteHugeNamesShortly) {
  const TempDir tmp;
  const std::string name(100000, 'n');
  write_bytes(tmp / "f",
              FileBuilder{}.u32(1).u64(1).str(name).u8(9).u64(0).u64(0).str("").finish());
  auto loaded = Dataset::load(tmp / "f");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message().find("unknown type 9"), std::string::npos);
  EXPECT_NE(loaded.error().message().find("(100000 bytes)"), std::string::npos)
      << loaded.error().message();
  EXPECT_LT(loaded.error().message().size(), 400u);
}

// ---------------------------------------------------------------------------------------------
// write_csv

TEST(DatasetTest, WriteCsvExactText) {
  const TempDir tmp;
  Dataset ds = make_or_die({Column::float64("x,y", {0.1, 1e-300, kNaN, -2.5, 1e21, 7, 8}),
                            Column::categorical("say \"what\"", {0, 1, 2, -1, 3, 4, 5},
                                                {"plain", "a,b", "two\nlines \"q\"", "",
                                                 "line\nfeed", "carriage\rreturn"}),
                            Column::float32("f", {0.1f, kNaNf, 3.0f, -0.0f, 1e-45f, 1.0f, 2.0f})},
                           "f");
  const fs::path path = tmp / "out.csv";
  ASSERT_TRUE(ds.write_csv(path).ok());
  const std::string expected =
      "\"x,y\",\"say \"\"what\"\"\",f\n"
      "0.1,plain,0.1\n"
      "1e-300,\"a,b\",\n"
      ",\"two\nlines \"\"q\"\"\",3\n"
      "-2.5,,-0\n"
      "1e+21,\"\",1e-45\n"
      "7,\"line\nfeed\",1\n"
      "8,\"carriage\rreturn\",2\n";
  EXPECT_EQ(read_bytes(path), expected);
  EXPECT_EQ(tmp.listing(), (std::vector<std::string>{"out.csv"}));

  // The numbers read back exactly.
  const std::pair<std::string_view, double> doubles[] = {
      {"0.1", 0.1}, {"1e-300", 1e-300}, {"1e+21", 1e21}};
  for (auto [text, value] : doubles) {
    double parsed = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    EXPECT_EQ(ec, std::errc{});
    EXPECT_EQ(parsed, value) << text;
  }
}

TEST(DatasetTest, WriteCsvNumbersReadBackExactly) {
  const TempDir tmp;
  std::vector<double> values = {
      0.1, 1e-300, 4.9e-324, 1.0 / 3.0, 123456789.123456789, -1e308, 2.2250738585072014e-308};
  Dataset ds = make_or_die({Column::float64("v", values)});
  ASSERT_TRUE(ds.write_csv(tmp / "v.csv").ok());
  std::ifstream in(tmp / "v.csv");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "v");
  for (double v : values) {
    ASSERT_TRUE(std::getline(in, line));
    double parsed = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), parsed);
    ASSERT_EQ(ec, std::errc{}) << line;
    EXPECT_EQ(end, line.data() + line.size()) << line;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(parsed), std::bit_cast<std::uint64_t>(v)) << line;
  }
  EXPECT_FALSE(std::getline(in, line));
}

TEST(DatasetTest, WriteCsvWritesTheRowsOfAView) {
  const TempDir tmp;
  Dataset ds = make_or_die(
      {Column::float64("a", {1, 2, 3}), Column::categorical("c", {0, 1, 0}, {"x", "y"})});
  const std::uint32_t rows[] = {2, 1, 1};
  ASSERT_TRUE(ds.take(rows).write_csv(tmp / "v.csv").ok());
  EXPECT_EQ(read_bytes(tmp / "v.csv"), "a,c\n3,x\n2,y\n2,y\n");
}

TEST(DatasetTest, WriteCsvOfNoColumnsIsEmpty) {
  const TempDir tmp;
  ASSERT_TRUE(Dataset{}.write_csv(tmp / "e.csv").ok());
  EXPECT_TRUE(fs::exists(tmp / "e.csv"));
  EXPECT_EQ(read_bytes(tmp / "e.csv"), "");
}

TEST(DatasetTest, WriteCsvIntoMissingDirectoryFailsNamingThePath) {
  const TempDir tmp;
  const fs::path path = tmp / "missing" / "out.csv";
  expect_missing_directory(sample().write_csv(path), path);
}

}  // namespace
}  // namespace trainflow::ml

#include "trainflow/ml/impute.hpp"
#include "testing/ml.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace trainflow::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

// x: mean 17/4, median 3, mode 3. y: mean 3, median 3, modes 2 and 4 (2 wins).
// c: "a" and "b" twice each ("a" wins, first in the dictionary). t: the target.
Dataset train_data() {
  return make_or_die(
      {Column::float64("x", {1, kNaN, 3, 3, 10}), Column::float32("y", {kNaNf, 2, 2, 4, 4}),
       Column::categorical("c", {1, -1, 0, 1, 0}, {"a", "b", "c"}),
       Column::float64("t", {0, 1, kNaN, 1, 0})},
      "t");
}

Dataset test_data() {
  return make_or_die(
      {Column::float64("x", {kNaN, 7}), Column::float32("y", {5, kNaNf}),
       Column::categorical("c", {-1, 2}, {"a", "b", "c"}), Column::float64("t", {0, 1})},
      "t");
}

std::vector<double> numeric_values(const Dataset& ds, std::string_view name) {
  std::vector<double> out;
  const std::size_t col = *ds.find(name);
  for (std::size_t r = 0; r < ds.num_rows(); ++r) out.push_back(ds.numeric(col, r));
  return out;
}

std::vector<std::int32_t> codes(const Dataset& ds, std::string_view name) {
  std::vector<std::int32_t> out;
  const std::size_t col = *ds.find(name);
  for (std::size_t r = 0; r < ds.num_rows(); ++r) out.push_back(ds.code(col, r));
  return out;
}

Dataset fit_transform(const SimpleImputerOptions& options, const Dataset& train,
                      const Dataset& data, std::vector<std::string> columns = {}) {
  Result<FittedImputer> fitted = SimpleImputer(options).fit(train, columns);
  EXPECT_TRUE(fitted.has_value()) << fitted.error().to_string();
  if (!fitted) return Dataset();
  Result<Dataset> out = fitted->transform(data);
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  return out.value_or(Dataset());
}

TEST(ImputeTest, MeanFillsNumericFeatureColumnsAsFloat64) {
  const Dataset out =
      fit_transform({.strategy = ImputeStrategy::kMean}, train_data(), train_data());
  EXPECT_EQ(numeric_values(out, "x"), (std::vector<double>{1, 4.25, 3, 3, 10}));
  EXPECT_EQ(numeric_values(out, "y"), (std::vector<double>{3, 2, 2, 4, 4}));
  EXPECT_EQ(out.column(1).type(), ColumnType::kFloat64);
  // The categorical column and the target are not selected by default for kMean.
  EXPECT_EQ(codes(out, "c"), (std::vector<std::int32_t>{1, -1, 0, 1, 0}));
  EXPECT_TRUE(std::isnan(out.numeric(3, 2)));
}

TEST(ImputeTest, MedianAveragesTheTwoMiddleValues) {
  const Dataset train = make_or_die({Column::float64("x", {10, kNaN, 1, 4, 2})});
  const Dataset out = fit_transform({.strategy = ImputeStrategy::kMedian}, train, train);
  // Sorted present values 1 2 4 10: (2 + 4) / 2.
  EXPECT_EQ(numeric_values(out, "x"), (std::vector<double>{10, 3, 1, 4, 2}));
  const Dataset odd = make_or_die({Column::float64("x", {10, kNaN, 1, 4})});
  EXPECT_EQ(numeric_values(fit_transform({.strategy = ImputeStrategy::kMedian}, odd, odd), "x"),
            (std::vector<double>{10, 4, 1, 4}));
}

TEST(ImputeTest, MostFrequentBreaksTiesBySmallestValueAndDictionaryOrder) {
  const Dataset out =
      fit_transform({.strategy = ImputeStrategy::kMostFrequent}, train_data(), train_data());
  EXPECT_EQ(numeric_values(out, "x"), (std::vector<double>{1, 3, 3, 3, 10}));
  EXPECT_EQ(numeric_values(out, "y"), (std::vector<double>{2, 2, 2, 4, 4}));
  EXPECT_EQ(codes(out, "c"), (std::vector<std::int32_t>{1, 0, 0, 1, 0}));
  EXPECT_EQ(out.column(2).type(), ColumnType::kCategorical);
}

TEST(ImputeTest, ConstantFillsAndExtendsTheDictionary) {
  const Dataset out = fit_transform(
      {.strategy = ImputeStrategy::kConstant, .fill_value = -1, .fill_category = "none"},
      train_data(), train_data());
  EXPECT_EQ(numeric_values(out, "x"), (std::vector<double>{1, -1, 3, 3, 10}));
  EXPECT_EQ(numeric_values(out, "y"), (std::vector<double>{-1, 2, 2, 4, 4}));
  EXPECT_EQ(codes(out, "c"), (std::vector<std::int32_t>{1, 3, 0, 1, 0}));
  EXPECT_EQ(out.column(2).categories(), (std::vector<std::string>{"a", "b", "c", "none"}));

  // An existing category is reused, the dictionary unchanged.
  const Dataset reuse = fit_transform({.strategy = ImputeStrategy::kConstant, .fill_category = "c"},
                                      train_data(), train_data(), {"c"});
  EXPECT_EQ(codes(reuse, "c"), (std::vector<std::int32_t>{1, 2, 0, 1, 0}));
  EXPECT_EQ(reuse.column(2).categories(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ImputeTest, TransformUsesTrainingStatisticsNotTheTestData) {
  const SimpleImputerOptions options{.strategy = ImputeStrategy::kMostFrequent};
  const Dataset out = fit_transform(options, train_data(), test_data());
  EXPECT_EQ(numeric_values(out, "x"), (std::vector<double>{3, 7}));
  EXPECT_EQ(numeric_values(out, "y"), (std::vector<double>{5, 2}));
  EXPECT_EQ(codes(out, "c"), (std::vector<std::int32_t>{0, 2}));
  const Dataset refit = fit_transform(options, test_data(), test_data());
  EXPECT_EQ(numeric_values(refit, "x"), (std::vector<double>{7, 7}));
  EXPECT_FALSE(out == refit);
}

TEST(ImputeTest, FitsAndTransformsViews) {
  const Dataset train = train_data();
  const std::vector<std::uint32_t> fit_rows{0, 1, 2};
  const std::vector<std::uint32_t> rows{1, 0, 1, 4};
  Result<FittedImputer> fitted =
      SimpleImputer().fit(train.take(fit_rows), std::vector<std::string>{"x"});
  ASSERT_TRUE(fitted.has_value()) << fitted.error().to_string();
  EXPECT_EQ(fitted->fills()[0].value, 2);  // (1 + 3) / 2 over the view's rows only
  Result<Dataset> out = fitted->transform(train.take(rows));
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  EXPECT_EQ(out->num_rows(), 4u);
  // Not a view: every column holds exactly the view's rows, untouched ones gathered.
  EXPECT_FALSE(out->is_view());
  for (std::size_t i = 0; i < out->num_columns(); ++i) EXPECT_EQ(out->column(i).size(), 4u);
  Result<Dataset> materialized = fitted->transform(train.take(rows).materialize());
  ASSERT_TRUE(materialized.has_value());
  EXPECT_TRUE(*out == *materialized);
  EXPECT_EQ(numeric_values(*out, "x"), (std::vector<double>{2, 1, 2, 10}));
  EXPECT_EQ(codes(*out, "c"), (std::vector<std::int32_t>{-1, 1, -1, 0}));
  EXPECT_EQ(out->target_name(), "t");
  EXPECT_EQ(numeric_values(*out, "t"), (std::vector<double>{1, 0, 1, 0}));
}

TEST(ImputeTest, LeavesTheTargetAndUnselectedColumnsShared) {
  const Dataset train = train_data();
  const Dataset out = fit_transform({}, train, train, {"x"});
  ASSERT_EQ(out.num_columns(), 4u);
  EXPECT_EQ(out.column(0).name(), "x");
  EXPECT_NE(out.column(0).float64().data(), train.column(0).float64().data());
  EXPECT_EQ(out.column(1).float32().data(), train.column(1).float32().data());
  EXPECT_EQ(out.column(2).codes().data(), train.column(2).codes().data());
  EXPECT_EQ(out.column(3).float64().data(), train.column(3).float64().data());
  EXPECT_EQ(out.target_name(), "t");
}

TEST(ImputeTest, BytesRoundTripAndRejectEveryCorruption) {
  Result<FittedImputer> fitted =
      SimpleImputer({.strategy = ImputeStrategy::kMostFrequent}).fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  const std::string bytes = fitted->to_bytes();
  Result<FittedImputer> back = FittedImputer::from_bytes(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->to_bytes(), bytes);
  ASSERT_EQ(back->fills().size(), 3u);
  EXPECT_EQ(back->fills()[2].category, "a");
  Result<Dataset> a = fitted->transform(test_data());
  Result<Dataset> b = back->transform(test_data());
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(*a == *b);

  expect_every_corruption_rejected<FittedImputer>(bytes, 0x01);
  Result<FittedImputer> garbage = FittedImputer::from_bytes("not an imputer at all, no sir");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_NE(garbage.error().message().find("magic"), std::string::npos);
}

TEST(ImputeTest, ReportsErrorsNamingTheColumn) {
  const Dataset train = train_data();
  Result<FittedImputer> unknown = SimpleImputer().fit(train, std::vector<std::string>{"x", "zz"});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.error().message().find("'zz'"), std::string::npos);

  for (ImputeStrategy s : {ImputeStrategy::kMean, ImputeStrategy::kMedian}) {
    Result<FittedImputer> cat =
        SimpleImputer({.strategy = s}).fit(train, std::vector<std::string>{"c"});
    ASSERT_FALSE(cat.has_value());
    EXPECT_EQ(cat.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(cat.error().message().find("'c'"), std::string::npos);
  }

  Result<FittedImputer> target = SimpleImputer().fit(train, std::vector<std::string>{"t"});
  ASSERT_FALSE(target.has_value());
  EXPECT_NE(target.error().message().find("target"), std::string::npos);

  const Dataset empty =
      make_or_die({Column::float64("e", {kNaN, kNaN}), Column::categorical("k", {-1, -1}, {"p"})});
  for (ImputeStrategy s :
       {ImputeStrategy::kMean, ImputeStrategy::kMedian, ImputeStrategy::kMostFrequent}) {
    Result<FittedImputer> none = SimpleImputer({.strategy = s}).fit(empty);
    ASSERT_FALSE(none.has_value());
    EXPECT_NE(none.error().message().find("'e'"), std::string::npos);
  }
  Result<FittedImputer> none_cat = SimpleImputer({.strategy = ImputeStrategy::kMostFrequent})
                                       .fit(empty, std::vector<std::string>{"k"});
  ASSERT_FALSE(none_cat.has_value());
  EXPECT_NE(none_cat.error().message().find("'k'"), std::string::npos);
  EXPECT_TRUE(SimpleImputer({.strategy = ImputeStrategy::kConstant}).fit(empty).has_value());

  Result<FittedImputer> fitted = SimpleImputer().fit(train);
  ASSERT_TRUE(fitted.has_value());
  const Dataset lacking = make_or_die({Column::float64("x", {1})});
  Result<Dataset> missing = fitted->transform(lacking);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.error().message().find("'y'"), std::string::npos);
}

}  // namespace
}  // namespace trainflow::ml

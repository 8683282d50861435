#include "trainflow/ml/scale.hpp"
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

Dataset one_column(std::vector<double> values) {
  return make_or_die({Column::float64("x", std::move(values))});
}

// Column `name` of `ds`, row by row.
// Expects equal values to 4 ulps, NaN where NaN is expected.
void expect_values(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "row " << i << ": " << got[i];
    } else {
      EXPECT_DOUBLE_EQ(got[i], want[i]) << "row " << i;
    }
  }
}

template <class Scaler>
Dataset fit_transform(const Scaler& scaler, const Dataset& train, const Dataset& data) {
  Result<FittedScaler> fitted = scaler.fit(train);
  EXPECT_TRUE(fitted.has_value()) << fitted.error().to_string();
  if (!fitted) return Dataset();
  Result<Dataset> out = fitted->transform(data);
  EXPECT_TRUE(out.has_value()) << out.error().to_string();
  return out.value_or(Dataset());
}

// Present values 2 4 4 4 5 5 7 9: mean 5, population standard deviation 2.
const std::vector<double> kStd{2, 4, kNaN, 4, 4, 5, 5, 7, 9};

TEST(StandardScalerTest, UsesPopulationStandardDeviationAndKeepsMissing) {
  const Dataset ds = one_column(kStd);
  expect_values(values_of(fit_transform(StandardScaler(), ds, ds), "x"),
                {-1.5, -0.5, kNaN, -0.5, -0.5, 0, 0, 1, 2});
  expect_values(values_of(fit_transform(StandardScaler({.with_mean = false}), ds, ds), "x"),
                {1, 2, kNaN, 2, 2, 2.5, 2.5, 3.5, 4.5});
  expect_values(values_of(fit_transform(StandardScaler({.with_std = false}), ds, ds), "x"),
                {-3, -1, kNaN, -1, -1, 0, 0, 2, 4});
}

TEST(StandardScalerTest, ZeroVarianceColumnScalesByOne) {
  const Dataset ds = one_column({3, 3, kNaN, 3});
  expect_values(values_of(fit_transform(StandardScaler(), ds, ds), "x"), {0, 0, kNaN, 0});
  const Dataset test = one_column({5});
  expect_values(values_of(fit_transform(StandardScaler(), ds, test), "x"), {2});
}

TEST(StandardScalerTest, IsStableForLargeOffsets) {
  // Deviations -6 -3 3 6 from 1e9 + 10: variance 22.5. The naive E[x^2] - E[x]^2 loses every
  // digit here (x^2 ~ 1e18, whose ulp is 128).
  const Dataset ds = one_column({1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16});
  Result<FittedScaler> fitted = StandardScaler().fit(ds);
  ASSERT_TRUE(fitted.has_value());
  EXPECT_EQ(fitted->params()[0].center, 1e9 + 10);
  EXPECT_NEAR(fitted->params()[0].scale, std::sqrt(22.5), 1e-9);
  Result<Dataset> out = fitted->transform(ds);
  ASSERT_TRUE(out.has_value());
  const double s = std::sqrt(22.5);
  const std::vector<double> got = values_of(*out, "x");
  const std::vector<double> want{-6 / s, -3 / s, 3 / s, 6 / s};
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i], 1e-9);
}

TEST(StandardScalerTest, TransformUsesTrainingStatisticsNotTheTestData) {
  const Dataset train = one_column(kStd);
  const Dataset test = one_column({5, 9, 13});
  const Dataset out = fit_transform(StandardScaler(), train, test);
  expect_values(values_of(out, "x"), {0, 2, 4});
  const Dataset refit = fit_transform(StandardScaler(), test, test);
  EXPECT_NE(values_of(refit, "x"), values_of(out, "x"));
}

TEST(MinMaxScalerTest, MapsTheTrainingRangeAndExtrapolates) {
  const Dataset train = one_column({2, kNaN, 6, 4});
  expect_values(values_of(fit_transform(MinMaxScaler(), train, train), "x"), {0, kNaN, 1, 0.5});
  const MinMaxScaler wide({.min = -1, .max = 1});
  expect_values(values_of(fit_transform(wide, train, train), "x"), {-1, kNaN, 1, 0});
  // No clipping outside the training range.
  expect_values(values_of(fit_transform(MinMaxScaler(), train, one_column({0, 8})), "x"),
                {-0.5, 1.5});
}

TEST(MinMaxScalerTest, ConstantColumnMapsToMin) {
  const Dataset train = one_column({5, 5, kNaN});
  const MinMaxScaler wide({.min = -1, .max = 1});
  expect_values(values_of(fit_transform(wide, train, train), "x"), {-1, -1, kNaN});
  // Like scikit-learn, the range counts as 1: 6 maps to -1 + (6 - 5) * 2.
  expect_values(values_of(fit_transform(wide, train, one_column({6})), "x"), {1});
}

TEST(RobustScalerTest, UsesLinearInterpolationQuantiles) {
  // numpy.percentile([1, 2, 4, 8], [10, 25, 50, 75, 90]) = 1.3, 1.75, 3, 5, 6.8.
  const Dataset train = one_column({8, kNaN, 1, 4, 2});
  Result<FittedScaler> fitted = RobustScaler().fit(train);
  ASSERT_TRUE(fitted.has_value());
  EXPECT_DOUBLE_EQ(fitted->params()[0].center, 3);
  EXPECT_DOUBLE_EQ(fitted->params()[0].scale, 3.25);
  Result<FittedScaler> wide = RobustScaler({.q_low = 10, .q_high = 90}).fit(train);
  ASSERT_TRUE(wide.has_value());
  EXPECT_DOUBLE_EQ(wide->params()[0].scale, 5.5);
  expect_values(values_of(fit_transform(RobustScaler(), train, train), "x"),
                {5 / 3.25, kNaN, -2 / 3.25, 1 / 3.25, -1 / 3.25});
  expect_values(
      values_of(fit_transform(RobustScaler({.with_centering = false}), train, train), "x"),
      {8 / 3.25, kNaN, 1 / 3.25, 4 / 3.25, 2 / 3.25});
  expect_values(values_of(fit_transform(RobustScaler({.with_scaling = false}), train, train), "x"),
                {5, kNaN, -2, 1, -1});
}

TEST(RobustScalerTest, ZeroQuantileRangeScalesByOne) {
  const Dataset train = one_column({1, 5, 5, 5, 9});
  expect_values(values_of(fit_transform(RobustScaler(), train, train), "x"), {-4, 0, 0, 0, 4});
}

Dataset mixed() {
  return make_or_die(
      {Column::float64("a", {1, 2, 3, 4}), Column::categorical("c", {0, 1, -1, 0}, {"u", "v"}),
       Column::float32("b", {10, 20, 30, 40}), Column::float64("t", {0, 1, 0, 1})},
      "t");
}

TEST(FittedScalerTest, ScalesOnlyNumericFeaturesAndSharesTheRest) {
  const Dataset ds = mixed();
  Result<FittedScaler> fitted = MinMaxScaler().fit(ds);
  ASSERT_TRUE(fitted.has_value());
  ASSERT_EQ(fitted->params().size(), 2u);
  EXPECT_EQ(fitted->params()[0].column, "a");
  EXPECT_EQ(fitted->params()[1].column, "b");
  Result<Dataset> out = fitted->transform(ds);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->column(2).type(), ColumnType::kFloat64);
  expect_values(values_of(*out, "b"), {0, 1.0 / 3, 2.0 / 3, 1});
  EXPECT_NE(out->column(0).float64().data(), ds.column(0).float64().data());
  EXPECT_EQ(out->column(1).codes().data(), ds.column(1).codes().data());
  EXPECT_EQ(out->column(3).float64().data(), ds.column(3).float64().data());
  EXPECT_EQ(out->target_name(), "t");
}

TEST(FittedScalerTest, TransformsViews) {
  const Dataset ds = mixed();
  const std::vector<std::uint32_t> fit_rows{1, 2};
  const std::vector<std::uint32_t> rows{3, 0, 3};
  Result<FittedScaler> fitted =
      MinMaxScaler().fit(ds.take(fit_rows), std::vector<std::string>{"a"});
  ASSERT_TRUE(fitted.has_value());
  Result<Dataset> out = fitted->transform(ds.take(rows));
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->num_rows(), 3u);
  // Not a view: every column holds exactly the view's rows, untouched ones gathered.
  EXPECT_FALSE(out->is_view());
  for (std::size_t i = 0; i < out->num_columns(); ++i) EXPECT_EQ(out->column(i).size(), 3u);
  Result<Dataset> materialized = fitted->transform(ds.take(rows).materialize());
  ASSERT_TRUE(materialized.has_value());
  EXPECT_TRUE(*out == *materialized);
  // Fitted range [2, 3].
  expect_values(values_of(*out, "a"), {2, -1, 2});
  expect_values(values_of(*out, "t"), {1, 0, 1});
  expect_values(values_of(*out, "b"), {40, 10, 40});
}

TEST(FittedScalerTest, BytesRoundTripAndRejectEveryCorruption) {
  Result<FittedScaler> fitted = StandardScaler().fit(mixed());
  ASSERT_TRUE(fitted.has_value());
  const std::string bytes = fitted->to_bytes();
  Result<FittedScaler> back = FittedScaler::from_bytes(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->to_bytes(), bytes);
  Result<Dataset> a = fitted->transform(mixed());
  Result<Dataset> b = back->transform(mixed());
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(*a == *b);
  expect_every_corruption_rejected<FittedScaler>(bytes, 0x80);
}

TEST(FittedScalerTest, ReportsErrorsNamingTheColumn) {
  const Dataset ds = mixed();
  Result<FittedScaler> unknown = StandardScaler().fit(ds, std::vector<std::string>{"nope"});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.error().message().find("'nope'"), std::string::npos);

  Result<FittedScaler> cat = RobustScaler().fit(ds, std::vector<std::string>{"a", "c"});
  ASSERT_FALSE(cat.has_value());
  EXPECT_EQ(cat.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cat.error().message().find("'c'"), std::string::npos);

  const Dataset empty =
      make_or_die({Column::float64("a", {1, 2}), Column::float64("e", {kNaN, kNaN})});
  Result<FittedScaler> none = MinMaxScaler().fit(empty);
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("'e'"), std::string::npos);

  EXPECT_FALSE(MinMaxScaler({.min = 1, .max = 1}).fit(ds).has_value());
  EXPECT_FALSE(RobustScaler({.q_low = 80, .q_high = 20}).fit(ds).has_value());

  Result<FittedScaler> fitted = StandardScaler().fit(ds);
  ASSERT_TRUE(fitted.has_value());
  Result<Dataset> lacking = fitted->transform(make_or_die({Column::float64("a", {1})}));
  ASSERT_FALSE(lacking.has_value());
  EXPECT_EQ(lacking.error().code(), StatusCode::kNotFound);
  EXPECT_NE(lacking.error().message().find("'b'"), std::string::npos);
  Result<Dataset> wrong_kind = fitted->transform(
      make_or_die({Column::float64("a", {1}), Column::categorical("b", {0}, {"z"})}));
  ASSERT_FALSE(wrong_kind.has_value());
  EXPECT_NE(wrong_kind.error().message().find("'b'"), std::string::npos);
}

}  // namespace
}  // namespace trainflow::ml

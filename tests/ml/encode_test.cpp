#include "trainflow/ml/encode.hpp"
#include "testing/ml.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace trainflow::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// color: red, green, red, missing, blue, red ("unused" is in the dictionary but in no row).
// size: s, m, l, m, s, m. t: a categorical target.
Dataset train_data() {
  return make_or_die(
      {Column::categorical("color", {0, 1, 0, -1, 2, 0}, {"red", "green", "blue", "unused"}),
       Column::float64("x", {1, 2, 3, 4, 5, 6}),
       Column::categorical("size", {0, 1, 2, 1, 0, 1}, {"s", "m", "l"}),
       Column::categorical("t", {0, 1, 1, 0, 0, 1}, {"no", "yes"})},
      "t");
}

// Another dictionary order: color = red, blue, missing, purple (unknown); size = l, s, m, m.
Dataset test_data() {
  return make_or_die({Column::categorical("color", {1, 0, -1, 2}, {"blue", "red", "purple"}),
                      Column::float64("x", {7, 8, 9, 10}),
                      Column::categorical("size", {0, 1, 2, 2}, {"l", "s", "m"}),
                      Column::categorical("t", {1, 0, 1, 0}, {"yes", "no"})},
                     "t");
}

// `out`, the transform of a view of `rows` rows, is not a view: each column holds those rows.
void expect_exactly_the_views_rows(const Dataset& out, std::size_t rows) {
  EXPECT_EQ(out.num_rows(), rows);
  EXPECT_FALSE(out.is_view());
  for (std::size_t i = 0; i < out.num_columns(); ++i) {
    EXPECT_EQ(out.column(i).size(), rows) << out.column(i).name();
  }
}

// Expects `result` to have failed with `code` and a message naming `needle`.
template <class T>
void expect_error(const Result<T>& result, StatusCode code, std::string_view needle) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), code);
  EXPECT_NE(result.error().message().find(needle), std::string::npos) << result.error().message();
}

// Expects the error of an encoder with Unknown::kError on test_data(): its unknown category
// 'purple' of column 'color' at row 3.
void expect_purple_unknown(const Result<Dataset>& failed) {
  expect_error(failed, StatusCode::kInvalidArgument, "column 'color', row 3: category 'purple'");
}

// Equal element by element, NaN equal to NaN.
void expect_same(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "at " << i << ": " << got[i];
    } else {
      EXPECT_EQ(got[i], want[i]) << "at " << i;
    }
  }
}

TEST(OrdinalEncoderTest, EncodesSeenCategoriesInDictionaryOrderAndMissingAsNaN) {
  Result<FittedOrdinalEncoder> fitted = OrdinalEncoder().fit(train_data());
  ASSERT_TRUE(fitted.has_value()) << fitted.error().to_string();
  ASSERT_EQ(fitted->columns().size(), 2u);
  EXPECT_EQ(fitted->columns()[0].categories, (std::vector<std::string>{"red", "green", "blue"}));
  Result<Dataset> out = fitted->transform(train_data());
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  EXPECT_EQ(names_of(*out), (std::vector<std::string>{"color", "x", "size", "t"}));
  EXPECT_EQ(out->column(0).type(), ColumnType::kFloat64);
  expect_same(values_of(*out, "color"), {0, 1, 0, kNaN, 2, 0});
  expect_same(values_of(*out, "size"), {0, 1, 2, 1, 0, 1});
  // The target stays the categorical column it was.
  EXPECT_EQ(out->target_name(), "t");
  EXPECT_EQ(out->column(3).type(), ColumnType::kCategorical);
  EXPECT_EQ(out->code(3, 1), 1);
}

TEST(OrdinalEncoderTest, UnknownCategoryFailsOrBecomesNaNMatchingByString) {
  Result<FittedOrdinalEncoder> strict = OrdinalEncoder().fit(train_data());
  ASSERT_TRUE(strict.has_value());
  expect_purple_unknown(strict->transform(test_data()));

  Result<FittedOrdinalEncoder> lenient =
      OrdinalEncoder({.unknown = OrdinalEncoderOptions::Unknown::kUseMissing}).fit(train_data());
  ASSERT_TRUE(lenient.has_value());
  Result<Dataset> out = lenient->transform(test_data());
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  // Test's dictionary differs; the train dictionary's indices are used.
  expect_same(values_of(*out, "color"), {0, 2, kNaN, kNaN});
  expect_same(values_of(*out, "size"), {2, 0, 1, 1});
}

TEST(OrdinalEncoderTest, CategoryUnusedByTrainingRowsIsUnknown) {
  Result<FittedOrdinalEncoder> only_c =
      OrdinalEncoder().fit(train_data(), std::vector<std::string>{"color"});
  ASSERT_TRUE(only_c.has_value());
  const Dataset test = make_or_die({Column::categorical("color", {0, 1}, {"red", "unused"})});
  Result<Dataset> out = only_c->transform(test);
  ASSERT_FALSE(out.has_value());
  EXPECT_NE(out.error().message().find("'unused'"), std::string::npos);
  EXPECT_NE(out.error().message().find("row 1"), std::string::npos);
}

TEST(OrdinalEncoderTest, TransformsAViewAtItsRows) {
  Result<FittedOrdinalEncoder> fitted = OrdinalEncoder().fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  const std::vector<std::uint32_t> rows = {4, 0, 1, 4};
  Result<Dataset> out = fitted->transform(train_data().take(rows));
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  expect_exactly_the_views_rows(*out, rows.size());
  Result<Dataset> materialized = fitted->transform(train_data().take(rows).materialize());
  ASSERT_TRUE(materialized.has_value());
  EXPECT_TRUE(*out == *materialized);
  expect_same(values_of(*out, "color"), {2, 0, 1, 2});
  expect_same(values_of(*out, "x"), {5, 1, 2, 5});
}

TEST(OrdinalEncoderTest, SelectionErrorsNameTheColumn) {
  expect_error(OrdinalEncoder().fit(train_data(), std::vector<std::string>{"x"}),
               StatusCode::kInvalidArgument, "'x'");
  expect_error(OrdinalEncoder().fit(train_data(), std::vector<std::string>{"zz"}),
               StatusCode::kNotFound, "'zz'");
  Result<FittedOrdinalEncoder> target =
      OrdinalEncoder().fit(train_data(), std::vector<std::string>{"t"});
  ASSERT_FALSE(target.has_value());
  EXPECT_NE(target.error().message().find("target"), std::string::npos);
}

TEST(OneHotEncoderTest, ReplacesEachColumnByIndicatorColumnsInPlace) {
  Result<FittedOneHotEncoder> fitted = OneHotEncoder().fit(train_data());
  ASSERT_TRUE(fitted.has_value()) << fitted.error().to_string();
  Result<Dataset> out = fitted->transform(train_data());
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  EXPECT_EQ(names_of(*out), (std::vector<std::string>{"color=red", "color=green", "color=blue", "x",
                                                      "size=s", "size=m", "size=l", "t"}));
  // Missing (row 3) gives all zeros.
  expect_same(values_of(*out, "color=red"), {1, 0, 1, 0, 0, 1});
  expect_same(values_of(*out, "color=green"), {0, 1, 0, 0, 0, 0});
  expect_same(values_of(*out, "color=blue"), {0, 0, 0, 0, 1, 0});
  expect_same(values_of(*out, "size=s"), {1, 0, 0, 0, 1, 0});
  expect_same(values_of(*out, "size=m"), {0, 1, 0, 1, 0, 1});
  expect_same(values_of(*out, "size=l"), {0, 0, 1, 0, 0, 0});
  expect_same(values_of(*out, "x"), {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(out->column(0).type(), ColumnType::kFloat64);
  EXPECT_EQ(out->target_name(), "t");
  EXPECT_EQ(out->column(7).type(), ColumnType::kCategorical);
  EXPECT_EQ(out->code(7, 2), 1);
}

TEST(OneHotEncoderTest, KeepsTheOriginalColumnWhenAsked) {
  Result<FittedOneHotEncoder> fitted =
      OneHotEncoder({.drop_original = false}).fit(train_data(), std::vector<std::string>{"size"});
  ASSERT_TRUE(fitted.has_value());
  Result<Dataset> out = fitted->transform(train_data());
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  EXPECT_EQ(names_of(*out),
            (std::vector<std::string>{"color", "x", "size", "size=s", "size=m", "size=l", "t"}));
  EXPECT_EQ(out->code(2, 2), 2);
}

TEST(OneHotEncoderTest, UsesTheTrainDictionaryWhenTestOrderDiffers) {
  Result<FittedOneHotEncoder> fitted =
      OneHotEncoder({.unknown = OneHotEncoderOptions::Unknown::kIgnore}).fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  Result<Dataset> out = fitted->transform(test_data());
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  EXPECT_EQ(names_of(*out), (std::vector<std::string>{"color=red", "color=green", "color=blue", "x",
                                                      "size=s", "size=m", "size=l", "t"}));
  // Rows: red, blue, missing, purple (unknown: all zeros with kIgnore).
  expect_same(values_of(*out, "color=red"), {1, 0, 0, 0});
  expect_same(values_of(*out, "color=green"), {0, 0, 0, 0});
  expect_same(values_of(*out, "color=blue"), {0, 1, 0, 0});
  // Rows: l, s, m, m.
  expect_same(values_of(*out, "size=s"), {0, 1, 0, 0});
  expect_same(values_of(*out, "size=m"), {0, 0, 1, 1});
  expect_same(values_of(*out, "size=l"), {1, 0, 0, 0});
}

TEST(OneHotEncoderTest, UnknownCategoryErrorNamesColumnRowAndCategory) {
  Result<FittedOneHotEncoder> fitted = OneHotEncoder().fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  expect_purple_unknown(fitted->transform(test_data()));
}

TEST(OneHotEncoderTest, MaxCategoriesBucketsInfrequentWithTiesInDictionaryOrder) {
  // Counts: a 1, b 3, c 2, d 2, e 0. Keep 2: b, then c (ties c/d: dictionary order).
  const Dataset data = make_or_die(
      {Column::categorical("k", {0, 1, 1, 1, 2, 2, 3, 3, -1}, {"a", "b", "c", "d", "e"})});
  Result<FittedOneHotEncoder> fitted = OneHotEncoder({.max_categories = 3}).fit(data);
  ASSERT_TRUE(fitted.has_value()) << fitted.error().to_string();
  EXPECT_EQ(fitted->columns()[0].categories, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(fitted->columns()[0].other, (std::vector<std::string>{"a", "d"}));
  Result<Dataset> out = fitted->transform(data);
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  EXPECT_EQ(names_of(*out), (std::vector<std::string>{"k=b", "k=c", "k=other"}));
  expect_same(values_of(*out, "k=b"), {0, 1, 1, 1, 0, 0, 0, 0, 0});
  expect_same(values_of(*out, "k=c"), {0, 0, 0, 0, 1, 1, 0, 0, 0});
  expect_same(values_of(*out, "k=other"), {1, 0, 0, 0, 0, 0, 1, 1, 0});

  // As many categories as the limit: nothing is bucketed.
  Result<FittedOneHotEncoder> wide = OneHotEncoder({.max_categories = 4}).fit(data);
  ASSERT_TRUE(wide.has_value());
  EXPECT_EQ(wide->columns()[0].categories, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_TRUE(wide->columns()[0].other.empty());
}

TEST(OneHotEncoderTest, TransformsAViewAtItsRows) {
  Result<FittedOneHotEncoder> fitted = OneHotEncoder().fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  const std::vector<std::uint32_t> rows = {4, 0, 3};
  Result<Dataset> out = fitted->transform(train_data().take(rows));
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  expect_exactly_the_views_rows(*out, rows.size());
  Result<Dataset> materialized = fitted->transform(train_data().take(rows).materialize());
  ASSERT_TRUE(materialized.has_value());
  EXPECT_TRUE(*out == *materialized);
  EXPECT_EQ(out->num_rows(), 3u);
  expect_same(values_of(*out, "color=red"), {0, 1, 0});
  expect_same(values_of(*out, "color=blue"), {1, 0, 0});
  expect_same(values_of(*out, "size=s"), {1, 1, 0});
  expect_same(values_of(*out, "x"), {5, 1, 4});
}

TEST(OneHotEncoderTest, OutputNameCollisionNamesBothColumns) {
  const Dataset data = make_or_die({Column::categorical("color", {0, 1}, {"red", "blue"}),
                                    Column::float64("color=red", {1, 2})});
  Result<FittedOneHotEncoder> fitted = OneHotEncoder().fit(data);
  ASSERT_TRUE(fitted.has_value());
  Result<Dataset> out = fitted->transform(data);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.error().message().find("'color'"), std::string::npos);
  EXPECT_NE(out.error().message().find("'color=red'"), std::string::npos);
  EXPECT_NE(out.error().message().find("existing column"), std::string::npos);

  // Two output columns with one name: "a" + "b=c" and "a=b" + "c".
  const Dataset clash =
      make_or_die({Column::categorical("a", {0}, {"b=c"}), Column::categorical("a=b", {0}, {"c"})});
  Result<FittedOneHotEncoder> both = OneHotEncoder().fit(clash);
  ASSERT_TRUE(both.has_value());
  Result<Dataset> bad = both->transform(clash);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("'a'"), std::string::npos);
  EXPECT_NE(bad.error().message().find("'a=b'"), std::string::npos);
  EXPECT_NE(bad.error().message().find("'a=b=c'"), std::string::npos);
}

TEST(OneHotEncoderTest, SelectionErrorsNameTheColumn) {
  expect_error(OneHotEncoder().fit(train_data(), std::vector<std::string>{"color", "x"}),
               StatusCode::kInvalidArgument, "'x'");
  expect_error(OneHotEncoder().fit(train_data(), std::vector<std::string>{"zz"}),
               StatusCode::kNotFound, "'zz'");
  Result<FittedOneHotEncoder> fitted = OneHotEncoder().fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  const Dataset numeric_color =
      make_or_die({Column::float64("color", {1}), Column::categorical("size", {0}, {"s"})});
  Result<Dataset> kind = fitted->transform(numeric_color);
  ASSERT_FALSE(kind.has_value());
  EXPECT_EQ(kind.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(kind.error().message().find("'color'"), std::string::npos);
  const Dataset color_target = make_or_die(
      {Column::categorical("color", {0}, {"red"}), Column::categorical("size", {0}, {"s"})},
      "color");
  Result<Dataset> target = fitted->transform(color_target);
  ASSERT_FALSE(target.has_value());
  EXPECT_NE(target.error().message().find("target"), std::string::npos);
  Result<Dataset> missing = fitted->transform(make_or_die({Column::float64("x", {1})}));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
}

template <class Fitted>
void expect_bytes_round_trip_and_reject_corruption(const Fitted& fitted, const Dataset& data) {
  const std::string bytes = fitted.to_bytes();
  Result<Fitted> back = Fitted::from_bytes(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->to_bytes(), bytes);
  Result<Dataset> a = fitted.transform(data);
  Result<Dataset> b = back->transform(data);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(*a == *b);
  expect_every_corruption_rejected<Fitted>(bytes, 0x01);
  Result<Fitted> garbage = Fitted::from_bytes("not an encoder at all, not at all");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_NE(garbage.error().message().find("magic"), std::string::npos);
}

TEST(OrdinalEncoderTest, BytesRoundTripAndRejectEveryCorruption) {
  Result<FittedOrdinalEncoder> fitted =
      OrdinalEncoder({.unknown = OrdinalEncoderOptions::Unknown::kUseMissing}).fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  expect_bytes_round_trip_and_reject_corruption(*fitted, test_data());
  Result<FittedOrdinalEncoder> back = FittedOrdinalEncoder::from_bytes(fitted->to_bytes());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->unknown(), OrdinalEncoderOptions::Unknown::kUseMissing);
  EXPECT_EQ(back->columns()[1].categories, (std::vector<std::string>{"s", "m", "l"}));
}

TEST(OneHotEncoderTest, BytesRoundTripAndRejectEveryCorruption) {
  Result<FittedOneHotEncoder> fitted =
      OneHotEncoder({.unknown = OneHotEncoderOptions::Unknown::kIgnore,
                     .max_categories = 2,
                     .drop_original = false})
          .fit(train_data());
  ASSERT_TRUE(fitted.has_value());
  EXPECT_EQ(fitted->columns()[0].other, (std::vector<std::string>{"green", "blue"}));
  expect_bytes_round_trip_and_reject_corruption(*fitted, test_data());
  Result<FittedOneHotEncoder> back = FittedOneHotEncoder::from_bytes(fitted->to_bytes());
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->drop_original());
  EXPECT_EQ(back->unknown(), OneHotEncoderOptions::Unknown::kIgnore);
  EXPECT_EQ(back->columns()[0].categories, (std::vector<std::string>{"red"}));
}

TEST(EncoderTest, UnencodedColumnsOfADatasetThatIsNotAViewAreShared) {
  const Dataset data = train_data();
  Result<FittedOrdinalEncoder> ordinal =
      OrdinalEncoder().fit(data, std::vector<std::string>{"color"});
  ASSERT_TRUE(ordinal.has_value());
  Result<Dataset> a = ordinal->transform(data);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->column(1).float64().data(), data.column(1).float64().data());  // x
  EXPECT_EQ(a->column(2).codes().data(), data.column(2).codes().data());      // size
  EXPECT_EQ(a->column(3).codes().data(), data.column(3).codes().data());      // the target

  Result<FittedOneHotEncoder> one_hot =
      OneHotEncoder({.drop_original = false}).fit(data, std::vector<std::string>{"size"});
  ASSERT_TRUE(one_hot.has_value());
  Result<Dataset> b = one_hot->transform(data);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->column(0).codes().data(), data.column(0).codes().data());  // color
  EXPECT_EQ(b->column(2).codes().data(), data.column(2).codes().data());  // size, kept
  EXPECT_EQ(b->num_rows(), data.num_rows());
}

}  // namespace
}  // namespace trainflow::ml

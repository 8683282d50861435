#include "trainflow/ml/column_transformer.hpp"
#include "ml/streaming_stores.hpp"
#include "testing/ml.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace trainflow::ml {
namespace {

using Stores = ColumnTransformOptions::Stores;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

// A small deterministic generator (splitmix64), so the data are the same everywhere.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::int32_t below(std::int32_t n) {
    return static_cast<std::int32_t>(next() % static_cast<std::uint64_t>(n));
  }

 private:
  std::uint64_t state_;
};

// a: float64 around 1e3 with 10% missing; b: float32 with 10% missing; c: float64, no missing;
// color: 6 categories, skewed, 10% missing; size: 3 categories; id: float64; t: the target.
Dataset random_data(std::size_t n, std::uint64_t seed) {
  Random random(seed);
  std::vector<double> a(n);
  std::vector<float> b(n);
  std::vector<double> c(n);
  std::vector<double> id(n);
  std::vector<double> t(n);
  std::vector<std::int32_t> color(n);
  std::vector<std::int32_t> size(n);
  for (std::size_t r = 0; r < n; ++r) {
    a[r] = random.uniform() < 0.1 ? kNaN : 1e3 + 50 * random.uniform();
    b[r] = random.uniform() < 0.1 ? kNaNf : static_cast<float>(-3 + 10 * random.uniform());
    c[r] = std::floor(20 * random.uniform());
    const std::int32_t k = random.below(21);  // 0..20 -> categories 0..5, skewed towards 0
    color[r] = random.uniform() < 0.1 ? -1
                                      : (k < 8    ? 0
                                         : k < 13 ? 1
                                         : k < 16 ? 2
                                         : k < 18 ? 3
                                         : k < 20 ? 4
                                                  : 5);
    size[r] = random.below(3);
    id[r] = static_cast<double>(r);
    t[r] = static_cast<double>(random.below(2));
  }
  return make_or_die({Column::float64("a", std::move(a)), Column::float32("b", std::move(b)),
                      Column::categorical("color", std::move(color),
                                          {"red", "green", "blue", "cyan", "gray", "pink"}),
                      Column::float64("c", std::move(c)), Column::float64("id", std::move(id)),
                      Column::categorical("size", std::move(size), {"s", "m", "l"}),
                      Column::float64("t", std::move(t))},
                     "t");
}

// Same names, types, dictionaries, target and bit patterns of every value, row by row.
void expect_bit_identical(const Dataset& got, const Dataset& want) {
  ASSERT_EQ(names_of(got), names_of(want));
  ASSERT_EQ(got.num_rows(), want.num_rows());
  EXPECT_EQ(got.target_name(), want.target_name());
  for (std::size_t i = 0; i < got.num_columns(); ++i) {
    const Column& g = got.column(i);
    const Column& w = want.column(i);
    ASSERT_EQ(g.type(), w.type()) << g.name();
    for (std::size_t r = 0; r < got.num_rows(); ++r) {
      const std::size_t gr = got.source_row(r);
      const std::size_t wr = want.source_row(r);
      switch (g.type()) {
        case ColumnType::kFloat64:
          ASSERT_EQ(std::bit_cast<std::uint64_t>(g.float64()[gr]),
                    std::bit_cast<std::uint64_t>(w.float64()[wr]))
              << g.name() << " row " << r << ": " << g.float64()[gr] << " vs " << w.float64()[wr];
          break;
        case ColumnType::kFloat32:
          ASSERT_EQ(std::bit_cast<std::uint32_t>(g.float32()[gr]),
                    std::bit_cast<std::uint32_t>(w.float32()[wr]))
              << g.name() << " row " << r;
          break;
        case ColumnType::kCategorical:
          ASSERT_EQ(g.categories(), w.categories()) << g.name();
          ASSERT_EQ(g.codes()[gr], w.codes()[wr]) << g.name() << " row " << r;
          break;
      }
    }
  }
}

Result<Dataset> must(Result<Dataset> result) {
  EXPECT_TRUE(result.has_value()) << result.error().to_string();
  return result;
}

// Numeric [a, b]: median imputation then standard scaling; c: min-max; color: most-frequent
// imputation then one-hot with an "other" bucket; size: ordinal. id passes through.
ColumnTransformerOptions mixed_options() {
  return {.steps = {NumericStep{.columns = {"a", "b"},
                                .impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMedian},
                                .scale = StandardScalerOptions{}},
                    NumericStep{.columns = {"c"}, .scale = MinMaxScalerOptions{}},
                    CategoricalStep{
                        .columns = {"color"},
                        .impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMostFrequent},
                        .encode = OneHotEncoderOptions{.max_categories = 4}},
                    CategoricalStep{.columns = {"size"}, .encode = OrdinalEncoderOptions{}}}};
}

const std::vector<std::string> kAB = {"a", "b"};
const std::vector<std::string> kC = {"c"};
const std::vector<std::string> kColor = {"color"};
const std::vector<std::string> kSize = {"size"};

// mixed_options() done with the standalone transforms, fitted on `train`, applied to `data`
// one after the other. Also checks that each standalone fitted state equals the transformer's.
Dataset chained(const Dataset& train, const Dataset& data, const FittedColumnTransformer& fused) {
  Result<FittedImputer> imp_ab =
      SimpleImputer({.strategy = ImputeStrategy::kMedian}).fit(train, kAB);
  EXPECT_TRUE(imp_ab.has_value());
  const Dataset train_ab = *must(imp_ab->transform(train));
  Result<FittedScaler> std_ab = StandardScaler().fit(train_ab, kAB);
  Result<FittedScaler> mm_c = MinMaxScaler().fit(train, kC);
  Result<FittedImputer> imp_color =
      SimpleImputer({.strategy = ImputeStrategy::kMostFrequent}).fit(train, kColor);
  EXPECT_TRUE(imp_color.has_value());
  const Dataset train_color = *must(imp_color->transform(train));
  Result<FittedOneHotEncoder> oh_color =
      OneHotEncoder({.max_categories = 4}).fit(train_color, kColor);
  Result<FittedOrdinalEncoder> ord_size = OrdinalEncoder().fit(train, kSize);
  EXPECT_TRUE(std_ab && mm_c && oh_color && ord_size);

  const auto& steps = fused.steps();
  EXPECT_EQ(steps.size(), 4u);
  if (steps.size() == 4) {
    EXPECT_EQ(steps[0].imputer->to_bytes(), imp_ab->to_bytes());
    EXPECT_EQ(steps[0].scaler->to_bytes(), std_ab->to_bytes());
    EXPECT_FALSE(steps[1].imputer.has_value());
    EXPECT_EQ(steps[1].scaler->to_bytes(), mm_c->to_bytes());
    EXPECT_EQ(steps[2].imputer->to_bytes(), imp_color->to_bytes());
    EXPECT_EQ(steps[2].one_hot->to_bytes(), oh_color->to_bytes());
    EXPECT_EQ(steps[3].ordinal->to_bytes(), ord_size->to_bytes());
  }

  Dataset out = *must(imp_ab->transform(data));
  out = *must(std_ab->transform(out));
  out = *must(mm_c->transform(out));
  out = *must(imp_color->transform(out));
  out = *must(oh_color->transform(out));
  out = *must(ord_size->transform(out));
  return out;
}

FittedColumnTransformer fit_or_die(const ColumnTransformerOptions& options, const Dataset& train) {
  Result<FittedColumnTransformer> fitted = ColumnTransformer(options).fit(train);
  EXPECT_TRUE(fitted.has_value()) << fitted.error().to_string();
  if (!fitted) std::abort();
  return std::move(*fitted);
}

// --- Identities and hand-computed cases ---

TEST(ColumnTransformerTest, TrainingIdentities) {
  const Dataset train = random_data(2000, 1);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), train);
  const Dataset out = *must(fitted.transform(train, {.threads = 2, .block_rows = 300}));
  for (const char* name : {"a", "b"}) {
    const std::vector<double> v = values_of(out, name);
    double sum = 0;
    for (double x : v) sum += x;
    const double mean = sum / static_cast<double>(v.size());
    double squares = 0;
    for (double x : v) squares += (x - mean) * (x - mean);
    EXPECT_NEAR(mean, 0, 1e-12) << name;
    EXPECT_NEAR(squares / static_cast<double>(v.size()), 1, 1e-12) << name;
  }
  const std::vector<double> c = values_of(out, "c");
  EXPECT_EQ(*std::min_element(c.begin(), c.end()), 0);
  EXPECT_EQ(*std::max_element(c.begin(), c.end()), 1);
  // Imputed, so every row has exactly one indicator set: 3 kept categories and "other".
  const std::vector<std::string> indicators = {"color=red", "color=green", "color=blue",
                                               "color=other"};
  for (std::size_t r = 0; r < out.num_rows(); ++r) {
    double sum = 0;
    for (const std::string& name : indicators) sum += out.numeric(*out.find(name), r);
    ASSERT_EQ(sum, 1) << "row " << r;
  }
}

TEST(ColumnTransformerTest, HandComputedSmallCase) {
  const Dataset train = make_or_die(
      {Column::float64("x", {1, kNaN, 3, 5}), Column::categorical("p", {0, 1, -1, 0}, {"u", "v"}),
       Column::float64("keep", {9, 8, 7, 6}), Column::float64("y", {0, 1, 0, 1})},
      "y");
  const ColumnTransformerOptions options{
      .steps = {NumericStep{.impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMean},
                            .scale = MinMaxScalerOptions{}},
                CategoricalStep{.impute =
                                    SimpleImputerOptions{.strategy = ImputeStrategy::kConstant,
                                                         .fill_category = "none"}}},
      .remainder = Remainder::kDrop};
  // Empty columns: every numeric feature (x, keep) resp. categorical feature (p).
  const FittedColumnTransformer fitted = fit_or_die(options, train);
  EXPECT_EQ(fitted.output_columns(),
            (std::vector<std::string>{"x", "p=u", "p=v", "p=none", "keep", "y"}));
  // x: mean 3 fills row 1, range [1, 5]: (x - 1) / 4. keep: range [6, 9].
  const Dataset out = *must(fitted.transform(train));
  EXPECT_EQ(names_of(out), fitted.output_columns());
  EXPECT_EQ(values_of(out, "x"), (std::vector<double>{0, 0.5, 0.5, 1}));
  EXPECT_EQ(values_of(out, "p=u"), (std::vector<double>{1, 0, 0, 1}));
  EXPECT_EQ(values_of(out, "p=v"), (std::vector<double>{0, 1, 0, 0}));
  EXPECT_EQ(values_of(out, "p=none"), (std::vector<double>{0, 0, 1, 0}));
  EXPECT_EQ(values_of(out, "keep"), (std::vector<double>{1, 2.0 / 3, 1.0 / 3, 0}));
  EXPECT_EQ(out.target_name(), "y");
  EXPECT_EQ(values_of(out, "y"), (std::vector<double>{0, 1, 0, 1}));

  // Test data: x 9 extrapolates to 2; a missing p is filled with "none".
  const Dataset test =
      make_or_die({Column::float64("x", {kNaN, 9}), Column::categorical("p", {1, -1}, {"v", "u"}),
                   Column::float64("keep", {6, 9})});
  const Dataset encoded = *must(fitted.transform(test));
  EXPECT_EQ(names_of(encoded), (std::vector<std::string>{"x", "p=u", "p=v", "p=none", "keep"}));
  EXPECT_EQ(encoded.target_name(), "");
  EXPECT_EQ(values_of(encoded, "x"), (std::vector<double>{0.5, 2}));
  EXPECT_EQ(values_of(encoded, "p=u"), (std::vector<double>{1, 0}));
  EXPECT_EQ(values_of(encoded, "p=none"), (std::vector<double>{0, 1}));
}

TEST(ColumnTransformerTest, OrdinalAndKeptOriginalColumns) {
  const Dataset train = make_or_die({Column::categorical("p", {0, 1, -1, 2}, {"u", "v", "w"}),
                                     Column::categorical("q", {1, 0, -1, 1}, {"a", "b"})});
  const FittedColumnTransformer fitted = fit_or_die(
      {.steps = {CategoricalStep{.columns = {"p"}, .encode = OrdinalEncoderOptions{}},
                 CategoricalStep{
                     .columns = {"q"},
                     .impute = SimpleImputerOptions{.strategy = ImputeStrategy::kConstant,
                                                    .fill_category = "z"},
                     .encode = OneHotEncoderOptions{.drop_original = false}}}},
      train);
  const Dataset out = *must(fitted.transform(train));
  EXPECT_EQ(names_of(out), (std::vector<std::string>{"p", "q", "q=a", "q=b", "q=z"}));
  const std::vector<double> p = values_of(out, "p");
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[1], 1);
  EXPECT_TRUE(std::isnan(p[2]));
  EXPECT_EQ(p[3], 2);
  // The kept original is the imputed column, "z" appended to its dictionary.
  const Column& q = out.column(1);
  EXPECT_EQ(q.categories(), (std::vector<std::string>{"a", "b", "z"}));
  EXPECT_EQ(std::vector<std::int32_t>(q.codes().begin(), q.codes().end()),
            (std::vector<std::int32_t>{1, 0, 2, 1}));
  EXPECT_EQ(values_of(out, "q=z"), (std::vector<double>{0, 0, 1, 0}));
}

// --- Equality with the standalone transforms, threads, views ---

TEST(ColumnTransformerTest, EqualsTheChainedStandaloneTransformsBitForBit) {
  const Dataset data = random_data(3000, 2);
  std::vector<std::uint32_t> train_rows;
  std::vector<std::uint32_t> test_rows;
  for (std::uint32_t r = 0; r < 3000; ++r) (r % 4 == 3 ? test_rows : train_rows).push_back(r);
  const Dataset train = data.take(train_rows);
  const Dataset test = data.take(test_rows);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), train);
  for (const Dataset& part : {train, test, test.materialize(), data}) {
    const Dataset want = chained(train, part, fitted);
    expect_bit_identical(*must(fitted.transform(part)), want);
    expect_bit_identical(*must(fitted.transform(part, {.threads = 3, .block_rows = 64})), want);
    expect_bit_identical(*must(fitted.transform(
                             part, {.threads = 3, .block_rows = 64, .stores = Stores::kStreaming})),
                         want);
  }
}

// Switches the wide (AVX2) kernels of the streaming pass off while it lives, so that the 16-byte
// path is checked on any CPU.
class WideKernels {
 public:
  explicit WideKernels(bool enabled) : was_(detail::wide_kernels_enabled().exchange(enabled)) {}
  WideKernels(const WideKernels&) = delete;
  WideKernels& operator=(const WideKernels&) = delete;
  ~WideKernels() { detail::wide_kernels_enabled().store(was_); }

 private:
  bool was_;
};

// Every step kind the pass has: impute only (a), impute + scale of float32 (b), scale only (c),
// impute + one-hot with an "other" bucket (color), ordinal (size); id passes through.
ColumnTransformerOptions every_kind_options() {
  return {.steps = {NumericStep{.columns = {"a"},
                                .impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMean}},
                    NumericStep{.columns = {"b"},
                                .impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMedian},
                                .scale = StandardScalerOptions{}},
                    NumericStep{.columns = {"c"}, .scale = RobustScalerOptions{}},
                    CategoricalStep{
                        .columns = {"color"},
                        .impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMostFrequent},
                        .encode = OneHotEncoderOptions{.max_categories = 4}},
                    CategoricalStep{.columns = {"size"}, .encode = OrdinalEncoderOptions{}}}};
}

class ColumnTransformerThreadsTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(ColumnTransformerThreadsTest, ResultDoesNotDependOnThreadsOrBlocks) {
  const Dataset data = random_data(5000, 3);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data.slice(0, 4000));
  for (const Dataset& part : {data, data.slice(1000, 5000),
                              data.take(std::vector<std::uint32_t>{4999, 3, 3, 2500, 0, 17})}) {
    const Dataset want = *must(fitted.transform(part));
    for (std::size_t block : {1, 7, 256, 100000}) {
      expect_bit_identical(
          *must(fitted.transform(part, {.threads = GetParam(), .block_rows = block})), want);
    }
  }
}

TEST_P(ColumnTransformerThreadsTest, ReportsTheFirstUnknownCategoryInRowOrder) {
  const Dataset train = random_data(200, 4);
  const FittedColumnTransformer fitted = fit_or_die(
      {.steps = {CategoricalStep{.columns = {"size"}}, CategoricalStep{.columns = {"color"}}}},
      train);
  // Unknown categories at rows 900 ("size"), 40 ("color") and 40 ("size"), 3000 ("color").
  std::vector<std::int32_t> size(4000, 0);
  std::vector<std::int32_t> color(4000, 1);
  size[900] = 3;
  color[40] = 6;
  size[40] = 3;
  color[3000] = 6;
  const Dataset test = make_or_die(
      {Column::float64("a", std::vector<double>(4000, 1)),
       Column::float32("b", std::vector<float>(4000, 1)),
       Column::categorical("color", color, {"red", "green", "blue", "cyan", "gray", "pink", "new"}),
       Column::float64("c", std::vector<double>(4000, 1)),
       Column::float64("id", std::vector<double>(4000, 1)),
       Column::categorical("size", size, {"s", "m", "l", "xl"})});
  for (std::size_t block : {1, 16, 1000}) {
    Result<Dataset> out = fitted.transform(test, {.threads = GetParam(), .block_rows = block});
    ASSERT_FALSE(out.has_value());
    // Row 40, and within it the first column in output order: color.
    EXPECT_EQ(out.error().message(),
              "FittedColumnTransformer::transform: column 'color', row 40: category 'new' did not "
              "occur in the training data; refit on data that holds it, or use "
              "OneHotEncoderOptions::Unknown::kIgnore (in a workflow file: unknown: ignore)");
  }
  // A view numbers rows as the view does.
  Result<Dataset> view =
      fitted.transform(test.slice(500, 4000), {.threads = GetParam(), .block_rows = 32});
  ASSERT_FALSE(view.has_value());
  EXPECT_NE(view.error().message().find("column 'size', row 400: category 'xl'"), std::string::npos)
      << view.error().message();
}

// The addresses of the float64 columns of `out` that `input` does not hold: those the transform
// wrote.
std::vector<const double*> written_buffers(const Dataset& out, const Dataset& input) {
  std::vector<const double*> input_buffers;
  for (std::size_t i = 0; i < input.num_columns(); ++i) {
    if (input.column(i).type() == ColumnType::kFloat64) {
      input_buffers.push_back(input.column(i).float64().data());
    }
  }
  std::vector<const double*> written;
  for (std::size_t i = 0; i < out.num_columns(); ++i) {
    if (out.column(i).type() != ColumnType::kFloat64) continue;
    const double* data = out.column(i).float64().data();
    if (std::find(input_buffers.begin(), input_buffers.end(), data) == input_buffers.end()) {
      written.push_back(data);
    }
  }
  std::sort(written.begin(), written.end());
  return written;
}

TEST_P(ColumnTransformerThreadsTest, TransformIntoReusesItsOutputAndEqualsTransform) {
  const Dataset data = random_data(5000, 3);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data.slice(0, 4000));
  const ColumnTransformOptions options{.threads = GetParam(), .block_rows = 256};
  Dataset out;
  std::vector<const double*> previous;
  std::size_t previous_rows = 0;
  // Different inputs and row counts, views and not, one after the other into the same output.
  for (const Dataset& part :
       {data, random_data(5000, 9), data.slice(1000, 5000), data.slice(0, 4000),
        data.take(std::vector<std::uint32_t>{4999, 3, 3, 2500, 0, 17}), random_data(5000, 10),
        random_data(5000, 11)}) {
    ASSERT_TRUE(fitted.transform_into(part, out, options).ok());
    expect_bit_identical(out, *must(fitted.transform(part)));
    const std::vector<const double*> written = written_buffers(out, part);
    // a, b, c, 4 indicators of color, size; and, for a view, the gathered id and t.
    EXPECT_EQ(written.size(), part.is_view() ? 10u : 8u);
    if (part.num_rows() == previous_rows) {
      EXPECT_EQ(written, previous) << "same row count: every float64 buffer is reused";
    }
    previous = written;
    previous_rows = part.num_rows();
  }
}

TEST_P(ColumnTransformerThreadsTest, TransformIntoNeverWritesOverSharedColumns) {
  const Dataset data = random_data(3000, 12);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data);
  const ColumnTransformOptions options{.threads = GetParam(), .block_rows = 128};
  const Dataset first = random_data(3000, 13);
  const Dataset second = random_data(3000, 14);
  const Dataset want_first = *must(fitted.transform(first));
  const Dataset want_second = *must(fitted.transform(second));

  // A copy of the whole output: nothing of it may be reused.
  Dataset out;
  ASSERT_TRUE(fitted.transform_into(first, out, options).ok());
  const Dataset copy = out;
  ASSERT_TRUE(fitted.transform_into(second, out, options).ok());
  expect_bit_identical(copy, want_first);
  expect_bit_identical(out, want_second);
  for (const double* p : written_buffers(out, second)) {
    const std::vector<const double*> kept = written_buffers(copy, first);
    EXPECT_EQ(std::find(kept.begin(), kept.end(), p), kept.end());
  }

  // A view of the output shares it as a whole.
  ASSERT_TRUE(fitted.transform_into(first, out, options).ok());
  const Dataset view = out.slice(10, 20);
  ASSERT_TRUE(fitted.transform_into(second, out, options).ok());
  expect_bit_identical(view, want_first.slice(10, 20));
  expect_bit_identical(out, want_second);

  // One column kept: only that one is left alone, the others are reused.
  ASSERT_TRUE(fitted.transform_into(first, out, options).ok());
  const std::vector<const double*> before = written_buffers(out, first);
  const Column kept = out.column(*out.find("color=red"));
  ASSERT_TRUE(fitted.transform_into(second, out, options).ok());
  expect_bit_identical(out, want_second);
  const Column& want_kept = want_first.column(*want_first.find("color=red"));
  for (std::size_t r = 0; r < kept.size(); ++r) {
    ASSERT_EQ(kept.float64()[r], want_kept.float64()[r]) << "row " << r;
  }
  const std::vector<const double*> after = written_buffers(out, second);
  EXPECT_EQ(std::find(after.begin(), after.end(), kept.float64().data()), after.end());
  std::size_t reused = 0;
  for (const double* p : after) reused += std::count(before.begin(), before.end(), p);
  EXPECT_EQ(reused, before.size() - 1);
}

TEST_P(ColumnTransformerThreadsTest, StreamingStoresWriteTheBitsOfOrdinaryStores) {
  const Dataset data = random_data(5003, 21);
  for (const ColumnTransformerOptions& steps : {mixed_options(), every_kind_options()}) {
    const FittedColumnTransformer fitted = fit_or_die(steps, data.slice(0, 4000));
    // Whole, a view starting at an odd row (rows gathered), rows picked out of order.
    for (const Dataset& part :
         {data, data.slice(1, 5003), data.take(std::vector<std::uint32_t>{5002, 3, 3, 2500, 0})}) {
      const Dataset want = *must(fitted.transform(part, {.threads = 1, .stores = Stores::kCached}));
      // Odd block sizes start blocks at rows that are not on a 16- or 32-byte boundary.
      for (std::size_t block : {1, 7, 13, 256, 100000}) {
        for (bool wide : {true, false}) {
          const WideKernels kernels(wide);
          const ColumnTransformOptions options{
              .threads = GetParam(), .block_rows = block, .stores = Stores::kStreaming};
          expect_bit_identical(*must(fitted.transform(part, options)), want);
          Dataset out;
          ASSERT_TRUE(fitted.transform_into(part, out, options).ok());
          ASSERT_TRUE(fitted.transform_into(part, out, options).ok());  // into reused buffers
          expect_bit_identical(out, want);
        }
      }
    }
  }
}

TEST_P(ColumnTransformerThreadsTest, StreamingStoresReportTheRowOfAnUnknownCategory) {
  const Dataset train = random_data(200, 4);
  const FittedColumnTransformer fitted =
      fit_or_die({.steps = {NumericStep{.columns = {"a"}, .scale = StandardScalerOptions{}},
                            CategoricalStep{.columns = {"size"}}},
                  .remainder = Remainder::kDrop},
                 train);
  // One unknown size per test set, at every position within the eight rows the wide kernels
  // read at once, and across their boundaries.
  for (std::size_t row : {0, 1, 3, 7, 8, 9, 15, 16, 2047, 2048, 2051, 4999}) {
    std::vector<std::int32_t> size(5000, 1);
    size[row] = 3;
    const Dataset test = make_or_die({Column::float64("a", std::vector<double>(5000, 2)),
                                      Column::categorical("size", size, {"s", "m", "l", "xl"})});
    for (std::size_t block : {5, 4096}) {
      for (Stores stores : {Stores::kCached, Stores::kStreaming}) {
        for (bool wide : {true, false}) {
          const WideKernels kernels(wide);
          Result<Dataset> out = fitted.transform(
              test, {.threads = GetParam(), .block_rows = block, .stores = stores});
          ASSERT_FALSE(out.has_value());
          EXPECT_NE(out.error().message().find("column 'size', row " + std::to_string(row) +
                                               ": category 'xl'"),
                    std::string::npos)
              << out.error().message();
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, ColumnTransformerThreadsTest, ::testing::Values(1u, 2u, 4u, 8u));

TEST(ColumnTransformerTest, OutputsLargerThanTheCachesAreStillBitIdentical) {
  // 1 200 000 rows x 8 computed float64 columns: 77 MB, buffers mapped on their own (2 MiB and
  // more); an odd block size starts blocks at odd rows.
  const Dataset data = random_data(1200000, 17);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data.slice(0, 2000));
  const Dataset want = chained(data.slice(0, 2000), data, fitted);
  expect_bit_identical(*must(fitted.transform(data)), want);
  Dataset out;
  for (const ColumnTransformOptions options :
       {ColumnTransformOptions{.threads = 3, .block_rows = 4097},
        ColumnTransformOptions{.threads = 2, .block_rows = 16384},
        ColumnTransformOptions{.threads = 2, .block_rows = 16384, .stores = Stores::kCached},
        ColumnTransformOptions{.threads = 3, .block_rows = 4097, .stores = Stores::kStreaming}}) {
    ASSERT_TRUE(fitted.transform_into(data, out, options).ok());
    expect_bit_identical(out, want);
  }
}

TEST(ColumnTransformerTest, TransformIntoItsOwnInput) {
  const Dataset data = random_data(500, 15);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data);
  const Dataset want = *must(fitted.transform(data));
  Dataset in_and_out = random_data(500, 15);
  ASSERT_TRUE(fitted.transform_into(in_and_out, in_and_out, {.threads = 2}).ok());
  expect_bit_identical(in_and_out, want);
}

TEST(ColumnTransformerTest, TransformIntoFailures) {
  const Dataset data = random_data(500, 16);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data);
  Dataset out;
  ASSERT_TRUE(fitted.transform_into(data, out).ok());
  const Dataset want = *must(fitted.transform(data));
  // Found before the pass: `out` is unchanged.
  EXPECT_EQ(fitted.transform_into(data, out, {.threads = 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fitted.transform_into(*data.select_columns(kAB), out).code(), StatusCode::kNotFound);
  expect_bit_identical(out, want);
  // An unknown category found by the pass: `out` is empty.
  const FittedColumnTransformer strict =
      fit_or_die({.steps = {CategoricalStep{.columns = {"size"}}}}, data);
  ASSERT_TRUE(strict.transform_into(data, out).ok());
  std::vector<std::int32_t> size(500, 0);
  size[7] = 3;
  const Dataset unknown = make_or_die({Column::float64("a", std::vector<double>(500, 1)),
                                       Column::float32("b", std::vector<float>(500, 1)),
                                       data.column(*data.find("color")),
                                       Column::float64("c", std::vector<double>(500, 1)),
                                       Column::float64("id", std::vector<double>(500, 1)),
                                       Column::categorical("size", size, {"s", "m", "l", "xl"})});
  const Status status = strict.transform_into(unknown, out, {.threads = 2, .block_rows = 64});
  EXPECT_NE(status.message().find("column 'size', row 7: category 'xl'"), std::string::npos)
      << status.message();
  EXPECT_EQ(out.num_columns(), 0u);
  EXPECT_EQ(out.num_rows(), 0u);
}

TEST(ColumnTransformerTest, TransformsViewsAtTheirRowsOnly) {
  const Dataset data = random_data(100, 5);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data);
  const std::vector<std::uint32_t> rows = {99, 0, 50, 50, 7};
  const Dataset view = data.take(rows);
  const Dataset out = *must(fitted.transform(view, {.threads = 2, .block_rows = 2}));
  EXPECT_EQ(out.num_rows(), rows.size());
  EXPECT_FALSE(out.is_view());
  for (std::size_t i = 0; i < out.num_columns(); ++i) {
    EXPECT_EQ(out.column(i).size(), rows.size()) << out.column(i).name();
  }
  expect_bit_identical(out, *must(fitted.transform(view.materialize())));
}

TEST(ColumnTransformerTest, SharesUnchangedColumnsOfADatasetThatIsNotAView) {
  const Dataset data = random_data(100, 6);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data);
  const Dataset out = *must(fitted.transform(data));
  EXPECT_EQ(out.column(*out.find("id")).float64().data(),
            data.column(*data.find("id")).float64().data());
  EXPECT_EQ(out.column(*out.find("t")).float64().data(),
            data.column(*data.find("t")).float64().data());
  EXPECT_EQ(out.target_name(), "t");
}

// --- Remainder ---

TEST(ColumnTransformerTest, RemainderPassesThroughOrDrops) {
  const Dataset data = random_data(50, 7);
  ColumnTransformerOptions options{
      .steps = {NumericStep{.columns = {"c"}, .scale = StandardScalerOptions{}}}};
  const FittedColumnTransformer pass = fit_or_die(options, data);
  EXPECT_EQ(pass.output_columns(),
            (std::vector<std::string>{"a", "b", "color", "c", "id", "size", "t"}));
  const Dataset kept = *must(pass.transform(data));
  EXPECT_EQ(names_of(kept), pass.output_columns());
  EXPECT_EQ(kept.column(1).type(), ColumnType::kFloat32);  // unchanged, not widened
  EXPECT_EQ(kept.column(2).codes().data(), data.column(2).codes().data());

  options.remainder = Remainder::kDrop;
  const FittedColumnTransformer drop = fit_or_die(options, data);
  EXPECT_EQ(drop.output_columns(), (std::vector<std::string>{"c", "t"}));
  const Dataset dropped = *must(drop.transform(data.slice(10, 20)));
  EXPECT_EQ(names_of(dropped), (std::vector<std::string>{"c", "t"}));
  EXPECT_EQ(dropped.target_name(), "t");
  EXPECT_EQ(dropped.num_rows(), 10u);

  // Dropped columns need not be present; columns unknown at fit time are left out.
  const Dataset fewer = make_or_die({Column::float64("c", {1, 2}), Column::float64("new", {3, 4})});
  EXPECT_EQ(names_of(*must(drop.transform(fewer))), (std::vector<std::string>{"c"}));
  Result<Dataset> missing = pass.transform(fewer);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.error().message().find("'a'"), std::string::npos);
}

TEST(ColumnTransformerTest, WithoutStepsIsTheIdentity) {
  const Dataset data = random_data(20, 8);
  const FittedColumnTransformer fitted = fit_or_die({}, data);
  expect_bit_identical(*must(fitted.transform(data)), data);
  const std::vector<std::uint32_t> rows = {3, 1};
  expect_bit_identical(*must(fitted.transform(data.take(rows))), data.take(rows).materialize());
}

// --- Errors ---

TEST(ColumnTransformerTest, FitErrorsNameTheColumnAndStep) {
  const Dataset data = random_data(20, 9);
  const auto fit_error = [&](const ColumnTransformerOptions& options) {
    Result<FittedColumnTransformer> fitted = ColumnTransformer(options).fit(data);
    EXPECT_FALSE(fitted.has_value());
    return fitted ? Status() : fitted.error();
  };
  Status twice =
      fit_error({.steps = {NumericStep{.columns = {"a", "c"}}, NumericStep{.columns = {"c"}}}});
  EXPECT_EQ(twice.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(twice.message(),
            "ColumnTransformer: column 'c' is in step 0 and in step 1; a column may be in one "
            "step only");
  // An empty list selects every numeric feature, which overlaps a named one.
  EXPECT_NE(
      fit_error({.steps = {NumericStep{}, NumericStep{.columns = {"a"}}}}).message().find("'a'"),
      std::string::npos);
  Status numeric = fit_error({.steps = {CategoricalStep{.columns = {"c"}}}});
  EXPECT_NE(numeric.message().find("step 0: column 'c' is float64"), std::string::npos)
      << numeric.message();
  Status categorical = fit_error({.steps = {NumericStep{.columns = {"color"}}}});
  EXPECT_NE(categorical.message().find("'color' is categorical"), std::string::npos);
  Status target = fit_error({.steps = {NumericStep{.columns = {"t"}}}});
  EXPECT_NE(target.message().find("'t' is the target"), std::string::npos);
  Status unknown = fit_error({.steps = {NumericStep{.columns = {"zz"}}}});
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  Status mean = fit_error({.steps = {CategoricalStep{.impute = SimpleImputerOptions{
                                                         .strategy = ImputeStrategy::kMean}}}});
  EXPECT_EQ(mean.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mean.message().find("ColumnTransformer: step 0: SimpleImputer: column 'color'"),
            std::string::npos)
      << mean.message();
  Status range =
      fit_error({.steps = {NumericStep{.scale = MinMaxScalerOptions{.min = 1, .max = 0}}}});
  EXPECT_NE(range.message().find("MinMaxScaler"), std::string::npos);

  // Output names collide: "p=u" exists, and one-hot of p makes it again.
  const Dataset clash =
      make_or_die({Column::categorical("p", {0, 1}, {"u", "v"}), Column::float64("p=u", {1, 2})});
  Result<FittedColumnTransformer> collision =
      ColumnTransformer({.steps = {CategoricalStep{.columns = {"p"}}}}).fit(clash);
  ASSERT_FALSE(collision.has_value());
  EXPECT_NE(collision.error().message().find("the column 'p=u' has the name of the output column "
                                             "'p=u' of column 'p'"),
            std::string::npos)
      << collision.error().message();
  // Dropping the clashing remainder column resolves it.
  EXPECT_TRUE(ColumnTransformer(
                  {.steps = {CategoricalStep{.columns = {"p"}}}, .remainder = Remainder::kDrop})
                  .fit(clash)
                  .has_value());
}

TEST(ColumnTransformerTest, TransformErrorsMatchTheStandaloneTransforms) {
  const Dataset train = random_data(50, 10);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), train);

  Result<Dataset> zero = fitted.transform(train, {.threads = 0});
  ASSERT_FALSE(zero.has_value());
  EXPECT_NE(zero.error().message().find("threads is 0"), std::string::npos);
  EXPECT_FALSE(fitted.transform(train, {.block_rows = 0}).has_value());

  Result<Dataset> no_a = fitted.transform(*train.select_columns(std::vector<std::string>{"b"}));
  ASSERT_FALSE(no_a.has_value());
  EXPECT_EQ(no_a.error().code(), StatusCode::kNotFound);
  EXPECT_NE(no_a.error().message().find("no column 'a'"), std::string::npos);

  // "size" numeric where it was fitted as categorical, and "a" categorical.
  Dataset wrong =
      make_or_die({Column::float64("a", {1}), Column::float32("b", {1}),
                   Column::categorical("color", {0}, {"red"}), Column::float64("c", {1}),
                   Column::float64("id", {1}), Column::float64("size", {1})});
  Result<Dataset> kind = fitted.transform(wrong);
  ASSERT_FALSE(kind.has_value());
  EXPECT_EQ(kind.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kind.error().message(),
            "FittedColumnTransformer::transform: column 'size' is float64 but was fitted as "
            "categorical");

  // An unknown category: the standalone encoder's message, from the transformer.
  const Dataset test = make_or_die({Column::float64("a", {1, 2}), Column::float32("b", {1, 2}),
                                    Column::categorical("color", {0, 0}, {"red"}),
                                    Column::float64("c", {1, 2}), Column::float64("id", {1, 2}),
                                    Column::categorical("size", {0, 1}, {"s", "huge"})});
  Result<Dataset> unknown = fitted.transform(test);
  ASSERT_FALSE(unknown.has_value());
  Result<FittedOrdinalEncoder> alone = OrdinalEncoder().fit(train, kSize);
  Result<Dataset> standalone = alone->transform(test);
  ASSERT_FALSE(standalone.has_value());
  std::string expected = standalone.error().message();
  expected.replace(0, std::string("FittedOrdinalEncoder").size(), "FittedColumnTransformer");
  EXPECT_EQ(unknown.error().message(), expected);
  EXPECT_EQ(unknown.error().code(), standalone.error().code());
  EXPECT_NE(expected.find("column 'size', row 1: category 'huge'"), std::string::npos);
}

TEST(ColumnTransformerTest, UnknownPoliciesIgnoreOrUseMissing) {
  const Dataset train = make_or_die(
      {Column::categorical("p", {0, 1}, {"u", "v"}), Column::categorical("q", {0, 1}, {"u", "v"})});
  const FittedColumnTransformer fitted = fit_or_die(
      {.steps = {CategoricalStep{
                     .columns = {"p"},
                     .encode =
                         OneHotEncoderOptions{.unknown = OneHotEncoderOptions::Unknown::kIgnore}},
                 CategoricalStep{.columns = {"q"},
                                 .encode =
                                     OrdinalEncoderOptions{
                                         .unknown = OrdinalEncoderOptions::Unknown::kUseMissing}}}},
      train);
  const Dataset test = make_or_die(
      {Column::categorical("p", {0, 1}, {"w", "v"}), Column::categorical("q", {0, 1}, {"w", "v"})});
  const Dataset out = *must(fitted.transform(test));
  EXPECT_EQ(values_of(out, "p=u"), (std::vector<double>{0, 0}));
  EXPECT_EQ(values_of(out, "p=v"), (std::vector<double>{0, 1}));
  const std::vector<double> q = values_of(out, "q");
  EXPECT_TRUE(std::isnan(q[0]));
  EXPECT_EQ(q[1], 1);
}

// --- Serialisation and leakage ---

TEST(ColumnTransformerTest, BytesRoundTripBitExactlyAndRejectEveryCorruption) {
  const Dataset data = random_data(300, 11);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), data);
  const std::string bytes = fitted.to_bytes();
  Result<FittedColumnTransformer> back = FittedColumnTransformer::from_bytes(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->to_bytes(), bytes);
  EXPECT_EQ(back->output_columns(), fitted.output_columns());
  EXPECT_EQ(back->input_columns(), fitted.input_columns());
  EXPECT_EQ(back->target_name(), "t");
  EXPECT_EQ(back->remainder(), Remainder::kPassthrough);
  const Dataset test = random_data(100, 12);
  expect_bit_identical(*must(back->transform(test)), *must(fitted.transform(test)));
  expect_every_corruption_rejected<FittedColumnTransformer>(bytes, 0x01);
  expect_every_corruption_rejected<FittedColumnTransformer>(bytes, 0x80);

  const FittedColumnTransformer drop =
      fit_or_die({.steps = {NumericStep{.columns = {"a"}}}, .remainder = Remainder::kDrop}, data);
  Result<FittedColumnTransformer> drop_back = FittedColumnTransformer::from_bytes(drop.to_bytes());
  ASSERT_TRUE(drop_back.has_value());
  EXPECT_EQ(drop_back->remainder(), Remainder::kDrop);
  EXPECT_EQ(drop_back->output_columns(), (std::vector<std::string>{"a", "t"}));
  EXPECT_FALSE(FittedColumnTransformer::from_bytes("TFCOLTRF").has_value());
}

TEST(ColumnTransformerTest, FitsOnTrainingRowsOnlyAndTransformLeavesTheStateAlone) {
  const Dataset data = random_data(1000, 13);
  const Dataset train = data.slice(0, 600);
  const Dataset test = data.slice(600, 1000);
  const FittedColumnTransformer fitted = fit_or_die(mixed_options(), train);
  const FittedColumnTransformer on_copy = fit_or_die(mixed_options(), train.materialize());
  EXPECT_EQ(fitted.to_bytes(), on_copy.to_bytes());
  const FittedColumnTransformer on_all = fit_or_die(mixed_options(), data);
  EXPECT_NE(fitted.to_bytes(), on_all.to_bytes());

  const std::string before = fitted.to_bytes();
  const Dataset first = *must(fitted.transform(test, {.threads = 4, .block_rows = 50}));
  EXPECT_EQ(fitted.to_bytes(), before);
  expect_bit_identical(*must(fitted.transform(test)), first);
  // The training rows alone standardise to mean 0; the test rows do not, in general.
  const std::vector<double> a = values_of(first, "a");
  double sum = 0;
  for (double x : a) sum += x;
  EXPECT_GT(std::abs(sum / static_cast<double>(a.size())), 1e-6);
}

}  // namespace
}  // namespace trainflow::ml

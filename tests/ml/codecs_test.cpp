// The codecs register_ml_stages() declares, through which stage outputs are cached: each value
// comes back equal, equal values give equal bytes, and damaged bytes are refused.
#include <utility>

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "testing/ml.hpp"
#include "trainflow/ml/column_transformer.hpp"
#include "trainflow/ml/logistic.hpp"
#include "trainflow/ml/stages.hpp"
#include "trainflow/ml/synthetic.hpp"
#include "trainflow/registry/registry.hpp"

namespace trainflow::ml {
namespace {

template <class T>
std::shared_ptr<const Codec> codec_of() {
  std::shared_ptr<const Codec> codec = default_registry().codec(type_id<T>());
  EXPECT_NE(codec, nullptr);
  return codec;
}

// The decoded value. REQUIRES (asserted): decoding succeeds.
template <class T>
T round_trip(const T& value) {
  const std::shared_ptr<const Codec> codec = codec_of<T>();
  const std::string bytes = codec->encode(Value::make(T(value)));
  EXPECT_EQ(bytes, codec->encode(Value::make(T(value)))) << "encoding is not deterministic";
  Result<Value> back = codec->decode(bytes);
  if (!back) {
    ADD_FAILURE() << back.error().message();
    return value;
  }
  return back->get<T>();
}

Dataset table() {
  const std::vector<std::optional<std::string>> categories = {"a", std::nullopt, "b",
                                                              "a,\"quoted\""};
  return make_or_die(
      {Column::float64("x", {1.5, std::numeric_limits<double>::quiet_NaN(), -0.0, 1e300}),
       Column::float32("f", {1.0F, 2.0F, 3.0F, 4.0F}), Column::categorical_from("c", categories),
       Column::float64("y", {0, 1, 0, 1})},
      "y");
}

TEST(MlCodecsTest, DatasetRoundTripsBitForBitAndViewsEqualTheirCopies) {
  const Dataset ds = table();
  EXPECT_TRUE(round_trip(ds) == ds);
  const std::vector<std::uint32_t> rows = {3, 1};
  const Dataset view = ds.take(rows);
  const Dataset back = round_trip(view);
  EXPECT_FALSE(back.is_view());
  EXPECT_TRUE(back == view.materialize());
  EXPECT_EQ(back.target_name(), "y");
  const std::shared_ptr<const Codec> codec = codec_of<Dataset>();
  EXPECT_EQ(codec->encode(Value::make(view)), codec->encode(Value::make(view.materialize())));
}

TEST(MlCodecsTest, EmptyDatasetRoundTrips) {
  const Dataset ds = table();
  const Dataset none = ds.slice(0, 0);  // every column empty: no buffer behind them
  Result<Dataset> back = Dataset::from_bytes(none.to_bytes());
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->num_rows(), 0u);
  EXPECT_EQ(back->num_columns(), ds.num_columns());
  EXPECT_TRUE(*back == none.materialize());
}

TEST(MlCodecsTest, DatasetBytesEqualTheSavedFile) {
  const Dataset ds = table();
  Result<Dataset> back = Dataset::from_bytes(ds.to_bytes());
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_TRUE(*back == ds);
  const std::string bytes = ds.to_bytes();
  for (std::size_t i = 0; i < bytes.size(); i += 7) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x20);
    const Result<Dataset> bad = Dataset::from_bytes(flipped);
    ASSERT_FALSE(bad.has_value()) << "flipped byte " << i;
    EXPECT_NE(bad.error().message().find("dataset bytes"), std::string::npos);
  }
  for (std::size_t n = 0; n < bytes.size(); n += 5) {
    EXPECT_FALSE(Dataset::from_bytes(std::string_view(bytes).substr(0, n)).has_value()) << n;
  }
}

TEST(MlCodecsTest, MetricsRoundTripIncludingNaNAndRejectDamage) {
  const Metrics m = {{"accuracy", 0.75},
                     {"roc_auc", std::numeric_limits<double>::quiet_NaN()},
                     {"log_loss", 0.1 + 0.2}};
  const Metrics back = round_trip(m);
  ASSERT_EQ(back.size(), m.size());
  for (const auto& [name, value] : m) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back.at(name)), std::bit_cast<std::uint64_t>(value));
  }
  const std::shared_ptr<const Codec> codec = codec_of<Metrics>();
  const std::string bytes = codec->encode(Value::make(m));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(codec->decode(std::string_view(bytes).substr(0, n)).has_value()) << n;
  }
  EXPECT_FALSE(codec->decode(bytes + "x").has_value());
  EXPECT_TRUE(round_trip(Metrics{}).empty());
}

TEST(MlCodecsTest, IntsRoundTrip) {
  EXPECT_EQ(round_trip<std::int64_t>(-42), -42);
  EXPECT_EQ(round_trip<std::int64_t>(std::numeric_limits<std::int64_t>::min()),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_FALSE(codec_of<std::int64_t>()->decode("1234567").has_value());
}

TEST(MlCodecsTest, ModelsAndFittedTransformsRoundTrip) {
  Result<SyntheticData> synth =
      make_synthetic({.rows = 200, .categorical_features = 1, .missing_rate = 0.1, .seed = 3});
  ASSERT_TRUE(synth.has_value());
  ColumnTransformer transformer(
      {.steps = {NumericStep{.impute = SimpleImputerOptions{}, .scale = StandardScalerOptions{}},
                 CategoricalStep{
                     .impute = SimpleImputerOptions{.strategy = ImputeStrategy::kMostFrequent}}}});
  Result<FittedColumnTransformer> fitted = transformer.fit(synth->data);
  ASSERT_TRUE(fitted.has_value()) << fitted.error().message();
  const FittedColumnTransformer fitted_back = round_trip(*fitted);
  EXPECT_EQ(fitted_back.to_bytes(), fitted->to_bytes());

  Result<Dataset> features = fitted->transform(synth->data);
  ASSERT_TRUE(features.has_value());
  Result<LogisticModel> model = fit_logistic_regression(*features);
  ASSERT_TRUE(model.has_value());
  const ModelPtr ptr = std::make_shared<LogisticModel>(std::move(*model));
  const ModelPtr back = round_trip(ptr);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->to_bytes(), ptr->to_bytes());
  EXPECT_EQ(back->kind(), ptr->kind());
}

TEST(MlCodecsTest, EveryBuiltInOutputTypeExceptFoldsHasACodec) {
  for (const StageType* type : default_registry().types()) {
    for (const PortDecl& port : type->outputs) {
      if (default_registry().type_name(port.type) == "folds") continue;
      EXPECT_NE(default_registry().codec(port.type), nullptr)
          << type->name << "." << port.name << " (" << default_registry().type_name(port.type)
          << ")";
    }
  }
}

}  // namespace
}  // namespace trainflow::ml

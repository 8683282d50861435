#include "trainflow/ml/linear.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "testing/ml.hpp"
#include "trainflow/ml/metrics.hpp"
#include "trainflow/ml/synthetic.hpp"

namespace trainflow::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

LinearModel fit_or_die(const Dataset& ds, const LinearRegressionOptions& options = {}) {
  Result<LinearModel> model = fit_linear_regression(ds, options);
  EXPECT_TRUE(model.has_value()) << model.error().to_string();
  return model.value_or(LinearModel({}, {}, 0, 0));
}

std::vector<double> predict_or_die(const LinearModel& model, const Dataset& ds) {
  Result<std::vector<double>> y = model.predict_values(ds);
  EXPECT_TRUE(y.has_value()) << y.error().to_string();
  return y.value_or(std::vector<double>());
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// y = 2 x1 - 3 x2 + 5, no noise.
Dataset exact_plane() {
  const std::vector<double> x1{1, 2, 3, 4, 5, -1};
  const std::vector<double> x2{0, 1, 1, 3, -2, 4};
  std::vector<double> y;
  for (std::size_t i = 0; i < x1.size(); ++i) y.push_back(2 * x1[i] - 3 * x2[i] + 5);
  return make_or_die(
      {Column::float64("x1", x1), Column::float64("x2", x2), Column::float64("y", y)}, "y");
}

TEST(LinearRegressionTest, RecoversExactWeightsAndIntercept) {
  const LinearModel model = fit_or_die(exact_plane());
  ASSERT_EQ(model.feature_names(), (std::vector<std::string>{"x1", "x2"}));
  ASSERT_EQ(model.weights().size(), 2u);
  EXPECT_NEAR(model.weights()[0], 2.0, 1e-10);
  EXPECT_NEAR(model.weights()[1], -3.0, 1e-10);
  EXPECT_NEAR(model.intercept(), 5.0, 1e-10);
  EXPECT_EQ(model.rank(), 2u);
}

TEST(LinearRegressionTest, RidgeMatchesClosedForm) {
  const std::vector<double> x1{1, 2, 3, 4}, x2{2, 1, 4, 3}, y{1, 3, 2, 5};
  const Dataset ds = make_or_die(
      {Column::float64("x1", x1), Column::float64("x2", x2), Column::float64("y", y)}, "y");
  const double l2 = 0.5;
  const LinearModel model = fit_or_die(ds, {.l2 = l2});

  // Closed form: centre, then invert the 2x2 matrix [[a + l2, b], [b, c + l2]] by hand.
  const double m1 = 2.5, m2 = 2.5, my = 2.75;
  double a = 0, b = 0, c = 0, s1 = 0, s2 = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const double u = x1[i] - m1, v = x2[i] - m2, t = y[i] - my;
    a += u * u;
    b += u * v;
    c += v * v;
    s1 += u * t;
    s2 += v * t;
  }
  const double det = (a + l2) * (c + l2) - b * b;
  const double w1 = ((c + l2) * s1 - b * s2) / det;
  const double w2 = (-b * s1 + (a + l2) * s2) / det;
  ASSERT_EQ(model.weights().size(), 2u);
  EXPECT_NEAR(model.weights()[0], w1, 1e-12);
  EXPECT_NEAR(model.weights()[1], w2, 1e-12);
  EXPECT_NEAR(model.intercept(), my - m1 * w1 - m2 * w2, 1e-12);
  // The ridge solution differs from least squares here, so the penalty was applied.
  const double ols1 = (c * s1 - b * s2) / (a * c - b * b);
  EXPECT_GT(std::abs(model.weights()[0] - ols1), 1e-3);

  // Normal-equation residual (Xc^T Xc + l2 I) w - Xc^T yc of the fitted weights.
  const double wf1 = model.weights()[0], wf2 = model.weights()[1];
  EXPECT_NEAR((a + l2) * wf1 + b * wf2 - s1, 0.0, 1e-12);
  EXPECT_NEAR(b * wf1 + (c + l2) * wf2 - s2, 0.0, 1e-12);
  EXPECT_EQ(model.rank(), 2u);
}

TEST(LinearRegressionTest, InterceptIsNotPenalised) {
  // Mean of y is 10, far from 0: a penalised intercept would be pulled toward 0.
  const Dataset ds = make_or_die(
      {Column::float64("x", {1, 2, 3, 4, 5}), Column::float64("y", {6, 8, 10, 12, 14})}, "y");
  const LinearModel model = fit_or_die(ds, {.l2 = 1e12});
  ASSERT_EQ(model.weights().size(), 1u);
  EXPECT_LT(std::abs(model.weights()[0]), 1e-9);
  EXPECT_NEAR(model.intercept(), 10.0, 1e-8);
  for (double p : predict_or_die(model, ds)) EXPECT_NEAR(p, 10.0, 1e-8);
}

TEST(LinearRegressionTest, WithoutInterceptPassesThroughOrigin) {
  const std::vector<double> x{1, 2, 3, 4}, y{4, 7, 10, 13};  // y = 3x + 1
  const Dataset ds = make_or_die({Column::float64("x", x), Column::float64("y", y)}, "y");
  const LinearModel model = fit_or_die(ds, {.fit_intercept = false});
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += x[i] * y[i];
    sxx += x[i] * x[i];
  }
  EXPECT_EQ(model.intercept(), 0.0);
  ASSERT_EQ(model.weights().size(), 1u);
  EXPECT_NEAR(model.weights()[0], sxy / sxx, 1e-12);
  const Dataset origin = make_or_die({Column::float64("x", {0.0})});
  EXPECT_EQ(predict_or_die(model, origin), std::vector<double>{0.0});
}

TEST(LinearRegressionTest, DuplicateColumnGivesMinimumNormWeights) {
  const std::vector<double> x{1, 2, 3, 4, 6};
  std::vector<double> y;
  for (double v : x) y.push_back(4 * v + 1);
  const Dataset ds =
      make_or_die({Column::float64("a", x), Column::float64("b", x), Column::float64("y", y)}, "y");
  const LinearModel model = fit_or_die(ds);
  EXPECT_EQ(model.rank(), 1u);
  ASSERT_EQ(model.weights().size(), 2u);
  // Every w with w_a + w_b = 4 fits exactly; the minimum-norm one splits it evenly.
  EXPECT_NEAR(model.weights()[0], 2.0, 1e-10);
  EXPECT_NEAR(model.weights()[1], 2.0, 1e-10);
  EXPECT_NEAR(model.intercept(), 1.0, 1e-10);
  const std::vector<double> p = predict_or_die(model, ds);
  ASSERT_EQ(p.size(), y.size());
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(p[i], y[i], 1e-10);
}

TEST(LinearRegressionTest, MatchesSyntheticTrueModel) {
  const Result<SyntheticData> synth = make_synthetic({.task = SyntheticOptions::Task::kRegression,
                                                      .rows = 2000,
                                                      .numeric_features = 5,
                                                      .categorical_features = 0,
                                                      .noise_stddev = 0.1,
                                                      .seed = 7});
  ASSERT_TRUE(synth.has_value()) << synth.error().message();
  const LinearModel model = fit_or_die(synth->data);
  const std::vector<double> p = predict_or_die(model, synth->data);
  const Eigen::VectorXd y = synth->data.to_vector(*synth->data.target_index());
  const Result<double> score = r2(std::span<const double>(y.data(), y.size()), p);
  ASSERT_TRUE(score.has_value()) << score.error().message();
  EXPECT_NEAR(*score, synth->best_score, 0.01);
  // Noise 0.1 on 2000 standard-normal rows: each weight's standard error is about 0.0023, so
  // 0.02 is about 9 standard errors.
  ASSERT_EQ(model.weights().size(), synth->weights.size());
  for (std::size_t j = 0; j < model.weights().size(); ++j) {
    EXPECT_NEAR(model.weights()[j], synth->weights[j], 0.02) << "weight " << j;
  }
  EXPECT_NEAR(model.intercept(), synth->intercepts[0], 0.02);
}

TEST(LinearRegressionTest, FitsAndPredictsOnTakeView) {
  const Dataset ds = exact_plane();
  const std::vector<std::uint32_t> rows{4, 0, 2, 5};
  const Dataset view = ds.take(rows);
  const LinearModel full = fit_or_die(ds);
  const std::vector<double> all = predict_or_die(full, ds);
  const std::vector<double> some = predict_or_die(full, view);
  ASSERT_EQ(some.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(some[i], all[rows[i]]) << i;

  // Fitting on the view sees exactly the view's rows.
  const Dataset noisy = make_or_die(
      {Column::float64("x", {0, 1, 2, 3, 100}), Column::float64("y", {1, 3, 5, 7, -50})}, "y");
  const std::vector<std::uint32_t> clean{3, 1, 0};
  const LinearModel on_view = fit_or_die(noisy.take(clean));
  ASSERT_EQ(on_view.weights().size(), 1u);
  EXPECT_NEAR(on_view.weights()[0], 2.0, 1e-12);
  EXPECT_NEAR(on_view.intercept(), 1.0, 1e-12);
}

TEST(LinearRegressionTest, MatchesFeatureColumnsByName) {
  const LinearModel model = fit_or_die(exact_plane());
  const Dataset reordered =
      make_or_die({Column::float64("extra", {7, 8}), Column::float64("x2", {1, 0}),
                   Column::float64("x1", {0, 1})});
  const std::vector<double> p = predict_or_die(model, reordered);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NEAR(p[0], -3.0 + 5.0, 1e-10);
  EXPECT_NEAR(p[1], 2.0 + 5.0, 1e-10);
}

TEST(LinearRegressionTest, RejectsBadTrainingData) {
  const Column x = Column::float64("x", {1, 2, 3});
  const Column y = Column::float64("y", {1, 2, 3});

  Result<LinearModel> cat = fit_linear_regression(
      make_or_die({x, Column::categorical("plan", {0, 1, 0}, {"basic", "pro"}), y}, "y"));
  ASSERT_FALSE(cat.has_value());
  EXPECT_EQ(cat.error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(cat.error().message(), "'plan'")) << cat.error().message();
  EXPECT_TRUE(contains(cat.error().message(), "encode")) << cat.error().message();

  Result<LinearModel> missing_x =
      fit_linear_regression(make_or_die({Column::float64("x", {1, 2, kNaN}), y}, "y"));
  ASSERT_FALSE(missing_x.has_value());
  EXPECT_EQ(missing_x.error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(missing_x.error().message(), "'x' row 2")) << missing_x.error().message();
  EXPECT_TRUE(contains(missing_x.error().message(), "impute")) << missing_x.error().message();

  Result<LinearModel> missing_y =
      fit_linear_regression(make_or_die({x, Column::float64("y", {kNaN, 2, 3})}, "y"));
  ASSERT_FALSE(missing_y.has_value());
  EXPECT_TRUE(contains(missing_y.error().message(), "'y' row 0")) << missing_y.error().message();

  Result<LinearModel> no_target = fit_linear_regression(make_or_die({x, y}));
  ASSERT_FALSE(no_target.has_value());
  EXPECT_TRUE(contains(no_target.error().message(), "no target")) << no_target.error().message();

  Result<LinearModel> cat_target =
      fit_linear_regression(make_or_die({x, Column::categorical("c", {0, 1, 0}, {"a", "b"})}, "c"));
  ASSERT_FALSE(cat_target.has_value());
  EXPECT_TRUE(contains(cat_target.error().message(), "'c'")) << cat_target.error().message();

  const Dataset ok = make_or_die({x, y}, "y");
  Result<LinearModel> negative = fit_linear_regression(ok, {.l2 = -1});
  ASSERT_FALSE(negative.has_value());
  EXPECT_TRUE(contains(negative.error().message(), "l2")) << negative.error().message();
  EXPECT_FALSE(fit_linear_regression(ok, {.l2 = kNaN}).has_value());
  EXPECT_TRUE(fit_linear_regression(ok).has_value());
}

TEST(LinearRegressionTest, RejectsBadPredictionData) {
  const LinearModel model = fit_or_die(exact_plane());

  Result<std::vector<double>> absent =
      model.predict_values(make_or_die({Column::float64("x1", {1})}));
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(absent.error().message(), "'x2'")) << absent.error().message();

  Result<std::vector<double>> missing = model.predict_values(
      make_or_die({Column::float64("x1", {1, 2}), Column::float64("x2", {3, kNaN})}));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(missing.error().message(), "'x2' row 1")) << missing.error().message();

  Result<std::vector<double>> cat = model.predict_values(
      make_or_die({Column::float64("x1", {1}), Column::categorical("x2", {0}, {"a"})}));
  ASSERT_FALSE(cat.has_value());
  EXPECT_EQ(cat.error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(cat.error().message(), "'x2'")) << cat.error().message();
}

LinearModel synthetic_model() {
  const Result<SyntheticData> synth = make_synthetic({.task = SyntheticOptions::Task::kRegression,
                                                      .rows = 200,
                                                      .numeric_features = 3,
                                                      .categorical_features = 0,
                                                      .seed = 3});
  EXPECT_TRUE(synth.has_value());
  return fit_or_die(synth->data, {.l2 = 0.3});
}

TEST(LinearRegressionTest, BytesRoundTripIsBitExact) {
  const Result<SyntheticData> synth = make_synthetic({.task = SyntheticOptions::Task::kRegression,
                                                      .rows = 200,
                                                      .numeric_features = 3,
                                                      .categorical_features = 0,
                                                      .seed = 3});
  ASSERT_TRUE(synth.has_value());
  const LinearModel model = fit_or_die(synth->data, {.l2 = 0.3});
  const Result<LinearModel> back = LinearModel::from_bytes(model.to_bytes());
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->feature_names(), model.feature_names());
  EXPECT_EQ(back->rank(), model.rank());
  EXPECT_EQ(std::bit_cast<std::uint64_t>(back->intercept()),
            std::bit_cast<std::uint64_t>(model.intercept()));
  ASSERT_EQ(back->weights().size(), model.weights().size());
  for (std::size_t j = 0; j < model.weights().size(); ++j) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back->weights()[j]),
              std::bit_cast<std::uint64_t>(model.weights()[j]));
  }
  const std::vector<double> a = predict_or_die(model, synth->data);
  const std::vector<double> b = predict_or_die(*back, synth->data);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a[i]), std::bit_cast<std::uint64_t>(b[i])) << i;
  }
  EXPECT_EQ(back->to_bytes(), model.to_bytes());
}

TEST(LinearRegressionTest, RejectsEveryFlippedByte) {
  const std::string bytes = synthetic_model().to_bytes();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string corrupt = bytes;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x01);
    const Result<LinearModel> back = LinearModel::from_bytes(corrupt);
    ASSERT_FALSE(back.has_value()) << "flipped byte " << i;
    EXPECT_EQ(back.error().code(), StatusCode::kInvalidArgument);
  }
}

TEST(LinearRegressionTest, RejectsEveryTruncation) {
  const std::string bytes = synthetic_model().to_bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const Result<LinearModel> back = LinearModel::from_bytes(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(back.has_value()) << "truncated to " << n;
    EXPECT_EQ(back.error().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(LinearModel::from_bytes(bytes + "x").has_value());
}

}  // namespace
}  // namespace trainflow::ml

#include "trainflow/ml/mlp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "ml/mlp_network.hpp"
#include "ml/omp_threads.hpp"
#include "ml/random.hpp"
#include "testing/ml.hpp"
#include "trainflow/ml/split.hpp"
#include "trainflow/ml/synthetic.hpp"

namespace trainflow::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

MlpModel fit_or_die(Task task, const Dataset& train, const MlpOptions& options,
                    const Dataset* validation = nullptr) {
  Result<MlpModel> model = task == Task::kClassification
                               ? fit_mlp_classifier(train, options, validation)
                               : fit_mlp_regressor(train, options, validation);
  EXPECT_TRUE(model.has_value()) << model.error().to_string();
  if (!model) std::abort();
  return std::move(*model);
}

Predictions predict_or_die(const Model& model, const Dataset& data) {
  Result<Predictions> p = model.predict(data);
  EXPECT_TRUE(p.has_value()) << p.error().to_string();
  return p.value_or(Predictions{});
}

double accuracy_of(const Model& model, const Dataset& data) {
  const Predictions p = predict_or_die(model, data);
  Result<std::vector<std::int32_t>> truth = encode_labels(data, model.classes());
  EXPECT_TRUE(truth.has_value());
  std::size_t correct = 0;
  for (std::size_t r = 0; r < p.labels.size(); ++r) correct += p.labels[r] == (*truth)[r] ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(p.labels.size());
}

// Classification data from the synthetic generator, numeric features only.
SyntheticData classes_data(std::size_t rows, std::size_t classes, double noise,
                           std::uint64_t seed) {
  Result<SyntheticData> synth = make_synthetic({.rows = rows,
                                                .numeric_features = 5,
                                                .categorical_features = 0,
                                                .classes = classes,
                                                .label_noise = noise,
                                                .seed = seed});
  EXPECT_TRUE(synth.has_value()) << synth.error().to_string();
  return std::move(*synth);
}

// ---- gradients --------------------------------------------------------------------------------

// The analytic gradient of every parameter against central differences of the loss. The net is
// f32 (oneDNN), so the difference quotient is taken with a large step h = 1e-2 (the actual float
// step, up - down, is the denominator): the loss's f32 rounding (~1e-7 for a loss ~1, much of it
// the same in both evaluations) then contributes at most ~1e-7 / 2e-2 = 5e-6, and the truncation
// error h^2 f'''/6 of a smooth (tanh, softmax) net with O(1) inputs and weights is ~1e-5 |g| or
// less. The tolerance 2e-5 + 2e-3 |g| covers both with room (the largest error measured is below
// a fifth of it) yet is far below the gradients themselves (~1e-2 .. 1), so a missing or wrong
// term (the L2 part, a bias, a transposed layer, the 1/rows scaling) fails.
void expect_gradients_match(detail::MlpOutput output) {
  const detail::OmpThreads threads(1);
  detail::Random random(11);
  const std::vector<std::size_t> sizes{3, 4, 3, output == detail::MlpOutput::kSoftmax ? 3U : 1U};
  detail::MlpParameters params = detail::glorot_parameters(sizes, random);
  const std::size_t rows = 5;
  std::vector<float> x(rows * sizes[0]);
  for (float& v : x) v = static_cast<float>(2.0 * random.uniform() - 1.0);
  std::vector<std::int32_t> labels;
  std::vector<float> values;
  for (std::size_t r = 0; r < rows; ++r) {
    if (output == detail::MlpOutput::kSoftmax) {
      labels.push_back(static_cast<std::int32_t>(r % 3));
    } else {
      values.push_back(static_cast<float>(random.uniform()));
    }
  }
  const double l2 = 0.3;
  const auto loss_at = [&](const detail::MlpParameters& p) {
    Result<detail::MlpLossAndGradients> r =
        detail::mlp_loss_and_gradients(p, MlpActivation::kTanh, output, x, labels, values, l2);
    EXPECT_TRUE(r.has_value());
    return r->loss;
  };
  Result<detail::MlpLossAndGradients> analytic =
      detail::mlp_loss_and_gradients(params, MlpActivation::kTanh, output, x, labels, values, l2);
  ASSERT_TRUE(analytic.has_value()) << analytic.error().to_string();
  double worst = 0;
  std::size_t checked = 0;
  const auto check = [&](std::vector<float>& param, const std::vector<float>& grad,
                         const std::string& what) {
    ASSERT_EQ(param.size(), grad.size()) << what;
    for (std::size_t i = 0; i < param.size(); ++i) {
      const float saved = param[i];
      const float up = saved + 1e-2F;
      const float down = saved - 1e-2F;
      param[i] = up;
      const double loss_up = loss_at(params);
      param[i] = down;
      const double loss_down = loss_at(params);
      param[i] = saved;
      const double numeric = (loss_up - loss_down) / (static_cast<double>(up) - down);
      const double error = std::abs(numeric - grad[i]);
      worst = std::max(worst, error / (2e-5 + 2e-3 * std::abs(grad[i])));
      EXPECT_LE(error, 2e-5 + 2e-3 * std::abs(grad[i]))
          << what << "[" << i << "]: analytic " << grad[i] << ", numeric " << numeric;
      ++checked;
    }
  };
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    check(params.weights[l], analytic->gradients.weights[l], "weights " + std::to_string(l));
    check(params.biases[l], analytic->gradients.biases[l], "biases " + std::to_string(l));
  }
  EXPECT_EQ(checked, 3U * 4 + 4 + 4 * 3 + 3 + 3 * sizes.back() + sizes.back());
  std::cout << "largest error / tolerance: " << worst << "\n";
}

TEST(MlpGradientTest, SoftmaxCrossEntropyMatchesCentralDifferences) {
  expect_gradients_match(detail::MlpOutput::kSoftmax);
}

TEST(MlpGradientTest, SquaredLossMatchesCentralDifferences) {
  expect_gradients_match(detail::MlpOutput::kIdentity);
}

TEST(MlpGradientTest, LossIsScikitLearnsScaling) {
  // One layer, zero weights and biases: softmax is uniform, loss = log(k) + 0 penalty.
  detail::MlpParameters params{
      {2, 4}, {std::vector<float>(8, 0.0F)}, {std::vector<float>(4, 0.0F)}};
  const std::vector<float> x{1, 2, 3, 4};
  const std::vector<std::int32_t> labels{0, 3};
  Result<detail::MlpLossAndGradients> r = detail::mlp_loss_and_gradients(
      params, MlpActivation::kRelu, detail::MlpOutput::kSoftmax, x, labels, {}, 1.0);
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(r->loss, std::log(4.0), 1e-6);
  // Squared loss halved, penalty (l2 / (2 rows)) * sum w^2: weights all 1, x = (1, 1), bias 0.
  detail::MlpParameters linear{{2, 1}, {std::vector<float>{1, 1}}, {std::vector<float>{0}}};
  const std::vector<float> x2{1, 1, 1, 1};
  const std::vector<float> y{0, 4};
  r = detail::mlp_loss_and_gradients(linear, MlpActivation::kRelu, detail::MlpOutput::kIdentity, x2,
                                     {}, y, 2.0);
  ASSERT_TRUE(r.has_value());
  // Residuals 2 and -2: mean of r^2 / 2 = 2; penalty 2 / (2 * 2) * 2 = 1.
  EXPECT_NEAR(r->loss, 3.0, 1e-6);
}

// ---- learning ---------------------------------------------------------------------------------

TEST(MlpTest, SoftmaxRowsSumToOne) {
  const SyntheticData synth = classes_data(300, 4, 0.0, 3);
  const MlpModel model =
      fit_or_die(Task::kClassification, synth.data, {.hidden_layers = {8}, .max_epochs = 20});
  const Predictions p = predict_or_die(model, synth.data);
  ASSERT_EQ(p.probabilities.rows(), 300);
  ASSERT_EQ(p.probabilities.cols(), 4);
  EXPECT_EQ(p.classes, model.classes());
  for (Eigen::Index r = 0; r < p.probabilities.rows(); ++r) {
    // Four float32 quotients each within half an ulp (6e-8) of exact.
    EXPECT_NEAR(p.probabilities.row(r).sum(), 1.0, 1e-6) << "row " << r;
    EXPECT_GE(p.probabilities.row(r).minCoeff(), 0.0);
    Eigen::Index best = 0;
    p.probabilities.row(r).maxCoeff(&best);
    EXPECT_EQ(p.labels[static_cast<std::size_t>(r)], best);
  }
}

Dataset xor_data() {
  std::vector<double> a, b;
  std::vector<std::int32_t> y;
  for (int i = 0; i < 4; ++i) {
    a.push_back(i & 1);
    b.push_back((i >> 1) & 1);
    y.push_back(((i & 1) ^ ((i >> 1) & 1)));
  }
  return make_or_die({Column::float64("a", a), Column::float64("b", b),
                      Column::categorical("y", y, {"no", "yes"})},
                     "y");
}

TEST(MlpTest, LearnsXorWithRelu) {
  const Dataset data = xor_data();
  const MlpModel model = fit_or_die(
      Task::kClassification, data,
      {.hidden_layers = {8}, .learning_rate = 0.05, .l2 = 0.0, .max_epochs = 1000, .seed = 1});
  EXPECT_EQ(accuracy_of(model, data), 1.0);
  EXPECT_LT(model.report().final_loss, 0.1);
  EXPECT_EQ(model.kind(), "mlp_classifier");
  EXPECT_EQ(model.classes(), (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(model.layer_sizes(), (std::vector<std::size_t>{2, 8, 2}));
}

TEST(MlpTest, RegressorFitsALinearTarget) {
  Result<SyntheticData> synth = make_synthetic({.task = SyntheticOptions::Task::kRegression,
                                                .rows = 1000,
                                                .numeric_features = 3,
                                                .categorical_features = 0,
                                                .noise_stddev = 0.05,
                                                .seed = 4});
  ASSERT_TRUE(synth.has_value());
  Result<Split> split = train_test_split(synth->data, {.test_fraction = 0.25, .seed = 1});
  ASSERT_TRUE(split.has_value());
  const MlpModel model = fit_or_die(Task::kRegression, split->train,
                                    {.hidden_layers = {16}, .learning_rate = 0.01, .seed = 2});
  EXPECT_EQ(model.kind(), "mlp_regressor");
  EXPECT_TRUE(model.classes().empty());
  const Predictions p = predict_or_die(model, split->test);
  Result<std::vector<double>> y = target_values(split->test);
  ASSERT_TRUE(y.has_value());
  double sse = 0, sst = 0, mean = 0;
  for (double v : *y) mean += v / static_cast<double>(y->size());
  for (std::size_t r = 0; r < y->size(); ++r) {
    sse += (p.values[r] - (*y)[r]) * (p.values[r] - (*y)[r]);
    sst += ((*y)[r] - mean) * ((*y)[r] - mean);
  }
  const double rmse = std::sqrt(sse / static_cast<double>(y->size()));
  // The noise alone gives RMSE 0.05; the target's standard deviation is about 1.7.
  EXPECT_LT(rmse, 0.15) << "R^2 " << 1 - sse / sst;
}

TEST(MlpTest, ClassifierComesCloseToTheTrueModel) {
  const SyntheticData synth = classes_data(5000, 3, 0.05, 5);
  Result<Split> split = train_test_split(synth.data, {.test_fraction = 0.2, .seed = 2});
  ASSERT_TRUE(split.has_value());
  const MlpModel model = fit_or_die(Task::kClassification, split->train,
                                    {.hidden_layers = {32}, .max_epochs = 100, .seed = 3});
  const double accuracy = accuracy_of(model, split->test);
  // best_score (about 0.95, the share of labels that noise left alone) is what the true linear
  // model reaches; a net learning it from 4000 rows comes within 0.03 of it.
  std::cout << "accuracy " << accuracy << ", best score " << synth.best_score << "\n";
  EXPECT_GE(accuracy, synth.best_score - 0.03);
}

TEST(MlpTest, SgdWithMomentumLearns) {
  const SyntheticData synth = classes_data(1000, 2, 0.0, 6);
  for (const bool nesterov : {false, true}) {
    const MlpModel model = fit_or_die(Task::kClassification, synth.data,
                                      {.hidden_layers = {16},
                                       .solver = MlpSolver::kSgd,
                                       .learning_rate = 0.05,
                                       .nesterov = nesterov,
                                       .max_epochs = 50});
    EXPECT_GE(accuracy_of(model, synth.data), 0.95) << "nesterov " << nesterov;
  }
}

TEST(MlpTest, NoHiddenLayerIsMultinomialLogistic) {
  const SyntheticData synth = classes_data(1000, 3, 0.0, 7);
  const MlpModel model =
      fit_or_die(Task::kClassification, synth.data, {.hidden_layers = {}, .learning_rate = 0.01});
  EXPECT_EQ(model.layer_sizes(), (std::vector<std::size_t>{5, 3}));
  EXPECT_GE(accuracy_of(model, synth.data), 0.95);
}

TEST(MlpTest, StopsWhenTheTrainingLossStopsImproving) {
  const SyntheticData synth = classes_data(200, 2, 0.0, 8);
  // With tol this large no epoch improves on the best loss by tol; the first epoch only sets the
  // best (it improves on infinity), so the fit stops after n_iter_no_change + 2 epochs.
  const MlpModel model = fit_or_die(Task::kClassification, synth.data,
                                    {.hidden_layers = {4}, .tol = 1e9, .n_iter_no_change = 3});
  EXPECT_EQ(model.report().epochs, 5U);
  EXPECT_TRUE(model.report().converged);
  EXPECT_FALSE(model.report().stopped_early);
  EXPECT_EQ(model.report().loss_curve.size(), 5U);
  EXPECT_EQ(model.report().final_loss, model.report().loss_curve.back());
  EXPECT_TRUE(model.report().validation_scores.empty());
  EXPECT_FALSE(model.report().best_validation_score.has_value());

  const MlpModel capped =
      fit_or_die(Task::kClassification, synth.data, {.hidden_layers = {4}, .max_epochs = 3});
  EXPECT_EQ(capped.report().epochs, 3U);
  EXPECT_FALSE(capped.report().converged);
  // Adam on separable data: the loss falls epoch after epoch.
  EXPECT_LT(capped.report().loss_curve[2], capped.report().loss_curve[0]);
}

TEST(MlpTest, EarlyStoppingKeepsTheBestEpoch) {
  // Noisy labels and a wide net: the validation score peaks, then overfitting sets in.
  const SyntheticData synth = classes_data(1500, 3, 0.3, 9);
  Result<Split> split =
      train_test_split(synth.data, {.test_fraction = 0.3, .stratify = true, .seed = 3});
  ASSERT_TRUE(split.has_value());
  const MlpOptions options{.hidden_layers = {64, 64},
                           .learning_rate = 0.01,
                           .l2 = 0.0,
                           .batch_size = 50,
                           .max_epochs = 300,
                           .early_stopping = true,
                           .n_iter_no_change = 5,
                           .seed = 4};
  const MlpModel model = fit_or_die(Task::kClassification, split->train, options, &split->test);
  const MlpFitReport& report = model.report();
  EXPECT_TRUE(report.stopped_early);
  EXPECT_TRUE(report.converged);
  ASSERT_LT(report.epochs, 300U);
  ASSERT_EQ(report.validation_scores.size(), report.epochs);
  const auto best =
      std::max_element(report.validation_scores.begin(), report.validation_scores.end());
  ASSERT_TRUE(report.best_validation_score.has_value());
  EXPECT_EQ(*report.best_validation_score, *best);
  // Every improvement is at least 1/450 > tol, so the fit ran n_iter_no_change + 1 epochs past
  // the (first) best one.
  EXPECT_EQ(report.epochs, static_cast<std::size_t>(best - report.validation_scores.begin()) + 7);
  // The model holds the best epoch's parameters, not the last one's.
  EXPECT_DOUBLE_EQ(accuracy_of(model, split->test), *best);
  EXPECT_GT(*best, report.validation_scores.back());
}

TEST(MlpTest, EarlyStoppingHoldsOutAStratifiedShare) {
  const SyntheticData synth = classes_data(1000, 2, 0.2, 10);
  const MlpModel model = fit_or_die(Task::kClassification, synth.data,
                                    {.hidden_layers = {64},
                                     .learning_rate = 0.01,
                                     .max_epochs = 300,
                                     .early_stopping = true,
                                     .validation_fraction = 0.2,
                                     .n_iter_no_change = 4});
  EXPECT_TRUE(model.report().stopped_early);
  ASSERT_TRUE(model.report().best_validation_score.has_value());
  // 200 held-out rows: every score is a multiple of 1/200.
  for (double s : model.report().validation_scores) {
    EXPECT_NEAR(s * 200, std::round(s * 200), 1e-9);
  }
  EXPECT_GT(*model.report().best_validation_score, 0.7);
}

TEST(MlpTest, ValidationWithoutEarlyStoppingIsOnlyScored) {
  const SyntheticData synth = classes_data(400, 2, 0.0, 11);
  const Dataset first = synth.data.slice(0, 300);
  const Dataset rest = synth.data.slice(300, 400);
  const MlpModel model =
      fit_or_die(Task::kClassification, first, {.hidden_layers = {8}, .max_epochs = 7}, &rest);
  EXPECT_EQ(model.report().epochs, 7U);
  EXPECT_EQ(model.report().validation_scores.size(), 7U);
  EXPECT_FALSE(model.report().stopped_early);
  EXPECT_DOUBLE_EQ(accuracy_of(model, rest), model.report().validation_scores.back());
}

// ---- determinism and threads ------------------------------------------------------------------

TEST(MlpTest, SameSeedGivesIdenticalBytes) {
  const SyntheticData synth = classes_data(500, 3, 0.1, 12);
  const MlpOptions options{.hidden_layers = {16, 8}, .max_epochs = 10, .seed = 5};
  const std::string a = fit_or_die(Task::kClassification, synth.data, options).to_bytes();
  const std::string b = fit_or_die(Task::kClassification, synth.data, options).to_bytes();
  EXPECT_EQ(a, b);
  MlpOptions other = options;
  other.seed = 6;
  EXPECT_NE(a, fit_or_die(Task::kClassification, synth.data, other).to_bytes());
  other = options;
  other.shuffle = false;
  EXPECT_NE(a, fit_or_die(Task::kClassification, synth.data, other).to_bytes());
}

// At one thread a fit is bit-identical run to run. At two threads oneDNN may split the sums of a
// gemm (over the batch, in backward_weights) between threads and add the halves, so its
// parameters may differ from the one-thread ones by rounding that training then carries along;
// over 20 epochs of Adam the largest difference in a predicted probability stays below 1e-3
// (measured: see docs/design.md, "MLP").
TEST(MlpTest, ThreadsChangeResultsAtMostByRounding) {
  const SyntheticData synth = classes_data(2000, 3, 0.05, 13);
  MlpOptions options{.hidden_layers = {64}, .max_epochs = 20, .seed = 7};
  const MlpModel one = fit_or_die(Task::kClassification, synth.data, options);
  EXPECT_EQ(one.to_bytes(), fit_or_die(Task::kClassification, synth.data, options).to_bytes());
  options.threads = 2;
  const MlpModel two = fit_or_die(Task::kClassification, synth.data, options);
  EXPECT_EQ(two.threads(), 2U);
  const Predictions p1 = predict_or_die(one, synth.data);
  const Predictions p2 = predict_or_die(two, synth.data);
  const double largest = (p1.probabilities - p2.probabilities).cwiseAbs().maxCoeff();
  std::cout << "largest probability difference, 1 vs 2 threads: " << largest << "\n";
  EXPECT_LE(largest, 1e-3);
  double loss_diff =
      std::abs(one.report().final_loss - two.report().final_loss) / one.report().final_loss;
  std::cout << "relative final-loss difference: " << loss_diff << "\n";
  EXPECT_LE(loss_diff, 1e-3);
}

TEST(MlpTest, OmpThreadsScopeSetsAndRestores) {
  const int before = detail::OmpThreads::current();
  {
    const detail::OmpThreads outer(3);
    EXPECT_EQ(detail::OmpThreads::current(), 3);
    {
      const detail::OmpThreads inner(1);
      EXPECT_EQ(detail::OmpThreads::current(), 1);
    }
    EXPECT_EQ(detail::OmpThreads::current(), 3);
  }
  EXPECT_EQ(detail::OmpThreads::current(), before);
  // A fit leaves the caller's thread count as it was.
  const SyntheticData synth = classes_data(100, 2, 0.0, 14);
  (void)fit_or_die(Task::kClassification, synth.data,
                   {.hidden_layers = {4}, .max_epochs = 2, .threads = 2});
  EXPECT_EQ(detail::OmpThreads::current(), before);
}

// ---- serialisation ----------------------------------------------------------------------------

TEST(MlpTest, SavedModelPredictsBitIdentically) {
  const SyntheticData synth = classes_data(600, 3, 0.1, 15);
  const Dataset first = synth.data.slice(0, 500);
  const Dataset rest = synth.data.slice(500, 600);
  const MlpModel model = fit_or_die(Task::kClassification, first,
                                    {.hidden_layers = {16, 8},
                                     .activation = MlpActivation::kTanh,
                                     .max_epochs = 15,
                                     .early_stopping = true},
                                    &rest);
  const std::string bytes = model.to_bytes();
  EXPECT_EQ(bytes.substr(0, 8), "TFMLPNET");
  Result<MlpModel> loaded = MlpModel::from_bytes(bytes);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  EXPECT_EQ(loaded->to_bytes(), bytes);
  EXPECT_EQ(loaded->kind(), "mlp_classifier");
  EXPECT_EQ(loaded->activation(), MlpActivation::kTanh);
  EXPECT_EQ(loaded->feature_names(), model.feature_names());
  EXPECT_EQ(loaded->classes(), model.classes());
  EXPECT_EQ(loaded->report().loss_curve, model.report().loss_curve);
  EXPECT_EQ(loaded->report().best_validation_score, model.report().best_validation_score);
  const Predictions a = predict_or_die(model, synth.data);
  const Predictions b = predict_or_die(*loaded, synth.data);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_TRUE(a.probabilities == b.probabilities);

  Result<SyntheticData> reg = make_synthetic(
      {.task = SyntheticOptions::Task::kRegression, .rows = 200, .categorical_features = 0});
  ASSERT_TRUE(reg.has_value());
  const MlpModel regressor =
      fit_or_die(Task::kRegression, reg->data, {.hidden_layers = {4}, .max_epochs = 5});
  Result<MlpModel> again = MlpModel::from_bytes(regressor.to_bytes());
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(again->task(), Task::kRegression);
  EXPECT_EQ(predict_or_die(*again, reg->data).values, predict_or_die(regressor, reg->data).values);
}

TEST(MlpTest, RejectsEveryCorruption) {
  const Dataset data = xor_data();
  const MlpModel model =
      fit_or_die(Task::kClassification, data, {.hidden_layers = {2}, .max_epochs = 2});
  expect_every_corruption_rejected<MlpModel>(model.to_bytes(), 0x01);
  expect_every_corruption_rejected<MlpModel>(model.to_bytes(), 0x80);
  Result<MlpModel> bad = MlpModel::from_bytes("TFLINEAR" + model.to_bytes().substr(8));
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(contains(bad.error().message(), "bad magic")) << bad.error().message();
}

TEST(MlpTest, PredictFindsColumnsByNameAndChecksThem) {
  const SyntheticData synth = classes_data(200, 2, 0.0, 16);
  const MlpModel model =
      fit_or_die(Task::kClassification, synth.data, {.hidden_layers = {4}, .max_epochs = 3});
  // Reordered columns predict the same.
  const std::vector<std::string> reversed{"x4", "x3", "x2", "x1", "x0"};
  Result<Dataset> shuffled = synth.data.select_columns(reversed);
  ASSERT_TRUE(shuffled.has_value());
  EXPECT_EQ(predict_or_die(model, *shuffled).labels, predict_or_die(model, synth.data).labels);
  // Empty data predicts nothing.
  const Predictions none = predict_or_die(model, synth.data.slice(0, 0));
  EXPECT_TRUE(none.labels.empty());
  const std::vector<std::string> four{"x0", "x1", "x2", "x3"};
  Result<Dataset> missing = synth.data.select_columns(four);
  ASSERT_TRUE(missing.has_value());
  Result<Predictions> p = model.predict(*missing);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(p.error().message(), "'x4'")) << p.error().message();
}

// ---- errors -----------------------------------------------------------------------------------

TEST(MlpTest, NamesEveryBadOption) {
  const SyntheticData synth = classes_data(50, 2, 0.0, 17);
  const std::vector<std::pair<std::string, std::function<void(MlpOptions&)>>> cases{
      {"hidden_layers[1]",
       [](MlpOptions& o) {
         o.hidden_layers = {4, 0};
       }},
      {"hidden_layers[0]", [](MlpOptions& o) { o.hidden_layers = {std::size_t{1} << 40}; }},
      {"activation", [](MlpOptions& o) { o.activation = static_cast<MlpActivation>(7); }},
      {"solver", [](MlpOptions& o) { o.solver = static_cast<MlpSolver>(7); }},
      {"learning_rate", [](MlpOptions& o) { o.learning_rate = 0; }},
      {"momentum", [](MlpOptions& o) { o.momentum = 1.5; }},
      {"beta1", [](MlpOptions& o) { o.beta1 = 1; }},
      {"beta2", [](MlpOptions& o) { o.beta2 = -0.1; }},
      {"epsilon", [](MlpOptions& o) { o.epsilon = 0; }},
      {"l2", [](MlpOptions& o) { o.l2 = kNaN; }},
      {"batch_size", [](MlpOptions& o) { o.batch_size = 0; }},
      {"max_epochs", [](MlpOptions& o) { o.max_epochs = 0; }},
      {"tol", [](MlpOptions& o) { o.tol = -1; }},
      {"validation_fraction", [](MlpOptions& o) { o.validation_fraction = 1; }},
      {"n_iter_no_change", [](MlpOptions& o) { o.n_iter_no_change = 0; }},
      {"threads", [](MlpOptions& o) { o.threads = 0; }},
  };
  for (const auto& [name, spoil] : cases) {
    MlpOptions options;
    spoil(options);
    Result<MlpModel> model = fit_mlp_classifier(synth.data, options);
    ASSERT_FALSE(model.has_value()) << name;
    EXPECT_EQ(model.error().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(model.error().message(), name + " = ")) << model.error().message();
    EXPECT_TRUE(contains(model.error().message(), "fit_mlp_classifier")) << name;
  }
  // All at once.
  Result<MlpModel> model =
      fit_mlp_regressor(synth.data, {.learning_rate = -1, .batch_size = 0, .threads = 5000});
  ASSERT_FALSE(model.has_value());
  EXPECT_EQ(model.error().message(),
            "fit_mlp_regressor: bad options: learning_rate = -1 must be finite and > 0; "
            "batch_size = 0 must be >= 1; threads = 5000 must be in [1, 1024]");
}

TEST(MlpTest, RejectsBadData) {
  const auto fails = [](const Result<MlpModel>& model, std::string_view part) {
    ASSERT_FALSE(model.has_value()) << part;
    EXPECT_EQ(model.error().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(model.error().message(), part)) << model.error().message();
  };
  const Dataset categorical = make_or_die(
      {Column::float64("x", {1, 2, 3}), Column::categorical("colour", {0, 1, 0}, {"r", "g"}),
       Column::float64("y", {0, 1, 0})},
      "y");
  fails(fit_mlp_classifier(categorical), "'colour' is categorical");
  const Dataset missing =
      make_or_die({Column::float64("x", {1, kNaN, 3}), Column::float64("y", {0, 1, 0})}, "y");
  fails(fit_mlp_classifier(missing), "column 'x' row 1 is missing");
  const Dataset one_class =
      make_or_die({Column::float64("x", {1, 2, 3}), Column::float64("y", {1, 1, 1})}, "y");
  fails(fit_mlp_classifier(one_class), "at least 2");
  const Dataset no_target = make_or_die({Column::float64("x", {1, 2, 3})});
  fails(fit_mlp_regressor(no_target), "no target");
  const Dataset class_target = make_or_die(
      {Column::float64("x", {1, 2, 3}), Column::categorical("y", {0, 1, 0}, {"a", "b"})}, "y");
  fails(fit_mlp_regressor(class_target), "'y' is categorical");
  const Dataset inf_target =
      make_or_die({Column::float64("x", {1, 2, 3}),
                   Column::float64("y", {0, std::numeric_limits<double>::infinity(), 1})},
                  "y");
  fails(fit_mlp_regressor(inf_target), "row 1 is infinite");
  // Too few rows to hold any out.
  const Dataset two =
      make_or_die({Column::float64("x", {1, 2, 3, 4}), Column::float64("y", {0, 1, 0, 1})}, "y");
  fails(fit_mlp_classifier(two, {.early_stopping = true}), "validation_fraction = 0.1");
  // A validation set with an unknown class, or without a feature.
  const Dataset other =
      make_or_die({Column::float64("x", {1, 2}), Column::float64("y", {0, 7})}, "y");
  fails(fit_mlp_classifier(two, {}, &other), "'7'");
  const Dataset renamed =
      make_or_die({Column::float64("z", {1, 2}), Column::float64("y", {0, 1})}, "y");
  Result<MlpModel> model = fit_mlp_classifier(two, {}, &renamed);
  ASSERT_FALSE(model.has_value());
  EXPECT_EQ(model.error().code(), StatusCode::kNotFound);
}

TEST(MlpTest, DivergenceIsAnError) {
  Result<MlpModel> model =
      fit_mlp_regressor(make_or_die({Column::float64("x", {1e30, -1e30, 1e30, -1e30}),
                                     Column::float64("y", {1e30, 0, 1, -1e30})},
                                    "y"),
                        {.hidden_layers = {4}, .learning_rate = 1.0});
  ASSERT_FALSE(model.has_value());
  EXPECT_TRUE(contains(model.error().message(), "not finite")) << model.error().message();
}

}  // namespace
}  // namespace trainflow::ml

#include "trainflow/ml/logistic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "testing/ml.hpp"
#include "trainflow/ml/metrics.hpp"
#include "trainflow/ml/model.hpp"
#include "trainflow/ml/synthetic.hpp"

namespace trainflow::ml {
namespace {

using Solver = LogisticRegressionOptions::Solver;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

LogisticModel fit_or_die(const Dataset& ds, const LogisticRegressionOptions& options = {}) {
  Result<LogisticModel> model = fit_logistic_regression(ds, options);
  EXPECT_TRUE(model.has_value()) << model.error().to_string();
  return model.value_or(LogisticModel({}, {"a", "b"}, {}, {0.0}));
}

Predictions predict_or_die(const Model& model, const Dataset& ds) {
  Result<Predictions> p = model.predict(ds);
  EXPECT_TRUE(p.has_value()) << p.error().to_string();
  return p.value_or(Predictions{});
}

// Numeric-only synthetic classification data.
Dataset synthetic(std::size_t rows, std::size_t classes, std::uint64_t seed,
                  double label_noise = 0.1, double* best_score = nullptr) {
  const Result<SyntheticData> synth = make_synthetic({.rows = rows,
                                                      .numeric_features = 4,
                                                      .categorical_features = 0,
                                                      .classes = classes,
                                                      .label_noise = label_noise,
                                                      .seed = seed});
  EXPECT_TRUE(synth.has_value()) << synth.error().to_string();
  if (!synth) return Dataset();
  if (best_score != nullptr) *best_score = synth->best_score;
  return synth->data;
}

// The objective and gradient of fit_logistic_regression's f, written as plainly as possible and
// independently of the production code: one loop over rows, direct exp and log.
struct Reference {
  double objective = 0;
  std::vector<double> grad_w;
  std::vector<double> grad_b;
  double max_abs_gradient(bool with_intercept) const {
    double m = 0;
    for (double g : grad_w) m = std::max(m, std::abs(g));
    if (with_intercept) {
      for (double g : grad_b) m = std::max(m, std::abs(g));
    }
    return m;
  }
};

// rows == 1: binary, p(class 1) = sigmoid(w.x + b); otherwise softmax over `rows` classes.
Reference reference(const Dataset& ds, const std::vector<std::string>& features,
                    const std::vector<std::int32_t>& labels, std::size_t rows,
                    const std::vector<double>& coef, const std::vector<double>& b, double l2) {
  const std::size_t d = features.size();
  std::vector<std::size_t> cols;
  for (const std::string& name : features) cols.push_back(*ds.find(name));
  Reference out;
  out.grad_w.assign(rows * d, 0.0);
  out.grad_b.assign(rows, 0.0);
  for (std::size_t i = 0; i < ds.num_rows(); ++i) {
    std::vector<double> score(rows);
    for (std::size_t c = 0; c < rows; ++c) {
      score[c] = b[c];
      for (std::size_t j = 0; j < d; ++j) score[c] += coef[c * d + j] * ds.numeric(cols[j], i);
    }
    std::vector<double> residual(rows);
    if (rows == 1) {
      const double p1 = 1.0 / (1.0 + std::exp(-score[0]));
      out.objective -= std::log(labels[i] == 1 ? p1 : 1.0 - p1);
      residual[0] = p1 - (labels[i] == 1 ? 1.0 : 0.0);
    } else {
      double sum = 0;
      for (double s : score) sum += std::exp(s);
      out.objective -= std::log(std::exp(score[static_cast<std::size_t>(labels[i])]) / sum);
      for (std::size_t c = 0; c < rows; ++c) {
        residual[c] = std::exp(score[c]) / sum - (static_cast<std::int32_t>(c) == labels[i] ? 1 : 0);
      }
    }
    for (std::size_t c = 0; c < rows; ++c) {
      for (std::size_t j = 0; j < d; ++j) out.grad_w[c * d + j] += residual[c] * ds.numeric(cols[j], i);
      out.grad_b[c] += residual[c];
    }
  }
  for (std::size_t k = 0; k < coef.size(); ++k) {
    out.objective += 0.5 * l2 * coef[k] * coef[k];
    out.grad_w[k] += l2 * coef[k];
  }
  return out;
}

Reference reference(const Dataset& ds, const LogisticModel& model, double l2) {
  const Result<std::vector<std::int32_t>> labels = encode_labels(ds, model.classes());
  EXPECT_TRUE(labels.has_value()) << labels.error().to_string();
  return reference(ds, model.feature_names(), labels.value_or(std::vector<std::int32_t>{}),
                   model.coefficient_rows(), model.coefficients(), model.intercepts(), l2);
}

TEST(LogisticRegressionTest, GradientVanishesAtTheReportedOptimum) {
  for (const std::size_t classes : {2u, 3u, 5u}) {
    for (const Solver solver : {Solver::kLbfgs, Solver::kNewton}) {
      for (const bool intercept : {true, false}) {
        SCOPED_TRACE(::testing::Message() << classes << " classes, solver "
                                          << static_cast<int>(solver) << ", intercept " << intercept);
        const Dataset ds = synthetic(400, classes, 11);
        const double l2 = 0.7;
        const LogisticModel model = fit_or_die(
            ds, {.l2 = l2, .max_iter = 1000, .tol = 1e-8, .solver = solver, .fit_intercept = intercept});
        const LogisticFitReport& report = model.fit_report();
        EXPECT_TRUE(report.converged);
        EXPECT_GT(report.iterations, 0u);
        EXPECT_LE(report.gradient_max_norm, 1e-8);
        ASSERT_EQ(model.coefficient_rows(), classes == 2 ? 1u : classes);
        if (!intercept) {
          EXPECT_EQ(model.intercepts(), std::vector<double>(model.coefficient_rows(), 0.0));
        }
        const Reference ref = reference(ds, model, l2);
        EXPECT_LE(ref.max_abs_gradient(intercept), 1e-7);
        EXPECT_NEAR(ref.objective, report.objective, 1e-9 * ref.objective);
        // Not a trivial optimum: the weights are far from 0.
        double norm = 0;
        for (double w : model.coefficients()) norm += w * w;
        EXPECT_GT(norm, 0.1);
      }
    }
  }
}

TEST(LogisticRegressionTest, LbfgsAndNewtonAgree) {
  for (const std::size_t classes : {2u, 4u}) {
    SCOPED_TRACE(classes);
    const Dataset ds = synthetic(500, classes, 5);
    const LogisticModel lbfgs =
        fit_or_die(ds, {.l2 = 0.3, .max_iter = 1000, .tol = 1e-10, .solver = Solver::kLbfgs});
    const LogisticModel newton =
        fit_or_die(ds, {.l2 = 0.3, .max_iter = 100, .tol = 1e-10, .solver = Solver::kNewton});
    EXPECT_TRUE(lbfgs.fit_report().converged);
    EXPECT_TRUE(newton.fit_report().converged);
    EXPECT_EQ(newton.fit_report().solver, Solver::kNewton);
    EXPECT_LT(newton.fit_report().iterations, lbfgs.fit_report().iterations);
    ASSERT_EQ(lbfgs.coefficients().size(), newton.coefficients().size());
    for (std::size_t k = 0; k < lbfgs.coefficients().size(); ++k) {
      EXPECT_NEAR(lbfgs.coefficients()[k], newton.coefficients()[k], 1e-6) << k;
    }
    for (std::size_t k = 0; k < lbfgs.intercepts().size(); ++k) {
      EXPECT_NEAR(lbfgs.intercepts()[k], newton.intercepts()[k], 1e-6) << k;
    }
    EXPECT_NEAR(lbfgs.fit_report().objective, newton.fit_report().objective,
                1e-12 * newton.fit_report().objective);
  }
}

TEST(LogisticRegressionTest, HandComputedTinyCase) {
  // Rows x = 1 (class 1) and x = -1 (class 0), l2 = 1. By symmetry b = 0, and
  // f(w) = 2 log(1 + e^-w) + w^2 / 2, so f'(w) = 0 gives w = 2 / (1 + e^w): w = 0.674831614342...
  // (Newton's method on that equation by hand/calculator).
  const Dataset ds = make_or_die({Column::float64("x", {1, -1}), Column::float64("y", {1, 0})}, "y");
  for (const Solver solver : {Solver::kLbfgs, Solver::kNewton}) {
    const LogisticModel model = fit_or_die(ds, {.l2 = 1.0, .tol = 1e-12, .solver = solver});
    EXPECT_EQ(model.classes(), (std::vector<std::string>{"0", "1"}));
    ASSERT_EQ(model.coefficients().size(), 1u);
    const double w = model.coefficients()[0];
    EXPECT_NEAR(w, 0.6748316143423994, 1e-11);
    EXPECT_NEAR(w, 2.0 / (1.0 + std::exp(w)), 1e-11);
    EXPECT_NEAR(model.intercepts()[0], 0.0, 1e-12);
    EXPECT_NEAR(model.fit_report().objective, 2 * std::log1p(std::exp(-w)) + w * w / 2, 1e-14);
    const Predictions p = predict_or_die(model, ds);
    EXPECT_NEAR(p.probabilities(0, 1), 1 / (1 + std::exp(-w)), 1e-15);
    EXPECT_EQ(p.labels, (std::vector<std::int32_t>{1, 0}));
  }
}

TEST(LogisticRegressionTest, BinaryIsTheTwoClassCaseOfTheObjective) {
  const Dataset ds = synthetic(300, 2, 3);
  const double l2 = 0.5;
  const LogisticModel model = fit_or_die(ds, {.l2 = l2, .tol = 1e-10});
  ASSERT_EQ(model.coefficient_rows(), 1u);
  const Result<std::vector<std::int32_t>> labels = encode_labels(ds, model.classes());
  ASSERT_TRUE(labels.has_value());
  // The objective reported is sum -log p(y) + l2/2 ||w||^2 with p from the sigmoid...
  const Reference binary = reference(ds, model, l2);
  EXPECT_NEAR(binary.objective, model.fit_report().objective, 1e-10 * binary.objective);
  // ...and the binary optimum is the optimum of the two-class softmax objective with rows
  // W = [-w/2, w/2], b = [-b/2, b/2], whose penalty l2/2 (|w/2|^2 + |w/2|^2) = (l2/2)/2 |w|^2
  // needs twice the strength to match: its gradient vanishes there.
  std::vector<double> coef;
  for (double w : model.coefficients()) coef.push_back(-w / 2);
  for (double w : model.coefficients()) coef.push_back(w / 2);
  const std::vector<double> b{-model.intercepts()[0] / 2, model.intercepts()[0] / 2};
  const Reference softmax = reference(ds, model.feature_names(), *labels, 2, coef, b, 2 * l2);
  EXPECT_LE(softmax.max_abs_gradient(true), 1e-8);
  // Same log loss: the probabilities agree.
  double penalty = 0;
  for (double w : model.coefficients()) penalty += 0.5 * l2 * w * w;
  EXPECT_NEAR(softmax.objective - penalty, binary.objective - penalty, 1e-9);
}

class LogisticThreadsTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(LogisticThreadsTest, BitIdenticalAtAnyThreadCount) {
  // 5 blocks of 4096 rows, the last one partial.
  const Dataset ds = synthetic(18000, 3, 21);
  for (const Solver solver : {Solver::kLbfgs, Solver::kNewton}) {
    const LogisticModel one = fit_or_die(ds, {.tol = 1e-6, .solver = solver, .threads = 1});
    const LogisticModel many =
        fit_or_die(ds, {.tol = 1e-6, .solver = solver, .threads = GetParam()});
    EXPECT_EQ(one.coefficients(), many.coefficients());
    EXPECT_EQ(one.intercepts(), many.intercepts());
    EXPECT_EQ(one.fit_report().objective, many.fit_report().objective);
    EXPECT_EQ(one.fit_report().iterations, many.fit_report().iterations);
    EXPECT_EQ(one.fit_report().evaluations, many.fit_report().evaluations);
    EXPECT_EQ(one.to_bytes(), many.to_bytes());
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, LogisticThreadsTest, ::testing::Values(1u, 2u, 4u, 8u));

TEST(LogisticRegressionTest, HeldOutAccuracyApproachesTheTrueModel) {
  // The true model's accuracy (best_score, about 1 - label_noise) is the best any classifier can
  // expect on these labels. Fitted on 5000 rows, the binary model's held-out accuracy over 95000
  // rows comes within 0.01 of it (the standard error of an accuracy over 95000 rows is about
  // 0.001). With 4 classes the labels (argmax of linear scores, then uniform noise) are not a
  // softmax model, so the logistic optimum's boundaries differ from the true ones: the gap is
  // 0.023 here and stays so when fitted on 50000 rows, hence 0.03.
  for (const std::size_t classes : {2u, 4u}) {
    const double tolerance = classes == 2 ? 0.01 : 0.03;
    SCOPED_TRACE(classes);
    double best = 0;
    const Dataset ds = synthetic(100000, classes, 8, 0.1, &best);
    const Dataset train = ds.slice(0, 5000);
    const Dataset test = ds.slice(5000, ds.num_rows());
    const LogisticModel model = fit_or_die(train, {.l2 = 1.0});
    EXPECT_TRUE(model.fit_report().converged);
    const Predictions p = predict_or_die(model, test);
    const Result<std::vector<std::int32_t>> truth = encode_labels(test, model.classes());
    ASSERT_TRUE(truth.has_value());
    const Result<double> acc =
        accuracy(*truth, p.labels, static_cast<std::int32_t>(model.classes().size()));
    ASSERT_TRUE(acc.has_value());
    EXPECT_GT(*acc, best - tolerance) << "best " << best;
    EXPECT_LT(*acc, best + tolerance) << "best " << best;
  }
}

TEST(LogisticRegressionTest, ReportsNonConvergenceAtMaxIter) {
  const Dataset ds = synthetic(400, 3, 2);
  for (const Solver solver : {Solver::kLbfgs, Solver::kNewton}) {
    const LogisticModel model = fit_or_die(ds, {.max_iter = 1, .tol = 1e-8, .solver = solver});
    EXPECT_FALSE(model.fit_report().converged);
    EXPECT_EQ(model.fit_report().iterations, 1u);
    EXPECT_GT(model.fit_report().gradient_max_norm, 1e-8);
    EXPECT_GE(model.fit_report().evaluations, 2u);
  }
}

TEST(LogisticRegressionTest, PredictsProbabilitiesAndArgmaxLabels) {
  const Dataset ds = synthetic(600, 3, 4);
  const LogisticModel model = fit_or_die(ds);
  EXPECT_EQ(model.kind(), "logistic_regression");
  EXPECT_EQ(model.task(), Task::kClassification);
  EXPECT_EQ(model.classes(), (std::vector<std::string>{"class0", "class1", "class2"}));
  const Predictions p = predict_or_die(model, ds);
  ASSERT_EQ(p.labels.size(), ds.num_rows());
  ASSERT_EQ(p.probabilities.cols(), 3);
  EXPECT_EQ(p.classes, model.classes());
  for (std::size_t i = 0; i < ds.num_rows(); ++i) {
    const auto row = p.probabilities.row(static_cast<Eigen::Index>(i));
    EXPECT_NEAR(row.sum(), 1.0, 1e-12);
    Eigen::Index best = 0;
    row.maxCoeff(&best);
    EXPECT_EQ(p.labels[i], best);
  }
  // A view predicts its own rows; columns are matched by name.
  const std::vector<std::uint32_t> rows{5, 1, 599};
  const Predictions some = predict_or_die(model, ds.take(rows));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(some.labels[i], p.labels[rows[i]]);
    EXPECT_NEAR(some.probabilities(static_cast<Eigen::Index>(i), 2),
                p.probabilities(static_cast<Eigen::Index>(rows[i]), 2), 1e-15);
  }
  const std::vector<std::string> reversed{"x3", "x2", "x1", "x0"};
  const Result<Dataset> shuffled = ds.select_columns(reversed);
  ASSERT_TRUE(shuffled.has_value());
  EXPECT_EQ(predict_or_die(model, *shuffled).labels, p.labels);
  const std::vector<std::string> fewer{"x0", "x1"};
  const Result<Predictions> missing = model.predict(*ds.select_columns(fewer));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(missing.error().message(), "x2")) << missing.error().message();
  // Exact ties go to the lowest class index.
  const LogisticModel flat({"x0"}, {"a", "b", "c"}, {0, 0, 0}, {0, 0, 0});
  const Predictions tie = predict_or_die(flat, ds.slice(0, 2));
  EXPECT_EQ(tie.labels, (std::vector<std::int32_t>{0, 0}));
}

// Reference coefficients from scikit-learn 1.2.1 (Debian 12's python3-sklearn), produced with
//   X = np.round(np.random.RandomState(3).normal(size=(15, 3)), 2)
//   y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 1, 0]
//   LogisticRegression(C=1/0.5, tol=1e-12, max_iter=100000, solver="newton-cg").fit(X, y)
//   LogisticRegression(C=1/0.5, tol=1e-12, max_iter=100000, solver="newton-cg").fit(X[:, :2], y == 1)
// and printed with repr(). newton-cg is used because it reaches a max |gradient| of 3e-9 there;
// the lbfgs solver stops at 2.5e-5 (scipy's relative-decrease test ends it before gtol), which
// moves the coefficients by ~5e-6.
const std::vector<std::vector<double>> kSkX{
    {1.79, 0.44, 0.1},    {-1.86, -0.28, -0.35}, {-0.08, -0.63, -0.04}, {-0.48, -1.31, 0.88},
    {0.88, 1.71, 0.05},   {-0.4, -0.55, -1.55},  {0.98, -1.1, -1.19},   {-0.21, 1.49, 0.24},
    {-1.02, -0.71, 0.63}, {-0.16, -0.77, -0.23}, {0.75, 1.98, -1.24},   {-0.63, -0.8, -2.42},
    {-0.92, -1.02, 1.12}, {-0.13, -1.62, 0.65},  {-0.36, -1.74, -0.6}};
const std::vector<double> kSkY{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 1, 0};

Dataset sklearn_data(std::size_t features, bool binary) {
  std::vector<Column> columns;
  for (std::size_t j = 0; j < features; ++j) {
    std::vector<double> v;
    for (const auto& row : kSkX) v.push_back(row[j]);
    columns.push_back(Column::float64("f" + std::to_string(j), v));
  }
  std::vector<double> y = kSkY;
  if (binary) {
    for (double& v : y) v = v == 1 ? 1 : 0;
  }
  columns.push_back(Column::float64("y", y));
  return make_or_die(std::move(columns), "y");
}

TEST(LogisticRegressionTest, MatchesScikitLearn) {
  const std::vector<double> multi_coef{1.147583664690577,    -0.8691551307805128,
                                       0.02089141200724933,  -0.5310231781124152,
                                       1.0198332517297681,   0.25412385925969033,
                                       -0.6165604865781613,  -0.1506781209492551,
                                       -0.27501527126694014};
  const std::vector<double> multi_intercept{-0.25096324268274545, 0.3240382291642685,
                                            -0.07307498648152298};
  const std::vector<double> binary_coef{-0.6039140601628388, 1.3102126900009077};
  const std::vector<double> binary_intercept{-0.5272746675936606};
  for (const Solver solver : {Solver::kLbfgs, Solver::kNewton}) {
    const LogisticModel multi =
        fit_or_die(sklearn_data(3, false), {.l2 = 0.5, .tol = 1e-10, .solver = solver});
    ASSERT_EQ(multi.coefficients().size(), multi_coef.size());
    for (std::size_t k = 0; k < multi_coef.size(); ++k) {
      EXPECT_NEAR(multi.coefficients()[k], multi_coef[k], 1e-7) << k;
    }
    for (std::size_t k = 0; k < 3; ++k) {
      EXPECT_NEAR(multi.intercepts()[k], multi_intercept[k], 1e-7) << k;
    }
    EXPECT_TRUE(multi.fit_report().converged);
    const LogisticModel binary =
        fit_or_die(sklearn_data(2, true), {.l2 = 0.5, .tol = 1e-10, .solver = solver});
    ASSERT_EQ(binary.coefficients().size(), 2u);
    EXPECT_NEAR(binary.coefficients()[0], binary_coef[0], 1e-7);
    EXPECT_NEAR(binary.coefficients()[1], binary_coef[1], 1e-7);
    EXPECT_NEAR(binary.intercepts()[0], binary_intercept[0], 1e-7);
    EXPECT_TRUE(binary.fit_report().converged);
  }
}

TEST(LogisticRegressionTest, RejectsBadInput) {
  const Column x = Column::float64("x", {1, 2, 3, 4});
  const Column y = Column::float64("y", {0, 1, 0, 1});
  const Dataset good = make_or_die({x, y}, "y");
  const auto expect_error = [](const Result<LogisticModel>& model,
                               std::vector<std::string_view> parts) {
    ASSERT_FALSE(model.has_value());
    EXPECT_EQ(model.error().code(), StatusCode::kInvalidArgument);
    for (std::string_view part : parts) {
      EXPECT_TRUE(contains(model.error().message(), part))
          << "'" << part << "' not in: " << model.error().message();
    }
  };
  expect_error(fit_logistic_regression(make_or_die(
                   {x, Column::categorical("plan", {0, 1, 0, 1}, {"basic", "pro"}), y}, "y")),
               {"fit_logistic_regression", "'plan'", "categorical", "encode"});
  expect_error(fit_logistic_regression(
                   make_or_die({Column::float64("x", {1, kNaN, 3, 4}), y}, "y")),
               {"'x'", "row 1", "missing", "impute"});
  expect_error(fit_logistic_regression(make_or_die({x, Column::float64("y", {1, 1, 1, 1})}, "y")),
               {"'y'", "1 class", "at least 2"});
  expect_error(fit_logistic_regression(make_or_die({x, Column::float64("y", {0, kNaN, 1, 1})}, "y")),
               {"'y'", "row 1", "missing"});
  expect_error(fit_logistic_regression(make_or_die({x, y})), {"no target"});
  for (const double l2 : {0.0, -1.0, kNaN, std::numeric_limits<double>::infinity()}) {
    expect_error(fit_logistic_regression(good, {.l2 = l2}), {"l2", "finite and > 0"});
  }
  for (const double tol : {0.0, -1e-4, kNaN}) {
    expect_error(fit_logistic_regression(good, {.tol = tol}), {"tol", "finite and > 0"});
  }
  expect_error(fit_logistic_regression(good, {.max_iter = 0}), {"max_iter"});
  expect_error(fit_logistic_regression(good, {.threads = 0}), {"threads"});
  std::vector<Column> wide;
  for (int j = 0; j < 2048; ++j) wide.push_back(Column::float64("w" + std::to_string(j), {0, 1}));
  wide.push_back(Column::float64("y", {0, 1}));
  expect_error(fit_logistic_regression(make_or_die(wide, "y"), {.solver = Solver::kNewton}),
               {"2049 x 2049", "L-BFGS"});
}

TEST(LogisticRegressionTest, SerialisesBitExactly) {
  for (const std::size_t classes : {2u, 3u}) {
    SCOPED_TRACE(classes);
    const Dataset ds = synthetic(300, classes, 9);
    const LogisticModel model = fit_or_die(ds);
    const std::string bytes = model.to_bytes();
    ASSERT_EQ(bytes.substr(0, 8), "TFLOGIST");
    const Result<LogisticModel> back = LogisticModel::from_bytes(bytes);
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_EQ(back->to_bytes(), bytes);
    EXPECT_EQ(back->feature_names(), model.feature_names());
    EXPECT_EQ(back->classes(), model.classes());
    EXPECT_EQ(back->coefficients(), model.coefficients());
    EXPECT_EQ(back->intercepts(), model.intercepts());
    EXPECT_EQ(back->fit_report().iterations, model.fit_report().iterations);
    EXPECT_EQ(back->fit_report().converged, model.fit_report().converged);
    const Predictions a = predict_or_die(model, ds);
    const Predictions b = predict_or_die(*back, ds);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_TRUE(a.probabilities == b.probabilities);
    expect_every_corruption_rejected<LogisticModel>(bytes, 0x01);
  }
  const Result<LogisticModel> other = LogisticModel::from_bytes(std::string(40, 'x'));
  ASSERT_FALSE(other.has_value());
  EXPECT_TRUE(contains(other.error().message(), "bad magic")) << other.error().message();
}

}  // namespace
}  // namespace trainflow::ml

#include "trainflow/ml/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "testing/printers.hpp"

namespace trainflow::ml {
namespace {

using Labels = std::vector<std::int32_t>;
using Values = std::vector<double>;

// The message of a failed result, and a check that it failed with kInvalidArgument.
template <class T>
std::string invalid_message(const Result<T>& result) {
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), StatusCode::kInvalidArgument);
  return result.error().message();
}

// TP = 3, FP = 2, FN = 1, TN = 2.
const Labels kBinaryTrue{0, 0, 1, 1, 1, 0, 1, 0};
const Labels kBinaryPred{0, 1, 1, 0, 1, 0, 1, 1};

// Four classes. Class 2 has support 4 and is never predicted; class 3 never occurs in y_true but
// is predicted twice. Per class (precision, recall, F1): 0: (2/3, 2/3, 2/3), 1: (1/4, 1/2, 1/3),
// 2: (0, 0, 0), 3: (0, 0, 0). Supports 3, 2, 4, 0.
const Labels kMultiTrue{0, 0, 0, 1, 1, 2, 2, 2, 2};
const Labels kMultiPred{0, 0, 1, 1, 3, 0, 1, 1, 3};

// --- Classification from labels ---

TEST(MetricsTest, BinaryHandComputed) {
  EXPECT_DOUBLE_EQ(*accuracy(kBinaryTrue, kBinaryPred, 2), 5.0 / 8.0);
  EXPECT_DOUBLE_EQ(*precision(kBinaryTrue, kBinaryPred, 2, Average::kBinary), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(*recall(kBinaryTrue, kBinaryPred, 2, Average::kBinary), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(*f1(kBinaryTrue, kBinaryPred, 2, Average::kBinary), 2.0 / 3.0);
}

TEST(MetricsTest, BinaryMacroAndWeightedHandComputed) {
  // Class 0: TP 2, predicted 3, support 4 -> P 2/3, R 1/2, F1 4/7.
  // Class 1: P 3/5, R 3/4, F1 2/3.
  EXPECT_DOUBLE_EQ(*precision(kBinaryTrue, kBinaryPred, 2, Average::kMacro),
                   (2.0 / 3.0 + 3.0 / 5.0) / 2);
  EXPECT_DOUBLE_EQ(*recall(kBinaryTrue, kBinaryPred, 2, Average::kMacro), (0.5 + 0.75) / 2);
  EXPECT_DOUBLE_EQ(*f1(kBinaryTrue, kBinaryPred, 2, Average::kMacro), (4.0 / 7.0 + 2.0 / 3.0) / 2);
  EXPECT_DOUBLE_EQ(*f1(kBinaryTrue, kBinaryPred, 2, Average::kWeighted),
                   (4 * 4.0 / 7.0 + 4 * 2.0 / 3.0) / 8);
}

TEST(MetricsTest, MulticlassHandComputedWithZeroDivision) {
  EXPECT_DOUBLE_EQ(*accuracy(kMultiTrue, kMultiPred, 4), 3.0 / 9.0);
  EXPECT_DOUBLE_EQ(*precision(kMultiTrue, kMultiPred, 4, Average::kMacro), 11.0 / 48.0);
  EXPECT_DOUBLE_EQ(*recall(kMultiTrue, kMultiPred, 4, Average::kMacro), 7.0 / 24.0);
  EXPECT_DOUBLE_EQ(*f1(kMultiTrue, kMultiPred, 4, Average::kMacro), 1.0 / 4.0);
  EXPECT_DOUBLE_EQ(*precision(kMultiTrue, kMultiPred, 4, Average::kWeighted), 5.0 / 18.0);
  EXPECT_DOUBLE_EQ(*recall(kMultiTrue, kMultiPred, 4, Average::kWeighted), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(*f1(kMultiTrue, kMultiPred, 4, Average::kWeighted), 8.0 / 27.0);
}

TEST(MetricsTest, ClassAbsentFromBothIsLeftOutOfAverages) {
  // Class 4 occurs in neither y_true nor y_pred: scikit-learn's labels=None ignores it.
  for (const Average average : {Average::kMacro, Average::kWeighted}) {
    SCOPED_TRACE(std::string(to_string(average)));
    EXPECT_DOUBLE_EQ(*precision(kMultiTrue, kMultiPred, 5, average),
                     *precision(kMultiTrue, kMultiPred, 4, average));
    EXPECT_DOUBLE_EQ(*recall(kMultiTrue, kMultiPred, 5, average),
                     *recall(kMultiTrue, kMultiPred, 4, average));
    EXPECT_DOUBLE_EQ(*f1(kMultiTrue, kMultiPred, 5, average),
                     *f1(kMultiTrue, kMultiPred, 4, average));
  }
}

TEST(MetricsTest, BinaryZeroDivisionGivesZero) {
  const Labels y_true{1, 0, 1, 0};
  const Labels never_positive{0, 0, 0, 0};
  EXPECT_EQ(*precision(y_true, never_positive, 2, Average::kBinary), 0.0);
  EXPECT_EQ(*recall(y_true, never_positive, 2, Average::kBinary), 0.0);
  EXPECT_EQ(*f1(y_true, never_positive, 2, Average::kBinary), 0.0);
  const Labels no_positive{0, 0, 0, 0};
  const Labels some_positive{1, 0, 0, 0};
  EXPECT_EQ(*recall(no_positive, some_positive, 2, Average::kBinary), 0.0);
  EXPECT_EQ(*precision(no_positive, some_positive, 2, Average::kBinary), 0.0);
}

TEST(MetricsTest, PerfectPredictionsScoreOne) {
  for (const Average average : {Average::kMacro, Average::kWeighted}) {
    EXPECT_EQ(*precision(kMultiTrue, kMultiTrue, 4, average), 1.0);
    EXPECT_EQ(*recall(kMultiTrue, kMultiTrue, 4, average), 1.0);
    EXPECT_EQ(*f1(kMultiTrue, kMultiTrue, 4, average), 1.0);
  }
  EXPECT_EQ(*accuracy(kMultiTrue, kMultiTrue, 4), 1.0);
}

TEST(MetricsTest, ConfusionMatrixEntries) {
  const auto binary = confusion_matrix(kBinaryTrue, kBinaryPred, 2);
  ASSERT_TRUE(binary.has_value()) << binary.error().to_string();
  EXPECT_EQ(binary->num_classes(), 2);
  EXPECT_EQ((*binary)(0, 0), 2);
  EXPECT_EQ((*binary)(0, 1), 2);
  EXPECT_EQ((*binary)(1, 0), 1);
  EXPECT_EQ((*binary)(1, 1), 3);
  EXPECT_EQ(binary->total(), 8);
  EXPECT_EQ(binary->trace(), 5);

  const auto multi = confusion_matrix(kMultiTrue, kMultiPred, 4);
  ASSERT_TRUE(multi.has_value());
  const std::int64_t expected[4][4] = {{2, 1, 0, 0}, {0, 1, 0, 1}, {1, 2, 0, 1}, {0, 0, 0, 0}};
  for (std::int32_t t = 0; t < 4; ++t) {
    for (std::int32_t p = 0; p < 4; ++p) EXPECT_EQ((*multi)(t, p), expected[t][p]) << t << p;
  }
}

TEST(MetricsTest, ConfusionMatrixToString) {
  const auto binary = confusion_matrix(kBinaryTrue, kBinaryPred, 2);
  ASSERT_TRUE(binary.has_value());
  EXPECT_EQ(binary->to_string(),
            "true\\pred  0  1\n"
            "        0  2  2\n"
            "        1  1  3\n");
  const Labels many_zeros(12, 0);
  const auto wide = confusion_matrix(many_zeros, many_zeros, 2);
  ASSERT_TRUE(wide.has_value());
  EXPECT_EQ(wide->to_string(),
            "true\\pred   0   1\n"
            "        0  12   0\n"
            "        1   0   0\n");
}

TEST(MetricsTest, ConfusionMatrixEquality) {
  EXPECT_EQ(*confusion_matrix(kBinaryTrue, kBinaryPred, 2),
            *confusion_matrix(kBinaryTrue, kBinaryPred, 2));
  EXPECT_FALSE(*confusion_matrix(kBinaryTrue, kBinaryPred, 2) ==
               *confusion_matrix(kBinaryPred, kBinaryTrue, 2));
  EXPECT_EQ(ConfusionMatrix(3).total(), 0);
}

// Random labels in [0, num_classes).
Labels random_labels(std::mt19937& rng, std::size_t n, std::int32_t num_classes) {
  std::uniform_int_distribution<std::int32_t> label(0, num_classes - 1);
  Labels out(n);
  for (auto& l : out) l = label(rng);
  return out;
}

TEST(MetricsTest, IdentitiesOnRandomData) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const std::int32_t k = 2 + trial % 4;
    const std::size_t n = 1 + static_cast<std::size_t>(trial % 23);
    const Labels y_true = random_labels(rng, n, k);
    const Labels y_pred = random_labels(rng, n, k);
    SCOPED_TRACE("trial " + std::to_string(trial));

    const auto cm = confusion_matrix(y_true, y_pred, k);
    ASSERT_TRUE(cm.has_value());
    EXPECT_DOUBLE_EQ(*accuracy(y_true, y_pred, k),
                     static_cast<double>(cm->trace()) / static_cast<double>(n));
    EXPECT_EQ(cm->total(), static_cast<std::int64_t>(n));
    // Weighted recall is accuracy: sum_c (support_c / n) * (tp_c / support_c).
    EXPECT_NEAR(*recall(y_true, y_pred, k, Average::kWeighted), *accuracy(y_true, y_pred, k),
                1e-12);
    // Recall is precision with the roles of y_true and y_pred swapped, class by class and so in
    // the macro average.
    EXPECT_DOUBLE_EQ(*recall(y_true, y_pred, k, Average::kMacro),
                     *precision(y_pred, y_true, k, Average::kMacro));
    if (k == 2) {
      EXPECT_DOUBLE_EQ(*recall(y_true, y_pred, 2, Average::kBinary),
                       *precision(y_pred, y_true, 2, Average::kBinary));
      const double p = *precision(y_true, y_pred, 2, Average::kBinary);
      const double r = *recall(y_true, y_pred, 2, Average::kBinary);
      const double f = *f1(y_true, y_pred, 2, Average::kBinary);
      if (p + r > 0) {
        EXPECT_NEAR(f, 2 * p * r / (p + r), 1e-12);
      } else {
        EXPECT_EQ(f, 0.0);
      }
    }
  }
}

TEST(MetricsTest, ClassificationErrors) {
  EXPECT_EQ(invalid_message(accuracy(Labels{}, Labels{}, 2)),
            "y_true is empty; a metric needs at least one sample");
  EXPECT_EQ(invalid_message(accuracy(Labels{0, 1, 1}, Labels{0, 1}, 2)),
            "y_true has 3 values but y_pred has 2");
  Labels y_true(18, 0);
  y_true[17] = 5;
  EXPECT_EQ(invalid_message(precision(y_true, Labels(18, 0), 3, Average::kMacro)),
            "y_true[17] = 5 is outside [0, 3)");
  EXPECT_EQ(invalid_message(confusion_matrix(Labels{0, 1}, Labels{0, -1}, 3)),
            "y_pred[1] = -1 is outside [0, 3)");
  EXPECT_EQ(invalid_message(f1(Labels{0, 1}, Labels{0, 1}, 3, Average::kBinary)),
            "Average::kBinary needs num_classes == 2 (positive class 1), got 3; use kMacro or "
            "kWeighted");
  EXPECT_EQ(invalid_message(recall(Labels{0}, Labels{0}, 0, Average::kMacro)),
            "num_classes = 0 must be at least 1");
}

// --- ROC AUC ---

TEST(MetricsTest, RocAucHandComputed) {
  // scikit-learn's documented example.
  EXPECT_DOUBLE_EQ(*roc_auc(Labels{0, 0, 1, 1}, Values{0.1, 0.4, 0.35, 0.8}), 0.75);
  // Positives 0.35, 0.8, 0.4; negatives 0.1, 0.4, 0.4. Wins: 1 + 3 + (1 + 1/2 + 1/2) = 6 of 9.
  EXPECT_DOUBLE_EQ(*roc_auc(Labels{0, 0, 1, 1, 0, 1}, Values{0.1, 0.4, 0.35, 0.8, 0.4, 0.4}),
                   6.0 / 9.0);
}

TEST(MetricsTest, RocAucExtremes) {
  const Labels y{0, 0, 1, 0, 1, 1};
  EXPECT_EQ(*roc_auc(y, Values{1, 2, 5, 3, 6, 4}), 1.0);
  EXPECT_EQ(*roc_auc(y, Values{6, 5, 2, 4, 1, 3}), 0.0);
  EXPECT_EQ(*roc_auc(y, Values(6, 0.3)), 0.5);
}

// The pairwise definition, O(n^2).
double brute_force_auc(const Labels& y, const Values& scores) {
  double wins = 0;
  double pairs = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    for (std::size_t j = 0; j < y.size(); ++j) {
      if (y[i] != 1 || y[j] != 0) continue;
      pairs += 1;
      if (scores[i] > scores[j]) wins += 1;
      if (scores[i] == scores[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

// Random binary labels with both classes present, and scores on a coarse grid (many ties).
void random_binary_case(std::mt19937& rng, Labels& y, Values& scores) {
  std::uniform_int_distribution<std::size_t> size(2, 40);
  std::uniform_int_distribution<int> grid(0, 1 + static_cast<int>(rng() % 12));
  const std::size_t n = size(rng);
  y = random_labels(rng, n, 2);
  y[0] = 0;
  y[1] = 1;
  std::shuffle(y.begin(), y.end(), rng);
  scores.resize(n);
  for (auto& s : scores) s = grid(rng) / 8.0 - 0.5;
}

TEST(MetricsTest, RocAucMatchesPairwiseCountOnRandomData) {
  std::mt19937 rng(42);
  Labels y;
  Values scores;
  for (int trial = 0; trial < 1000; ++trial) {
    random_binary_case(rng, y, scores);
    const auto auc = roc_auc(y, scores);
    ASSERT_TRUE(auc.has_value()) << auc.error().to_string();
    ASSERT_DOUBLE_EQ(*auc, brute_force_auc(y, scores)) << "trial " << trial;
  }
}

TEST(MetricsTest, RocAucInvariantUnderMonotoneTransformation) {
  std::mt19937 rng(3);
  Labels y;
  Values scores;
  for (int trial = 0; trial < 100; ++trial) {
    random_binary_case(rng, y, scores);
    Values transformed(scores.size());
    std::transform(scores.begin(), scores.end(), transformed.begin(),
                   [](double s) { return std::exp(3 * s) + s * s * s - 7; });
    ASSERT_EQ(*roc_auc(y, scores), *roc_auc(y, transformed)) << "trial " << trial;
    // A decreasing transformation mirrors the AUC.
    Values negated(scores.size());
    std::transform(scores.begin(), scores.end(), negated.begin(), [](double s) { return -s; });
    ASSERT_NEAR(*roc_auc(y, negated), 1.0 - *roc_auc(y, scores), 1e-12) << "trial " << trial;
  }
}

TEST(MetricsTest, RocAucErrors) {
  EXPECT_EQ(invalid_message(roc_auc(Labels{}, Values{})),
            "y_true is empty; a metric needs at least one sample");
  EXPECT_EQ(invalid_message(roc_auc(Labels{0, 1}, Values{0.5})),
            "y_true has 2 values but scores has 1");
  EXPECT_EQ(invalid_message(roc_auc(Labels{0, 1, 2}, Values{0.1, 0.2, 0.3})),
            "y_true[2] = 2 is outside [0, 2)");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(invalid_message(roc_auc(Labels{0, 1, 1}, Values{0.1, 0.2, nan})),
            "scores[2] is nan; every value must be finite");
  EXPECT_EQ(invalid_message(roc_auc(Labels{1, 1, 1}, Values{0.1, 0.2, 0.3})),
            "roc_auc is undefined when y_true holds one class only (all 3 samples are 1); it "
            "needs both 0 and 1");
  EXPECT_EQ(invalid_message(roc_auc(Labels{0, 0}, Values{0.1, 0.2})),
            "roc_auc is undefined when y_true holds one class only (all 2 samples are 0); it "
            "needs both 0 and 1");
}

TEST(MetricsTest, RocAucOvrHandComputed) {
  // Perfectly separated classes.
  const Labels y{0, 1, 2};
  EXPECT_EQ(*roc_auc_ovr(y, Values{0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8}, 3), 1.0);
  // Class 0 vs rest: 0.5 beats 0.25 and 0.25 -> 1. Class 1: every score is 0.25 -> 1/2.
  // Class 2: positive 0.5 vs negatives 0.25 and 0.5 -> (1 + 1/2) / 2 = 3/4. Mean 3/4.
  const Values p{0.5, 0.25, 0.25, 0.25, 0.25, 0.5, 0.25, 0.25, 0.5};
  EXPECT_DOUBLE_EQ(*roc_auc_ovr(y, p, 3), 0.75);
}

TEST(MetricsTest, RocAucOvrIsMeanOfPerClassAucs) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> grid(1, 6);
  for (int trial = 0; trial < 200; ++trial) {
    const std::int32_t k = 2 + trial % 4;
    const std::size_t n = static_cast<std::size_t>(k) + static_cast<std::size_t>(trial % 17);
    Labels y = random_labels(rng, n, k);
    for (std::int32_t c = 0; c < k; ++c) y[static_cast<std::size_t>(c)] = c;  // all present
    const auto width = static_cast<std::size_t>(k);
    Values p(n * width);
    for (std::size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (std::size_t c = 0; c < width; ++c) {
        p[i * width + c] = grid(rng);
        sum += p[i * width + c];
      }
      for (std::size_t c = 0; c < width; ++c) p[i * width + c] /= sum;
    }
    double mean = 0;
    for (std::size_t c = 0; c < width; ++c) {
      Labels is_c(n);
      Values column(n);
      for (std::size_t i = 0; i < n; ++i) {
        is_c[i] = y[i] == static_cast<std::int32_t>(c) ? 1 : 0;
        column[i] = p[i * width + c];
      }
      mean += *roc_auc(is_c, column) / k;
    }
    const auto ovr = roc_auc_ovr(y, p, k);
    ASSERT_TRUE(ovr.has_value()) << ovr.error().to_string();
    ASSERT_NEAR(*ovr, mean, 1e-12) << "trial " << trial;
  }
}

TEST(MetricsTest, RocAucOvrErrors) {
  const Labels y{0, 1, 1};
  EXPECT_EQ(invalid_message(roc_auc_ovr(y, Values(9, 1.0 / 3), 3)),
            "class 2 never occurs in y_true; one-vs-rest roc_auc needs every class in [0, 3) "
            "present");
  EXPECT_EQ(invalid_message(roc_auc_ovr(Labels{0, 1, 2}, Values(8, 1.0 / 3), 3)),
            "probabilities has 8 values; expected y_true.size() * num_classes = 3 * 3 = 9 "
            "(row-major)");
  EXPECT_EQ(invalid_message(roc_auc_ovr(Labels{0, 1}, Values{0.5, 0.5, 0.5, 0.4}, 2)),
            "probabilities row 1 sums to 0.9, not 1; pass class probabilities");
  EXPECT_EQ(invalid_message(roc_auc_ovr(Labels{0, 1}, Values{0.5, 0.5, 1.5, -0.5}, 2)),
            "probabilities[2] = 1.5 is not a probability in [0, 1]");
  EXPECT_EQ(invalid_message(roc_auc_ovr(Labels{0, 1}, Values{0.5, 0.5, 0.5, 0.5}, 1)),
            "num_classes = 1 must be at least 2");
}

// --- Log loss ---

TEST(MetricsTest, LogLossHandComputed) {
  // scikit-learn's documented example: 0.21616...
  const Labels y{1, 0, 0, 1};
  const double expected = -(2 * std::log(0.9) + std::log(0.8) + std::log(0.65)) / 4;
  EXPECT_DOUBLE_EQ(*log_loss(y, Values{0.9, 0.1, 0.2, 0.65}), expected);
  EXPECT_NEAR(expected, 0.21616, 1e-5);
  EXPECT_DOUBLE_EQ(*log_loss(y, Values{0.1, 0.9, 0.9, 0.1, 0.8, 0.2, 0.35, 0.65}, 2), expected);

  const Values p3{0.7, 0.2, 0.1, 0.1, 0.6, 0.3, 0.2, 0.2, 0.6};
  EXPECT_DOUBLE_EQ(*log_loss(Labels{0, 1, 2}, p3, 3), -(std::log(0.7) + 2 * std::log(0.6)) / 3);
  // Only the probability of the true class counts; class 2 may be absent from y_true.
  const Values first_two_rows(p3.begin(), p3.begin() + 6);
  EXPECT_DOUBLE_EQ(*log_loss(Labels{1, 0}, first_two_rows, 3),
                   -(std::log(0.2) + std::log(0.1)) / 2);
}

TEST(MetricsTest, LogLossClipsCertainProbabilities) {
  const double worst = -std::log(kLogLossEpsilon);  // 34.538776394910684
  EXPECT_NEAR(worst, 34.538776394910684, 1e-12);
  EXPECT_DOUBLE_EQ(*log_loss(Labels{1}, Values{0.0}), worst);
  EXPECT_DOUBLE_EQ(*log_loss(Labels{0}, Values{1.0}), worst);
  EXPECT_DOUBLE_EQ(*log_loss(Labels{1, 0}, Values{1.0, 0.0, 0.0, 1.0}, 2), worst);
  const double best = *log_loss(Labels{1, 0}, Values{1.0, 0.0});
  EXPECT_GT(best, 0.0);
  EXPECT_LT(best, 2e-15);
}

TEST(MetricsTest, LogLossErrors) {
  EXPECT_EQ(invalid_message(log_loss(Labels{0, 1}, Values{0.5})),
            "y_true has 2 values but p_positive has 1");
  EXPECT_EQ(invalid_message(log_loss(Labels{0, 1}, Values{0.5, 1.25})),
            "p_positive[1] = 1.25 is not a probability in [0, 1]");
  EXPECT_EQ(invalid_message(
                log_loss(Labels{0, 1}, Values{0.5, std::numeric_limits<double>::quiet_NaN()})),
            "p_positive[1] = nan is not a probability in [0, 1]");
  EXPECT_EQ(invalid_message(log_loss(Labels{0, 3}, Values{0.5, 0.5})),
            "y_true[1] = 3 is outside [0, 2)");
  EXPECT_EQ(invalid_message(log_loss(Labels{0, 1}, Values{0.5, 0.5, 0.2, 0.2}, 2)),
            "probabilities row 1 sums to 0.4, not 1; pass class probabilities");
  EXPECT_EQ(invalid_message(log_loss(Labels{}, Values{}, 2)),
            "y_true is empty; a metric needs at least one sample");
}

TEST(MetricsTest, MulticlassProbabilityMetricsCheckTheirArgumentsAlike) {
  // roc_auc_ovr and the multiclass log_loss share one argument check: same inputs, same error.
  struct Case {
    Labels y;
    Values p;
    std::int32_t k;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Labels{0, 1}, Values{0.5, 0.5, 0.5, 0.5}, 1, "num_classes = 1 must be at least 2"},
      {Labels{}, Values{}, 2, "y_true is empty; a metric needs at least one sample"},
      {Labels{0, 2}, Values{0.5, 0.5, 0.5, 0.5}, 2, "y_true[1] = 2 is outside [0, 2)"},
      {Labels{0, 1}, Values{0.5, 0.5, 0.5}, 2,
       "probabilities has 3 values; expected y_true.size() * num_classes = 2 * 2 = 4 "
       "(row-major)"},
      {Labels{0, 1}, Values{0.5, 0.5, -0.1, 1.1}, 2,
       "probabilities[2] = -0.1 is not a probability in [0, 1]"},
      {Labels{0, 1}, Values{0.5, 0.5, 0.3, 0.3}, 2,
       "probabilities row 1 sums to 0.6, not 1; pass class probabilities"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(invalid_message(roc_auc_ovr(c.y, c.p, c.k)), c.message);
    EXPECT_EQ(invalid_message(log_loss(c.y, c.p, c.k)), c.message);
  }
}

// --- Regression ---

TEST(MetricsTest, RegressionHandComputed) {
  // scikit-learn's documented example.
  const Values y_true{3, -0.5, 2, 7};
  const Values y_pred{2.5, 0.0, 2, 8};
  EXPECT_DOUBLE_EQ(*mae(y_true, y_pred), 0.5);
  EXPECT_DOUBLE_EQ(*rmse(y_true, y_pred), std::sqrt(0.375));
  // mean 2.875; residual 1.5; total 29.1875.
  EXPECT_DOUBLE_EQ(*r2(y_true, y_pred), 1 - 1.5 / 29.1875);
  EXPECT_NEAR(*r2(y_true, y_pred), 0.948608137, 1e-9);
}

TEST(MetricsTest, R2OfMeanPredictorIsZeroAndOfPerfectIsOne) {
  const Values y_true{1, 2, 3, 6};  // mean 3
  EXPECT_EQ(*r2(y_true, Values(4, 3.0)), 0.0);
  EXPECT_EQ(*r2(y_true, y_true), 1.0);
  EXPECT_LT(*r2(y_true, Values{6, 3, 2, 1}), 0.0);
}

TEST(MetricsTest, R2OfConstantTruthFollowsScikitLearn) {
  const Values y_true{0.1, 0.1, 0.1};
  EXPECT_EQ(*r2(y_true, y_true), 1.0);
  EXPECT_EQ(*r2(y_true, Values{0.1, 0.1, 0.2}), 0.0);
}

TEST(MetricsTest, PerfectRegressionHasZeroError) {
  const Values y{1.5, -2, 8};
  EXPECT_EQ(*rmse(y, y), 0.0);
  EXPECT_EQ(*mae(y, y), 0.0);
}

TEST(MetricsTest, RegressionErrors) {
  EXPECT_EQ(invalid_message(rmse(Values{}, Values{})),
            "y_true is empty; a metric needs at least one sample");
  EXPECT_EQ(invalid_message(mae(Values{1, 2}, Values{1})), "y_true has 2 values but y_pred has 1");
  EXPECT_EQ(invalid_message(mae(Values{1, 2}, Values{1, std::numeric_limits<double>::infinity()})),
            "y_pred[1] is inf; every value must be finite");
  EXPECT_EQ(invalid_message(r2(Values{std::numeric_limits<double>::quiet_NaN(), 1}, Values{1, 1})),
            "y_true[0] is nan; every value must be finite");
  EXPECT_EQ(invalid_message(r2(Values{1}, Values{1})),
            "r2 needs at least 2 samples, got 1; it is undefined for one");
}

// --- Names ---

TEST(MetricNamesTest, ListsTheGateNamesInOrder) {
  const auto names = metric_names();
  const std::vector<std::string_view> expected{"accuracy", "precision", "recall", "f1", "roc_auc",
                                               "log_loss", "rmse",      "mae",    "r2"};
  EXPECT_EQ(std::vector<std::string_view>(names.begin(), names.end()), expected);
}

TEST(MetricNamesTest, HigherIsBetter) {
  for (const std::string_view name : {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}) {
    EXPECT_TRUE(*higher_is_better(name)) << name;
  }
  for (const std::string_view name : {"log_loss", "rmse", "mae"}) {
    EXPECT_FALSE(*higher_is_better(name)) << name;
  }
  const auto unknown = higher_is_better("auc");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.error().message(),
            "unknown metric 'auc'; known metrics: accuracy, precision, recall, f1, roc_auc, "
            "log_loss, rmse, mae, r2");
}

}  // namespace
}  // namespace trainflow::ml

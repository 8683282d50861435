#include "trainflow/ml/evaluate.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace trainflow::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<Metrics> trials(std::initializer_list<double> values, const char* name) {
  std::vector<Metrics> out;
  for (double v : values) out.push_back({{name, v}});
  return out;
}

TEST(BestTrialTest, AutoMaximisesScoresAndMinimisesLosses) {
  EXPECT_EQ(*best_trial(trials({0.7, 0.9, 0.8}, "roc_auc"), "roc_auc"), 1U);
  EXPECT_EQ(*best_trial(trials({0.7, 0.9, 0.3}, "log_loss"), "log_loss"), 2U);
  EXPECT_EQ(*best_trial(trials({0.1, -0.2}, "r2"), "r2"), 0U);
  EXPECT_EQ(*best_trial(trials({3.0, 2.0}, "rmse"), "rmse"), 1U);
}

TEST(BestTrialTest, ExplicitObjectiveOverridesTheMetricsDirection) {
  EXPECT_EQ(*best_trial(trials({0.7, 0.9, 0.3}, "log_loss"), "log_loss", Objective::kMaximise), 1U);
  EXPECT_EQ(*best_trial(trials({0.7, 0.9, 0.8}, "accuracy"), "accuracy", Objective::kMinimise), 0U);
}

TEST(BestTrialTest, TiesGoToTheEarlierTrialAndNaNNeverWins) {
  EXPECT_EQ(*best_trial(trials({0.5, 0.9, 0.9}, "f1"), "f1"), 1U);
  EXPECT_EQ(*best_trial(trials({kNaN, 0.2, kNaN}, "f1"), "f1"), 1U);
  EXPECT_EQ(*best_trial(trials({kNaN, 0.2, kNaN}, "mae"), "mae"), 1U);
}

TEST(BestTrialTest, FailsOnEmptyMissingAllNaNAndUnknownMetrics) {
  const Result<std::size_t> empty = best_trial({}, "f1");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), StatusCode::kInvalidArgument);

  std::vector<Metrics> t = trials({0.5, 0.6}, "f1");
  t[1] = {{"accuracy", 0.9}};
  const Result<std::size_t> missing = best_trial(t, "f1");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("trial 1 has no metric 'f1'"), std::string::npos)
      << missing.error().message();

  const Result<std::size_t> nan = best_trial(trials({kNaN, kNaN}, "f1"), "f1");
  ASSERT_FALSE(nan);
  EXPECT_NE(nan.error().message().find("NaN"), std::string::npos);

  const Result<std::size_t> unknown = best_trial(trials({1.0}, "speed"), "speed");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), StatusCode::kNotFound);
  // An explicit direction needs no knowledge of the metric.
  EXPECT_EQ(*best_trial(trials({1.0, 2.0}, "speed"), "speed", Objective::kMaximise), 1U);
}

}  // namespace
}  // namespace trainflow::ml

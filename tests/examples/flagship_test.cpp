// The flagship pipeline written in C++ (examples/cpp/churn_pipeline.hpp) and loaded from its
// workflow file (examples/pipelines/churn.yaml) gives bit-identical models and metrics on the
// same run seed and thread count.
#include "churn_pipeline.hpp"

#include <gtest/gtest.h>

#include <string>

#include "trainflow/config/workflow.hpp"

namespace trainflow {
namespace {

struct Winners {
  std::string logistic_model;
  ml::Metrics logistic_metrics;
  std::int64_t logistic_index = -1;
  std::string mlp_model;
  ml::Metrics mlp_metrics;
  std::int64_t mlp_index = -1;
};

Winners run_cpp(Executor& executor, std::uint64_t seed) {
  Pipeline p{"churn"};
  const churn::Flagship f = churn::add_flagship(p);
  const RunReport report = executor.run(p, {.seed = seed});
  EXPECT_TRUE(report.ok()) << report.error().message();
  if (!report.ok()) return {};
  return {(*report.value(f.best_logistic))->to_bytes(),
          *report.value(f.gate),
          *report.value(f.best_logistic_index),
          (*report.value(f.best_mlp))->to_bytes(),
          *report.value(f.best_mlp_metrics),
          *report.value(f.best_mlp_index)};
}

Winners run_yaml(Executor& executor, std::uint64_t seed_override) {
  Result<config::Workflow> wf =
      config::load_workflow(TRAINFLOW_SOURCE_DIR "/examples/pipelines/churn.yaml");
  EXPECT_TRUE(wf.has_value()) << wf.error().message();
  if (!wf) return {};
  const RunReport report = executor.run(wf->graph, {.seed = seed_override});
  EXPECT_TRUE(report.ok()) << report.error().message();
  if (!report.ok()) return {};
  const auto output = [&](const char* stage, std::uint32_t port) -> const Value& {
    return *report.output({wf->ids.at(stage), port});
  };
  return {output("best_logistic", 0).get<ml::ModelPtr>()->to_bytes(),
          output("gate", 0).get<ml::Metrics>(),
          output("best_logistic", 2).get<std::int64_t>(),
          output("best_mlp", 0).get<ml::ModelPtr>()->to_bytes(),
          output("best_mlp", 1).get<ml::Metrics>(),
          output("best_mlp", 2).get<std::int64_t>()};
}

// Metrics compared bit for bit, NaN included.
void expect_identical(const ml::Metrics& a, const ml::Metrics& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) {
    ASSERT_TRUE(b.contains(name)) << name;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(value), std::bit_cast<std::uint64_t>(b.at(name)))
        << name << ": " << value << " vs " << b.at(name);
  }
}

class FlagshipTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(FlagshipTest, CppAndWorkflowFileGiveBitIdenticalResults) {
  Executor executor{{.threads = GetParam()}};
  const Winners cpp = run_cpp(executor, 42);
  const Winners yaml = run_yaml(executor, 42);
  ASSERT_FALSE(cpp.logistic_model.empty());
  ASSERT_FALSE(yaml.logistic_model.empty());
  EXPECT_EQ(cpp.logistic_index, yaml.logistic_index);
  EXPECT_EQ(cpp.mlp_index, yaml.mlp_index);
  EXPECT_TRUE(cpp.logistic_model == yaml.logistic_model) << "logistic models differ";
  EXPECT_TRUE(cpp.mlp_model == yaml.mlp_model) << "MLP models differ";
  expect_identical(cpp.logistic_metrics, yaml.logistic_metrics);
  expect_identical(cpp.mlp_metrics, yaml.mlp_metrics);
  EXPECT_GE(cpp.logistic_metrics.at("roc_auc"), 0.85);
}

TEST(FlagshipSeedTest, AnotherRunSeedGivesOtherData) {
  Executor executor{{.threads = 2}};
  const Winners a = run_cpp(executor, 42);
  const Winners b = run_cpp(executor, 43);
  ASSERT_FALSE(a.logistic_model.empty());
  ASSERT_FALSE(b.logistic_model.empty());
  EXPECT_NE(a.logistic_model, b.logistic_model);
}

INSTANTIATE_TEST_SUITE_P(Workers, FlagshipTest, ::testing::Values(1u, 2u, 4u, 8u),
                         [](const auto& param_info) {
                           return std::to_string(param_info.param) + "_workers";
                         });

}  // namespace
}  // namespace trainflow

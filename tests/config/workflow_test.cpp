#include "trainflow/config/workflow.hpp"

#include "trainflow/config/workflow_run.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "testing/temp_dir.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/ml/evaluate.hpp"
#include "trainflow/ml/stages.hpp"

namespace trainflow::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// synthetic -> split -> column_transformer -> logistic_regression -> evaluate -> gate.
constexpr const char* kPipeline = R"(name: churn
seed: 7
resources: {threads: 1}
stages:
  data:
    uses: synthetic
    with: {rows: 400, numeric_features: 4, categorical_features: 1, missing_rate: 0.05}
  split:
    uses: split
    needs: [data]
    with: {test_fraction: 0.25}
  features:
    uses: column_transformer
    needs: {train: split.train, test: split.test}
  train:
    uses: logistic_regression
    needs: [features]
    with: {l2: 0.5, max_iter: 200.0}
    resources: {threads: 2, memory_mb: 512}
    retry: 2
    timeout: 5m
    cache: false
  score:
    uses: evaluate
    needs: {model: train, data: features.test}
  check:
    uses: gate
    needs: [score]
    with:
      conditions: ["accuracy >= 0.5"]
)";

std::string error_of(std::string_view text, const LoadOptions& options = {}) {
  Result<Workflow> wf = parse_workflow(text, "wf.yaml", options);
  if (wf) return "(loaded)";
  EXPECT_EQ(wf.error().code(), StatusCode::kInvalidArgument);
  return wf.error().message();
}

TEST(WorkflowTest, LoadsAPipelineWithItsSettings) {
  Result<Workflow> wf = parse_workflow(kPipeline, "churn.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  EXPECT_EQ(wf->name, "churn");
  EXPECT_EQ(wf->seed, 7u);
  ASSERT_EQ(wf->stages.size(), 6u);
  ASSERT_EQ(wf->graph.size(), 6u);
  const WorkflowStage* train = wf->find("train");
  ASSERT_NE(train, nullptr);
  EXPECT_EQ(train->type, "logistic_regression");
  EXPECT_EQ(train->settings.retry, 2u);
  ASSERT_TRUE(train->settings.timeout.has_value());
  EXPECT_EQ(*train->settings.timeout, std::chrono::minutes(5));
  EXPECT_FALSE(train->settings.cache);
  EXPECT_EQ(train->settings.resources.threads, 2u);
  EXPECT_EQ(train->settings.resources.memory_mb, 512u);
  EXPECT_EQ(wf->graph.stage(train->id).threads, 2u);
  // retry: 2 and timeout: 5m reach the executor: three attempts in all, with the default backoff.
  const StageSpec& train_spec = wf->graph.stage(train->id);
  EXPECT_EQ(train_spec.retry.max_attempts, 3u);
  EXPECT_EQ(train_spec.retry.initial_backoff, RetryPolicy{}.initial_backoff);
  EXPECT_TRUE(train_spec.retry.retryable(StatusCode::kUnavailable));
  EXPECT_TRUE(train_spec.retry.retryable(StatusCode::kUnknown)) << "exceptions are retried";
  EXPECT_FALSE(train_spec.retry.retryable(StatusCode::kInvalidArgument));
  EXPECT_EQ(train_spec.timeout, std::chrono::milliseconds(5 * 60 * 1000));
  EXPECT_EQ(train->params.get<double>("l2"), 0.5);
  EXPECT_EQ(train->params.get<std::int64_t>("max_iter"), 200);
  EXPECT_EQ(train->line, 15);
  EXPECT_EQ(train->column, 3);
  const WorkflowStage* data = wf->find("data");
  ASSERT_NE(data, nullptr);
  EXPECT_TRUE(data->settings.cache);
  EXPECT_FALSE(data->settings.timeout.has_value());
  EXPECT_EQ(wf->graph.stage(data->id).threads, 1u);
  EXPECT_EQ(wf->graph.stage(data->id).retry.max_attempts, 1u) << "no retry unless asked";
  EXPECT_FALSE(wf->graph.stage(data->id).timeout.has_value());
  EXPECT_EQ(wf->ids.at("score"), wf->find("score")->id);
  EXPECT_EQ(wf->groups.at("check").size(), 1u);
}

TEST(WorkflowTest, RunsOnTheExecutorAndProducesMetrics) {
  Result<Workflow> wf = parse_workflow(kPipeline, "churn.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  Executor executor{{.threads = 2}};
  RunReport report = executor.run(wf->graph, {.seed = wf->seed});
  ASSERT_TRUE(report.ok()) << report.to_string();
  const Value* metrics = report.output({wf->ids.at("check"), 0});
  ASSERT_NE(metrics, nullptr);
  const auto* m = metrics->get_if<ml::Metrics>();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->contains("accuracy"));
  EXPECT_GE(m->at("accuracy"), 0.5);
  EXPECT_TRUE(m->contains("roc_auc"));
}

TEST(WorkflowTest, LoadsFromAFileAndNamesItByItsStem) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "trainflow_workflow_test_pipeline.yaml";
  std::ofstream(path) << "stages:\n  data: {uses: synthetic}\n";
  Result<Workflow> wf = load_workflow(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  EXPECT_EQ(wf->name, "trainflow_workflow_test_pipeline");
  EXPECT_EQ(wf->seed, 0u);

  Result<Workflow> missing = load_workflow("/nonexistent/trainflow/wf.yaml");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("/nonexistent/trainflow/wf.yaml"));
}

// --- Sweeps -------------------------------------------------------------------------------------

constexpr const char* kSweep = R"(seed: 3
stages:
  data:
    uses: synthetic
    with: {rows: 300, numeric_features: 3}
  split:
    uses: split
    needs: [data]
  features:
    uses: column_transformer
    needs: {train: split.train, test: split.test}
  train:
    uses: logistic_regression
    needs: [features]
    with: {tol: 0.001}
    foreach: {grid: {l2: [0.1, 1, 10], max_iter: [50, 100]}}
  score:
    uses: evaluate
    needs: {model: train, data: features.test}
  best:
    uses: select_best
    needs: {models: train, metrics: score}
    with: {metric: log_loss}
)";

TEST(WorkflowSweepTest, GridExpandsInOrderWithTheRightParameters) {
  Result<Workflow> wf = parse_workflow(kSweep, "sweep.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  const std::vector<std::string> expected = {
      "train[l2=0.1,max_iter=50]",  "train[l2=0.1,max_iter=100]", "train[l2=1.0,max_iter=50]",
      "train[l2=1.0,max_iter=100]", "train[l2=10.0,max_iter=50]", "train[l2=10.0,max_iter=100]"};
  const std::vector<double> l2 = {0.1, 0.1, 1, 1, 10, 10};
  const std::vector<std::int64_t> iters = {50, 100, 50, 100, 50, 100};
  ASSERT_EQ(wf->groups.at("train").size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const WorkflowStage& s = wf->stages[wf->groups.at("train")[i]];
    EXPECT_EQ(s.name, expected[i]);
    EXPECT_EQ(s.group, "train");
    ASSERT_TRUE(s.trial.has_value());
    EXPECT_EQ(*s.trial, i);
    EXPECT_EQ(s.params.get<double>("l2"), l2[i]);
    EXPECT_EQ(s.params.get<std::int64_t>("max_iter"), iters[i]);
    EXPECT_EQ(s.params.get<double>("tol"), 0.001);  // from `with`
    EXPECT_EQ(wf->graph.stage(s.id).name, expected[i]);
  }
  // evaluate follows the sweep, one per trial, named by the same labels.
  ASSERT_EQ(wf->groups.at("score").size(), 6u);
  EXPECT_EQ(wf->stages[wf->groups.at("score")[2]].name, "score[l2=1.0,max_iter=50]");
  // select_best gathers: one stage, fed by two gather stages of six inputs each.
  ASSERT_EQ(wf->groups.at("best").size(), 1u);
  const WorkflowStage* gather = wf->find("gather(best.models)");
  ASSERT_NE(gather, nullptr);
  EXPECT_EQ(gather->type, "gather");
  EXPECT_EQ(wf->graph.stage(gather->id).inputs.size(), 6u);
  EXPECT_EQ(wf->graph.size(), 3u + 6u + 6u + 2u + 1u);
}

TEST(WorkflowSweepTest, SelectBestPicksTheTrialWithTheBestMetric) {
  Result<Workflow> wf = parse_workflow(kSweep, "sweep.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  // The same sweep with the scores kept: a copy whose `best` is left out.
  std::string text = kSweep;
  text.resize(text.find("  best:"));
  Result<Workflow> scores = parse_workflow(text, "scores.yaml");
  ASSERT_TRUE(scores.has_value()) << scores.error().message();

  Executor executor{{.threads = 2}};
  RunReport report = executor.run(wf->graph, {.seed = wf->seed});
  ASSERT_TRUE(report.ok()) << report.to_string();
  RunReport all = executor.run(scores->graph, {.seed = scores->seed});
  ASSERT_TRUE(all.ok()) << all.to_string();

  const StageId best = wf->ids.at("best");
  const auto* index = report.output({best, 2})->get_if<std::int64_t>();
  const auto* metrics = report.output({best, 1})->get_if<ml::Metrics>();
  ASSERT_NE(index, nullptr);
  ASSERT_NE(metrics, nullptr);
  double lowest = 1e300;
  std::size_t argmin = 0;
  for (std::size_t i = 0; i < 6; ++i) {
    const auto* m = all.output({scores->groups.at("score")[i], 0})->get_if<ml::Metrics>();
    ASSERT_NE(m, nullptr);
    if (m->at("log_loss") < lowest) {
      lowest = m->at("log_loss");
      argmin = i;
    }
  }
  EXPECT_EQ(static_cast<std::size_t>(*index), argmin);  // log_loss: lower is better
  EXPECT_EQ(metrics->at("log_loss"), lowest);
}

TEST(WorkflowSweepTest, ListItemsAreNamedByTheirParametersOrByIndex) {
  Result<Workflow> wf = parse_workflow(R"(stages:
  data: {uses: synthetic}
  train:
    uses: logistic_regression
    needs: [data]
    foreach:
      - {l2: 0.5}
      - {l2: 2, solver: newton}
)",
                                       "wf.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  ASSERT_EQ(wf->groups.at("train").size(), 2u);
  EXPECT_EQ(wf->stages[wf->groups.at("train")[0]].name, "train[l2=0.5]");
  EXPECT_EQ(wf->stages[wf->groups.at("train")[1]].name, "train[l2=2.0,solver=newton]");
  EXPECT_EQ(wf->stages[wf->groups.at("train")[1]].params.get<std::string>("solver"), "newton");

  // Two identical items: names by index.
  Result<Workflow> same = parse_workflow(R"(stages:
  data: {uses: synthetic}
  train:
    uses: logistic_regression
    needs: [data]
    foreach: [{l2: 1}, {l2: 1}]
)",
                                         "wf.yaml");
  ASSERT_TRUE(same.has_value()) << same.error().message();
  EXPECT_NE(same->find("train[0]"), nullptr);
  EXPECT_NE(same->find("train[1]"), nullptr);
}

TEST(WorkflowTest, OverridesReplaceParametersOfEveryTrial) {
  Result<Workflow> wf = parse_workflow(
      kSweep, "sweep.yaml", {.overrides = {"train.tol=0.01", "data.rows=120", "best.mode=max"}});
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  for (StageId id : wf->groups.at("train")) {
    EXPECT_EQ(wf->stages[id].params.get<double>("tol"), 0.01);
  }
  EXPECT_EQ(wf->find("data")->params.get<std::int64_t>("rows"), 120);
  EXPECT_EQ(wf->find("best")->params.get<std::string>("mode"), "max");

  const std::string message = error_of(
      kSweep, {.overrides = {"trian.l2=1", "train.l3=1", "train.l2=-1", "data.rows=x", "oops"}});
  EXPECT_THAT(message, HasSubstr("--set 'trian.l2=1': no stage 'trian' in the workflow; did you "
                                 "mean 'train'?"));
  EXPECT_THAT(message, HasSubstr("--set 'train.l3=1': unknown parameter 'l3' of "
                                 "logistic_regression; did you mean 'l2'?"));
  EXPECT_THAT(message, HasSubstr("--set 'train.l2=-1': parameter 'l2' of logistic_regression "
                                 "must be >= "));
  EXPECT_THAT(message, HasSubstr("--set 'data.rows=x': parameter 'rows' of synthetic expected an "
                                 "integer, got 'x'"));
  EXPECT_THAT(message, HasSubstr("--set 'oops': expected stage.param=value"));
}

// --- Validation: each class of error, with its position ----------------------------------------

TEST(WorkflowValidationTest, UnknownKeysSuggestTheClosest) {
  const std::string m = error_of(R"(nmae: x
stages:
  data:
    uses: synthetic
    wiht: {rows: 10}
    resources: {thread: 2}
)");
  EXPECT_THAT(m,
              HasSubstr("wf.yaml:1:1: unknown key 'nmae' in the workflow; did you mean 'name'?"));
  EXPECT_THAT(m,
              HasSubstr("wf.yaml:5:5: unknown key 'wiht' in stage 'data'; did you mean 'with'?"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:6:17: unknown key 'thread' in stage 'data' resources; did you "
                           "mean 'threads'?"));
}

TEST(WorkflowValidationTest, UnknownStageTypeSuggestsTheClosest) {
  const std::string m = error_of("stages:\n  data:\n    uses: synthtic\n  x:\n    with: {}\n");
  EXPECT_THAT(m, HasSubstr("wf.yaml:3:11: stage 'data': unknown stage type 'synthtic'; did you "
                           "mean 'synthetic'?"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:4:3: stage 'x': no 'uses'"));
}

TEST(WorkflowValidationTest, ParametersAreCheckedWhereTheyAre) {
  const std::string m = error_of(R"(stages:
  data:
    uses: synthetic
    with:
      rows: many
      missing_rate: 2
      task: clasification
      rowz: 3
  file:
    uses: read_csv
  lr:
    uses: logistic_regression
    needs: [data]
    with: {l2: "0.5", max_iter: 1.5, fit_intercept: yes}
  ct:
    uses: column_transformer
    needs: [data]
    with: {numeric: x0}
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:5:13: stage 'data' (synthetic): parameter 'rows' expected an "
                           "integer, got 'many'"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:6:21: stage 'data' (synthetic): parameter 'missing_rate' "
                           "must be <= "));
  EXPECT_THAT(m, HasSubstr("wf.yaml:7:13: stage 'data' (synthetic): parameter 'task' must be one "
                           "of classification, regression; got 'clasification' (did you mean "
                           "'classification'?)"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:8:7: stage 'data' (synthetic): unknown parameter 'rowz' of "
                           "synthetic; did you mean 'rows'?"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:9:3: stage 'file' (read_csv): missing required parameter "
                           "'path'"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:14:16: stage 'lr' (logistic_regression): parameter 'l2' "
                           "expected double, got the quoted string \"0.5\"; remove the quotes"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:14:33: stage 'lr' (logistic_regression): parameter 'max_iter' "
                           "expected an integer, got '1.5'"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:14:53: stage 'lr' (logistic_regression): parameter "
                           "'fit_intercept' expected true or false, got 'yes'"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:18:21: stage 'ct' (column_transformer): parameter 'numeric' "
                           "expected list<string> like [a, b], got a scalar"));
}

TEST(WorkflowValidationTest, SettingsAreChecked) {
  const std::string m = error_of(R"(seed: -1
stages:
  data:
    uses: synthetic
    retry: 1000
    timeout: soon
    cache: maybe
    resources: {threads: 0}
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:1:7: seed must be an integer from 0 to"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:5:12: stage 'data': retry must be an integer from 0 to 100, "
                           "got '1000'"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:6:14: stage 'data': timeout must be a duration"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:7:12: stage 'data': cache must be true or false, got "
                           "'maybe'"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:8:26: stage 'data' resources.threads must be an integer from "
                           "1 to 1024, got '0'"));
}

TEST(WorkflowTest, ResourcesBecomeTheStagesDemand) {
  Result<Workflow> wf = parse_workflow(R"(resources: {threads: 1, max_threads: 4, memory: 1GiB}
cost: {core_hour: 0.04, gpu_hour: 2.5}
stages:
  data:
    uses: synthetic
  scale:
    uses: standard_scaler
    needs: [data]
    resources: {threads: 2, memory_mb: 300, gpus: 1, gpu_memory: 2.5 GiB}
  net:
    uses: mlp_classifier
    needs: [scale]
    resources: {threads: 2, memory: 1500MB}
)",
                                       "wf.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  EXPECT_EQ(wf->resources.max_threads, 4u);
  EXPECT_EQ(wf->resources.memory_mb, 1024u);
  ASSERT_TRUE(wf->cost.has_value());
  EXPECT_EQ(*wf->cost, (CostRates{.core_hour = 0.04, .gpu_hour = 2.5}));

  const StageSpec& data = wf->graph.stage(wf->ids.at("data"));
  EXPECT_EQ(data.threads, 1u);
  EXPECT_EQ(data.resources, (ResourceDemand{.max_threads = 4, .memory_bytes = 1ull << 30}));
  const StageSpec& scale = wf->graph.stage(wf->ids.at("scale"));
  EXPECT_EQ(scale.threads, 2u);
  EXPECT_EQ(scale.resources, (ResourceDemand{.max_threads = 4,
                                             .memory_bytes = 300ull << 20,
                                             .gpus = 1,
                                             .gpu_memory_bytes = 2560ull << 20}));
  // The workflow's max_threads skips a stage whose results depend on its thread count; 1500 MB
  // is 1430.5 MiB, rounded up.
  const StageSpec& net = wf->graph.stage(wf->ids.at("net"));
  EXPECT_EQ(net.threads, 2u);
  EXPECT_EQ(net.resources, (ResourceDemand{.max_threads = 0, .memory_bytes = 1431ull << 20}));
  EXPECT_EQ(wf->find("net")->settings.resources.max_threads, 0u);

  Result<Workflow> unpriced = parse_workflow("stages:\n  data: {uses: synthetic}\n", "wf.yaml");
  ASSERT_TRUE(unpriced.has_value());
  EXPECT_FALSE(unpriced->cost.has_value());
  EXPECT_EQ(unpriced->graph.stage(0).resources, ResourceDemand{});
}

TEST(WorkflowValidationTest, ResourceMistakesArePlaced) {
  const std::string m = error_of(R"(resources: {threads: 4, max_threads: 2}
cost: {core_hour: -1, gpu_hours: 2}
stages:
  data:
    uses: synthetic
    resources: {memory: 2 bananas, gpu_memory_mb: 5, gpu_memory: 1GiB}
  scale:
    uses: standard_scaler
    needs: [data]
    resources: {threads: 8, max_threads: 6}
  net:
    uses: mlp_classifier
    needs: [scale]
    resources: {threads: 1, max_threads: 8}
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:1:25: the workflow's resources.max_threads (2) is less than "
                           "threads (4): the grant starts at threads and grows up to "
                           "max_threads; raise max_threads, or lower threads"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:2:19: cost.core_hour must be a finite number >= 0 (a price "
                           "per core and hour), got '-1'"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:2:23: unknown key 'gpu_hours' in cost; did you mean "
                           "'gpu_hour'?"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:6:25: stage 'data' resources.memory must be a size such as "
                           "512MiB, 2GiB or 1.5GB"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:6:54: stage 'data' resources: 'gpu_memory' and "
                           "'gpu_memory_mb' both give the same size; keep one"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:10:29: stage 'scale' (standard_scaler): "
                           "resources.max_threads (6) is less than threads (8)"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:14:29: stage 'net' (mlp_classifier): resources.max_threads: "
                           "the results of mlp_classifier depend on its thread count, so its "
                           "grant cannot grow while it runs; remove max_threads"));
  // Only where it was written: stages inheriting the workflow's threads are not blamed again.
  EXPECT_THAT(m, Not(HasSubstr("wf.yaml:4:")));
}

TEST(WorkflowValidationTest, NeedsNamingUnknownStagesPortsOrOutputs) {
  const std::string m = error_of(R"(stages:
  data: {uses: synthetic}
  split:
    uses: split
    needs: [dta]
  features:
    uses: column_transformer
    needs: {train: data, tets: data}
  lr:
    uses: logistic_regression
    needs: [data.train]
  score:
    uses: evaluate
    needs: {model: lr, data: feats.test}
  ct2:
    uses: column_transformer
    needs: {train: data}
  score2:
    uses: evaluate
    needs: {model: lr, data: ct2.test}
  gate:
    uses: gate
    with: {conditions: ["accuracy > 0"]}
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:5:13: stage 'split' (split): needs unknown stage 'dta'; did "
                           "you mean 'data'?"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:8:26: stage 'features' (column_transformer): has no input "
                           "'tets'; did you mean 'test'?"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:11:13: stage 'lr' (logistic_regression): stage 'data' "
                           "(synthetic) has no output 'train'; expected one of: data"));
  EXPECT_THAT(
      m,
      HasSubstr("wf.yaml:14:30: stage 'score' (evaluate): needs unknown stage "
                "'feats'; expected one of: data, split, features, lr, score, ct2, score2, gate"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:20:30: stage 'score2' (evaluate): stage 'ct2' "
                           "(column_transformer) produces output 'test' only when the matching "
                           "optional input is bound"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:21:3: stage 'gate' (gate): input 'metrics' (metrics) is not "
                           "bound; add it to needs"));
}

TEST(WorkflowValidationTest, CyclesArePrinted) {
  const std::string m = error_of(R"(stages:
  data: {uses: synthetic}
  a:
    uses: standard_scaler
    needs: [c]
  b:
    uses: standard_scaler
    needs: [a]
  c:
    uses: standard_scaler
    needs: [b]
  self:
    uses: standard_scaler
    needs: [self]
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:5:5: cycle: a -> b -> c -> a (each stage needs the next); "
                           "remove one of these needs"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:14:5: cycle: self -> self"));
}

TEST(WorkflowValidationTest, PortTypeMismatchUsesShortTypeNames) {
  const std::string m = error_of(R"(stages:
  data: {uses: synthetic}
  scale:
    uses: standard_scaler
    needs: [data]
  lr:
    uses: logistic_regression
    needs: [scale.fitted]
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:8:13: stage 'lr' (logistic_regression): input 'train' takes "
                           "dataset but 'scale.fitted' is fitted_scaler; need an output of that "
                           "type"));
}

TEST(WorkflowValidationTest, DuplicateNamesAndKeys) {
  const std::string m = error_of(R"(stages:
  data: {uses: synthetic}
  data: {uses: synthetic}
  x:
    uses: synthetic
    with: {rows: 10, rows: 20}
  bad.name: {uses: synthetic}
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:3:3: duplicate key 'data' in stages (first at line 2); remove "
                           "one"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:6:22: duplicate key 'rows' in with (first at line 6)"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:7:3: 'bad.name' is not a stage name"));
}

TEST(WorkflowValidationTest, SweepMistakes) {
  const std::string m = error_of(R"(stages:
  data: {uses: synthetic}
  a:
    uses: logistic_regression
    needs: [data]
    foreach: {grid: {l2: 1}}
  b:
    uses: logistic_regression
    needs: [data]
    foreach: {gird: {l2: [1]}}
  c:
    uses: logistic_regression
    needs: [data]
    foreach: []
  d:
    uses: logistic_regression
    needs: [data]
    foreach: {grid: {l2: [1, 2]}}
  e:
    uses: logistic_regression
    needs: [data]
    foreach: [{l2: 3}]
  score:
    uses: evaluate
    needs: {model: d, data: data}
  both:
    uses: select_best
    needs: {models: e, metrics: score}
    with: {metric: accuracy}
  bigrid:
    uses: logistic_regression
    needs: [data]
    foreach: {grid: {l2: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], max_iter: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], tol: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}
)",
                                 {.max_stages = 500});
  EXPECT_THAT(m, HasSubstr("wf.yaml:6:26: stage 'a' (logistic_regression): grid values of 'l2' "
                           "must be a non-empty list"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:10:15: unknown key 'gird' in foreach"));
  EXPECT_THAT(m, HasSubstr("did you mean 'grid'?"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:14:14: stage 'c' (logistic_regression): foreach gives no "
                           "trials"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:33:21: stage 'bigrid' (logistic_regression): the grid has "
                           "more than 500 combinations"));
}

TEST(WorkflowValidationTest, JoiningTwoSweepsIsRefused) {
  const std::string m = error_of(R"(stages:
  data: {uses: synthetic}
  a:
    uses: logistic_regression
    needs: [data]
    foreach: [{l2: 1}, {l2: 2}]
  b:
    uses: logistic_regression
    needs: [data]
    foreach: [{l2: 3}, {l2: 4}]
  score:
    uses: evaluate
    needs: {model: a, data: data}
  predict:
    uses: predict
    needs: {model: b, data: data}
  pair:
    uses: select_best
    needs: {models: a, metrics: score}
    with: {metric: accuracy}
  mix:
    uses: evaluate
    needs: [b, data]
    foreach: [{average: macro}]
  cross:
    uses: evaluate
    needs: {model: a, data: predict}
)");
  EXPECT_THAT(m, HasSubstr("wf.yaml:27:5: stage 'cross' (evaluate): joins the sweeps of 'a' and "
                           "'b'; a stage may follow one sweep"));
  EXPECT_THAT(m, HasSubstr("wf.yaml:23:5: stage 'mix' (evaluate): has its own foreach but also "
                           "follows the sweep of 'b'"));
  EXPECT_THAT(m, Not(HasSubstr("pair")));
}

TEST(WorkflowValidationTest, EveryErrorIsReportedAtOnceSortedByPosition) {
  const std::string m = error_of(R"(stages:
  a: {uses: nope}
  b: {uses: synthetic, with: {rows: -1}}
  c: {uses: split, needs: [zz]}
)");
  const auto first = m.find("wf.yaml:2:");
  const auto second = m.find("wf.yaml:3:");
  const auto third = m.find("wf.yaml:4:");
  ASSERT_NE(first, std::string::npos) << m;
  ASSERT_NE(second, std::string::npos) << m;
  ASSERT_NE(third, std::string::npos) << m;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

TEST(WorkflowValidationTest, NotAWorkflow) {
  EXPECT_THAT(error_of("- a\n- b\n"), HasSubstr("wf.yaml:1:1: a workflow file is a mapping"));
  EXPECT_THAT(error_of("name: x\n"), HasSubstr("wf.yaml:1:1: no 'stages'"));
  EXPECT_THAT(error_of("stages: {}\n"), HasSubstr("wf.yaml:1:9: stages is empty"));
  EXPECT_THAT(error_of("stages: [a]\n"), HasSubstr("wf.yaml:1:9: stages must be a mapping"));
  EXPECT_THAT(error_of("stages:\n  a: {uses: [x\n"), HasSubstr("YAML syntax error"));
}

// --- YAML and C++ build the same pipeline --------------------------------------------------------

TEST(WorkflowTest, YamlAndCxxGiveBitIdenticalModels) {
  Result<Workflow> wf = parse_workflow(R"(seed: 11
stages:
  data:
    uses: synthetic
    with: {rows: 500, numeric_features: 5, categorical_features: 2, missing_rate: 0.1}
  split:
    uses: split
    needs: [data]
    with: {test_fraction: 0.2, stratify: true}
  features:
    uses: column_transformer
    needs: {train: split.train, test: split.test}
    with: {scale: robust}
  train:
    uses: logistic_regression
    needs: [features]
    with: {l2: 0.25}
)",
                                       "same.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();

  StageRegistry& r = default_registry();
  Graph g{"same"};
  const std::vector<std::string> test_input = {"test"};
  const StageId data = g.add_stage(*r.instantiate("synthetic", "data",
                                                  {{"rows", std::int64_t{500}},
                                                   {"numeric_features", std::int64_t{5}},
                                                   {"categorical_features", std::int64_t{2}},
                                                   {"missing_rate", 0.1}}));
  const StageId split =
      g.add_stage(*r.instantiate("split", "split", {{"test_fraction", 0.2}, {"stratify", true}}));
  const StageId features = g.add_stage(*r.instantiate(
      "column_transformer", "features", {{"scale", std::string("robust")}}, test_input));
  const StageId train = g.add_stage(*r.instantiate("logistic_regression", "train", {{"l2", 0.25}}));
  g.connect({data, 0}, {split, 0});
  g.connect({split, 0}, {features, 0});
  g.connect({split, 2}, {features, 1});
  g.connect({features, 0}, {train, 0});

  Executor executor{{.threads = 2}};
  RunReport from_yaml = executor.run(wf->graph, {.seed = wf->seed});
  RunReport from_cxx = executor.run(g, {.seed = 11});
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.to_string();
  ASSERT_TRUE(from_cxx.ok()) << from_cxx.to_string();
  const auto* a = from_yaml.output({wf->ids.at("train"), 0})->get_if<ml::ModelPtr>();
  const auto* b = from_cxx.output({train, 0})->get_if<ml::ModelPtr>();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string bytes = (*a)->to_bytes();
  EXPECT_FALSE(bytes.empty());
  EXPECT_EQ(bytes, (*b)->to_bytes());
  // Another seed gives another model: the comparison above can fail.
  RunReport other = executor.run(g, {.seed = 12});
  ASSERT_TRUE(other.ok());
  EXPECT_NE(bytes, (*other.output({train, 0})->get_if<ml::ModelPtr>())->to_bytes());
}

// --- run_workflow: scheduling inputs, accounting, live metrics -------------------------------

TEST(WorkflowRunTest, StageCostIsWallHoursTimesTheRates) {
  const CostRates rates{.core_hour = 0.04, .gpu_hour = 2.5};
  // 90 minutes on 4 cores and a GPU: 1.5 h x (4 x 0.04 + 1 x 2.5) = 3.99.
  EXPECT_NEAR(stage_cost(5'400'000, 4, 1, rates), 3.99, 1e-12);
  // 36 s on one core: 0.01 h x 0.04.
  EXPECT_NEAR(stage_cost(36'000, 1, 0, rates), 0.0004, 1e-15);
  EXPECT_EQ(stage_cost(0, 8, 2, rates), 0.0);
  EXPECT_EQ(stage_cost(1000, 4, 0, {}), 0.0);
}

TEST(WorkflowRunTest, ExecutionOptionsTakeEarlierDurationsAndTheCapacity) {
  test::TempDir dir;
  Result<RunStore> store = RunStore::open(dir / "runs.db");
  ASSERT_TRUE(store.has_value()) << store.error().message();
  // Two earlier succeeded runs of "churn" (train 250 and 350 ms: median 300) and one of
  // another workflow, which does not count.
  const auto record = [&](const std::string& id, const std::string& workflow, std::int64_t ms) {
    ASSERT_TRUE(store->begin_run({.id = id, .workflow = workflow, .started_ms = ms}).ok());
    ASSERT_TRUE(
        store
            ->record_stage(
                id,
                {.name = "train", .status = "succeeded", .wall_ms = ms, .cache_outcome = "stored"})
            .ok());
    ASSERT_TRUE(store->finish_run(id, {.status = "succeeded", .ended_ms = ms + 1}).ok());
  };
  record("a", "churn", 250);
  record("b", "churn", 350);
  record("c", "other", 9000);
  Result<Workflow> wf =
      parse_workflow("name: churn\nseed: 3\nstages:\n  data: {uses: synthetic}\n", "wf.yaml");
  ASSERT_TRUE(wf.has_value());
  WorkflowRunOptions options{.threads = 3};
  options.capacity = {.cpus = 2, .memory_bytes = 1ull << 30, .gpu_memory_bytes = {4ull << 30}};
  Result<ExecutionOptions> exec = execution_options(*wf, options, &*store, "run-1");
  ASSERT_TRUE(exec.has_value()) << exec.error().message();
  EXPECT_EQ(exec->executor.threads, 3u);
  EXPECT_EQ(exec->executor.capacity.cpus, 2u);
  EXPECT_EQ(exec->executor.capacity.memory_bytes, 1ull << 30);
  EXPECT_EQ(exec->executor.capacity.gpu_memory_bytes, (std::vector<std::uint64_t>{4ull << 30}));
  EXPECT_EQ(exec->run.seed, 3u);
  EXPECT_EQ(exec->run.run_id, "run-1");
  ASSERT_EQ(exec->run.expected_durations.size(), 1u);
  EXPECT_EQ(exec->run.expected_durations.at("train"), std::chrono::milliseconds(300));

  Result<ExecutionOptions> without = execution_options(*wf, options, nullptr, "run-2");
  ASSERT_TRUE(without.has_value());
  EXPECT_TRUE(without->run.expected_durations.empty());
}

// A hand-made kMetric event.
Event metric_event(std::string_view stage, std::string_view name, double value, std::int64_t step) {
  Event e;
  e.kind = EventKind::kMetric;
  e.stage = stage;
  e.metric = name;
  e.value = value;
  e.step = step;
  return e;
}

TEST(MetricRecorderTest, BatchesRowsAndWritesTheRestWhenTheRunFinishes) {
  test::TempDir dir;
  Result<RunStore> store = RunStore::open(dir / "runs.db");
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run({.id = "r", .workflow = "w"}).ok());
  ASSERT_TRUE(store->record_stage("r", {.name = "net", .status = "succeeded"}).ok());
  MetricRecorder recorder(*store, "r", {.flush_interval = std::chrono::hours(1), .batch_rows = 3});
  const auto stored = [&] { return store->run("r")->stages.at(0).metrics.size(); };
  recorder.on_event(metric_event("net", "loss", 0.9, 0));
  recorder.on_event(metric_event("net", "loss", 0.7, 1));
  EXPECT_EQ(stored(), 0u) << "fewer rows than a batch wait";
  recorder.on_event(metric_event("net", "loss", 0.5, 2));
  EXPECT_EQ(stored(), 3u) << "a full batch is written";
  recorder.on_event(metric_event("net", "final", 0.25, -1));
  Event progress;
  progress.kind = EventKind::kProgress;
  recorder.on_event(progress);
  EXPECT_EQ(stored(), 3u);
  Event finished;
  finished.kind = EventKind::kRunFinished;
  recorder.on_event(finished);
  const std::vector<StageMetric> want = {
      {"loss", 0.9, 0}, {"loss", 0.7, 1}, {"loss", 0.5, 2}, {"final", 0.25, std::nullopt}};
  EXPECT_EQ(store->run("r")->stages.at(0).metrics, want);
  EXPECT_TRUE(recorder.error().ok());
  EXPECT_EQ(recorder.dropped(), 0u);
  EXPECT_TRUE(recorder.flush().ok()) << "nothing pending";
}

TEST(MetricRecorderTest, WritesAfterTheFlushInterval) {
  test::TempDir dir;
  Result<RunStore> store = RunStore::open(dir / "runs.db");
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run({.id = "r", .workflow = "w"}).ok());
  ASSERT_TRUE(store->record_stage("r", {.name = "net", .status = "succeeded"}).ok());
  MetricRecorder recorder(*store, "r", {.flush_interval = std::chrono::milliseconds(0)});
  recorder.on_event(metric_event("net", "loss", 1.0, 0));
  EXPECT_EQ(store->run("r")->stages.at(0).metrics.size(), 1u);
}

TEST(MetricRecorderTest, AFailingStoreLosesRowsButNeverThrows) {
  test::TempDir dir;
  Result<RunStore> store = RunStore::open(dir / "runs.db");
  ASSERT_TRUE(store.has_value());
  MetricRecorder recorder(*store, "no such run", {.batch_rows = 2, .max_pending = 3});
  for (int i = 0; i < 2; ++i) recorder.on_event(metric_event("net", "loss", i, i));
  EXPECT_EQ(recorder.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(recorder.dropped(), 2u);

  // Over max_pending: counted, not kept.
  MetricRecorder bounded(
      *store, "no such run",
      {.flush_interval = std::chrono::hours(1), .batch_rows = 100, .max_pending = 3});
  for (int i = 0; i < 5; ++i) bounded.on_event(metric_event("net", "loss", i, i));
  EXPECT_EQ(bounded.dropped(), 2u);
  EXPECT_FALSE(bounded.flush().ok());
  EXPECT_EQ(bounded.dropped(), 5u);
}

// synthetic -> mlp_classifier (5 epochs scored on held-out rows, never stopping early) and
// logistic_regression; write_csv writes the data to `csv`.
std::string priced_workflow(const std::filesystem::path& csv) {
  return R"(name: priced
seed: 5
cost: {core_hour: 36, gpu_hour: 360}
stages:
  data:
    uses: synthetic
    with: {rows: 300, numeric_features: 4, categorical_features: 0, missing_rate: 0}
  net:
    uses: mlp_classifier
    needs: [data]
    with: {hidden_layers: [4], max_iter: 5, tol: 0, n_iter_no_change: 100, early_stopping: true}
    resources: {threads: 2}
  linear:
    uses: logistic_regression
    needs: [data]
    resources: {gpus: 1, gpu_memory: 1GiB}
  save:
    uses: write_csv
    needs: [data]
    with: {path: ')" +
         csv.string() + R"('}
    cache: false
)";
}

TEST(WorkflowRunTest, RecordsAccountingCostsAndLiveMetrics) {
  test::TempDir dir;
  const std::filesystem::path csv = dir / "data.csv";
  Result<Workflow> wf = parse_workflow(priced_workflow(csv), "priced.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  WorkflowRunOptions options{.workdir = dir / "work", .threads = 2};
  options.capacity.gpu_memory_bytes = {2ull << 30};
  Result<WorkflowRun> run = run_workflow(std::move(*wf), options);
  ASSERT_TRUE(run.has_value()) << run.error().message();
  ASSERT_TRUE(run->report.ok()) << run->report.to_string();

  Result<RunStore> store = RunStore::open(dir / "work" / "runs.db");
  ASSERT_TRUE(store.has_value());
  Result<RunDetails> details = store->run(run->run_id);
  ASSERT_TRUE(details.has_value()) << details.error().message();
  ASSERT_EQ(details->stages.size(), 4u);
  std::map<std::string, StoredStage> stages;
  for (const StoredStage& s : details->stages) stages[s.name] = s;

  // Every stage: threads, a queue wait, and a cost of wall hours x (threads x 36 + gpus x 360),
  // i.e. wall_ms / 100'000 per core and wall_ms / 10'000 per GPU (wall_ms is truncated to whole
  // ms, the cost is not: within one ms).
  double sum = 0;
  for (const auto& [name, s] : stages) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(s.threads.has_value());
    ASSERT_TRUE(s.queue_wait_ms.has_value());
    EXPECT_GE(*s.queue_wait_ms, 0);
    ASSERT_TRUE(s.cost.has_value());
    const double per_ms = *s.threads * 36 / 3.6e6 + s.gpus * 360 / 3.6e6;
    EXPECT_GE(*s.cost, static_cast<double>(s.wall_ms) * per_ms);
    EXPECT_LE(*s.cost, static_cast<double>(s.wall_ms + 1) * per_ms);
    ASSERT_TRUE(s.bytes_read.has_value());
    ASSERT_TRUE(s.bytes_written.has_value());
    ASSERT_TRUE(s.peak_rss_growth_bytes.has_value());
    EXPECT_GE(*s.peak_rss_growth_bytes, 0);
    sum += *s.cost;
  }
  EXPECT_EQ(stages["net"].threads, 2u);
  EXPECT_EQ(stages["data"].threads, 1u);
  EXPECT_EQ(stages["data"].gpus, 0u);
  EXPECT_FALSE(stages["data"].gpu_ms.has_value());
  EXPECT_EQ(stages["linear"].gpus, 1u);
  EXPECT_EQ(stages["linear"].gpu_memory_bytes, std::int64_t{1} << 30);
  ASSERT_TRUE(stages["linear"].gpu_ms.has_value());
  EXPECT_GE(*stages["linear"].gpu_ms, stages["linear"].wall_ms);
  EXPECT_LE(*stages["linear"].gpu_ms, stages["linear"].wall_ms + 1);
  ASSERT_TRUE(details->summary.cost.has_value());
  EXPECT_NEAR(*details->summary.cost, sum, 1e-9);

  // write_csv wrote the file through its own thread.
  const auto csv_bytes = static_cast<std::int64_t>(std::filesystem::file_size(csv));
  EXPECT_GT(csv_bytes, 1000);
  EXPECT_GE(*stages["save"].bytes_written, csv_bytes);
  EXPECT_LT(*stages["data"].bytes_written, csv_bytes) << "data wrote no CSV";

  // The MLP's curves: one loss and one validation score (accuracy) per epoch, steps 0..4.
  std::vector<std::int64_t> loss_steps;
  std::vector<std::int64_t> score_steps;
  for (const StageMetric& m : stages["net"].metrics) {
    ASSERT_TRUE(m.step.has_value()) << m.name;
    if (m.name == "loss") {
      EXPECT_TRUE(std::isfinite(m.value));
      loss_steps.push_back(*m.step);
    } else {
      ASSERT_EQ(m.name, "validation_score");
      EXPECT_GE(m.value, 0.0);
      EXPECT_LE(m.value, 1.0);
      score_steps.push_back(*m.step);
    }
  }
  EXPECT_EQ(loss_steps, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(score_steps, loss_steps);
  // Logistic regression: the objective from the start (step 0) on, never increasing.
  std::vector<double> objective;
  for (const StageMetric& m : stages["linear"].metrics) {
    if (m.name != "loss") continue;
    ASSERT_EQ(m.step, static_cast<std::int64_t>(objective.size()));
    objective.push_back(m.value);
  }
  ASSERT_GE(objective.size(), 2u);
  EXPECT_NEAR(objective[0], 300 * std::log(2.0), 1e-9) << "f at zero weights: n log 2";
  for (std::size_t i = 1; i < objective.size(); ++i) EXPECT_LE(objective[i], objective[i - 1]);

  // The next run of the workflow is scheduled with these durations.
  Result<Workflow> again = parse_workflow(priced_workflow(csv), "priced.yaml");
  ASSERT_TRUE(again.has_value());
  Result<ExecutionOptions> exec = execution_options(*again, options, &*store, "next");
  ASSERT_TRUE(exec.has_value());
  for (const char* name : {"data", "net", "linear", "save"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(exec->run.expected_durations.contains(name));
    EXPECT_EQ(exec->run.expected_durations.at(name),
              std::chrono::milliseconds(stages[name].wall_ms));
  }
}

TEST(WorkflowRunTest, RunsWithoutRatesRecordNoCost) {
  test::TempDir dir;
  Result<Workflow> wf = parse_workflow("stages:\n  data: {uses: synthetic}\n", "plain.yaml");
  ASSERT_TRUE(wf.has_value());
  Result<WorkflowRun> run = run_workflow(std::move(*wf), {.workdir = dir / "work", .threads = 1});
  ASSERT_TRUE(run.has_value()) << run.error().message();
  Result<RunStore> store = RunStore::open(dir / "work" / "runs.db");
  ASSERT_TRUE(store.has_value());
  Result<RunDetails> details = store->run(run->run_id);
  ASSERT_TRUE(details.has_value());
  ASSERT_EQ(details->stages.size(), 1u);
  EXPECT_FALSE(details->stages[0].cost.has_value());
  EXPECT_EQ(details->stages[0].threads, 1u);
  EXPECT_FALSE(details->summary.cost.has_value());

  // WorkflowRunOptions::rates prices a run of a file without `cost`.
  Result<Workflow> priced = parse_workflow("stages:\n  data: {uses: synthetic}\n", "plain.yaml");
  ASSERT_TRUE(priced.has_value());
  WorkflowRunOptions options{.workdir = dir / "work", .threads = 1, .cache = false};
  options.rates = CostRates{.core_hour = 1.0};
  Result<WorkflowRun> second = run_workflow(std::move(*priced), options);
  ASSERT_TRUE(second.has_value());
  Result<RunDetails> d2 = store->run(second->run_id);
  ASSERT_TRUE(d2.has_value());
  ASSERT_TRUE(d2->stages.at(0).cost.has_value());
  EXPECT_NEAR(*d2->summary.cost, *d2->stages[0].cost, 1e-15);
}

}  // namespace
}  // namespace trainflow::config

#include "observe/report_sample.hpp"

#include <limits>

namespace trainflow::test {
namespace {

StoredStage stage(const char* name, const char* type, unsigned worker, std::int64_t start,
                  std::int64_t end) {
  StoredStage s;
  s.name = name;
  s.type = type;
  s.status = "succeeded";
  s.attempts = 1;
  s.worker = worker;
  s.started_ms = start;
  s.ended_ms = end;
  s.wall_ms = end - start;
  s.cpu_ms = end - start;
  s.cache_outcome = "stored";
  s.queue_wait_ms = 0;
  return s;
}

}  // namespace

RunDetails sample_report_run() {
  RunDetails run;
  RunInfo& info = run.summary.info;
  info.id = "20261124T073000Z-3fa2c1";
  info.workflow = "churn";
  info.host = "box";
  info.seed = 42;
  info.threads = 2;
  info.trainflow_version = "0.5.0";
  info.started_ms = 1795505401000;
  run.summary.status = "failed";
  run.summary.ended_ms = info.started_ms + 1000;
  run.summary.error = "stage 'eval' failed: boom";
  run.summary.failed_stage = "eval";
  run.summary.cost = 0.0125;

  run.stages.push_back(stage("load", "synthetic", 0, 0, 100));
  StoredStage prep = stage("prep", "split", 1, 100, 300);
  prep.cache_outcome = "restored";
  run.stages.push_back(prep);
  StoredStage train = stage("train", "mlp_classifier", 0, 300, 700);
  train.attempts = 3;
  train.cpu_ms = 1600;
  train.queue_wait_ms = 20;
  train.threads = 4;
  train.peak_rss_growth_bytes = 3 * 1024 * 1024;
  train.cost = 0.0125;
  train.metrics = {{"accuracy", 0.875, std::nullopt},
                   {"loss", 0.5, 1},
                   {"loss", 1.0, 0},
                   {"val_auc", 0.7, 0},
                   {"loss", 0.25, 2},
                   {"val_auc", 0.8, 1},
                   {"loss", std::numeric_limits<double>::quiet_NaN(), 3}};
  run.stages.push_back(train);
  StoredStage eval = stage("eval", "evaluate", 0, 700, 900);
  eval.status = "failed";
  eval.error = "boom";
  eval.cache_outcome = "ran";
  run.stages.push_back(eval);
  return run;
}

observe::ReportOptions sample_report_options() {
  observe::ReportOptions options;
  options.graph = observe::StageGraph{
      {"load", "prep", "train", "eval", "pending"},
      {{"load", "prep"}, {"prep", "train"}, {"train", "eval"}, {"load", "eval"}}};
  return options;
}

}  // namespace trainflow::test

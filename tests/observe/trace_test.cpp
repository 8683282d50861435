#include "trainflow/observe/trace.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trainflow::observe {
namespace {

using Json = nlohmann::json;

StoredStage stage(std::string name, unsigned worker, std::int64_t start, std::int64_t end,
                  std::optional<std::int64_t> queue_wait = std::nullopt) {
  StoredStage s;
  s.name = std::move(name);
  s.type = "logistic_regression";
  s.status = "succeeded";
  s.attempts = 1;
  s.worker = worker;
  s.started_ms = start;
  s.ended_ms = end;
  s.wall_ms = end - start;
  s.cpu_ms = (end - start) * 2;
  s.queue_wait_ms = queue_wait;
  s.cache_outcome = "stored";
  return s;
}

// A run of 1.0 s on two workers:
//   worker 0: load [0, 100], train [120, 700] (3 attempts), queued 20 ms
//   worker 1: prep [100, 300] queued 0, eval [700, 900] failed, queued 300 ms (ready at 400)
//   restored from the cache: cached [0, 1] on worker 1; never started: later.
RunDetails sample_run() {
  RunDetails run;
  run.summary.info.id = "20261124T073000Z-3fa2c1";
  run.summary.info.workflow = "churn";
  run.summary.info.host = "box";
  run.summary.info.started_ms = 1795505401000;
  run.summary.status = "failed";
  run.summary.ended_ms = 1795505402000;
  run.summary.error = "stage 'eval' failed: boom";
  run.summary.failed_stage = "eval";
  run.stages.push_back(stage("load", 0, 0, 100));
  StoredStage train = stage("train", 0, 120, 700, 20);
  train.attempts = 3;
  train.threads = 4;
  train.gpus = 1;
  train.gpu_ms = 580;
  train.bytes_read = 4096;
  run.stages.push_back(train);
  run.stages.push_back(stage("prep", 1, 100, 300, 0));
  StoredStage eval = stage("eval", 1, 700, 900, 300);
  eval.status = "failed";
  eval.error = "boom";
  eval.cache_outcome = "ran";
  run.stages.push_back(eval);
  StoredStage cached = stage("cached", 1, 0, 1);
  cached.cache_outcome = "restored";
  run.stages.push_back(cached);
  StoredStage later = stage("later", 0, 0, 0);
  later.status = "cancelled";
  later.attempts = 0;
  run.stages.push_back(later);
  return run;
}

// The "X" events by name.
std::map<std::string, Json> slices(const Json& trace) {
  std::map<std::string, Json> out;
  for (const Json& e : trace["traceEvents"]) {
    if (e["ph"] == "X") out[e["name"].get<std::string>()] = e;
  }
  return out;
}

// "M" thread names by (pid, tid).
std::map<std::pair<int, int>, std::string> thread_names(const Json& trace) {
  std::map<std::pair<int, int>, std::string> out;
  for (const Json& e : trace["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") {
      out[{e["pid"].get<int>(), e["tid"].get<int>()}] = e["args"]["name"].get<std::string>();
    }
  }
  return out;
}

TEST(ChromeTraceTest, OneTrackPerWorkerAndStagesAsSlicesInMicroseconds) {
  const Json trace = Json::parse(chrome_trace(sample_run()));
  ASSERT_TRUE(trace["traceEvents"].is_array());
  EXPECT_EQ(trace["displayTimeUnit"], "ms");
  EXPECT_EQ(trace["otherData"]["run_id"], "20261124T073000Z-3fa2c1");
  EXPECT_EQ(trace["otherData"]["started"], "2026-11-24T07:30:01.000Z");

  const auto names = thread_names(trace);
  EXPECT_EQ(names.at({1, 0}), "run");
  EXPECT_EQ(names.at({1, 1}), "worker 0");
  EXPECT_EQ(names.at({1, 2}), "worker 1");

  const auto x = slices(trace);
  const Json& run = x.at("run 20261124T073000Z-3fa2c1");
  EXPECT_EQ(run["ts"], 0);
  EXPECT_EQ(run["dur"], 1000000);
  EXPECT_EQ(run["args"]["status"], "failed");
  EXPECT_EQ(run["args"]["failed_stage"], "eval");

  const Json& load = x.at("load");
  EXPECT_EQ(load["pid"], 1);
  EXPECT_EQ(load["tid"], 1);
  EXPECT_EQ(load["ts"], 0);
  EXPECT_EQ(load["dur"], 100000);
  EXPECT_EQ(load["cat"], "stage");
  EXPECT_EQ(load["args"]["status"], "succeeded");
  EXPECT_EQ(load["args"]["cpu_ms"], 200);
  EXPECT_EQ(load["args"]["cache"], "stored");
  EXPECT_FALSE(load["args"].contains("queue_wait_ms"));

  const Json& prep = x.at("prep");
  EXPECT_EQ(prep["tid"], 2);
  EXPECT_EQ(prep["ts"], 100000);
  EXPECT_EQ(prep["dur"], 200000);
  EXPECT_EQ(prep["args"]["queue_wait_ms"], 0);
}

TEST(ChromeTraceTest, RetriesFailuresAndCacheHitsAreMarked) {
  const auto x = slices(Json::parse(chrome_trace(sample_run())));
  ASSERT_TRUE(x.count("train (3 attempts)"));
  const Json& train = x.at("train (3 attempts)");
  EXPECT_EQ(train["cat"], "stage,retried");
  EXPECT_EQ(train["args"]["attempts"], 3);
  EXPECT_EQ(train["ts"], 120000);
  EXPECT_EQ(train["dur"], 580000);
  EXPECT_EQ(train["args"]["threads"], 4);
  EXPECT_EQ(train["args"]["gpus"], 1);
  EXPECT_EQ(train["args"]["gpu_ms"], 580);
  EXPECT_EQ(train["args"]["bytes_read"], 4096);
  EXPECT_FALSE(train["args"].contains("bytes_written"));
  EXPECT_FALSE(train["args"].contains("cost"));

  const Json& eval = x.at("eval");
  EXPECT_EQ(eval["cat"], "stage,failed");
  EXPECT_EQ(eval["cname"], "terrible");
  EXPECT_EQ(eval["args"]["error"], "boom");

  EXPECT_EQ(x.at("cached")["cat"], "stage,cache");
  EXPECT_EQ(x.count("later"), 0U) << "a stage that never started has no slice";
}

TEST(ChromeTraceTest, QueueWaitsGoOnNonOverlappingQueueTracks) {
  // Waits, by ready time: train [100, 120], x [380, 400], y [390, 700], eval [400, 700]. x fits
  // after train on track 1; y overlaps x and opens track 2; eval starts when x ends: track 1.
  RunDetails run = sample_run();
  run.stages.push_back(stage("x", 0, 400, 410, 20));
  run.stages.push_back(stage("y", 1, 700, 710, 310));
  const Json trace = Json::parse(chrome_trace(run));
  const auto x = slices(trace);
  const Json& train = x.at("train (queued)");
  EXPECT_EQ(train["pid"], 2);
  EXPECT_EQ(train["cat"], "queue");
  EXPECT_EQ(train["ts"], 100000);
  EXPECT_EQ(train["dur"], 20000);
  EXPECT_EQ(train["tid"], 1);
  EXPECT_EQ(x.at("x (queued)")["tid"], 1);     // ready at 380, lane 1 free since 120
  EXPECT_EQ(x.at("y (queued)")["tid"], 2);     // ready at 390, lane 1 busy until 400
  EXPECT_EQ(x.at("eval (queued)")["tid"], 1);  // ready at 400: lane 1 free again
  EXPECT_EQ(x.at("eval (queued)")["ts"], 400000);
  EXPECT_EQ(x.count("prep (queued)"), 0U) << "a zero wait has no slice";
  const auto names = thread_names(trace);
  EXPECT_EQ(names.at({2, 1}), "queue 1");
  EXPECT_EQ(names.at({2, 2}), "queue 2");
  EXPECT_EQ(names.count({2, 3}), 0U);
  // Slices on one queue track never overlap.
  std::map<int, std::vector<std::pair<std::int64_t, std::int64_t>>> lanes;
  for (const auto& [name, e] : x) {
    if (e["pid"] == 2) {
      lanes[e["tid"].get<int>()].emplace_back(
          e["ts"].get<std::int64_t>(), e["ts"].get<std::int64_t>() + e["dur"].get<std::int64_t>());
    }
  }
  for (auto& [tid, spans] : lanes) {
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) EXPECT_LE(spans[i - 1].second, spans[i].first);
  }
}

TEST(ChromeTraceTest, EmptyAndOddRunsStillGiveValidJson) {
  RunDetails empty;
  const Json e = Json::parse(chrome_trace(empty));
  EXPECT_EQ(slices(e).at("run ")["dur"], 0);

  RunDetails odd;
  odd.summary.info.id = "r\xff";
  odd.summary.status = "running";  // no end yet
  StoredStage backwards = stage("back\"wards", 3, 500, 400);
  odd.stages.push_back(backwards);
  const Json o = Json::parse(chrome_trace(odd));
  const auto x = slices(o);
  EXPECT_EQ(x.at("back\"wards")["dur"], 0);
  EXPECT_EQ(x.at("back\"wards")["tid"], 4);
  EXPECT_EQ(x.at("run r\xEF\xBF\xBD")["dur"], 400000) << "to the last stage's end";
}

}  // namespace
}  // namespace trainflow::observe

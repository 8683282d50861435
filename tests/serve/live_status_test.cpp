#include "trainflow/observe/live_status.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/stage_bodies.hpp"
#include "trainflow/core/type_id.hpp"
#include "trainflow/graph/graph.hpp"

namespace trainflow::observe {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// read -> train[l2=0.1], train[l2=1] -> pick; plus report after pick by order only.
Graph sweep_graph() {
  Graph g{"sweep"};
  StageSpec read = test::stage_spec("read", {}, {type_id<int>()});
  read.kind = "read_csv";
  read.resources.memory_bytes = 1000;
  const StageId r = g.add_stage(std::move(read));
  StageSpec a = test::stage_spec("train[l2=0.1]", {type_id<int>()}, {type_id<int>()});
  a.kind = "logistic_regression";
  const StageId t0 = g.add_stage(std::move(a));
  const StageId t1 =
      g.add_stage(test::stage_spec("train[l2=1]", {type_id<int>()}, {type_id<int>()}));
  const StageId pick = g.add_stage(test::stage_spec("pick", {type_id<int>(), type_id<int>()}, {}));
  const StageId report = g.add_stage(test::stage_spec("report", {}, {}));
  g.connect({r, 0}, {t0, 0});
  g.connect({r, 0}, {t1, 0});
  g.connect({t0, 0}, {pick, 0});
  g.connect({t1, 0}, {pick, 1});
  g.add_dependency(pick, report);
  return g;
}

// A steady clock that moves only when told.
struct FakeNow {
  std::chrono::steady_clock::time_point t{std::chrono::seconds(1000)};
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] { return t; };
  }
};

Event run_event(EventKind kind, std::chrono::nanoseconds at) {
  Event e;
  e.kind = kind;
  e.since_start = at;
  e.run_id = "run-1";
  e.graph = "sweep";
  e.time = std::chrono::system_clock::time_point{std::chrono::seconds(1'700'000'000)};
  return e;
}

Event stage_event(EventKind kind, std::uint32_t stage, std::chrono::nanoseconds at) {
  Event e = run_event(kind, at);
  e.stage_index = stage;
  e.attempt = 1;
  return e;
}

// The value of the sample `series` (name and labels exactly as printed), or NaN when absent.
std::optional<std::string> sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
  }
  return std::nullopt;
}

TEST(LiveStatusTest, KnowsTheDagBeforeTheRun) {
  LiveStatus live(sweep_graph());
  const json doc = json::parse(live.json());
  EXPECT_EQ(doc["run"]["status"], "pending");
  EXPECT_EQ(doc["run"]["graph"], "sweep");
  EXPECT_FALSE(doc["run"]["finished"].get<bool>());
  ASSERT_EQ(doc["stages"].size(), 5U);
  EXPECT_EQ(doc["stages"][0]["name"], "read");
  EXPECT_EQ(doc["stages"][0]["kind"], "read_csv");
  EXPECT_EQ(doc["stages"][1]["group"], "train");
  EXPECT_EQ(doc["stages"][1]["trial"], 0);
  EXPECT_EQ(doc["stages"][2]["trial"], 1);
  EXPECT_TRUE(doc["stages"][0]["trial"].is_null());
  for (const json& s : doc["stages"]) EXPECT_EQ(s["status"], "pending");
  EXPECT_EQ(doc["counters"]["stages"]["pending"], 5);
  EXPECT_EQ(doc["edges"], json::parse("[[0,1],[0,2],[1,3],[2,3],[3,4]]"));
  EXPECT_FALSE(live.finished());
}

TEST(LiveStatusTest, FoldsEventsIntoStagesAndCounters) {
  FakeNow clock;
  LiveStatus live(sweep_graph(), {.now = clock.fn()});
  live.on_event(run_event(EventKind::kRunStarted, 0ns));
  Event start = stage_event(EventKind::kStageStarted, 0, 500ms);
  start.worker = 1;
  start.threads = 2;
  start.queue_wait = 100ms;
  live.on_event(start);
  clock.t += 2s;  // now 2 s into the run; read has run 1.5 s

  json doc = json::parse(live.json());
  EXPECT_EQ(doc["run"]["status"], "running");
  EXPECT_EQ(doc["run"]["id"], "run-1");
  EXPECT_EQ(doc["run"]["started_at"], "2023-11-14T22:13:20Z");
  EXPECT_DOUBLE_EQ(doc["run"]["elapsed_seconds"].get<double>(), 2.0);
  EXPECT_EQ(doc["stages"][0]["status"], "running");
  EXPECT_EQ(doc["stages"][0]["worker"], 1);
  EXPECT_EQ(doc["stages"][0]["threads"], 2);
  EXPECT_DOUBLE_EQ(doc["stages"][0]["wall_seconds"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(doc["stages"][0]["queue_wait_seconds"].get<double>(), 0.1);
  EXPECT_EQ(doc["counters"]["threads_in_use"], 2);
  EXPECT_EQ(doc["counters"]["memory_in_use_bytes"], 1000);
  std::string prom = live.prometheus();
  EXPECT_EQ(sample(prom, "trainflow_threads_in_use"), "2");
  EXPECT_EQ(sample(prom, "trainflow_memory_in_use_bytes"), "1000");
  EXPECT_EQ(sample(prom, "trainflow_stage_threads{stage=\"read\"}"), "2");
  EXPECT_EQ(sample(prom, "trainflow_stage_duration_seconds{stage=\"read\"}"), "1.5");
  EXPECT_EQ(sample(prom, "trainflow_run_elapsed_seconds"), "2");
  EXPECT_EQ(sample(prom, "trainflow_stages{status=\"running\"}"), "1");

  Event grant = stage_event(EventKind::kGrantChanged, 0, 2s);
  grant.threads = 3;
  live.on_event(grant);
  EXPECT_EQ(sample(live.prometheus(), "trainflow_threads_in_use"), "3");

  Event done = stage_event(EventKind::kStageFinished, 0, 2500ms);
  done.status = StageStatus::kSucceeded;
  done.wall = 2000ms;
  done.cpu = 400ms;
  live.on_event(done);

  // train[l2=0.1]: fails once, retried, then fails for good.
  live.on_event(stage_event(EventKind::kStageStarted, 1, 2600ms));
  Event retry = stage_event(EventKind::kStageRetry, 1, 2700ms);
  retry.message = "diverged";
  live.on_event(retry);
  Event second = stage_event(EventKind::kStageStarted, 1, 2800ms);
  second.attempt = 2;
  live.on_event(second);
  Event failed = stage_event(EventKind::kStageFailed, 1, 2900ms);
  failed.status = StageStatus::kFailed;
  failed.message = "stage 'train[l2=0.1]' failed: diverged again";
  failed.wall = 300ms;
  live.on_event(failed);
  // train[l2=1]: a cache hit.
  live.on_event(stage_event(EventKind::kStageStarted, 2, 2600ms));
  live.on_event(stage_event(EventKind::kCacheHit, 2, 2610ms));
  Event cached = stage_event(EventKind::kStageFinished, 2, 2620ms);
  cached.wall = 20ms;
  live.on_event(cached);
  // pick and report never run.
  Event skipped = stage_event(EventKind::kStageFinished, 3, 2900ms);
  skipped.status = StageStatus::kSkipped;
  live.on_event(skipped);
  skipped.stage_index = 4;
  live.on_event(skipped);
  Event end = run_event(EventKind::kRunFinished, 3s);
  end.run_status = RunStatus::kFailed;
  end.message = "stage 'train[l2=0.1]' failed: diverged again";
  end.dropped = 5;
  live.on_event(end);
  clock.t += 10s;  // a finished run's elapsed time no longer moves

  EXPECT_TRUE(live.finished());
  doc = json::parse(live.json());
  EXPECT_EQ(doc["run"]["status"], "failed");
  EXPECT_TRUE(doc["run"]["finished"].get<bool>());
  EXPECT_DOUBLE_EQ(doc["run"]["elapsed_seconds"].get<double>(), 3.0);
  EXPECT_EQ(doc["run"]["error"], "stage 'train[l2=0.1]' failed: diverged again");
  EXPECT_EQ(doc["stages"][0]["status"], "succeeded");
  EXPECT_DOUBLE_EQ(doc["stages"][0]["wall_seconds"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(doc["stages"][0]["end_seconds"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(doc["stages"][0]["cpu_seconds"].get<double>(), 0.4);
  EXPECT_EQ(doc["stages"][0]["threads"], 0);
  EXPECT_EQ(doc["stages"][1]["status"], "failed");
  EXPECT_EQ(doc["stages"][1]["attempts"], 2);
  EXPECT_EQ(doc["stages"][1]["retries"], 1);
  EXPECT_EQ(doc["stages"][1]["error"], "stage 'train[l2=0.1]' failed: diverged again");
  EXPECT_EQ(doc["stages"][2]["status"], "cached");
  EXPECT_TRUE(doc["stages"][2]["cache_hit"].get<bool>());
  EXPECT_EQ(doc["stages"][3]["status"], "skipped");
  EXPECT_TRUE(doc["stages"][3]["start_seconds"].is_null());
  EXPECT_EQ(doc["counters"]["stages"]["succeeded"], 1);
  EXPECT_EQ(doc["counters"]["stages"]["failed"], 1);
  EXPECT_EQ(doc["counters"]["stages"]["cached"], 1);
  EXPECT_EQ(doc["counters"]["stages"]["skipped"], 2);
  EXPECT_EQ(doc["counters"]["cache_hits"], 1);
  EXPECT_EQ(doc["counters"]["retries"], 1);
  EXPECT_EQ(doc["counters"]["events_dropped"], 5);
  EXPECT_EQ(doc["counters"]["threads_in_use"], 0);

  prom = live.prometheus();
  EXPECT_EQ(sample(prom, "trainflow_run_elapsed_seconds"), "3");
  EXPECT_EQ(sample(prom, "trainflow_run_finished"), "1");
  EXPECT_EQ(sample(prom, "trainflow_run_succeeded"), "0");
  EXPECT_EQ(sample(prom, "trainflow_run_info{run_id=\"run-1\",graph=\"sweep\"}"), "1");
  EXPECT_EQ(sample(prom, "trainflow_stage_duration_seconds{stage=\"read\"}"), "2");
  EXPECT_EQ(sample(prom, "trainflow_stage_cpu_seconds{stage=\"read\"}"), "0.4");
  EXPECT_EQ(sample(prom, "trainflow_stage_queue_wait_seconds{stage=\"read\"}"), "0.1");
  EXPECT_EQ(sample(prom, "trainflow_stage_duration_seconds{stage=\"train\",trial=\"0\"}"), "0.3");
  EXPECT_EQ(sample(prom, "trainflow_stage_attempts{stage=\"train\",trial=\"0\"}"), "2");
  EXPECT_EQ(sample(prom, "trainflow_stage_duration_seconds{stage=\"train\",trial=\"1\"}"), "0.02");
  EXPECT_EQ(sample(prom, "trainflow_stages{status=\"failed\"}"), "1");
  EXPECT_EQ(sample(prom, "trainflow_stages{status=\"skipped\"}"), "2");
  EXPECT_EQ(sample(prom, "trainflow_stages{status=\"cached\"}"), "1");
  EXPECT_EQ(sample(prom, "trainflow_stages{status=\"pending\"}"), "0");
  EXPECT_EQ(sample(prom, "trainflow_cache_hits_total"), "1");
  EXPECT_EQ(sample(prom, "trainflow_retries_total"), "1");
  EXPECT_EQ(sample(prom, "trainflow_events_dropped_total"), "5");
  EXPECT_EQ(sample(prom, "trainflow_threads_in_use"), "0");
  // Skipped stages never started: no duration.
  EXPECT_EQ(sample(prom, "trainflow_stage_duration_seconds{stage=\"pick\"}"), std::nullopt);
}

TEST(LiveStatusTest, PrometheusTextIsWellFormedAndHasNoParameterValues) {
  LiveStatus live(sweep_graph());
  live.on_event(run_event(EventKind::kRunStarted, 0ns));
  for (std::uint32_t i = 0; i < 3; ++i)
    live.on_event(stage_event(EventKind::kStageStarted, i, 1ms));
  Event metric = stage_event(EventKind::kMetric, 1, 2ms);
  metric.metric = "loss";
  metric.value = 0.25;
  metric.step = 3;
  live.on_event(metric);
  const std::string text = live.prometheus();
  const std::regex sample_line(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^"\\\n])*")"
      R"((,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^"\\\n])*")*\})? (NaN|[+-]Inf|-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?)$)");
  const std::regex help_line(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$)");
  const std::regex type_line(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter)$)");
  std::istringstream lines(text);
  std::set<std::string> typed;
  std::string current;
  std::size_t samples = 0;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, help_line)) {
      current = m[1];
      continue;
    }
    if (std::regex_match(line, m, type_line)) {
      EXPECT_EQ(m[1], current) << "TYPE without HELP: " << line;
      EXPECT_TRUE(typed.insert(m[1]).second) << "family listed twice: " << line;
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample_line)) << "not a sample line: " << line;
    EXPECT_EQ(m[1], current) << "sample outside its family: " << line;
    ++samples;
    EXPECT_EQ(line.find("l2"), std::string::npos) << "a parameter value in a label: " << line;
    EXPECT_EQ(line.find('['), std::string::npos) << line;
  }
  EXPECT_GT(samples, 20U);
  EXPECT_EQ(sample(text, "trainflow_stage_metric{stage=\"train\",trial=\"0\",metric=\"loss\"}"),
            "0.25");
  EXPECT_EQ(text.back(), '\n');
}

TEST(LiveStatusTest, EscapesLabelValues) {
  Graph g{"g"};
  g.add_stage(test::stage_spec("we\"ird\\na\nme", {}, {}));
  LiveStatus live(g);
  live.on_event(run_event(EventKind::kRunStarted, 0ns));
  live.on_event(stage_event(EventKind::kStageStarted, 0, 1ms));
  Event metric = stage_event(EventKind::kMetric, 0, 2ms);
  metric.metric = "a\"b";
  metric.value = 1;
  live.on_event(metric);
  const std::string text = live.prometheus();
  EXPECT_EQ(sample(text, R"(trainflow_stage_progress{stage="we\"ird\\na\nme"})"), "0");
  EXPECT_EQ(sample(text, R"(trainflow_stage_metric{stage="we\"ird\\na\nme",metric="a\"b"})"), "1");
}

TEST(LiveStatusTest, MetricSeriesAreBoundedByDoublingStride) {
  LiveStatus live(sweep_graph(), {.max_points_per_series = 4, .max_series_per_stage = 2});
  live.on_event(run_event(EventKind::kRunStarted, 0ns));
  for (int step = 0; step < 10; ++step) {
    Event e = stage_event(EventKind::kMetric, 1, 1ms);
    e.metric = "loss";
    e.value = 10.0 - step;
    e.step = step;
    live.on_event(e);
  }
  // Kept: reported points 0..3, then at 4 halved to {0, 2} (stride 2) + 4, 6; at 8 halved to
  // {0, 4} (stride 4) + 8. Step 9 is only the latest.
  json doc = json::parse(live.json());
  const json& loss = doc["stages"][1]["metrics"]["loss"];
  EXPECT_EQ(loss["points"], json::parse("[[0,10],[4,6],[8,2]]"));
  EXPECT_EQ(loss["latest"], json::parse("[9,1]"));
  EXPECT_EQ(loss["reported"], 10);
  EXPECT_EQ(loss["stride"], 4);

  // Without a step: the order of report. A third series name is past the limit.
  for (const char* name : {"auc", "f1"}) {
    for (int i = 0; i < 2; ++i) {
      Event e = stage_event(EventKind::kMetric, 1, 1ms);
      e.metric = name;
      e.value = 0.5 + i;
      live.on_event(e);
    }
  }
  doc = json::parse(live.json());
  const json& metrics = doc["stages"][1]["metrics"];
  EXPECT_EQ(metrics.size(), 2U);
  EXPECT_EQ(metrics["auc"]["points"], json::parse("[[0,0.5],[1,1.5]]"));
  EXPECT_FALSE(metrics.contains("f1"));
  EXPECT_EQ(doc["counters"]["metric_events_ignored"], 2);
  EXPECT_EQ(sample(live.prometheus(), "trainflow_metric_events_ignored_total"), "2");
}

TEST(LiveStatusTest, NonFiniteValuesAndBadInput) {
  LiveStatus live(sweep_graph(), {.max_message_bytes = 5});
  live.on_event(run_event(EventKind::kRunStarted, 0ns));
  Event e = stage_event(EventKind::kMetric, 0, 1ms);
  e.metric = "loss";
  e.value = std::numeric_limits<double>::quiet_NaN();
  live.on_event(e);
  e.metric = "grad";
  e.value = -std::numeric_limits<double>::infinity();
  live.on_event(e);
  // A stage index outside the graph is ignored.
  live.on_event(stage_event(EventKind::kStageStarted, 99, 1ms));
  // Messages are cut on a UTF-8 boundary ("ab" + a 4-byte character does not fit in 5 bytes).
  Event failed = stage_event(EventKind::kStageFailed, 0, 2ms);
  failed.message = "ab\xF0\x9F\x98\x80zzz";
  live.on_event(failed);
  // Invalid UTF-8 from user code does not break the JSON.
  Event bad = stage_event(EventKind::kStageFailed, 1, 2ms);
  bad.message = "\xFF\xFE";
  live.on_event(bad);

  const json doc = json::parse(live.json());
  EXPECT_TRUE(doc["stages"][0]["metrics"]["loss"]["latest"][1].is_null());
  EXPECT_EQ(doc["stages"][0]["error"], "ab...");
  EXPECT_EQ(doc["stages"][1]["error"], "\xEF\xBF\xBD\xEF\xBF\xBD");
  const std::string text = live.prometheus();
  EXPECT_EQ(sample(text, R"(trainflow_stage_metric{stage="read",metric="loss"})"), "NaN");
  EXPECT_EQ(sample(text, R"(trainflow_stage_metric{stage="read",metric="grad"})"), "-Inf");
}

TEST(LiveStatusTest, ReadersAndAWriterRunConcurrently) {
  LiveStatus live(sweep_graph());
  live.on_event(run_event(EventKind::kRunStarted, 0ns));
  constexpr int kEvents = 3000;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  std::atomic<int> renders{0};
  for (int r = 0; r < 2; ++r) {
    // Each reader renders at least once, even when the machine runs the writers to the end
    // before it is scheduled.
    readers.emplace_back([&] {
      do {
        const json doc = json::parse(live.json());
        EXPECT_EQ(doc["stages"].size(), 5U);
        EXPECT_FALSE(live.prometheus().empty());
        ++renders;
      } while (!done.load());
    });
  }
  // Events come from several producers here (the executor delivers on one thread, but the
  // contract is that every member may be called concurrently).
  std::vector<std::thread> writers;
  for (std::uint32_t w = 0; w < 3; ++w) {
    writers.emplace_back([&live, w] {
      for (int i = 0; i < kEvents; ++i) {
        Event e = stage_event(EventKind::kMetric, w, 1ms);
        e.metric = "loss";
        e.value = i;
        e.step = i;
        live.on_event(e);
      }
    });
  }
  for (std::thread& t : writers) t.join();
  done = true;
  for (std::thread& t : readers) t.join();
  const json doc = json::parse(live.json());
  for (std::uint32_t w = 0; w < 3; ++w) {
    EXPECT_EQ(doc["stages"][w]["metrics"]["loss"]["reported"], kEvents);
    EXPECT_EQ(doc["stages"][w]["metrics"]["loss"]["latest"][1], kEvents - 1);
    EXPECT_LE(doc["stages"][w]["metrics"]["loss"]["points"].size(), 1000U);
  }
  EXPECT_GE(renders.load(), 2);
}

}  // namespace
}  // namespace trainflow::observe

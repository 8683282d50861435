// Observers: every event of a run arrives, in causal order, once; a failing observer breaks
// nothing; the run's end is delivered before wait() returns. At 1, 2, 4 and 8 workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "testing/sync.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/exec/observer.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace trainflow {
namespace {

// What an observer saw: a copy of each event with its strings.
struct Seen {
  EventKind kind;
  std::string stage;
  std::string run_id;
  std::string text;  // message or metric name
  double value;
  std::int64_t step;
  std::chrono::nanoseconds since_start;
  std::chrono::nanoseconds queue_wait;
  std::uint32_t attempt;
  int worker;
  StageStatus status;
  RunStatus run_status;
  LogLevel level;
  std::uint64_t dropped;
};

class Recorder : public Observer {
 public:
  void on_event(const Event& e) override {
    const std::thread::id me = std::this_thread::get_id();
    std::lock_guard lock{mutex_};
    threads_.push_back(me);
    seen_.push_back({e.kind, std::string(e.stage), std::string(e.run_id),
                     std::string(e.kind == EventKind::kMetric ? e.metric : e.message), e.value,
                     e.step, e.since_start, e.queue_wait, e.attempt, e.worker, e.status,
                     e.run_status, e.level, e.dropped});
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock{mutex_};
    return seen_;
  }
  std::vector<std::thread::id> threads() const {
    std::lock_guard lock{mutex_};
    return threads_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Seen> seen_;
  std::vector<std::thread::id> threads_;
};

class ObserverTest : public ::testing::TestWithParam<unsigned> {
 protected:
  Executor executor_{{.threads = GetParam()}};
};

std::string worker_name(const ::testing::TestParamInfo<unsigned>& info) {
  return "w" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(Workers, ObserverTest, ::testing::Values(1u, 2u, 4u, 8u), worker_name);

// A layered graph: `layers` layers of `width` stages, each after every stage of the layer before.
Pipeline layered(int layers, int width) {
  Pipeline p{"layered"};
  std::vector<Handle<void>> prev;
  for (int l = 0; l < layers; ++l) {
    std::vector<Handle<void>> cur;
    for (int k = 0; k < width; ++k) {
      const std::string name = "s" + std::to_string(l) + "_" + std::to_string(k);
      Handle<void> h = p.add(name, [] {});
      for (const Handle<void>& d : prev) p.order(d, h);
      cur.push_back(h);
    }
    prev = std::move(cur);
  }
  return p;
}

TEST_P(ObserverTest, EveryStageStartsThenFinishesAfterItsPredecessorsAndTheRunEndsLast) {
  constexpr int kLayers = 20, kWidth = 6;
  Pipeline p = layered(kLayers, kWidth);
  auto rec = std::make_shared<Recorder>();
  const RunReport report = executor_.run(p, {.observers = {rec}, .run_id = "r1"});
  ASSERT_TRUE(report.ok()) << report.error().message();
  const std::vector<Seen> seen = rec->seen();  // complete: wait() returned after the last event
  ASSERT_EQ(seen.size(), 2u + 2u * kLayers * kWidth);
  EXPECT_EQ(seen.front().kind, EventKind::kRunStarted);
  EXPECT_EQ(seen.back().kind, EventKind::kRunFinished);
  EXPECT_EQ(seen.back().run_status, RunStatus::kSucceeded);
  EXPECT_EQ(seen.back().dropped, 0u);
  std::map<std::string, std::size_t> started, finished;
  // A worker's events come in the order it timed them. (Events of different workers may not: one
  // descheduled between timing an event and queueing it finds later ones delivered before it.)
  std::map<int, std::chrono::nanoseconds> last_of_worker;
  for (std::size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].run_id, "r1");
    if (k > 0) {
      EXPECT_LE(seen.front().since_start, seen[k].since_start) << "event " << k;
      EXPECT_LE(seen[k].since_start, seen.back().since_start) << "event " << k;
    }
    if (seen[k].kind == EventKind::kStageStarted || seen[k].kind == EventKind::kStageFinished) {
      const auto [last, first] = last_of_worker.try_emplace(seen[k].worker, seen[k].since_start);
      if (!first) {
        EXPECT_LE(last->second, seen[k].since_start)
            << "event " << k << " of worker " << seen[k].worker;
        last->second = seen[k].since_start;
      }
    }
    if (seen[k].kind == EventKind::kStageStarted) {
      EXPECT_TRUE(started.emplace(seen[k].stage, k).second) << seen[k].stage;
      EXPECT_GE(seen[k].worker, 0);
      EXPECT_LT(seen[k].worker, static_cast<int>(GetParam()));
      EXPECT_EQ(seen[k].attempt, 1u);
    } else if (seen[k].kind == EventKind::kStageFinished) {
      EXPECT_EQ(seen[k].status, StageStatus::kSucceeded);
      EXPECT_TRUE(finished.emplace(seen[k].stage, k).second) << seen[k].stage;
    }
  }
  for (int l = 0; l < kLayers; ++l) {
    for (int k = 0; k < kWidth; ++k) {
      const std::string name = "s" + std::to_string(l) + "_" + std::to_string(k);
      ASSERT_TRUE(started.count(name) && finished.count(name)) << name;
      EXPECT_LT(started[name], finished[name]) << name;
      if (l == 0) continue;
      for (int j = 0; j < kWidth; ++j) {
        const std::string pred = "s" + std::to_string(l - 1) + "_" + std::to_string(j);
        EXPECT_LT(finished[pred], started[name]) << pred << " before " << name;
      }
    }
  }
}

TEST_P(ObserverTest, DeliversOnOneThreadThatIsNotAWorker) {
  Pipeline p = layered(4, 8);
  auto rec = std::make_shared<Recorder>();
  std::vector<std::thread::id> workers(GetParam());
  std::mutex m;
  for (int k = 0; k < 4; ++k) {
    p.add("who" + std::to_string(k), [&] {
      std::lock_guard lock{m};
      workers.push_back(std::this_thread::get_id());
    });
  }
  ASSERT_TRUE(executor_.run(p, {.observers = {rec}}).ok());
  const std::vector<std::thread::id> threads = rec->threads();
  ASSERT_FALSE(threads.empty());
  for (const std::thread::id& t : threads) {
    EXPECT_EQ(t, threads.front());
    EXPECT_EQ(std::count(workers.begin(), workers.end(), t), 0);
    EXPECT_NE(t, std::this_thread::get_id());
  }
}

TEST_P(ObserverTest, StagesReportMetricsProgressLogsAndCacheHitsInOrder) {
  Pipeline p;
  p.add("train", [](StageContext& ctx) {
    for (int epoch = 0; epoch < 50; ++epoch) {
      ctx.report_metric("loss", 1.0 / (epoch + 1), epoch);
      ctx.report_progress((epoch + 1) / 50.0);
    }
    ctx.report_progress(7.0);  // clamped
    ctx.log(LogLevel::kWarn, "lr too high");
    ctx.report_cache_hit();
  });
  auto rec = std::make_shared<Recorder>();
  ASSERT_TRUE(executor_.run(p, {.observers = {rec}}).ok());
  std::vector<Seen> train;
  for (const Seen& s : rec->seen()) {
    if (s.stage == "train") train.push_back(s);
  }
  ASSERT_EQ(train.size(), 2u + 50u * 2u + 3u);
  EXPECT_EQ(train.front().kind, EventKind::kStageStarted);
  EXPECT_EQ(train.back().kind, EventKind::kStageFinished);
  int metric = 0;
  for (std::size_t k = 1; k + 1 < train.size(); ++k) {
    const Seen& s = train[k];
    if (s.kind == EventKind::kMetric) {
      EXPECT_EQ(s.text, "loss");
      EXPECT_EQ(s.step, metric);
      EXPECT_DOUBLE_EQ(s.value, 1.0 / (metric + 1));
      ++metric;
    }
  }
  EXPECT_EQ(metric, 50);
  const Seen& clamped = train[train.size() - 4];
  EXPECT_EQ(clamped.kind, EventKind::kProgress);
  EXPECT_EQ(clamped.value, 1.0);
  EXPECT_EQ(train[train.size() - 3].kind, EventKind::kLog);
  EXPECT_EQ(train[train.size() - 3].level, LogLevel::kWarn);
  EXPECT_EQ(train[train.size() - 3].text, "lr too high");
  EXPECT_EQ(train[train.size() - 2].kind, EventKind::kCacheHit);
}

class Thrower : public Observer {
 public:
  void on_event(const Event&) override {
    ++calls;
    throw std::runtime_error("observer bug");
  }
  std::atomic<int> calls{0};
};

TEST_P(ObserverTest, AFailingObserverBreaksNeitherTheRunNorTheOtherObservers) {
  Pipeline p = layered(5, 5);
  auto thrower = std::make_shared<Thrower>();
  auto rec = std::make_shared<Recorder>();
  const RunReport report = executor_.run(p, {.observers = {thrower, rec}});
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(thrower->calls.load(), 1);  // the first event, then nothing more
  EXPECT_EQ(rec->seen().size(), 2u + 2u * 25u);
}

TEST_P(ObserverTest, FailuresRetriesSkipsAndTheRunsErrorAreReported) {
  Pipeline p;
  std::atomic<int> tries{0};
  auto flaky = p.add(
      StageOptions{.name = "flaky",
                   .retry = {.max_attempts = 3, .initial_backoff = std::chrono::milliseconds{0}}},
      [&]() -> Result<int> {
        if (tries.fetch_add(1) < 2) return Status{StatusCode::kUnavailable, "busy"};
        return 1;
      });
  auto bad = p.add(
      "bad", [](int) -> Result<int> { return invalid_argument("no good"); }, flaky);
  p.add(
      "after", [](int) {}, bad);
  auto rec = std::make_shared<Recorder>();
  const RunReport report = executor_.run(p, {.observers = {rec}});
  ASSERT_EQ(report.status(), RunStatus::kFailed);
  int retries = 0;
  bool failed = false, skipped = false;
  for (const Seen& s : rec->seen()) {
    if (s.kind == EventKind::kStageRetry) {
      EXPECT_EQ(s.stage, "flaky");
      EXPECT_EQ(s.text, "busy");
      EXPECT_EQ(s.attempt, static_cast<std::uint32_t>(++retries));
    }
    if (s.kind == EventKind::kStageFailed) {
      EXPECT_EQ(s.stage, "bad");
      EXPECT_EQ(s.text, "no good");
      EXPECT_EQ(s.status, StageStatus::kFailed);
      failed = true;
    }
    if (s.kind == EventKind::kStageFinished && s.stage == "after") {
      EXPECT_EQ(s.status, StageStatus::kSkipped);
      skipped = true;
    }
  }
  EXPECT_EQ(retries, 2);
  EXPECT_TRUE(failed);
  EXPECT_TRUE(skipped);
  const Seen last = rec->seen().back();
  EXPECT_EQ(last.kind, EventKind::kRunFinished);
  EXPECT_EQ(last.run_status, RunStatus::kFailed);
  EXPECT_EQ(last.text, report.error().message());
}

// Checks that each event carries only its kind's fields, every other one at the default of
// `Event{}` (the delivery thread reuses one Event), and which graph each run id came with.
class FieldChecker : public Observer {
 public:
  void on_event(const Event& e) override {
    const Event d{};
    const auto bad = [&](const char* field) {
      problems.push_back(std::string(to_string(e.kind)) + " of '" + std::string(e.stage) +
                         "' in run '" + std::string(e.run_id) + "' carries " + field);
    };
    const EventKind k = e.kind;
    const bool starts = k == EventKind::kStageStarted;
    const bool ends = k == EventKind::kStageFinished || k == EventKind::kStageFailed;
    const bool has_message = k == EventKind::kRunFinished || k == EventKind::kStageFailed ||
                             k == EventKind::kStageRetry || k == EventKind::kLog;
    if (!starts && e.queue_wait != d.queue_wait) bad("queue_wait");
    if (!ends && (e.wall != d.wall || e.cpu != d.cpu)) bad("wall or cpu");
    if (!ends && e.status != d.status) bad("status");
    if (k != EventKind::kRunFinished && (e.run_status != d.run_status || e.dropped != d.dropped))
      bad("run_status or dropped");
    if (k != EventKind::kStageRetry && e.backoff != d.backoff) bad("backoff");
    if (!has_message && !e.message.empty()) bad("message");
    if (k != EventKind::kMetric && (!e.metric.empty() || e.step != d.step)) bad("metric or step");
    if (k != EventKind::kMetric && k != EventKind::kProgress && e.value != d.value) bad("value");
    if (k != EventKind::kLog && e.level != d.level) bad("level");
    if (e.device != d.device) bad("device");
    if ((k == EventKind::kRunStarted || k == EventKind::kRunFinished) &&
        (!e.stage.empty() || e.stage_index != d.stage_index))
      bad("a stage");
    // What a stage's end carries is there too.
    if (ends && e.status != StageStatus::kSkipped && e.wall.count() <= 0) bad("no wall time");
    if (k == EventKind::kStageRetry && e.backoff.count() <= 0) bad("no backoff");
    const auto [it, first] = graph_of.emplace(std::string(e.run_id), std::string(e.graph));
    if (it->second != e.graph) bad("another run's graph");
    ++events;
  }
  std::vector<std::string> problems;  // the delivery thread only; read after the runs
  std::map<std::string, std::string> graph_of;
  std::size_t events = 0;
};

// A stage of every kind of event: metrics, progress, a log line and a cache hit, a retry with a
// backoff, a failure, and a stage skipped after it.
Pipeline every_kind(const std::string& name) {
  Pipeline p{name};
  auto report = p.add("report", [](StageContext& ctx) {
    for (int epoch = 0; epoch < 20; ++epoch) {
      ctx.report_metric("loss", 1.0 / (epoch + 1), epoch);
      ctx.report_progress((epoch + 1) / 20.0);
      if (epoch % 5 == 0) ctx.log(LogLevel::kWarn, "epoch " + std::to_string(epoch));
    }
    ctx.report_cache_hit();
    return 1;
  });
  auto flaky = p.add(
      StageOptions{.name = "flaky",
                   .retry = {.max_attempts = 3, .initial_backoff = std::chrono::milliseconds{1}}},
      [](StageContext& ctx, int x) -> Result<int> {
        if (ctx.attempt() < 3) return Status{StatusCode::kUnavailable, "busy"};
        return x;
      },
      report);
  auto bad = p.add(
      "bad", [](int) -> Result<int> { return invalid_argument("no good"); }, flaky);
  p.add(
      "after", [](int) {}, bad);
  for (int k = 0; k < 8; ++k) {
    p.add(
        "plain" + std::to_string(k), [](int x) { return x; }, report);
  }
  return p;
}

TEST_P(ObserverTest, EachEventCarriesItsKindsFieldsAndTheOthersAtTheirDefaults) {
  auto checker = std::make_shared<FieldChecker>();
  const Pipeline a = every_kind("graph_a"), b = every_kind("graph_b");
  const auto options = [&](std::string id) {
    return RunOptions{
        .on_failure = FailurePolicy::kContinue, .observers = {checker}, .run_id = std::move(id)};
  };
  // Two runs at once, their events interleaved; then a third, whose channel may reuse the
  // address of one of theirs.
  RunHandle ra = executor_.submit(a, options("run_a"));
  RunHandle rb = executor_.submit(b, options("run_b"));
  EXPECT_EQ(ra.wait().status(), RunStatus::kFailed);
  EXPECT_EQ(rb.wait().status(), RunStatus::kFailed);
  EXPECT_EQ(executor_.run(b, options("run_c")).status(), RunStatus::kFailed);
  for (const std::string& problem : checker->problems) ADD_FAILURE() << problem;
  const std::map<std::string, std::string> expected{
      {"run_a", "graph_a"}, {"run_b", "graph_b"}, {"run_c", "graph_b"}};
  EXPECT_EQ(checker->graph_of, expected);
  // Per run: its start and end, 12 stages started (flaky 3 times, "after" never) and resolved,
  // 20 metrics, 20 progress reports, 4 log lines, a cache hit and 2 retries.
  EXPECT_EQ(checker->events, 3u * (2 + 13 + 12 + 20 + 20 + 4 + 1 + 2));
}

TEST_P(ObserverTest, ManyEventsFromManyThreadsAreDeliveredOrCountedAsDropped) {
  constexpr int kStages = 16, kPerStage = 20000;
  Pipeline p;
  for (int s = 0; s < kStages; ++s) {
    p.add("m" + std::to_string(s), [](StageContext& ctx) {
      for (int k = 0; k < kPerStage; ++k) ctx.report_metric("x", k, k);
    });
  }
  auto rec = std::make_shared<Recorder>();
  ASSERT_TRUE(executor_.run(p, {.observers = {rec}}).ok());
  const std::vector<Seen> seen = rec->seen();
  std::size_t metrics = 0;
  std::map<std::string, std::int64_t> last_step;
  for (const Seen& s : seen) {
    if (s.kind != EventKind::kMetric) continue;
    ++metrics;
    auto [it, fresh] = last_step.emplace(s.stage, s.step);
    if (!fresh) {
      EXPECT_LT(it->second, s.step) << s.stage;  // each series in order
      it->second = s.step;
    }
  }
  EXPECT_EQ(metrics + seen.back().dropped, std::size_t{kStages} * kPerStage);
}

TEST_P(ObserverTest, QueueWaitIsTheTimeFromTheLastPredecessorsEndToTheStart) {
  Pipeline p;
  auto a = p.add("a", [] { return 1; });
  auto b = p.add("b", [] { return 2; });
  p.add(
      "c", [](int x, int y) { return x + y; }, a, b);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok());
  const StageRecord ra = *report.find("a"), rb = *report.find("b"), rc = *report.find("c");
  EXPECT_EQ(rc.queue_wait, rc.start - std::max(ra.end, rb.end));
  EXPECT_GE(rc.queue_wait.count(), 0);
  EXPECT_EQ(ra.queue_wait, ra.start);  // a source is ready when the run starts
}

// A value whose release (its consumer's resolution frees it) waits until another stage has ended,
// and then a little longer: that consumer counts its successor down after the other stage did,
// though it ended first.
struct SlowRelease {
  struct Sync {
    test::Flag releasing, other_ended;
  };
  std::shared_ptr<Sync> sync;
  bool armed = false;  // the value the run holds, not a copy

  explicit SlowRelease(std::shared_ptr<Sync> s) : sync(std::move(s)), armed(true) {}
  SlowRelease(const SlowRelease& o) : sync(o.sync) {}
  SlowRelease(SlowRelease&& o) noexcept
      : sync(std::move(o.sync)), armed(std::exchange(o.armed, false)) {}
  SlowRelease& operator=(const SlowRelease&) = delete;
  SlowRelease& operator=(SlowRelease&&) = delete;
  ~SlowRelease() {
    if (!armed) return;
    sync->releasing.set();
    sync->other_ended.wait();
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
};

TEST_P(ObserverTest, QueueWaitCountsFromTheLatestEndWhenAnotherPredecessorResolvesLast) {
  if (GetParam() < 2) GTEST_SKIP() << "needs a and b to run at once";
  auto sync = std::make_shared<SlowRelease::Sync>();
  Pipeline p;
  auto x = p.add("x", [sync] { return SlowRelease{sync}; });
  auto a = p.add(
      "a", [](const SlowRelease&) { return 1; }, x);
  auto b = p.add("b", [sync] {
    sync->releasing.wait();  // a has ended: its input is being released
    sync->other_ended.set();
    return 2;
  });
  p.add(
      "c", [](int u, int v) { return u + v; }, a, b);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  const StageRecord ra = *report.find("a"), rb = *report.find("b"), rc = *report.find("c");
  ASSERT_LT(ra.end, rb.end);  // b ended last, though a resolved last
  EXPECT_EQ(rc.queue_wait, rc.start - rb.end);
}

TEST_P(ObserverTest, RunsWithoutObserversAndObservedRunsShareAnExecutor) {
  auto rec = std::make_shared<Recorder>();
  Pipeline p = layered(6, 4);
  std::vector<RunHandle> handles;
  for (int k = 0; k < 6; ++k) {
    RunOptions options;
    if (k % 2 == 0) options.observers = {rec};
    handles.push_back(executor_.submit(p, options));
  }
  for (const RunHandle& h : handles) EXPECT_TRUE(h.wait().ok());
  const std::vector<Seen> seen = rec->seen();
  EXPECT_EQ(seen.size(), 3u * (2u + 2u * 24u));
  EXPECT_EQ(std::count_if(seen.begin(), seen.end(),
                          [](const Seen& s) { return s.kind == EventKind::kRunFinished; }),
            3);
}

}  // namespace
}  // namespace trainflow

#include "trainflow/exec/executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "testing/cpu.hpp"
#include "testing/printers.hpp"
#include "testing/sync.hpp"
#include "trainflow/core/hash.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace trainflow {
namespace {

using namespace std::chrono_literals;

// Executor semantics at 1, 2, 4 and 8 workers.
class ExecutorTest : public ::testing::TestWithParam<unsigned> {
 protected:
  unsigned workers() const { return GetParam(); }
  Executor executor_{{.threads = GetParam()}};
};

std::string worker_name(const ::testing::TestParamInfo<unsigned>& info) {
  return "w" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(Workers, ExecutorTest, ::testing::Values(1u, 2u, 4u, 8u), worker_name);

TEST_P(ExecutorTest, HasTheRequestedWorkers) {
  EXPECT_EQ(executor_.num_workers(), workers());
  EXPECT_EQ(executor_.current_worker(), -1) << "the test thread is no worker";
}

TEST(ExecutorOptionsTest, DefaultUsesEveryCore) {
  Executor executor;
  EXPECT_EQ(executor.num_workers(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST_P(ExecutorTest, EmptyPipelineSucceeds) {
  const RunReport report = executor_.run(Pipeline{"empty"});
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.size(), 0u);
}

TEST_P(ExecutorTest, GrantsTheRequestedThreadsUpToTheWorkerCount) {
  Pipeline p;
  const auto grant = [](StageContext& ctx) { return ctx.threads(); };
  auto plain = p.add("plain", grant);
  auto zero = p.add(StageOptions{.name = "zero", .threads = 0}, grant);
  auto three = p.add(StageOptions{.name = "three", .threads = 3}, grant);
  auto many = p.add(StageOptions{.name = "many", .threads = 1000}, grant);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(plain), 1u);
  EXPECT_EQ(*report.value(zero), 1u);
  EXPECT_EQ(*report.value(three), std::min(3u, workers()));
  EXPECT_EQ(*report.value(many), workers());
}

TEST_P(ExecutorTest, RunsIndependentStagesAndJoins) {
  Pipeline p;
  std::vector<Handle<int>> parts;
  for (int i = 0; i < 16; ++i) {
    parts.push_back(p.add("part" + std::to_string(i), [i] { return i * i; }));
  }
  Handle<int> sum = parts[0];
  for (int i = 1; i < 16; ++i) {
    sum = p.add(
        "sum" + std::to_string(i), [](int a, int b) { return a + b; }, sum, parts[i]);
  }
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(sum), 1240);
  EXPECT_EQ(report.count(StageStatus::kSucceeded), 31u);
}

// A stage that fails once `running` has started, from a thread of its own, so that `running` is
// certainly running when the failure happens (at any number of workers).
TEST_P(ExecutorTest, FailFastSkipsDependantsCancelsUnstartedAndLetsRunningStagesFinish) {
  Pipeline p;
  test::Flag running_started;
  std::mutex threads_mutex;
  std::vector<std::thread> threads;
  std::atomic<bool> stop_seen{false};
  std::atomic<int> unstarted_runs{0};

  auto failer = p.add("failer", [&](Completion<int> done) {
    std::lock_guard lock{threads_mutex};
    threads.emplace_back([&running_started, done = std::move(done)]() mutable {
      EXPECT_TRUE(running_started.wait());
      done.fail(invalid_argument("bad batch"));
    });
  });
  auto dependant = p.add(
      "dependant", [](int x) { return x; }, failer);
  auto running = p.add("running", [&](StageContext& ctx) {
    running_started.set();
    stop_seen = test::wait_until([&] { return ctx.stop_requested(); });
    return 1;
  });
  auto unstarted = p.add(
      "unstarted", [&](int x) { return x + unstarted_runs.fetch_add(1); }, running);

  const RunReport report = executor_.run(p);
  {
    std::lock_guard lock{threads_mutex};
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.failed_stage(), "failer");
  EXPECT_EQ(report.error().message(), "stage 'failer' failed: bad batch");
  EXPECT_EQ(report.stage(failer.stage()).status, StageStatus::kFailed);
  EXPECT_EQ(report.stage(dependant.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(report.stage(running.stage()).status, StageStatus::kSucceeded);
  EXPECT_TRUE(stop_seen.load()) << "the running stage was not told to stop";
  EXPECT_EQ(report.stage(unstarted.stage()).status, StageStatus::kCancelled);
  EXPECT_EQ(report.stage(unstarted.stage()).attempts, 0u);
  EXPECT_EQ(report.stage(dependant.stage()).attempts, 0u);
  EXPECT_EQ(unstarted_runs.load(), 0);
  EXPECT_EQ(report.count(StageStatus::kCancelled), 1u);
}

TEST_P(ExecutorTest, FailFastWithSynchronousFailureSkipsAndCancels) {
  Pipeline p;
  std::atomic<int> later_runs{0};
  auto bad = p.add("bad", []() -> int { throw std::runtime_error("disk full"); });
  auto dep = p.add(
      "dep", [&](int x) { return x + later_runs.fetch_add(1); }, bad);
  auto dep2 = p.add(
      "dep2", [&](int x) { return x + later_runs.fetch_add(1); }, dep);
  const RunReport report = executor_.run(p);
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.stage(dep.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(report.stage(dep2.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(later_runs.load(), 0);
}

TEST_P(ExecutorTest, ContinueRunsIndependentBranchesAndSkipsDependants) {
  Pipeline p;
  std::atomic<int> dependant_runs{0};
  auto bad = p.add("bad", []() -> int { throw std::runtime_error("disk full"); });
  auto dep1 = p.add(
      "dep1", [&](int x) { return x + dependant_runs.fetch_add(1); }, bad);
  auto dep2 = p.add(
      "dep2", [&](int x) { return x + dependant_runs.fetch_add(1); }, dep1);
  std::vector<Handle<int>> branch_ends;
  for (int b = 0; b < 4; ++b) {
    Handle<int> h = p.add("branch" + std::to_string(b) + "_0", [b] { return b; });
    for (int k = 1; k < 5; ++k) {
      h = p.add(
          "branch" + std::to_string(b) + "_" + std::to_string(k), [](int x) { return x + 10; }, h);
    }
    branch_ends.push_back(h);
  }
  auto join = p.add(
      "join", [](int a, int b) { return a + b; }, dep2, branch_ends[0]);

  const RunReport report = executor_.run(p, {.on_failure = FailurePolicy::kContinue});
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.failed_stage(), "bad");
  EXPECT_EQ(report.stage(dep1.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(report.stage(dep2.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(report.stage(join.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(dependant_runs.load(), 0);
  for (int b = 1; b < 4; ++b) {
    ASSERT_NE(report.value(branch_ends[static_cast<std::size_t>(b)]), nullptr) << b;
    EXPECT_EQ(*report.value(branch_ends[static_cast<std::size_t>(b)]), b + 40);
  }
  EXPECT_EQ(report.count(StageStatus::kSucceeded), 20u);
  EXPECT_EQ(report.count(StageStatus::kCancelled), 0u);
  EXPECT_EQ(report.count(StageStatus::kFailed), 1u);
}

TEST_P(ExecutorTest, ContinueReportsTheFirstOfSeveralFailures) {
  Pipeline p;
  for (int i = 0; i < 6; ++i) {
    p.add("bad" + std::to_string(i),
          [i]() -> Result<int> { return invalid_argument("x" + std::to_string(i)); });
  }
  const RunReport report = executor_.run(p, {.on_failure = FailurePolicy::kContinue});
  EXPECT_EQ(report.count(StageStatus::kFailed), 6u);
  const std::string failed{report.failed_stage()};
  ASSERT_EQ(failed.rfind("bad", 0), 0u) << failed;
  EXPECT_EQ(report.error().message(), "stage '" + failed + "' failed: x" + failed.substr(3));
}

TEST_P(ExecutorTest, CancelStopsTheRunAndSignalsRunningStages) {
  Pipeline p;
  test::Flag started;
  std::atomic<bool> stop_seen{false};
  std::atomic<bool> callback_fired{false};
  std::atomic<int> after_runs{0};
  auto poll = p.add("poll", [&](StageContext& ctx) {
    std::stop_callback on_stop(ctx.stop_token(), [&] { callback_fired = true; });
    started.set();
    stop_seen = test::wait_until([&] { return ctx.stop_requested(); });
    return 1;
  });
  auto after = p.add(
      "after", [&](int x) { return x + after_runs.fetch_add(1); }, poll);
  auto after2 = p.add(
      "after2", [&](int x) { return x + after_runs.fetch_add(1); }, after);

  RunHandle handle = executor_.submit(p);
  ASSERT_TRUE(started.wait());
  EXPECT_FALSE(handle.done());
  std::thread canceller([handle] { handle.cancel(); });
  canceller.join();
  const RunReport& report = handle.wait();
  EXPECT_TRUE(handle.done());
  EXPECT_EQ(report.status(), RunStatus::kCancelled);
  EXPECT_EQ(report.error().code(), StatusCode::kCancelled);
  EXPECT_TRUE(stop_seen.load());
  EXPECT_TRUE(callback_fired.load());
  EXPECT_EQ(report.stage(poll.stage()).status, StageStatus::kSucceeded);
  EXPECT_EQ(report.stage(after.stage()).status, StageStatus::kCancelled);
  EXPECT_EQ(report.stage(after2.stage()).status, StageStatus::kCancelled);
  EXPECT_EQ(report.stage(after.stage()).attempts, 0u);
  EXPECT_EQ(after_runs.load(), 0);
  EXPECT_EQ(report.failed_stage(), "");
  handle.cancel();  // harmless after the end
  EXPECT_EQ(handle.wait().status(), RunStatus::kCancelled);
}

// Cancelling at once races with the first stages; whatever wins, the report must be coherent.
TEST_P(ExecutorTest, CancelRightAfterSubmitLeavesACoherentReport) {
  Pipeline p;
  std::atomic<int> runs{0};
  Handle<int> h = p.add("s0", [&] { return runs.fetch_add(1); });
  for (int i = 1; i < 40; ++i) {
    h = p.add(
        "s" + std::to_string(i), [&](int) { return runs.fetch_add(1); }, h);
    p.add(
        "side" + std::to_string(i), [&](int) { return runs.fetch_add(1); }, h);
  }
  for (int round = 0; round < 20; ++round) {
    runs = 0;
    RunHandle handle = executor_.submit(p);
    handle.cancel();
    const RunReport& report = handle.wait();
    const std::size_t succeeded = report.count(StageStatus::kSucceeded);
    const std::size_t cancelled = report.count(StageStatus::kCancelled);
    EXPECT_EQ(succeeded + cancelled, report.size());
    EXPECT_EQ(succeeded, static_cast<std::size_t>(runs.load()));
    EXPECT_EQ(report.status(), cancelled ? RunStatus::kCancelled : RunStatus::kSucceeded);
    for (StageId i = 0; i < report.size(); ++i) {
      const StageRecord r = report.stage(i);
      EXPECT_EQ(r.attempts, r.status == StageStatus::kSucceeded ? 1u : 0u) << r.name;
    }
  }
}

TEST_P(ExecutorTest, CancelAfterTheEndChangesNothing) {
  Pipeline p;
  auto x = p.add("x", [] { return 3; });
  RunHandle handle = executor_.submit(p);
  const RunReport& report = handle.wait();
  handle.cancel();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(*report.value(x), 3);
  RunHandle().cancel();  // an empty handle
  EXPECT_FALSE(RunHandle().done());
}

std::size_t sum_of_statuses(const RunProgress& p) {
  return p.pending + p.running + p.succeeded + p.failed + p.skipped + p.cancelled;
}

// A stage waiting for its completion is seen running, its dependant pending, and resolved stages
// by their outcome; at the end the counts match the report. (The waiting stage holds no worker,
// so the others run at 1 worker too.) The second run reuses the first one's per-stage memory,
// whose statuses must not show through.
TEST_P(ExecutorTest, ProgressShowsRunningStagesAndAddsUpAtTheEnd) {
  Pipeline p;
  test::Flag started[2];
  std::mutex mutex;
  std::optional<Completion<int>> blocked_done;
  std::atomic<int> round{0};
  auto first = p.add("first", [] { return 1; });
  auto blocked = p.add(
      "blocked",
      [&](int x, Completion<int> done) {
        {
          std::lock_guard lock{mutex};
          blocked_done.emplace(std::move(done));
        }
        (void)x;
        started[round].set();
      },
      first);
  auto after = p.add(
      "after", [](int x) { return x + 1; }, blocked);
  auto bad = p.add("bad", []() -> int { throw std::runtime_error("no disk"); });
  p.add(
      "bad_dep", [](int x) { return x; }, bad);

  for (; round < 2; ++round) {
    SCOPED_TRACE(round.load());
    RunHandle handle = executor_.submit(p, {.on_failure = FailurePolicy::kContinue});
    ASSERT_TRUE(started[round].wait());
    RunProgress now;
    EXPECT_TRUE(test::wait_until([&] {
      now = handle.progress();
      return now.failed == 1 && now.skipped == 1;
    }));
    EXPECT_FALSE(now.done);
    EXPECT_EQ(now.total, 5u);
    EXPECT_EQ(now.succeeded, 1u) << "first";
    EXPECT_EQ(now.running, 1u);
    EXPECT_EQ(now.running_stages, std::vector<std::string>{"blocked"});
    EXPECT_EQ(now.pending, 1u) << "after";
    EXPECT_EQ(now.cancelled, 0u);
    EXPECT_EQ(now.resolved(), 3u);
    EXPECT_GT(now.elapsed.count(), 0);
    EXPECT_EQ(handle.progress(0).running_stages.size(), 0u) << "max_names";
    const RunProgress first_three = handle.progress(8, 3);  // first, blocked, after
    EXPECT_EQ(first_three.total, 3u);
    EXPECT_EQ(first_three.succeeded, 1u);
    EXPECT_EQ(first_three.running, 1u);
    EXPECT_EQ(first_three.pending, 1u);
    EXPECT_EQ(first_three.failed, 0u);

    {
      std::lock_guard lock{mutex};
      ASSERT_TRUE(blocked_done.has_value());
      (*blocked_done)(1);
      blocked_done.reset();
    }
    const RunReport& report = handle.wait();
    const RunProgress end = handle.progress();
    EXPECT_TRUE(end.done);
    EXPECT_EQ(end.total, report.size());
    EXPECT_EQ(sum_of_statuses(end), end.total);
    EXPECT_EQ(end.pending, 0u);
    EXPECT_EQ(end.running, 0u);
    EXPECT_TRUE(end.running_stages.empty());
    EXPECT_EQ(end.succeeded, report.count(StageStatus::kSucceeded));
    EXPECT_EQ(end.succeeded, 3u);
    EXPECT_EQ(end.failed, 1u);
    EXPECT_EQ(end.skipped, 1u);
    EXPECT_EQ(end.elapsed, report.wall_time());
    EXPECT_EQ(*report.value(after), 2);
  }
}

// Asynchronous stages count as running until their completion is called, whatever the worker
// count; only `max_names` names are listed.
TEST_P(ExecutorTest, ProgressCountsWaitingAsynchronousStagesAsRunning) {
  Pipeline p;
  std::mutex mutex;
  bool released = false;  // guarded by mutex
  std::vector<Completion<int>> completions;
  std::vector<Handle<int>> outs;
  for (int i = 0; i < 10; ++i) {
    outs.push_back(p.add("wait" + std::to_string(i), [&](Completion<int> done) {
      std::lock_guard lock{mutex};
      if (released) {
        done(1);  // the test has stopped waiting for this stage
        return;
      }
      completions.push_back(std::move(done));
    }));
  }
  p.add(
      "join", [](int a, int b) { return a + b; }, outs[0], outs[9]);
  RunHandle handle = executor_.submit(p);
  RunProgress now;
  // A stage counts as running from its dispatch, a little before its body has handed over its
  // completion: wait for both.
  const auto handed_over = [&] {
    std::lock_guard lock{mutex};
    return completions.size();
  };
  EXPECT_TRUE(test::wait_until([&] {
    now = handle.progress(3);
    return now.running == 10 && handed_over() == 10;
  }));
  EXPECT_EQ(now.running_stages.size(), 3u);
  EXPECT_EQ(now.pending, 1u);
  {
    std::lock_guard lock{mutex};
    released = true;  // bodies still to come (only if the wait gave up) complete their own
    for (Completion<int>& done : completions) done(1);
  }
  const RunReport& report = handle.wait();
  ASSERT_TRUE(report.ok()) << report.error().message();
  const RunProgress end = handle.progress();
  EXPECT_EQ(end.succeeded, 11u);
  EXPECT_EQ(sum_of_statuses(end), 11u);
}

// A stage blocked until the run is cancelled is seen running; then the stages after it count as
// cancelled.
TEST_P(ExecutorTest, ProgressOfCancelledRunCountsCancelledStages) {
  Pipeline p;
  test::Flag started;
  auto poll = p.add("poll", [&](StageContext& ctx) {
    started.set();
    EXPECT_TRUE(test::wait_until([&] { return ctx.stop_requested(); }));
    return 1;
  });
  auto after = p.add(
      "after", [](int x) { return x; }, poll);
  p.add(
      "after2", [](int x) { return x; }, after);
  RunHandle handle = executor_.submit(p);
  ASSERT_TRUE(started.wait());
  const RunProgress now = handle.progress();
  EXPECT_FALSE(now.done);
  EXPECT_EQ(now.running, 1u);
  EXPECT_EQ(now.running_stages, std::vector<std::string>{"poll"});
  EXPECT_EQ(now.pending, 2u);
  EXPECT_EQ(now.resolved(), 0u);
  handle.cancel();
  handle.wait();
  const RunProgress end = handle.progress();
  EXPECT_TRUE(end.done);
  EXPECT_EQ(end.succeeded, 1u);
  EXPECT_EQ(end.cancelled, 2u);
  EXPECT_EQ(sum_of_statuses(end), 3u);
}

TEST(RunProgressTest, EmptyHandleAndInvalidGraphShowNothingToDo) {
  const RunProgress none = RunHandle().progress();
  EXPECT_TRUE(none.done);
  EXPECT_EQ(none.total, 0u);
  Executor executor{{.threads = 1}};
  Pipeline p;
  auto a = p.add("a", [] { return 1; });
  p.add(
      "a", [](int x) { return x; }, a);  // a duplicate name: the graph does not validate
  RunHandle handle = executor.submit(p);
  ASSERT_EQ(handle.wait().status(), RunStatus::kInvalid);
  const RunProgress invalid = handle.progress();
  EXPECT_TRUE(invalid.done);
  EXPECT_EQ(invalid.total, 0u);
}

TEST_P(ExecutorTest, ReportRecordsAttemptsWorkersAndTimes) {
  Pipeline p;
  auto busy = p.add("busy", [] { return test::burn_cpu(2ms); });
  auto bad = p.add(
      "bad", [](std::uint64_t) -> Result<int> { return unknown_error("no"); }, busy);
  auto skipped = p.add(
      "skipped", [](int x) { return x; }, bad);

  const auto before = std::chrono::system_clock::now();
  const RunReport report = executor_.run(p, {.on_failure = FailurePolicy::kContinue});
  const auto after = std::chrono::system_clock::now();
  ASSERT_EQ(report.size(), 3u);
  for (StageId id : {busy.stage(), bad.stage()}) {
    const StageRecord r = report.stage(id);
    EXPECT_EQ(r.attempts, 1u) << r.name;
    EXPECT_LT(r.worker, workers()) << r.name;
    EXPECT_GE(r.start.count(), 0) << r.name;
    EXPECT_GE(r.end, r.start) << r.name;
    EXPECT_EQ(r.wall, r.end - r.start) << r.name;
    EXPECT_LE(r.end, report.wall_time()) << r.name;
  }
  const StageRecord b = report.stage(busy.stage());
  EXPECT_EQ(b.name, "busy");
  EXPECT_GE(b.cpu, 2ms);
  EXPECT_GE(b.wall, 1ms);
  EXPECT_GE(report.stage(bad.stage()).start, b.end);
  const StageRecord s = report.stage(skipped.stage());
  EXPECT_EQ(s.status, StageStatus::kSkipped);
  EXPECT_EQ(s.attempts, 0u);
  EXPECT_EQ(s.start.count(), 0);
  EXPECT_EQ(s.wall.count(), 0);
  EXPECT_EQ(s.cpu.count(), 0);
  EXPECT_GE(report.started_at(), before);
  EXPECT_LE(report.started_at(), after);
  EXPECT_GE(report.wall_time(), b.wall);
}

TEST_P(ExecutorTest, WallTimingLeavesOutCpuTime) {
  Pipeline p;
  auto busy = p.add("busy", [] { return test::burn_cpu(1ms); });
  const RunReport report = executor_.run(p, {.timing = Timing::kWall});
  const StageRecord r = report.stage(busy.stage());
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_GE(r.wall, 1ms);
  EXPECT_EQ(r.cpu.count(), 0);
}

TEST_P(ExecutorTest, NoTimingRecordsZerosButStatuses) {
  Pipeline p;
  auto busy = p.add("busy", [] { return test::burn_cpu(1ms); });
  auto bad = p.add(
      "bad", [](std::uint64_t) -> Result<int> { return unknown_error("no"); }, busy);
  const RunReport report = executor_.run(p, {.timing = Timing::kNone});
  for (StageId id : {busy.stage(), bad.stage()}) {
    const StageRecord r = report.stage(id);
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_LT(r.worker, workers());
    EXPECT_EQ(r.start.count(), 0);
    EXPECT_EQ(r.end.count(), 0);
    EXPECT_EQ(r.wall.count(), 0);
    EXPECT_EQ(r.cpu.count(), 0);
  }
  EXPECT_EQ(report.stage(busy.stage()).status, StageStatus::kSucceeded);
  EXPECT_EQ(report.stage(bad.stage()).status, StageStatus::kFailed);
}

// Each thread submits runs of its own pipelines; every run must see its own values.
TEST_P(ExecutorTest, ConcurrentRunsOfDifferentPipelinesAllComplete) {
  constexpr int kThreads = 3;
  constexpr int kRunsPerThread = 8;
  std::vector<std::thread> threads;
  std::atomic<int> completed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // A chain of length 10 + t, and a fan-in of width 5 + t.
      Pipeline chain{"chain" + std::to_string(t)};
      Handle<std::uint64_t> h =
          chain.add("c0", [](StageContext& ctx) { return ctx.seed() % 1000; });
      for (int i = 1; i < 10 + t; ++i) {
        h = chain.add(
            "c" + std::to_string(i), [](std::uint64_t x) { return x + 1; }, h);
      }
      Pipeline fan{"fan" + std::to_string(t)};
      std::vector<Handle<int>> leaves;
      for (int i = 0; i < 5 + t; ++i)
        leaves.push_back(fan.add("l" + std::to_string(i), [i] { return i; }));
      Handle<int> total = leaves[0];
      for (std::size_t i = 1; i < leaves.size(); ++i) {
        total = fan.add(
            "s" + std::to_string(i), [](int a, int b) { return a + b; }, total, leaves[i]);
      }
      std::vector<std::pair<RunHandle, std::uint64_t>> chains;
      std::vector<RunHandle> fans;
      for (int r = 0; r < kRunsPerThread; ++r) {
        const std::uint64_t seed = static_cast<std::uint64_t>(t * 100 + r);
        chains.emplace_back(executor_.submit(chain, {.seed = seed}), seed);
        fans.push_back(executor_.submit(fan));
      }
      const int width = 5 + t;
      for (auto& [handle, seed] : chains) {
        const RunReport& report = handle.wait();
        ASSERT_TRUE(report.ok()) << report.error().message();
        EXPECT_EQ(*report.value(h),
                  stage_seed(seed, "c0") % 1000 + static_cast<std::uint64_t>(9 + t));
        completed.fetch_add(1);
      }
      for (auto& handle : fans) {
        const RunReport& report = handle.wait();
        ASSERT_TRUE(report.ok()) << report.error().message();
        EXPECT_EQ(*report.value(total), width * (width - 1) / 2);
        completed.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(completed.load(), 2 * kThreads * kRunsPerThread);
}

TEST_P(ExecutorTest, SamePipelineRunsConcurrently) {
  Pipeline p;
  auto seed = p.add("seed", [](StageContext& ctx) { return ctx.seed(); });
  auto plus = p.add(
      "plus", [](std::uint64_t s) { return s + 1; }, seed);
  std::vector<RunHandle> handles;
  for (std::uint64_t s = 0; s < 20; ++s) handles.push_back(executor_.submit(p, {.seed = s}));
  for (std::uint64_t s = 0; s < 20; ++s) {
    const RunReport& report = handles[s].wait();
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(*report.value(plus), stage_seed(s, "seed") + 1);
  }
}

TEST_P(ExecutorTest, NestedRunFromInsideAStageCompletes) {
  Pipeline inner{"inner"};
  auto a = inner.add("a", [] { return 20; });
  auto b = inner.add("b", [] { return 1; });
  auto sum = inner.add(
      "sum", [](int x, int y) { return x + y; }, a, b);

  Pipeline outer{"outer"};
  auto first = outer.add("first", [&](StageContext& ctx) {
    EXPECT_GE(ctx.executor().current_worker(), 0);
    const RunReport r = ctx.executor().run(inner);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.value(sum) ? *r.value(sum) : -1;
  });
  auto second = outer.add(
      "second",
      [&](StageContext& ctx, int x) {
        RunHandle h = ctx.executor().submit(inner, {.seed = 3});
        const RunReport& r = h.wait();
        return x + (r.value(sum) ? *r.value(sum) : -100);
      },
      first);
  auto other = outer.add("other", [] { return 5; });
  const RunReport report = executor_.run(outer);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(second), 42);
  EXPECT_EQ(*report.value(other), 5);
}

TEST_P(ExecutorTest, DoublyNestedRunsComplete) {
  Pipeline leaf{"leaf"};
  auto one = leaf.add("one", [] { return 1; });
  Pipeline middle{"middle"};
  auto two = middle.add(
      "two", [&](StageContext& ctx) { return 1 + *ctx.executor().run(leaf).value(one); });
  Pipeline top{"top"};
  std::vector<Handle<int>> parts;
  for (int i = 0; i < 4; ++i) {
    parts.push_back(top.add("p" + std::to_string(i), [&](StageContext& ctx) {
      return *ctx.executor().run(middle).value(two);
    }));
  }
  auto total = top.add(
      "total", [](int a, int b, int c, int d) { return a + b + c + d; }, parts[0], parts[1],
      parts[2], parts[3]);
  const RunReport report = executor_.run(top);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(total), 8);
}

// --- Asio integration ------------------------------------------------------------------------

TEST_P(ExecutorTest, AsioPostRunsOnAWorker) {
  std::promise<int> worker;
  boost::asio::post(executor_.get_executor(),
                    [&] { worker.set_value(executor_.current_worker()); });
  auto f = worker.get_future();
  ASSERT_EQ(f.wait_for(test::kTimeout), std::future_status::ready);
  const int w = f.get();
  EXPECT_GE(w, 0);
  EXPECT_LT(w, static_cast<int>(workers()));
}

TEST_P(ExecutorTest, AsioSteadyTimerHandlerFiresOnAWorker) {
  std::promise<std::pair<boost::system::error_code, int>> fired;
  const auto start = std::chrono::steady_clock::now();
  boost::asio::steady_timer timer{executor_.get_executor(), 5ms};
  timer.async_wait([&](const boost::system::error_code& ec) {
    fired.set_value({ec, executor_.current_worker()});
  });
  auto f = fired.get_future();
  ASSERT_EQ(f.wait_for(test::kTimeout), std::future_status::ready);
  const auto [ec, w] = f.get();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_GE(w, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 5ms);
}

boost::asio::awaitable<int> wait_and_add(Executor& executor, int x) {
  boost::asio::steady_timer timer{executor.get_executor(), 1ms};
  co_await timer.async_wait(boost::asio::use_awaitable);
  co_return x + 1;
}

TEST_P(ExecutorTest, AsioCoSpawnRunsACoroutine) {
  std::promise<int> result;
  boost::asio::co_spawn(
      executor_.get_executor(),
      [&]() -> boost::asio::awaitable<void> {
        const int x = co_await wait_and_add(executor_, 41);
        result.set_value(executor_.current_worker() >= 0 ? x : -1);
      },
      boost::asio::detached);
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(test::kTimeout), std::future_status::ready);
  EXPECT_EQ(f.get(), 42);
}

TEST_P(ExecutorTest, ManyPostedHandlersAllRun) {
  constexpr int kHandlers = 2000;
  std::atomic<int> ran{0};
  std::promise<void> all;
  for (int i = 0; i < kHandlers; ++i) {
    boost::asio::post(executor_.get_executor(), [&] {
      if (ran.fetch_add(1) + 1 == kHandlers) all.set_value();
    });
  }
  ASSERT_EQ(all.get_future().wait_for(test::kTimeout), std::future_status::ready);
  EXPECT_EQ(ran.load(), kHandlers);
}

TEST(ExecutorAsioTest, ExecutorsCompareByContext) {
  Executor a{{.threads = 1}};
  Executor b{{.threads = 1}};
  EXPECT_TRUE(a.get_executor() == a.get_executor());
  EXPECT_TRUE(a.get_executor() != b.get_executor());
  EXPECT_EQ(&a.get_executor().context(), &a);
  EXPECT_EQ(&boost::asio::query(a.get_executor(), boost::asio::execution::context), &a);
}

TEST(ExecutorLifetimeTest, DestructorWaitsForSubmittedRuns) {
  std::atomic<bool> finished{false};
  Pipeline p;
  p.add("slow", [&] {
    std::this_thread::sleep_for(20ms);
    finished = true;
  });
  {
    Executor executor{{.threads = 2}};
    RunHandle handle = executor.submit(p);
    (void)handle;
  }
  EXPECT_TRUE(finished.load());
}

}  // namespace
}  // namespace trainflow

// Resource admission: stages run only when all of their demand fits; cores and memory are never
// oversubscribed; ready stages are taken by critical path; large stages do not starve; grants
// grow as cores free up; demands that can never fit are refused. At 1, 2, 4 and 8 workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "trainflow/exec/executor.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace trainflow {
namespace {

using namespace std::chrono_literals;

// Cores and memory held by running stages, as the stages themselves count them.
struct Usage {
  std::atomic<int> cpus{0};
  std::atomic<int> max_cpus{0};
  std::atomic<std::int64_t> memory{0};
  std::atomic<std::int64_t> max_memory{0};

  void enter(int c, std::int64_t m) {
    const int now = cpus.fetch_add(c) + c;
    int seen = max_cpus.load();
    while (now > seen && !max_cpus.compare_exchange_weak(seen, now)) {
    }
    const std::int64_t mem = memory.fetch_add(m) + m;
    std::int64_t mseen = max_memory.load();
    while (mem > mseen && !max_memory.compare_exchange_weak(mseen, mem)) {
    }
  }
  void leave(int c, std::int64_t m) {
    cpus.fetch_sub(c);
    memory.fetch_sub(m);
  }
};

class AdmissionTest : public ::testing::TestWithParam<unsigned> {
 protected:
  unsigned workers() const { return GetParam(); }
};

std::string worker_name(const ::testing::TestParamInfo<unsigned>& info) {
  return "w" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(Workers, AdmissionTest, ::testing::Values(1u, 2u, 4u, 8u), worker_name);

TEST_P(AdmissionTest, NeverHoldsMoreCoresOrMemoryThanTheCapacity) {
  constexpr std::uint64_t kMiB = 1 << 20;
  const unsigned cpus = workers();
  Executor ex{{.threads = workers(), .capacity = {.cpus = cpus, .memory_bytes = 10 * kMiB}}};
  Usage usage;
  Pipeline p;
  std::mt19937 rng{7};
  std::vector<Handle<void>> prev;
  for (int i = 0; i < 60; ++i) {
    const unsigned threads = 1 + rng() % cpus;
    const std::uint64_t memory = (rng() % 5) * 2 * kMiB;  // 0..8 MiB
    auto h =
        p.add(StageOptions{.name = "s" + std::to_string(i),
                           .threads = threads,
                           .resources = {.memory_bytes = memory}},
              [&usage, threads, memory](StageContext& ctx) {
                EXPECT_EQ(ctx.threads(), threads);
                usage.enter(static_cast<int>(ctx.threads()), static_cast<std::int64_t>(memory));
                std::this_thread::sleep_for(200us);
                usage.leave(static_cast<int>(ctx.threads()), static_cast<std::int64_t>(memory));
              });
    if (!prev.empty() && rng() % 3 == 0) p.order(prev[rng() % prev.size()], h);
    prev.push_back(h);
  }
  const RunReport report = ex.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_LE(usage.max_cpus.load(), static_cast<int>(cpus));
  EXPECT_LE(usage.max_memory.load(), static_cast<std::int64_t>(10 * kMiB));
  EXPECT_EQ(usage.cpus.load(), 0);
}

TEST_P(AdmissionTest, ADemandThatCanNeverFitIsRefusedBeforeAnythingRuns) {
  Executor ex{{.threads = workers(), .capacity = {.memory_bytes = 1 << 30}}};
  Pipeline p{"big"};
  std::atomic<int> ran{0};
  p.add("small", [&] { ++ran; });
  p.add(StageOptions{.name = "huge", .resources = {.memory_bytes = 3ull << 30}}, [&] { ++ran; });
  p.add(StageOptions{.name = "gpu", .resources = {.gpus = 1}}, [&] { ++ran; });
  const RunReport report = ex.run(p);
  EXPECT_EQ(report.status(), RunStatus::kInvalid);
  EXPECT_EQ(ran.load(), 0);
  const std::string& m = report.error().message();
  EXPECT_NE(m.find("graph 'big' cannot run on this executor (2 problems)"), std::string::npos) << m;
  EXPECT_NE(m.find("stage 'huge' can never run: needs 3.0 GiB of memory; the executor has 1.0 GiB"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("stage 'gpu' can never run: needs 1 GPU; the executor has 0"), std::string::npos)
      << m;
}

TEST_P(AdmissionTest, MaxThreadsBelowThreadsIsAValidationError) {
  Executor ex{{.threads = workers()}};
  Pipeline p;
  p.add(StageOptions{.name = "x", .threads = 4, .resources = {.max_threads = 2}}, [] {});
  const RunReport report = ex.run(p);
  EXPECT_EQ(report.status(), RunStatus::kInvalid);
  EXPECT_NE(report.error().message().find(
                "stage 'x': resources.max_threads (2) must be 0 or at least its threads (4)"),
            std::string::npos)
      << report.error().message();
}

TEST_P(AdmissionTest, ReadyStagesWaitingForCoresGoLongestCriticalPathFirst) {
  // One core: every stage waits its turn, so the order of starts is the admission order. After
  // the source, "short" (1 ms to the end) and "long" (followed by a 100 ms stage) are both ready.
  Executor ex{{.threads = workers(), .capacity = {.cpus = 1}}};
  Pipeline p;
  std::mutex m;
  std::vector<std::string> starts;
  auto note = [&](const char* name) {
    return [&m, &starts, name] {
      std::lock_guard lock{m};
      starts.emplace_back(name);
    };
  };
  auto src = p.add("src", note("src"));
  auto a = p.add("short", note("short"));
  auto b = p.add("long", note("long"));
  auto c = p.add("tail", note("tail"));
  p.order(src, a);
  p.order(src, b);
  p.order(b, c);
  RunOptions options;
  options.expected_durations = {{"src", 1ms}, {"short", 5ms}, {"long", 1ms}, {"tail", 100ms}};
  ASSERT_TRUE(ex.run(p, options).ok());
  ASSERT_EQ(starts.size(), 4u);
  EXPECT_EQ(starts[0], "src");
  EXPECT_EQ(starts[1], "long");  // 101 ms to the end against 5 ms
}

TEST_P(AdmissionTest, ALargeStageIsNotStarvedBySmallOnes) {
  // Four cores. "big" wants all four and comes first by critical path, but becomes ready while
  // small stages hold cores; each time one ends, the next small one would fit where big does not.
  // Big may be overtaken kMaxBypass (16) times, then it holds the line until it fits.
  Executor ex{{.threads = workers(), .capacity = {.cpus = 4}}};
  Pipeline p;
  std::atomic<int> small_started{0};
  std::atomic<int> small_before_big{-1};
  std::atomic<int> small_before_ready{0};
  RunOptions options;
  auto gate = p.add("gate", [&] {
    std::this_thread::sleep_for(1ms);
    small_before_ready = small_started.load();
  });
  options.expected_durations["gate"] = 1ms;
  for (int i = 0; i < 200; ++i) {
    const std::string name = "small" + std::to_string(i);
    p.add(name, [&] {
      ++small_started;
      std::this_thread::sleep_for(200us);
    });
    options.expected_durations[name] = 1ms;
  }
  auto big = p.add(StageOptions{.name = "big", .threads = 4},
                   [&] { small_before_big = small_started.load(); });
  p.order(gate, big);
  options.expected_durations["big"] = 1s;
  ASSERT_TRUE(ex.run(p, options).ok());
  EXPECT_GE(small_before_big.load(), 0);
  // Once big is ready: at most 16 small stages overtake it, plus the few that started between
  // the gate's last look and big joining the queue.
  EXPECT_LE(small_before_big.load() - small_before_ready.load(), 16 + 4);
}

TEST_P(AdmissionTest, AGrowableGrantTakesSpareCoresAndNeverMore) {
  const unsigned cpus = std::max(2u, workers());
  Executor ex{{.threads = workers(), .capacity = {.cpus = cpus}}};
  Pipeline p;
  std::atomic<unsigned> seen{0};
  p.add(StageOptions{.name = "grow", .threads = 1, .resources = {.max_threads = 64}},
        [&](StageContext& ctx) { seen = ctx.threads(); });
  ASSERT_TRUE(ex.run(p).ok());
  EXPECT_EQ(seen.load(), cpus);  // alone: every core, capped at the capacity
}

TEST_P(AdmissionTest, AGrantGrowsWhenAnotherStageEnds) {
  // Two cores: whichever of the two starts first, the growable stage ends up with both once the
  // other stage has ended, and never holds a core that the other holds.
  Executor ex{{.threads = std::max(2u, workers()), .capacity = {.cpus = 2}}};
  Pipeline p;
  Usage usage;
  std::atomic<unsigned> later{0};
  p.add(StageOptions{.name = "other", .threads = 1}, [&] {
    usage.enter(1, 0);
    std::this_thread::sleep_for(20ms);
    usage.leave(1, 0);
  });
  p.add(StageOptions{.name = "grow", .threads = 1, .resources = {.max_threads = 2}},
        [&](StageContext& ctx) {
          for (int k = 0; k < 20000 && ctx.threads() < 2; ++k) {
            const int t = static_cast<int>(ctx.threads());
            usage.enter(t, 0);
            std::this_thread::sleep_for(100us);
            usage.leave(t, 0);
          }
          later = ctx.threads();
        });
  ASSERT_TRUE(ex.run(p).ok());
  EXPECT_EQ(later.load(), 2u);
  EXPECT_LE(usage.max_cpus.load(), 2);
}

TEST_P(AdmissionTest, CancellingARunWithQueuedStagesEndsIt) {
  Executor ex{{.threads = workers(), .capacity = {.cpus = 1}}};
  Pipeline p;
  std::atomic<bool> started{false};
  p.add(StageOptions{.name = "blocker", .threads = 1}, [&](StageContext& ctx) {
    started = true;
    while (!ctx.stop_requested()) std::this_thread::sleep_for(100us);
  });
  for (int i = 0; i < 20; ++i) {
    p.add(StageOptions{.name = "q" + std::to_string(i), .threads = 1}, [] {});
  }
  RunOptions options;
  options.expected_durations = {{"blocker", 1s}};
  RunHandle h = ex.submit(p, options);
  while (!started) std::this_thread::sleep_for(100us);
  h.cancel();
  const RunReport& report = h.wait();
  EXPECT_EQ(report.status(), RunStatus::kCancelled);
  // Stages admitted before the blocker ran succeed; the queued ones are cancelled.
  EXPECT_GE(report.count(StageStatus::kCancelled), 1u);
  EXPECT_EQ(report.count(StageStatus::kCancelled) + report.count(StageStatus::kSucceeded), 21u);
}

TEST_P(AdmissionTest, TwoRunsShareTheCapacity) {
  Executor ex{{.threads = workers(), .capacity = {.cpus = 2}}};
  Usage usage;
  auto build = [&](const std::string& prefix) {
    Pipeline p;
    for (int i = 0; i < 20; ++i) {
      p.add(StageOptions{.name = prefix + std::to_string(i), .threads = 2},
            [&usage](StageContext& ctx) {
              usage.enter(static_cast<int>(ctx.threads()), 0);
              std::this_thread::sleep_for(100us);
              usage.leave(static_cast<int>(ctx.threads()), 0);
            });
    }
    return p;
  };
  Pipeline a = build("a"), b = build("b");
  RunHandle ha = ex.submit(a), hb = ex.submit(b);
  EXPECT_TRUE(ha.wait().ok());
  EXPECT_TRUE(hb.wait().ok());
  EXPECT_LE(usage.max_cpus.load(), 2);
}

}  // namespace
}  // namespace trainflow

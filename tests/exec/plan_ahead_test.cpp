// plan_ahead: the schedule it plans is feasible (precedence, cores, memory and GPUs at every
// moment), no longer than the critical-path list schedule admission would make without it, as
// short as the best schedule on a case solved by hand, the same on every call, and absent where
// no plan is made.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "exec/plan_ahead.hpp"
#include "graph/plan.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace trainflow::detail {
namespace {

struct Dag {
  Pipeline pipeline;
  std::vector<PlannedStage> stages;
  std::vector<std::vector<int>> after;
};

// A random layered DAG: layers of 1-6 stages, each after one to three of the layer before.
Dag random_dag(std::uint32_t seed, const PlanCapacity& capacity) {
  Dag d;
  std::mt19937 rng{seed};
  std::vector<Handle<void>> handles;
  std::vector<int> prev;
  const int layers = 2 + static_cast<int>(rng() % 5);
  for (int layer = 0; layer < layers; ++layer) {
    std::vector<int> cur;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < n; ++k) {
      PlannedStage s;
      s.seconds = 0.001 * static_cast<double>(rng() % 50);  // zero-length stages included
      s.cpus = 1 + static_cast<unsigned>(rng() % capacity.cpus);
      s.memory = 1 + rng() % capacity.memory;
      s.gpus = static_cast<unsigned>(rng() % (capacity.gpus + 1));
      const int id = static_cast<int>(d.stages.size());
      handles.push_back(d.pipeline.add("s" + std::to_string(id), [] {}));
      std::vector<int> after;
      if (!prev.empty()) {
        const int deps = 1 + static_cast<int>(rng() % 3);
        for (int j = 0; j < deps; ++j) after.push_back(prev[rng() % prev.size()]);
        std::sort(after.begin(), after.end());
        after.erase(std::unique(after.begin(), after.end()), after.end());
      }
      for (int a : after) d.pipeline.order(handles[static_cast<std::size_t>(a)], handles.back());
      d.stages.push_back(s);
      d.after.push_back(after);
      cur.push_back(id);
    }
    prev = cur;
  }
  return d;
}

std::shared_ptr<const Plan> plan_of(const Pipeline& p) {
  auto plan = p.graph().plan();
  EXPECT_TRUE(plan.has_value());
  return plan.has_value() ? *plan : nullptr;
}

double makespan(const std::vector<PlannedStage>& stages, const std::vector<double>& start) {
  double end = 0;
  for (std::size_t i = 0; i < stages.size(); ++i) end = std::max(end, start[i] + stages[i].seconds);
  return end;
}

// Every stage starts after its predecessors end, and at every start the running stages fit.
void expect_feasible(const Dag& d, const std::vector<double>& start, const PlanCapacity& c) {
  const std::size_t n = d.stages.size();
  ASSERT_EQ(start.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_GE(start[i], 0.0);
    for (int p : d.after[i]) {
      const auto a = static_cast<std::size_t>(p);
      EXPECT_GE(start[i], start[a] + d.stages[a].seconds - 1e-12) << "s" << i << " after s" << p;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    unsigned cpus = 0, gpus = 0;
    std::uint64_t memory = 0;
    for (std::size_t j = 0; j < n; ++j) {
      // Running at start[i]: started by then and not yet ended (a zero-length stage holds
      // nothing).
      if (start[j] <= start[i] && start[i] < start[j] + d.stages[j].seconds) {
        cpus += d.stages[j].cpus;
        memory += d.stages[j].memory;
        gpus += d.stages[j].gpus;
      }
    }
    EXPECT_LE(cpus, c.cpus) << "at " << start[i];
    EXPECT_LE(memory, c.memory) << "at " << start[i];
    EXPECT_LE(gpus, c.gpus) << "at " << start[i];
  }
}

// What admission does without a plan: whenever a stage ends, ready stages start in order of
// their critical path (then id), each that fits.
double critical_path_list_schedule(const Dag& d, const PlanCapacity& c) {
  const std::size_t n = d.stages.size();
  std::vector<double> tail(n, 0);
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = i + 1; j < n; ++j) {
      for (int p : d.after[j]) {
        if (static_cast<std::size_t>(p) == i) tail[i] = std::max(tail[i], tail[j]);
      }
    }
    tail[i] += d.stages[i].seconds;
  }
  std::vector<double> end(n, -1);
  std::vector<bool> started(n, false);
  double t = 0, last = 0;
  for (std::size_t done = 0; done < n;) {
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < n; ++i) {
      if (started[i]) continue;
      bool ok = true;
      for (int p : d.after[i])
        ok = ok && end[static_cast<std::size_t>(p)] >= 0 && end[static_cast<std::size_t>(p)] <= t;
      if (ok) ready.push_back(i);
    }
    std::stable_sort(ready.begin(), ready.end(),
                     [&](std::size_t a, std::size_t b) { return tail[a] > tail[b]; });
    for (std::size_t i : ready) {
      unsigned cpus = d.stages[i].cpus, gpus = d.stages[i].gpus;
      std::uint64_t memory = d.stages[i].memory;
      for (std::size_t j = 0; j < n; ++j) {
        if (started[j] && end[j] > t) {
          cpus += d.stages[j].cpus;
          memory += d.stages[j].memory;
          gpus += d.stages[j].gpus;
        }
      }
      if (cpus > c.cpus || memory > c.memory || gpus > c.gpus) continue;
      started[i] = true;
      end[i] = t + d.stages[i].seconds;
      last = std::max(last, end[i]);
      ++done;
    }
    double next = HUGE_VAL;
    for (std::size_t j = 0; j < n; ++j) {
      if (started[j] && end[j] > t) next = std::min(next, end[j]);
    }
    if (next == HUGE_VAL) {
      // Only zero-length stages ran at t: their successors are ready at t too.
      bool any = false;
      for (std::size_t i = 0; i < n; ++i) any = any || !started[i];
      if (!any) break;
      continue;
    }
    t = next;
  }
  return last;
}

TEST(PlanAheadTest, PlansAreFeasibleAndNoLongerThanTheCriticalPathListSchedule) {
  const PlanCapacity capacity{.cpus = 8, .memory = 16, .gpus = 2};
  int shorter = 0;
  for (std::uint32_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Dag d = random_dag(seed, capacity);
    const auto plan = plan_of(d.pipeline);
    ASSERT_NE(plan, nullptr);
    const std::vector<double> start = plan_ahead(*plan, d.stages, capacity);
    expect_feasible(d, start, capacity);
    const double planned = makespan(d.stages, start);
    const double listed = critical_path_list_schedule(d, capacity);
    EXPECT_LE(planned, listed + 1e-12);
    shorter += planned < listed - 1e-12;
  }
  // The plan is strictly shorter on some of them, or it would not be worth making.
  EXPECT_GT(shorter, 0);
}

TEST(PlanAheadTest, FindsTheBestScheduleOfAnEightTrialSweep) {
  // A prepare, eight trials, a select, on 8 cores and 16 GiB. By critical path and first fit
  // the three 80 s trials start together and the trials take 180 s; the best schedule (every
  // order tried) takes 160 s, so the run takes 10 + 160 + 5 s.
  const PlanCapacity capacity{.cpus = 8, .memory = 16, .gpus = 0};
  Dag d;
  auto prepare = d.pipeline.add("prepare", [] {});
  d.stages.push_back({10, 1, 2, 0});
  d.after.push_back({});
  const struct {
    unsigned cpus, gib;
    double seconds;
  } trials[] = {{4, 4, 80}, {4, 6, 60}, {2, 6, 80}, {2, 4, 40},
                {2, 2, 60}, {1, 6, 80}, {1, 4, 40}, {1, 2, 60}};
  auto select = d.pipeline.add("select", [] {});
  for (int k = 0; k < 8; ++k) {
    auto t = d.pipeline.add("trial" + std::to_string(k), [] {});
    d.pipeline.order(prepare, t);
    d.pipeline.order(t, select);
  }
  // Stage ids follow the order of add(): prepare 0, select 1, trials 2-9.
  d.stages.push_back({5, 1, 1, 0});
  d.after.push_back({2, 3, 4, 5, 6, 7, 8, 9});
  for (const auto& t : trials) {
    d.stages.push_back({t.seconds, t.cpus, t.gib, 0});
    d.after.push_back({0});
  }
  const auto plan = plan_of(d.pipeline);
  ASSERT_NE(plan, nullptr);
  const std::vector<double> start = plan_ahead(*plan, d.stages, capacity);
  expect_feasible(d, start, capacity);
  EXPECT_DOUBLE_EQ(makespan(d.stages, start), 175.0);
  EXPECT_DOUBLE_EQ(critical_path_list_schedule(d, capacity), 195.0);
}

TEST(PlanAheadTest, TheSameInputsGiveTheSamePlanAndAChangeMakesANewOne) {
  const PlanCapacity capacity{.cpus = 4, .memory = 8, .gpus = 1};
  Dag a = random_dag(7, capacity);
  Dag b = random_dag(7, capacity);  // another graph of the same shape: nothing cached
  const std::vector<double> first = plan_ahead(*plan_of(a.pipeline), a.stages, capacity);
  EXPECT_EQ(plan_ahead(*plan_of(b.pipeline), b.stages, capacity), first);
  EXPECT_EQ(plan_ahead(*plan_of(a.pipeline), a.stages, capacity), first);  // cached
  // Another capacity (one core) is planned anew: every stage then runs alone.
  std::vector<PlannedStage> one_core = a.stages;
  for (PlannedStage& s : one_core) s.cpus = 1;
  const PlanCapacity single{.cpus = 1, .memory = 8, .gpus = 1};
  const std::vector<double> serial = plan_ahead(*plan_of(a.pipeline), one_core, single);
  double work = 0;
  for (const PlannedStage& s : one_core) work += s.seconds;
  EXPECT_NEAR(makespan(one_core, serial), work, 1e-12);
}

TEST(PlanAheadTest, NoPlanForAStageThatNeverFitsOrTooManyStages) {
  const PlanCapacity capacity{.cpus = 2, .memory = 4, .gpus = 0};
  Pipeline p;
  p.add("a", [] {});
  p.add("b", [] {});
  const auto plan = plan_of(p);
  std::vector<PlannedStage> stages{{1, 1, 1, 0}, {1, 3, 1, 0}};  // b needs 3 cores of 2
  EXPECT_TRUE(plan_ahead(*plan, stages, capacity).empty());
  stages[1] = {1, 1, 1, 1};  // a GPU where there is none
  EXPECT_TRUE(plan_ahead(*plan, stages, capacity).empty());
  stages[1] = {1, 1, 1, 0};
  EXPECT_EQ(plan_ahead(*plan, stages, capacity).size(), 2u);

  Pipeline big;
  for (std::uint32_t i = 0; i <= kMaxPlannedStages; ++i) big.add("s" + std::to_string(i), [] {});
  const std::vector<PlannedStage> many(kMaxPlannedStages + 1, PlannedStage{1, 1, 1, 0});
  EXPECT_TRUE(plan_ahead(*plan_of(big), many, capacity).empty());
}

}  // namespace
}  // namespace trainflow::detail

// Resource-aware scheduling and the cost of observing a run.
//
//   makespan/<dag>/<order>        runs a DAG of stages with known durations and resource demands
//                                 on an executor with a fixed capacity; counters: makespan_ms,
//                                 bound_ms (max(critical path, work / capacity) over cores and
//                                 memory) and ratio = makespan / bound; found_ms, the best
//                                 makespan a longer search than the executor's finds (an upper
//                                 bound on the best of any schedule), and found_ratio = found /
//                                 bound; where it is cheap to find (sweep8), also optimal_ms, the
//                                 best makespan of any schedule, and optimal_ratio. <dag> is
//                                 sweep8, four_sweeps or random_layers_<seed> (three seeded random
//                                 layered DAGs). <order> is "planned"
//                                 (RunOptions::expected_durations lists every stage: the run is
//                                 planned ahead and admitted in the plan's order) or "arrival"
//                                 (no durations: every stage counts alike, first fit).
//   observe/<shape>/<timing>      the scheduler benchmarks' chain and independent stages (2^16
//                                 empty stages, 2 workers), run without and with an observer that
//                                 counts events, in alternation; counters: plain_ns and
//                                 observed_ns (medians per stage) and ratio = observed / plain,
//                                 what observing costs.
//
// Stages of the makespan DAGs sleep for their duration: the figure is the scheduling, not the
// arithmetic, so the machine's own core count does not matter and the capacity is virtual
// (8 cores, 16 GiB). docs/BENCHMARKS.md explains the method; scripts/bench resources prints it.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "trainflow/exec/executor.hpp"
#include "trainflow/exec/observer.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace tf = trainflow;
using namespace std::chrono_literals;

namespace {

bool smoke() {
  return std::getenv("TRAINFLOW_BENCH_SMOKE") != nullptr;
}

constexpr unsigned kCpus = 8;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kMemory = 16 * kGiB;

struct Task {
  std::string name;
  double ms;
  unsigned cpus;
  std::uint64_t memory;
  std::vector<int> after;
};

// An 8-trial sweep: prepare the data, train 8 models with mixed core and memory demands, pick
// the best, evaluate it.
std::vector<Task> sweep8() {
  std::vector<Task> t;
  t.push_back({"prepare", 10, 1, 2 * kGiB, {}});
  const struct {
    unsigned cpus;
    unsigned gib;
    double ms;
  } trials[] = {{4, 4, 80}, {4, 6, 60}, {2, 6, 80}, {2, 4, 40},
                {2, 2, 60}, {1, 6, 80}, {1, 4, 40}, {1, 2, 60}};
  std::vector<int> all;
  for (int k = 0; k < 8; ++k) {
    t.push_back({"train[" + std::to_string(k) + "]",
                 trials[k].ms,
                 trials[k].cpus,
                 trials[k].gib * kGiB,
                 {0}});
    all.push_back(k + 1);
  }
  t.push_back({"select", 5, 1, 1 * kGiB, all});
  t.push_back({"evaluate", 5, 1, 1 * kGiB, {9}});
  return t;
}

// Four independent sweeps of different sizes sharing the machine, each prepare → trials → select.
std::vector<Task> four_sweeps() {
  std::vector<Task> t;
  std::mt19937 rng{11};
  for (int s = 0; s < 4; ++s) {
    const int prep = static_cast<int>(t.size());
    t.push_back({"prep" + std::to_string(s), 5.0 + 5 * s, 1, kGiB, {}});
    std::vector<int> trials;
    for (int k = 0; k < 4 + 2 * s; ++k) {
      const unsigned cpus = 1u << (rng() % 3);
      const std::uint64_t mem = (1 + rng() % 6) * kGiB;
      const double ms = 20.0 + 10.0 * (rng() % 7);
      trials.push_back(static_cast<int>(t.size()));
      t.push_back({"s" + std::to_string(s) + "t" + std::to_string(k), ms, cpus, mem, {prep}});
    }
    t.push_back({"select" + std::to_string(s), 5, 1, kGiB, trials});
  }
  return t;
}

// A random layered DAG: a load, four layers of 4–8 stages of 1–4 cores, 1–8 GiB and 10–80 ms,
// each after one or two stages of the layer before, and a report after the last layer.
std::vector<Task> random_layers(std::uint32_t seed) {
  std::vector<Task> t;
  std::mt19937 rng{seed};
  t.push_back({"load", 10, 1, 2 * kGiB, {}});
  std::vector<int> prev{0};
  for (int layer = 0; layer < 4; ++layer) {
    std::vector<int> cur;
    const int n = 4 + static_cast<int>(rng() % 5);
    for (int k = 0; k < n; ++k) {
      const unsigned cpus = 1 + rng() % 4;
      const std::uint64_t mem = (1 + rng() % 8) * kGiB;
      const double ms = 10.0 + 10.0 * (rng() % 8);
      std::vector<int> after;
      const int deps = 1 + static_cast<int>(rng() % 2);
      for (int d = 0; d < deps; ++d) after.push_back(prev[rng() % prev.size()]);
      std::sort(after.begin(), after.end());
      after.erase(std::unique(after.begin(), after.end()), after.end());
      cur.push_back(static_cast<int>(t.size()));
      t.push_back({"l" + std::to_string(layer) + "s" + std::to_string(k), ms, cpus, mem, after});
    }
    prev = cur;
  }
  t.push_back({"report", 5, 1, kGiB, prev});
  return t;
}

double lower_bound_ms(const std::vector<Task>& tasks) {
  std::vector<double> finish(tasks.size(), 0);
  double path = 0, cpu_work = 0, mem_work = 0;
  for (std::size_t i = 0; i < tasks.size(); ++i) {  // tasks are in topological order
    double start = 0;
    for (int p : tasks[i].after) start = std::max(start, finish[static_cast<std::size_t>(p)]);
    finish[i] = start + tasks[i].ms;
    path = std::max(path, finish[i]);
    cpu_work += tasks[i].ms * tasks[i].cpus;
    mem_work += tasks[i].ms * static_cast<double>(tasks[i].memory);
  }
  return std::max({path, cpu_work / kCpus, mem_work / static_cast<double>(kMemory)});
}

// Cores and memory over time as a schedule is built: which start times leave a task its cores
// and memory throughout.
class Profile {
 public:
  // The earliest start at or after `ready` at which `task` fits throughout its run. Usage only
  // rises at starts and falls at ends, so the candidates are `ready` and the ends after it.
  double earliest(const Task& task, double ready) const {
    double start = HUGE_VAL;
    if (free_at(task, ready)) start = ready;
    for (const Placed& p : placed_) {
      if (p.end > ready && p.end < start && free_at(task, p.end)) start = p.end;
    }
    return start;
  }
  void place(double start, const Task& task) {
    placed_.push_back({start, start + task.ms, task.cpus, task.memory});
  }
  void pop() { placed_.pop_back(); }
  std::size_t size() const { return placed_.size(); }
  void clear() { placed_.clear(); }

 private:
  struct Placed {
    double start, end;
    unsigned cpus;
    std::uint64_t memory;
  };
  // Free for `task` throughout [t, t + ms)? Checking t and the starts inside the interval
  // suffices.
  bool free_at(const Task& task, double t) const {
    const auto fits_at = [&](double x) {
      unsigned cpus = task.cpus;
      std::uint64_t memory = task.memory;
      for (const Placed& p : placed_) {
        if (p.start <= x && x < p.end) {
          cpus += p.cpus;
          memory += p.memory;
        }
      }
      return cpus <= kCpus && memory <= kMemory;
    };
    if (!fits_at(t)) return false;
    for (const Placed& p : placed_) {
      if (p.start > t && p.start < t + task.ms && !fits_at(p.start)) return false;
    }
    return true;
  }
  std::vector<Placed> placed_;
};

std::vector<std::vector<int>> successors_of(const std::vector<Task>& tasks) {
  std::vector<std::vector<int>> succs(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    for (int p : tasks[i].after) succs[static_cast<std::size_t>(p)].push_back(static_cast<int>(i));
  }
  return succs;
}

// The shortest makespan of any schedule, or 0 when finding it takes more than kMaxSteps steps
// (it is cheap for sweep8: 8! orders of the trials). The serial schedule generation scheme (each
// task in turn starts at the earliest time its predecessors have ended and its cores and memory are
// free throughout) over every such order yields every active schedule, and an active schedule is
// optimal (Kolisch, 1996), so this is exact; it enumerates the orders depth first and shares their
// prefixes.
double optimal_ms(const std::vector<Task>& tasks) {
  constexpr std::uint64_t kMaxSteps = 10'000'000;
  const std::size_t n = tasks.size();
  Profile profile;
  std::vector<double> finish(n, 0);
  std::vector<int> waiting(n, 0);
  const std::vector<std::vector<int>> succs = successors_of(tasks);
  for (std::size_t i = 0; i < n; ++i) waiting[i] = static_cast<int>(tasks[i].after.size());
  double best = HUGE_VAL;
  std::uint64_t steps = 0;
  const auto visit = [&](auto& self, double end) -> void {
    if (++steps > kMaxSteps || end >= best) return;  // a longer prefix never ends earlier
    if (profile.size() == n) {
      best = end;
      return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (waiting[i] != 0) continue;
      const Task& task = tasks[i];
      double ready = 0;
      for (int p : task.after) ready = std::max(ready, finish[static_cast<std::size_t>(p)]);
      const double start = profile.earliest(task, ready);
      waiting[i] = -1;
      for (int s : succs[i]) --waiting[static_cast<std::size_t>(s)];
      profile.place(start, task);
      finish[i] = start + task.ms;
      self(self, std::max(end, finish[i]));
      profile.pop();
      for (int s : succs[i]) ++waiting[static_cast<std::size_t>(s)];
      waiting[i] = 0;
    }
  };
  visit(visit, 0.0);
  return steps > kMaxSteps ? 0.0 : best;
}

// The best makespan a heuristic search finds: an upper bound on the optimum where enumerating
// every schedule is out of reach. Each of kSamples activity lists is drawn by priority (the
// longest path to the end, times a random factor in [1, 2)) and scheduled by the serial scheme,
// then improved by forward-backward passes (Valls, Ballestin and Quintanilla, 2005): schedule
// the tasks as late as possible in order of their ends, then as early as possible in order of
// those late starts, while the makespan shrinks. Seeded, so every run finds the same schedule.
double best_found_ms(const std::vector<Task>& tasks) {
  constexpr int kSamples = 20000;
  const std::size_t n = tasks.size();
  const std::vector<std::vector<int>> succs = successors_of(tasks);
  std::vector<double> tail(n, 0);  // the longest path from a task's start to the end
  for (std::size_t i = n; i-- > 0;) {
    for (int s : succs[i]) tail[i] = std::max(tail[i], tail[static_cast<std::size_t>(s)]);
    tail[i] += tasks[i].ms;
  }
  Profile profile;
  // Serial scheme over `order` (precedence-feasible in the direction scheduled): forward, each
  // task after its predecessors; backward, in reversed time, each after its successors. Returns
  // the makespan; `start` gets each task's start in forward time.
  const auto schedule = [&](const std::vector<int>& order, bool forward,
                            std::vector<double>& start) {
    profile.clear();
    std::vector<double> done(n, 0);  // in the direction scheduled
    double end = 0;
    for (int i : order) {
      const Task& task = tasks[static_cast<std::size_t>(i)];
      double ready = 0;
      for (int p : forward ? task.after : succs[static_cast<std::size_t>(i)]) {
        ready = std::max(ready, done[static_cast<std::size_t>(p)]);
      }
      const double at = profile.earliest(task, ready);
      profile.place(at, task);
      done[static_cast<std::size_t>(i)] = at + task.ms;
      end = std::max(end, at + task.ms);
    }
    for (std::size_t i = 0; i < n; ++i) start[i] = forward ? done[i] - tasks[i].ms : end - done[i];
    return end;
  };
  const auto sorted_by = [&](const std::vector<double>& key, bool descending) {
    std::vector<int> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      const double ka = key[static_cast<std::size_t>(a)], kb = key[static_cast<std::size_t>(b)];
      return descending ? ka > kb : ka < kb;
    });
    return order;
  };
  std::mt19937_64 rng{7};
  std::uniform_real_distribution<double> factor{1.0, 2.0};
  double best = HUGE_VAL;
  std::vector<double> key(n), start(n), late(n), end_of(n);
  for (int sample = 0; sample < kSamples; ++sample) {
    // The first list is the plain critical-path order; the others perturb it.
    for (std::size_t i = 0; i < n; ++i) key[i] = tail[i] * (sample == 0 ? 1.0 : factor(rng));
    std::vector<int> waiting(n), order;
    for (std::size_t i = 0; i < n; ++i) waiting[i] = static_cast<int>(tasks[i].after.size());
    for (std::size_t k = 0; k < n; ++k) {
      int pick = -1;
      for (std::size_t i = 0; i < n; ++i) {
        if (waiting[i] == 0 && (pick < 0 || key[i] > key[static_cast<std::size_t>(pick)])) {
          pick = static_cast<int>(i);
        }
      }
      waiting[static_cast<std::size_t>(pick)] = -1;
      for (int s : succs[static_cast<std::size_t>(pick)]) --waiting[static_cast<std::size_t>(s)];
      order.push_back(pick);
    }
    double made = schedule(order, true, start);
    while (true) {
      // Sorting by end (backward) and by start (forward) keeps each list precedence-feasible.
      for (std::size_t i = 0; i < n; ++i) end_of[i] = start[i] + tasks[i].ms;
      schedule(sorted_by(end_of, true), false, late);
      const double again = schedule(sorted_by(late, false), true, start);
      if (again >= made - 1e-9) break;
      made = again;
    }
    best = std::min(best, made);
  }
  return best;
}

void makespan(benchmark::State& state, std::vector<Task> (*dag)(), bool critical_path) {
  const std::vector<Task> tasks = dag();
  const double scale = smoke() ? 0.1 : 1.0;
  tf::Pipeline p;
  std::vector<tf::Handle<void>> handles;
  tf::RunOptions options;
  for (const Task& task : tasks) {
    const auto sleep = std::chrono::microseconds{static_cast<std::int64_t>(task.ms * scale * 1e3)};
    auto h = p.add(
        tf::StageOptions{
            .name = task.name, .threads = task.cpus, .resources = {.memory_bytes = task.memory}},
        [sleep] { std::this_thread::sleep_for(sleep); });
    for (int a : task.after) p.order(handles[static_cast<std::size_t>(a)], h);
    handles.push_back(h);
    if (critical_path) {
      options.expected_durations[task.name] =
          std::chrono::microseconds{static_cast<std::int64_t>(task.ms * scale * 1e3)};
    }
  }
  tf::Executor ex{{.threads = kCpus, .capacity = {.cpus = kCpus, .memory_bytes = kMemory}}};
  double total_ms = 0;
  std::int64_t runs = 0;
  for (auto _ : state) {
    const tf::RunReport report = ex.run(p, options);
    if (!report.ok()) {
      state.SkipWithError(report.error().message().c_str());
      return;
    }
    total_ms += std::chrono::duration<double, std::milli>(report.wall_time()).count();
    ++runs;
  }
  const double bound = lower_bound_ms(tasks) * scale;
  const double mean = total_ms / static_cast<double>(std::max<std::int64_t>(runs, 1));
  state.counters["makespan_ms"] = mean;
  state.counters["bound_ms"] = bound;
  state.counters["ratio"] = mean / bound;
  static const double optimal_sweep8 = optimal_ms(sweep8());
  if (const double optimal = dag == sweep8 ? optimal_sweep8 : 0.0; optimal > 0) {
    state.counters["optimal_ms"] = optimal * scale;
    state.counters["optimal_ratio"] = optimal / lower_bound_ms(tasks);
  }
  static std::map<std::vector<Task> (*)(), double> found_for;
  if (!found_for.contains(dag)) found_for[dag] = best_found_ms(tasks);
  const double found = found_for[dag];
  state.counters["found_ms"] = found * scale;
  state.counters["found_ratio"] = found / lower_bound_ms(tasks);
}

// Counts events; what a cheap real observer (a progress display, a metrics exporter) costs at
// least.
class Counter final : public tf::Observer {
 public:
  void on_event(const tf::Event& e) override {
    count_ += 1 + (e.kind == tf::EventKind::kStageFinished);
  }
  std::uint64_t count_ = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

// Runs the same graph plain and observed in alternation (which of the two goes first alternates
// too), so that both meet the same machine: the ratio of the medians is what observing costs.
void observe(benchmark::State& state, bool chain, tf::Timing timing) {
  const int n = smoke() ? 1 << 10 : 1 << 16;
  tf::Pipeline p;
  std::vector<tf::Handle<void>> stages;
  stages.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    stages.push_back(p.add("s" + std::to_string(i), [] {}));
    if (chain && i > 0) p.order(stages[static_cast<std::size_t>(i) - 1], stages.back());
  }
  tf::Executor ex{{.threads = 2}};
  const tf::RunOptions plain{.timing = timing};
  tf::RunOptions observed = plain;
  observed.observers = {std::make_shared<Counter>()};
  std::vector<double> ns[2];  // per stage: [0] plain, [1] observed
  const auto run = [&](bool watch) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = ex.run(p, watch ? observed : plain).ok();
    ns[watch].push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
        n);
    return ok;
  };
  if (!run(false) || !run(true)) {  // the first run plans
    state.SkipWithError("run failed");
    return;
  }
  ns[0].clear();
  ns[1].clear();
  bool observed_first = false;
  for (auto _ : state) {
    if (!run(observed_first) || !run(!observed_first)) {
      state.SkipWithError("run failed");
      return;
    }
    observed_first = !observed_first;
  }
  state.SetItemsProcessed(state.iterations() * 2 * n);
  const double a = median(ns[0]), b = median(ns[1]);
  state.counters["plain_ns"] = a;
  state.counters["observed_ns"] = b;
  state.counters["ratio"] = b / a;
}

void register_all() {
  const struct {
    const char* name;
    std::vector<Task> (*dag)();
  } dags[] = {{"sweep8", sweep8},
              {"four_sweeps", four_sweeps},
              {"random_layers_23", [] { return random_layers(23); }},
              {"random_layers_24", [] { return random_layers(24); }},
              {"random_layers_25", [] { return random_layers(25); }}};
  for (const auto& d : dags) {
    for (const bool cp : {true, false}) {
      const std::string name = std::string("makespan/") + d.name + (cp ? "/planned" : "/arrival");
      benchmark::RegisterBenchmark(name.c_str(), makespan, d.dag, cp)
          ->Unit(benchmark::kMillisecond)
          ->Iterations(smoke() ? 1 : 5)
          ->UseRealTime();
    }
  }
  for (const bool chain : {true, false}) {
    for (const tf::Timing timing : {tf::Timing::kFull, tf::Timing::kWall}) {
      const std::string name = std::string("observe/") + (chain ? "chain" : "independent") +
                               (timing == tf::Timing::kFull ? "/timing_full" : "/timing_wall");
      benchmark::RegisterBenchmark(name.c_str(), observe, chain, timing)
          ->Unit(benchmark::kMillisecond)
          ->Iterations(smoke() ? 2 : 10)
          ->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

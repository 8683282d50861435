#include "exec/plan_ahead.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "graph/plan.hpp"

namespace trainflow::detail {

namespace {

// Cores, memory and GPUs over time as a schedule is built.
class Profile {
 public:
  explicit Profile(const PlanCapacity& capacity) : capacity_(capacity) {}

  // The earliest start at or after `ready` at which `stage` fits throughout its run. Use only
  // rises at starts and falls at ends, so the candidates are `ready` and the ends after it.
  double earliest(const PlannedStage& stage, double ready) const {
    double start = HUGE_VAL;
    if (free_at(stage, ready)) start = ready;
    for (const Placed& p : placed_) {
      if (p.end > ready && p.end < start && free_at(stage, p.end)) start = p.end;
    }
    return start;
  }
  void place(double start, const PlannedStage& stage) {
    placed_.push_back({start, start + stage.seconds, &stage});
  }
  void clear() { placed_.clear(); }

 private:
  struct Placed {
    double start, end;
    const PlannedStage* stage;
  };
  // Free for `stage` throughout [t, t + seconds)? Checking t and the starts inside suffices.
  bool free_at(const PlannedStage& stage, double t) const {
    const auto fits_at = [&](double x) {
      unsigned cpus = stage.cpus;
      std::uint64_t memory = stage.memory;
      unsigned gpus = stage.gpus;
      for (const Placed& p : placed_) {
        if (p.start <= x && x < p.end) {
          cpus += p.stage->cpus;
          memory += p.stage->memory;
          gpus += p.stage->gpus;
        }
      }
      return cpus <= capacity_.cpus && memory <= capacity_.memory && gpus <= capacity_.gpus;
    };
    if (!fits_at(t)) return false;
    for (const Placed& p : placed_) {
      if (p.start > t && p.start < t + stage.seconds && !fits_at(p.start)) return false;
    }
    return true;
  }

  PlanCapacity capacity_;
  std::vector<Placed> placed_;
};

std::vector<double> search(const Plan& plan, std::span<const PlannedStage> stages,
                           const PlanCapacity& capacity) {
  const std::uint32_t n = plan.num_stages;
  // Predecessors and successors as lists, and a topological order.
  std::vector<std::vector<std::uint32_t>> preds(n), succs(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const StageInfo& info = plan.info[i];
    for (std::uint32_t e = info.succ_begin; e < info.succ_end; ++e) {
      const std::uint32_t s = plan.succs[e] & Plan::kStageMask;
      succs[i].push_back(s);
      preds[s].push_back(i);
    }
  }
  std::vector<std::uint32_t> topo(plan.sources.begin(), plan.sources.end());
  {
    std::vector<std::size_t> waits(n);
    for (std::uint32_t i = 0; i < n; ++i) waits[i] = preds[i].size();
    for (std::size_t k = 0; k < topo.size(); ++k) {
      for (std::uint32_t s : succs[topo[k]]) {
        if (--waits[s] == 0) topo.push_back(s);
      }
    }
  }
  if (topo.size() != n) return {};
  std::vector<double> tail(n, 0);  // the longest path from a stage's start to the end
  for (std::size_t k = n; k-- > 0;) {
    const std::uint32_t i = topo[k];
    for (std::uint32_t s : succs[i]) tail[i] = std::max(tail[i], tail[s]);
    tail[i] += stages[i].seconds;
  }

  Profile profile{capacity};
  std::vector<double> done(n);
  // The serial scheme over `order` (precedence-feasible in the direction scheduled): forward,
  // each stage after its predecessors; backward, in reversed time, after its successors.
  // Returns the makespan; `start` gets each stage's start in forward time.
  const auto schedule = [&](const std::vector<std::uint32_t>& order, bool forward,
                            std::vector<double>& start) {
    profile.clear();
    double end = 0;
    for (std::uint32_t i : order) {
      double ready = 0;
      for (std::uint32_t p : forward ? preds[i] : succs[i]) ready = std::max(ready, done[p]);
      const double at = profile.earliest(stages[i], ready);
      profile.place(at, stages[i]);
      done[i] = at + stages[i].seconds;
      end = std::max(end, done[i]);
      if (forward) start[i] = at;  // exactly: a stage ending at `at` ends before it
    }
    if (forward) return end;
    for (std::uint32_t i = 0; i < n; ++i) {
      start[i] = end - done[i];
    }
    return end;
  };
  std::vector<std::uint32_t> position(n);  // in `topo`: breaks ties, so that zero-length
  for (std::uint32_t k = 0; k < n; ++k) position[topo[k]] = k;  // stages keep their order
  std::vector<std::uint32_t> order(n);
  const auto sort_by = [&](const std::vector<double>& key, bool descending) {
    for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      if (key[a] != key[b]) return descending ? key[a] > key[b] : key[a] < key[b];
      return descending ? position[a] > position[b] : position[a] < position[b];
    });
  };

  // Planning takes about 1% of the run's expected length: a sample (both schemes and their
  // improvement) costs about 4 n^3 ns. At least kMinPlanSamples, at most kMaxPlanSamples.
  double cpu_work = 0, memory_work = 0, path = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    cpu_work += stages[i].seconds * stages[i].cpus;
    memory_work += stages[i].seconds * static_cast<double>(stages[i].memory);
    path = std::max(path, tail[i]);
  }
  const double bound =
      std::max({path, cpu_work / capacity.cpus,
                capacity.memory ? memory_work / static_cast<double>(capacity.memory) : 0.0});
  const double per_sample = 4e-9 * static_cast<double>(n) * n * n;
  const int samples =
      static_cast<int>(std::clamp(0.01 * bound / per_sample, static_cast<double>(kMinPlanSamples),
                                  static_cast<double>(kMaxPlanSamples)));
  std::mt19937_64 rng{0x7f4a7c15u};
  std::uniform_real_distribution<double> factor{1.0, 2.0};
  std::vector<double> best, key(n), start(n), late(n), end_of(n);
  double best_end = HUGE_VAL;
  std::vector<std::size_t> waits(n);
  // The parallel scheme: at each time a stage ends, the ready stages start, highest key first,
  // each that fits (what admission does online without a plan), into `start`. Returns the
  // makespan.
  std::vector<std::uint32_t> ready;
  std::vector<std::pair<double, std::uint32_t>> running;
  const auto non_delay = [&] {
    for (std::uint32_t i = 0; i < n; ++i) waits[i] = preds[i].size();
    ready.assign(plan.sources.begin(), plan.sources.end());
    running.clear();
    PlanCapacity free = capacity;
    double t = 0, end = 0;
    while (!ready.empty() || !running.empty()) {
      std::sort(ready.begin(), ready.end(), [&](std::uint32_t a, std::uint32_t b) {
        return key[a] != key[b] ? key[a] > key[b] : position[a] < position[b];
      });
      std::size_t kept = 0;
      for (const std::uint32_t i : ready) {
        const PlannedStage& x = stages[i];
        if (x.cpus > free.cpus || x.memory > free.memory || x.gpus > free.gpus) {
          ready[kept++] = i;
          continue;
        }
        free.cpus -= x.cpus;
        free.memory -= x.memory;
        free.gpus -= x.gpus;
        start[i] = t;
        running.emplace_back(t + x.seconds, i);
        end = std::max(end, t + x.seconds);
      }
      ready.resize(kept);
      if (running.empty()) break;  // cannot happen: every stage fits the capacity alone
      t = std::min_element(running.begin(), running.end())->first;
      kept = 0;
      for (const auto& [at, i] : running) {
        if (at > t) {
          running[kept++] = {at, i};
          continue;
        }
        const PlannedStage& x = stages[i];
        free.cpus += x.cpus;
        free.memory += x.memory;
        free.gpus += x.gpus;
        for (std::uint32_t s : succs[i]) {
          if (--waits[s] == 0) ready.push_back(s);
        }
      }
      running.resize(kept);
    }
    return end;
  };
  // Forward-backward passes from `start` while they shorten it. Returns the makespan.
  std::vector<double> again(n);
  const auto improve = [&](double made) {
    while (true) {
      // By end (backward) and by start (forward): each list stays precedence-feasible.
      for (std::uint32_t i = 0; i < n; ++i) end_of[i] = start[i] + stages[i].seconds;
      sort_by(end_of, true);
      schedule(order, false, late);
      sort_by(late, false);
      const double end = schedule(order, true, again);
      if (end >= made * (1 - 1e-9)) return made;
      made = end;
      start.swap(again);
    }
  };
  const auto keep = [&](double made) {
    if (made < best_end) {
      best_end = made;
      best = start;
    }
  };
  for (int sample = 0; sample < samples; ++sample) {
    for (std::uint32_t i = 0; i < n; ++i) key[i] = tail[i] * (sample == 0 ? 1.0 : factor(rng));
    // The serial scheme over the activity list: the ready stage with the highest key next.
    for (std::uint32_t i = 0; i < n; ++i) waits[i] = preds[i].size();
    for (std::uint32_t k = 0; k < n; ++k) {
      std::uint32_t pick = n;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (waits[i] == 0 && (pick == n || key[i] > key[pick])) pick = i;
      }
      waits[pick] = SIZE_MAX;
      for (std::uint32_t s : succs[pick]) --waits[s];
      order[k] = pick;
    }
    keep(improve(schedule(order, true, start)));
    // The parallel scheme with the same keys.
    keep(improve(non_delay()));
  }
  return best;
}

}  // namespace

std::vector<double> plan_ahead(const Plan& plan, std::span<const PlannedStage> stages,
                               const PlanCapacity& capacity) {
  const std::uint32_t n = plan.num_stages;
  if (n == 0 || n > kMaxPlannedStages || stages.size() != n) return {};
  for (const PlannedStage& s : stages) {
    if (s.cpus > capacity.cpus || s.memory > capacity.memory || s.gpus > capacity.gpus) return {};
  }
  std::vector<double> inputs{static_cast<double>(capacity.cpus),
                             static_cast<double>(capacity.memory),
                             static_cast<double>(capacity.gpus)};
  inputs.reserve(3 + 4 * std::size_t{n});
  for (const PlannedStage& s : stages) {
    inputs.insert(inputs.end(), {s.seconds, static_cast<double>(s.cpus),
                                 static_cast<double>(s.memory), static_cast<double>(s.gpus)});
  }
  {
    std::lock_guard lock{plan.schedule_mutex};
    if (plan.schedule_inputs == inputs) return plan.schedule_starts;
  }
  std::vector<double> starts = search(plan, stages, capacity);
  std::lock_guard lock{plan.schedule_mutex};
  plan.schedule_inputs = std::move(inputs);
  plan.schedule_starts = starts;
  return starts;
}

}  // namespace trainflow::detail

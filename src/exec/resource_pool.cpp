#include "exec/resource_pool.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "exec/run_state.hpp"

namespace trainflow::detail {

namespace {

std::uint64_t physical_memory() noexcept {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || size <= 0) return UINT64_MAX;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size);
}

std::string bytes(std::uint64_t n) {
  char buf[32];
  if (n >= (std::uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(n) / (1 << 30));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  }
  return buf;
}

}  // namespace

ResourcePool::ResourcePool(const ResourceCapacity& capacity, unsigned workers)
    : capacity_(capacity) {
  if (capacity_.cpus == 0) capacity_.cpus = std::max(1u, workers);
  if (capacity_.memory_bytes == 0) capacity_.memory_bytes = physical_memory();
  if (capacity_.gpu_memory_bytes.size() > 64) capacity_.gpu_memory_bytes.resize(64);
  free_cpus_ = capacity_.cpus;
  free_memory_ = capacity_.memory_bytes;
  free_gpu_memory_ = capacity_.gpu_memory_bytes;
  gpu_users_.assign(free_gpu_memory_.size(), 0);
}

Demand ResourcePool::demand_of(unsigned threads, const ResourceDemand& d) const noexcept {
  Demand out;
  out.cpus = std::clamp(threads, 1u, capacity_.cpus);
  out.max_cpus = std::clamp(std::max(d.max_threads, out.cpus), out.cpus, capacity_.cpus);
  out.memory = d.memory_bytes;
  out.gpus = d.gpus;
  out.gpu_memory = d.gpu_memory_bytes;
  return out;
}

std::string ResourcePool::never_fits(const ResourceDemand& d) const {
  if (d.memory_bytes > capacity_.memory_bytes) {
    return "needs " + bytes(d.memory_bytes) + " of memory; the executor has " +
           bytes(capacity_.memory_bytes) + " (ExecutorOptions::capacity)";
  }
  if (d.gpus > capacity_.gpu_memory_bytes.size()) {
    return "needs " + std::to_string(d.gpus) + " GPU" + (d.gpus == 1 ? "" : "s") +
           "; the executor has " + std::to_string(capacity_.gpu_memory_bytes.size());
  }
  if (d.gpus > 0) {
    const auto big = static_cast<std::size_t>(
        std::count_if(capacity_.gpu_memory_bytes.begin(), capacity_.gpu_memory_bytes.end(),
                      [&](std::uint64_t m) { return m >= d.gpu_memory_bytes; }));
    if (big < d.gpus) {
      return "needs " + std::to_string(d.gpus) + " GPU" + (d.gpus == 1 ? "" : "s") + " with " +
             bytes(d.gpu_memory_bytes) + " of memory each; the executor has " + std::to_string(big);
    }
  }
  return {};
}

bool ResourcePool::fits(const Demand& d) const noexcept {
  if (d.cpus > free_cpus_ || d.memory > free_memory_) return false;
  if (d.gpus == 0) return true;
  unsigned usable = 0;
  for (std::size_t g = 0; g < free_gpu_memory_.size(); ++g) {
    // Without a memory figure a stage takes its GPUs whole.
    usable += d.gpu_memory == 0 ? gpu_users_[g] == 0 : free_gpu_memory_[g] >= d.gpu_memory;
  }
  return usable >= d.gpus;
}

void ResourcePool::take(RunState* run, std::uint32_t stage, const Demand& d, double priority,
                        Held& held) {
  held = Held{};
  held.cpus = d.cpus;
  held.memory = d.memory;
  free_cpus_ -= d.cpus;
  free_memory_ -= d.memory;
  for (unsigned k = 0; k < d.gpus; ++k) {
    // The usable GPU with the most free memory.
    std::size_t best = free_gpu_memory_.size();
    for (std::size_t g = 0; g < free_gpu_memory_.size(); ++g) {
      if (held.gpus & (std::uint64_t{1} << g)) continue;
      const bool usable =
          d.gpu_memory == 0 ? gpu_users_[g] == 0 : free_gpu_memory_[g] >= d.gpu_memory;
      if (usable &&
          (best == free_gpu_memory_.size() || free_gpu_memory_[g] > free_gpu_memory_[best])) {
        best = g;
      }
    }
    held.gpus |= std::uint64_t{1} << best;
  }
  held.gpu_memory = d.gpu_memory;
  for (std::size_t g = 0; g < free_gpu_memory_.size(); ++g) {
    if (!(held.gpus & (std::uint64_t{1} << g))) continue;
    ++gpu_users_[g];
    free_gpu_memory_[g] -= d.gpu_memory == 0 ? free_gpu_memory_[g] : d.gpu_memory;
  }
  if (d.gpu_memory == 0 && held.gpus) held.gpu_memory = UINT64_MAX;  // whole devices
  if (d.max_cpus > d.cpus) {
    held.elastic = true;
    growable_.push_back({run, stage, d.cpus, d.max_cpus, priority, &held});
  }
  Clock::time_point end = Clock::time_point::max();
  if (d.seconds > 0) {
    end = run->clock().now() + std::chrono::duration_cast<Clock::time_point::duration>(
                                   std::chrono::duration<double>(d.seconds));
  }
  running_.push_back({run, stage, end, &held});
}

bool ResourcePool::admit_or_queue(RunState* run, std::uint32_t stage, const Demand& demand,
                                  double priority) {
  std::lock_guard lock{mutex_};
  if (queue_.empty() && fits(demand) && run->in_turn(stage)) {
    Held& held = *run->held_of(stage);
    take(run, stage, demand, priority, held);
    run->pass(stage);
    run->set_grant(stage, held.cpus);
    grow();
    return true;
  }
  enqueue({run, stage, demand, priority, next_seq_++});
  pump(run);
  return false;
}

void ResourcePool::enqueue(const Waiting& w) {
  auto at =
      std::upper_bound(queue_.begin(), queue_.end(), w, [](const Waiting& a, const Waiting& b) {
        return a.priority != b.priority ? a.priority > b.priority : a.seq < b.seq;
      });
  queue_.insert(at, w);
}

void ResourcePool::release(RunState* run, std::uint32_t stage) {
  std::lock_guard lock{mutex_};
  give_back(run, stage);
  pump(run);
}

void ResourcePool::release_and_queue(RunState* run, std::uint32_t stage, bool held,
                                     const std::vector<std::uint32_t>& ready,
                                     const std::vector<double>& priority,
                                     const std::vector<Demand>& demands) {
  std::lock_guard lock{mutex_};
  if (held) give_back(run, stage);
  for (const std::uint32_t s : ready) enqueue({run, s, demands[s], priority[s], next_seq_++});
  pump(run);
}

void ResourcePool::pass(RunState* run, std::uint32_t stage) {
  std::lock_guard lock{mutex_};
  if (run->pass(stage)) pump(run);
}

void ResourcePool::shrink(RunState* run, std::uint32_t stage) {
  std::lock_guard lock{mutex_};
  if (!run->end_shrinking(stage)) return;  // another read of the grant came first
  Held& held = *run->held_of(stage);
  const unsigned grant = run->grant_of(stage, held.cpus);
  if (held.cpus <= grant) return;
  free_cpus_ += held.cpus - grant;
  held.cpus = grant;
  run->grant_changed(stage, grant);
  pump(run);
}

void ResourcePool::give_back(RunState* run, std::uint32_t stage) {
  Held& slot = *run->held_of(stage);
  run->end_shrinking(stage);
  const Held held = slot;
  slot = Held{};
  free_cpus_ += held.cpus;
  free_memory_ += held.memory;
  for (std::size_t g = 0; g < free_gpu_memory_.size(); ++g) {
    if (!(held.gpus & (std::uint64_t{1} << g))) continue;
    --gpu_users_[g];
    free_gpu_memory_[g] = held.gpu_memory == UINT64_MAX ? capacity_.gpu_memory_bytes[g]
                                                        : free_gpu_memory_[g] + held.gpu_memory;
  }
  if (held.elastic) {
    std::erase_if(growable_, [&](const Growable& g) { return g.run == run && g.stage == stage; });
  }
  std::erase_if(running_, [&](const Running& r) { return r.run == run && r.stage == stage; });
}

void ResourcePool::drop(RunState* run) {
  std::lock_guard lock{mutex_};
  auto keep = std::stable_partition(queue_.begin(), queue_.end(),
                                    [&](const Waiting& w) { return w.run != run; });
  std::vector<Waiting> dropped(keep, queue_.end());
  queue_.erase(keep, queue_.end());
  for (const Waiting& w : dropped) {
    *run->held_of(w.stage) = Held{};
    run->admitted(w.stage);
  }
  pump(run);  // a dropped stage may have held the line
}

unsigned ResourcePool::cpus_in_use() const {
  std::lock_guard lock{mutex_};
  return capacity_.cpus - free_cpus_;
}

void ResourcePool::pump(RunState* caller) {
  // The search's set first, then every stage that fits in priority order; a stage that does not
  // fit (or was left out) lets later ones pass until it has been passed kMaxBypass times.
  const std::uint32_t first = search(caller);
  std::vector<char> taken(queue_.size(), 0);
  std::vector<char> gated(queue_.size(), 0);  // a planned run's stage not yet in turn
  std::size_t count = 0;
  bool turned = false;  // a planned stage was admitted: stages after it may be in turn
  const auto admit = [&](std::size_t k) {
    Waiting& w = queue_[k];
    take(w.run, w.stage, w.demand, w.priority, *w.run->held_of(w.stage));
    turned |= w.run->pass(w.stage);
    taken[k] = 1;
    ++count;
  };
  for (std::size_t k = 0; k < kSearchWindow && k < queue_.size(); ++k) {
    if ((first >> k & 1u) && fits(queue_[k].demand)) admit(k);
  }
  do {
    turned = false;
    for (std::size_t k = 0; k < queue_.size(); ++k) {
      if (taken[k]) continue;
      gated[k] = !queue_[k].run->in_turn(queue_[k].stage);
      if (gated[k]) continue;
      if (fits(queue_[k].demand)) {
        admit(k);
      } else if (queue_[k].bypassed >= kMaxBypass) {
        break;  // it holds the line
      }
    }
  } while (turned);
  if (count == 0) {
    grow();
    return;
  }
  // Each stage left waiting was passed by every stage admitted behind it (one waiting for its
  // turn in its run's plan was not passed: it was not in turn).
  unsigned behind = 0;
  for (std::size_t k = queue_.size(); k-- > 0;) {
    if (taken[k]) {
      ++behind;
    } else if (!gated[k]) {
      queue_[k].bypassed += behind;
    }
  }
  std::vector<Waiting> admitted;
  admitted.reserve(count);
  std::size_t out = 0;
  for (std::size_t k = 0; k < queue_.size(); ++k) {
    if (taken[k]) {
      admitted.push_back(queue_[k]);
    } else {
      queue_[out++] = queue_[k];
    }
  }
  queue_.resize(out);
  for (const Waiting& w : admitted) {
    w.run->set_grant(w.stage, w.run->held_of(w.stage)->cpus);
    w.run->admitted(w.stage);
  }
  grow();
}

namespace {

// What the packing search counts of a demand: GPUs as whole devices.
struct Need {
  unsigned cpus = 0;
  std::uint64_t memory = 0;
  unsigned gpus = 0;

  bool fits_in(const Need& free) const noexcept {
    return cpus <= free.cpus && memory <= free.memory && gpus <= free.gpus;
  }
  Need& operator+=(const Need& n) noexcept {
    cpus += n.cpus;
    memory += n.memory;
    gpus += n.gpus;
    return *this;
  }
  Need& operator-=(const Need& n) noexcept {
    cpus -= n.cpus;
    memory -= n.memory;
    gpus -= n.gpus;
    return *this;
  }
};

Need need_of(const Demand& d) noexcept {
  return {d.cpus, d.memory, d.gpus};
}

// A stage in the search's estimate.
struct Simulated {
  RunState* run;
  std::uint32_t stage;
  Need need;
  double seconds;
  double priority;
  std::uint32_t waits;  // predecessors not yet ended in the estimate; 0: ready
  bool started;
};

// A simulated stage's end (`sim` indexes the simulated stages; running stages come first).
struct Release {
  double at;  // seconds from now
  std::size_t sim;
  bool operator>(const Release& r) const noexcept { return at > r.at; }
};

}  // namespace

std::uint32_t ResourcePool::search(RunState* caller) const {
  // The window: leading waiting stages with expected durations, cut after one that holds the
  // line; then the tail the estimate also schedules.
  std::size_t window = 0;
  // A planned run's stages are admitted in the plan's order, not by this search: they end the
  // window.
  while (window < queue_.size() && window < kSearchWindow && queue_[window].demand.seconds > 0 &&
         !queue_[window].run->planned()) {
    if (queue_[window++].bypassed >= kMaxBypass) break;
  }
  if (window < 2) return 0;
  const bool holder = queue_[window - 1].bypassed >= kMaxBypass;
  std::size_t queued = window;
  if (!holder) {
    while (queued < queue_.size() && queued < window + kSearchTail &&
           queue_[queued].demand.seconds > 0) {
      ++queued;
    }
  }

  const auto num_gpus = static_cast<unsigned>(capacity_.gpu_memory_bytes.size());
  unsigned gpus_held = 0;
  for (const Running& r : running_) gpus_held += static_cast<unsigned>(std::popcount(r.held->gpus));
  const Need free{free_cpus_, free_memory_, num_gpus - std::min(num_gpus, gpus_held)};

  // A choice is worth searching only when at least two window stages fit but not all together.
  unsigned fit_alone = 0;
  Need all{};
  for (std::size_t k = 0; k < window; ++k) {
    const Need n = need_of(queue_[k].demand);
    fit_alone += n.fits_in(free) && fits(queue_[k].demand);
    all += n;
  }
  if (fit_alone < 2 || all.fits_in(free)) return 0;

  // The stages every estimate starts from: the running ones (ending at their expected times;
  // overdue or unknown: at once), then the queued ones. Successors join as the estimate ends
  // their predecessors, up to kSearchHorizon stages.
  const Clock::time_point now = caller->clock().now();
  std::vector<Simulated> base;
  std::vector<double> running_end;
  base.reserve(running_.size() + queued);
  for (const Running& r : running_) {
    const Need n{r.held->cpus, r.held->memory, static_cast<unsigned>(std::popcount(r.held->gpus))};
    base.push_back({r.run, r.stage, n, 0, 0, 0, true});
    running_end.push_back(r.end == Clock::time_point::max()
                              ? 0.0
                              : std::max(0.0, std::chrono::duration<double>(r.end - now).count()));
  }
  const std::size_t first_queued = base.size();
  for (std::size_t k = 0; k < queued; ++k) {
    const Waiting& w = queue_[k];
    base.push_back({w.run, w.stage, need_of(w.demand), w.demand.seconds, w.priority, 0, false});
  }
  const std::size_t horizon = base.size() + kSearchHorizon;

  // The run's estimated end when the window stages in `mask` start now and every other stage
  // follows by priority as soon as it fits: the latest start + priority.
  std::vector<Simulated> sim;
  std::vector<std::size_t> ready;  // unstarted, by priority (descending), then position
  std::vector<Release> events;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> succs;
  const auto by_priority = [&](std::size_t a, std::size_t b) {
    return sim[a].priority != sim[b].priority ? sim[a].priority > sim[b].priority : a < b;
  };
  const auto estimate = [&](std::uint32_t mask, Need left) {
    sim = base;
    events.clear();
    ready.clear();
    double end = 0;
    for (std::size_t i = 0; i < first_queued; ++i) events.push_back({running_end[i], i});
    for (std::size_t k = 0; k < queued; ++k) {
      const std::size_t i = first_queued + k;
      if (mask >> k & 1u) {
        sim[i].started = true;
        events.push_back({sim[i].seconds, i});
        end = std::max(end, sim[i].priority);
      } else {
        ready.push_back(i);  // queue_ is in priority order already
      }
    }
    std::make_heap(events.begin(), events.end(), std::greater<>{});
    double t = 0;
    while (true) {
      for (auto it = ready.begin(); it != ready.end();) {
        Simulated& x = sim[*it];
        if (!x.need.fits_in(left)) {
          ++it;
          continue;
        }
        x.started = true;
        left -= x.need;
        events.push_back({t + x.seconds, *it});
        std::push_heap(events.begin(), events.end(), std::greater<>{});
        end = std::max(end, t + x.priority);
        it = ready.erase(it);
      }
      if (events.empty()) break;
      std::pop_heap(events.begin(), events.end(), std::greater<>{});
      const Release r = events.back();
      events.pop_back();
      t = r.at;
      left += sim[r.sim].need;
      if (sim.size() >= horizon) continue;
      succs.clear();
      sim[r.sim].run->successors(sim[r.sim].stage, succs);
      for (const auto& [stage, waits] : succs) {
        RunState* run = sim[r.sim].run;
        std::size_t i = 0;
        while (i < sim.size() && !(sim[i].run == run && sim[i].stage == stage)) ++i;
        if (i == sim.size()) {
          const Demand& d = run->demand(stage);
          if (d.seconds <= 0 || sim.size() >= horizon) continue;
          sim.push_back({run, stage, need_of(d), d.seconds, run->priority(stage), waits, false});
        }
        if (sim[i].started || sim[i].waits == 0 || --sim[i].waits > 0) continue;
        ready.insert(std::upper_bound(ready.begin(), ready.end(), i, by_priority), i);
      }
    }
    return end;
  };

  // Every maximal set of window stages that fits (the line's holder in it when it fits), stages
  // of higher priority tried in first; the best estimate wins, the first found on ties.
  std::uint32_t best = 0;
  bool found = false;
  double best_value = 0;
  // Ties (within a relative 1e-9) keep the set found first.
  const auto better = [](double a, double b) {
    return a < b - 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
  };
  const auto visit = [&](auto& self, std::size_t k, std::uint32_t mask, Need left) -> void {
    if (k == window) {
      for (std::size_t j = 0; j < window; ++j) {
        if (!(mask >> j & 1u) && need_of(queue_[j].demand).fits_in(left)) return;  // not maximal
      }
      const auto value = estimate(mask, left);
      if (!found || better(value, best_value)) {
        found = true;
        best = mask;
        best_value = value;
      }
      return;
    }
    const Need n = need_of(queue_[k].demand);
    const bool fit = n.fits_in(left) && fits(queue_[k].demand);
    if (fit) {
      Need rest = left;
      rest -= n;
      self(self, k + 1, mask | 1u << k, rest);
    }
    if (!fit || !(holder && k + 1 == window)) self(self, k + 1, mask, left);
  };
  visit(visit, 0, 0, free);
  return best;
}

void ResourcePool::grow() {
  if (growable_.empty()) return;
  if (!queue_.empty()) {
    // A waiting stage that lacks cores asks every grown grant back (at the stage's next read).
    const bool short_of_cores = std::any_of(
        queue_.begin(), queue_.end(), [&](const Waiting& w) { return w.demand.cpus > free_cpus_; });
    if (!short_of_cores) return;
    for (const Growable& g : growable_) {
      if (g.held->cpus > g.cpus) g.run->start_shrinking(g.stage, g.cpus);
    }
    return;
  }
  if (free_cpus_ == 0) return;
  // Nothing waits: spare cores go to stages that can use them, most urgent first.
  std::stable_sort(growable_.begin(), growable_.end(),
                   [](const Growable& a, const Growable& b) { return a.priority > b.priority; });
  for (Growable& g : growable_) {
    if (free_cpus_ == 0) break;
    const unsigned more = std::min(free_cpus_, g.max_cpus - std::min(g.max_cpus, g.held->cpus));
    if (more == 0) continue;
    g.held->cpus += more;
    free_cpus_ -= more;
    g.run->grant_changed(g.stage, g.held->cpus);
  }
}

}  // namespace trainflow::detail

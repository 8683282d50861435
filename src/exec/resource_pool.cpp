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
    growable_.push_back({run, stage, d.max_cpus, priority, &held});
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
  if (queue_.empty() && fits(demand)) {
    Held& held = *run->held_of(stage);
    take(run, stage, demand, priority, held);
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

void ResourcePool::give_back(RunState* run, std::uint32_t stage) {
  Held& slot = *run->held_of(stage);
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
  std::size_t count = 0;
  const auto admit = [&](std::size_t k) {
    Waiting& w = queue_[k];
    take(w.run, w.stage, w.demand, w.priority, *w.run->held_of(w.stage));
    taken[k] = 1;
    ++count;
  };
  for (std::size_t k = 0; k < kSearchWindow && k < queue_.size(); ++k) {
    if ((first >> k & 1u) && fits(queue_[k].demand)) admit(k);
  }
  for (std::size_t k = 0; k < queue_.size(); ++k) {
    if (taken[k]) continue;
    if (fits(queue_[k].demand)) {
      admit(k);
    } else if (queue_[k].bypassed >= kMaxBypass) {
      break;  // it holds the line
    }
  }
  if (count == 0) {
    grow();
    return;
  }
  // Each stage left waiting was passed by every stage admitted behind it.
  unsigned behind = 0;
  for (std::size_t k = queue_.size(); k-- > 0;) {
    if (taken[k]) {
      ++behind;
    } else {
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

struct Release {
  double at;  // seconds from now
  Need need;
  bool operator>(const Release& r) const noexcept { return at > r.at; }
};

}  // namespace

std::uint32_t ResourcePool::search(RunState* caller) const {
  // The window: leading waiting stages with expected durations, cut after one that holds the
  // line; then the tail the estimate also schedules.
  std::size_t window = 0;
  while (window < queue_.size() && window < kSearchWindow && queue_[window].demand.seconds > 0) {
    if (queue_[window++].bypassed >= kMaxBypass) break;
  }
  if (window < 2) return 0;
  const bool holder = queue_[window - 1].bypassed >= kMaxBypass;
  std::size_t simulated = window;
  if (!holder) {
    while (simulated < queue_.size() && simulated < window + kSearchTail &&
           queue_[simulated].demand.seconds > 0) {
      ++simulated;
    }
  }
  std::vector<Need> need(simulated);
  for (std::size_t k = 0; k < simulated; ++k) {
    const Demand& d = queue_[k].demand;
    need[k] = {d.cpus, d.memory, d.gpus};
  }

  const unsigned num_gpus = static_cast<unsigned>(capacity_.gpu_memory_bytes.size());
  unsigned gpus_held = 0;
  const Clock::time_point now = caller->clock().now();
  std::vector<Release> running;
  running.reserve(running_.size());
  for (const Running& r : running_) {
    const auto n = static_cast<unsigned>(std::popcount(r.held->gpus));
    gpus_held += n;
    // Unknown or overdue: assumed to end right after this decision.
    const double at = r.end == Clock::time_point::max()
                          ? 0.0
                          : std::max(0.0, std::chrono::duration<double>(r.end - now).count());
    running.push_back({at, {r.held->cpus, r.held->memory, n}});
  }
  const Need free{free_cpus_, free_memory_, num_gpus - std::min(num_gpus, gpus_held)};

  // A choice is worth searching only when at least two window stages fit but not all together.
  unsigned fit_alone = 0;
  Need all{};
  for (std::size_t k = 0; k < window; ++k) {
    fit_alone += need[k].fits_in(free) && fits(queue_[k].demand);
    all += need[k];
  }
  if (fit_alone < 2 || all.fits_in(free)) return 0;

  // The run's estimated end when the stages in `mask` start now and the others follow by
  // priority, each as soon as it fits: max of start + priority; then the sum of starts.
  std::vector<Release> events;
  std::vector<char> started(simulated);
  const auto estimate = [&](std::uint32_t mask, Need left) {
    events = running;
    double end = 0, starts = 0;
    std::size_t pending = simulated;
    for (std::size_t k = 0; k < simulated; ++k) {
      started[k] = mask >> k & 1u;
      if (!started[k]) continue;
      events.push_back({queue_[k].demand.seconds, need[k]});
      end = std::max(end, queue_[k].priority);
      --pending;
    }
    std::make_heap(events.begin(), events.end(), std::greater<>{});
    double t = 0;
    while (true) {
      for (std::size_t k = 0; k < simulated && pending > 0; ++k) {
        if (started[k] || !need[k].fits_in(left)) continue;
        started[k] = 1;
        --pending;
        left -= need[k];
        events.push_back({t + queue_[k].demand.seconds, need[k]});
        std::push_heap(events.begin(), events.end(), std::greater<>{});
        end = std::max(end, t + queue_[k].priority);
        starts += t;
      }
      if (pending == 0) break;
      if (events.empty()) return std::pair{HUGE_VAL, 0.0};  // cannot happen: each fits alone
      t = events.front().at;
      while (!events.empty() && events.front().at <= t) {
        std::pop_heap(events.begin(), events.end(), std::greater<>{});
        left += events.back().need;
        events.pop_back();
      }
    }
    return std::pair{end, starts};
  };

  // Every maximal set of window stages that fits (the line's holder in it when it fits), stages
  // of higher priority tried in first; the best estimate wins, the first found on ties.
  std::uint32_t best = 0;
  bool found = false;
  std::pair<double, double> best_value{};
  const auto better = [](std::pair<double, double> a, std::pair<double, double> b) {
    const double tol = 1e-9 * std::max({1.0, std::abs(a.first), std::abs(b.first)});
    if (a.first < b.first - tol) return true;
    if (a.first > b.first + tol) return false;
    return a.second < b.second - 1e-9 * std::max(1.0, std::abs(b.second));
  };
  const auto visit = [&](auto& self, std::size_t k, std::uint32_t mask, Need left) -> void {
    if (k == window) {
      for (std::size_t j = 0; j < window; ++j) {
        if (!(mask >> j & 1u) && need[j].fits_in(left)) return;  // not maximal
      }
      const auto value = estimate(mask, left);
      if (!found || better(value, best_value)) {
        found = true;
        best = mask;
        best_value = value;
      }
      return;
    }
    const bool fit = need[k].fits_in(left) && fits(queue_[k].demand);
    if (fit) {
      Need rest = left;
      rest -= need[k];
      self(self, k + 1, mask | 1u << k, rest);
    }
    if (!fit || !(holder && k + 1 == window)) self(self, k + 1, mask, left);
  };
  visit(visit, 0, 0, free);
  return best;
}

void ResourcePool::grow() {
  if (!queue_.empty() || free_cpus_ == 0 || growable_.empty()) return;
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

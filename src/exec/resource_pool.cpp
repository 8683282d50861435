#include "exec/resource_pool.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>

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

void ResourcePool::take(const Demand& d, Held& held) {
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
}

bool ResourcePool::admit_or_queue(RunState* run, std::uint32_t stage, const Demand& demand,
                                  double priority) {
  std::lock_guard lock{mutex_};
  if (queue_.empty() && fits(demand)) {
    Held& held = *run->held_of(stage);
    take(demand, held);
    if (demand.max_cpus > demand.cpus) {
      held.elastic = true;
      growable_.push_back({run, stage, demand.max_cpus, priority, &held});
    }
    run->set_grant(stage, held.cpus);
    grow();
    return true;
  }
  enqueue({run, stage, demand, priority, next_seq_++});
  pump();
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
  pump();
}

void ResourcePool::release_and_queue(RunState* run, std::uint32_t stage, bool held,
                                     const std::vector<std::uint32_t>& ready,
                                     const std::vector<double>& priority,
                                     const std::vector<Demand>& demands) {
  std::lock_guard lock{mutex_};
  if (held) give_back(run, stage);
  for (const std::uint32_t s : ready) enqueue({run, s, demands[s], priority[s], next_seq_++});
  pump();
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
  pump();  // a dropped stage may have held the line
}

unsigned ResourcePool::cpus_in_use() const {
  std::lock_guard lock{mutex_};
  return capacity_.cpus - free_cpus_;
}

void ResourcePool::pump() {
  // Admit in order; a stage that does not fit lets later ones pass until it has been passed
  // kMaxBypass times.
  std::size_t blocked_from = queue_.size();  // the first stage that did not fit
  for (std::size_t k = 0; k < queue_.size();) {
    Waiting& w = queue_[k];
    if (!fits(w.demand)) {
      if (w.bypassed >= kMaxBypass) break;  // it holds the line
      if (blocked_from == queue_.size()) blocked_from = k;
      ++k;
      continue;
    }
    Held& held = *w.run->held_of(w.stage);
    take(w.demand, held);
    if (w.demand.max_cpus > w.demand.cpus) {
      held.elastic = true;
      growable_.push_back({w.run, w.stage, w.demand.max_cpus, w.priority, &held});
    }
    for (std::size_t j = blocked_from; j < k; ++j) ++queue_[j].bypassed;
    RunState* run = w.run;
    const std::uint32_t stage = w.stage;
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(k));
    run->set_grant(stage, held.cpus);
    run->admitted(stage);
  }
  grow();
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

#include "exec/scheduler.hpp"

#include <cassert>

#include "exec/run_state.hpp"

namespace trainflow::detail {

namespace {

struct ThreadBinding {
  const Scheduler* scheduler = nullptr;
  Worker* worker = nullptr;
};
thread_local ThreadBinding tls_binding;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline std::uint64_t next_random(std::uint64_t& state) noexcept {
  // xorshift64*: cheap victim selection.
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

// How many rounds an idle worker spends looking for work before it sleeps.
constexpr int kSpinRounds = 64;
constexpr int kYieldRounds = 16;

}  // namespace

Scheduler::Scheduler(Executor& owner, unsigned threads) : owner_(owner) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    w->rng = 0x9E3779B97F4A7C15ULL * (i + 1);
    workers_.push_back(std::move(w));
  }
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] { worker_main(*workers_[i]); });
  }
}

Scheduler::~Scheduler() {
  assert(threads_.empty() && "Scheduler destroyed without stop()");
}

Worker* Scheduler::current() const noexcept {
  return tls_binding.scheduler == this ? tls_binding.worker : nullptr;
}

void Scheduler::post(Job* job) {
  if (Worker* w = current()) {
    push_local(*w, job);
    return;
  }
  {
    std::lock_guard lock{inject_mutex_};
    job->next = nullptr;
    if (inject_tail_) {
      inject_tail_->next = job;
    } else {
      inject_head_ = job;
    }
    inject_tail_ = job;
    injected_.fetch_add(1, std::memory_order_relaxed);
  }
  wake_one();
}

Job* Scheduler::take_injected() {
  if (injected_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard lock{inject_mutex_};
  Job* job = inject_head_;
  if (!job) return nullptr;
  inject_head_ = job->next;
  if (!inject_head_) inject_tail_ = nullptr;
  injected_.fetch_sub(1, std::memory_order_relaxed);
  return job;
}

void Scheduler::wake_one() {
  // Pairs with the fence in find_work: either the sleeper sees the new job, or we see it asleep.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_relaxed) > 0) {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    epoch_.notify_one();
  }
}

void Scheduler::flush(Worker& w) {
  if (w.pending_sinks == 0) return;
  RunState* run = w.pending_run;
  const std::uint32_t count = w.pending_sinks;
  w.pending_run = nullptr;
  w.pending_sinks = 0;
  run->sinks_resolved(count);
}

void Scheduler::execute(Worker& w, Job* job) {
  if (job->fn != &RunState::run_stage_job && job->fn != &RunState::run_range_job) flush(w);
  job->fn(job, JobAction::kRun);
}

Job* Scheduler::find_work(Worker& w) {
  flush(w);
  const auto n = static_cast<std::uint64_t>(workers_.size());
  for (int round = 0; round < kSpinRounds + kYieldRounds; ++round) {
    if (Job* job = take_injected()) return job;
    if (n > 1) {
      const std::uint64_t first = next_random(w.rng) % n;
      for (std::uint64_t k = 0; k < n; ++k) {
        Worker& victim = *workers_[(first + k) % n];
        if (&victim == &w) continue;
        if (Job* job = victim.deque.steal()) return job;
      }
    }
    if (stopping_.load(std::memory_order_relaxed)) return nullptr;
    if (round < kSpinRounds) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  return nullptr;
}

void Scheduler::worker_main(Worker& w) {
  tls_binding = {this, &w};
  while (true) {
    Job* job = w.deque.pop();
    if (!job) job = find_work(w);
    if (job) {
      execute(w, job);
      continue;
    }
    if (stopping_.load(std::memory_order_acquire)) break;
    // Sleep until a push: announce, re-check every queue, then wait on the epoch.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t epoch = epoch_.load(std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool found =
        injected_.load(std::memory_order_relaxed) != 0 || stopping_.load(std::memory_order_relaxed);
    for (auto& other : workers_) found = found || !other->deque.empty();
    if (!found) epoch_.wait(epoch, std::memory_order_seq_cst);
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  }
  tls_binding = {};
}

void Scheduler::help_until(Worker& w, const std::atomic<bool>& done) {
  while (!done.load(std::memory_order_acquire)) {
    Job* job = w.deque.pop();
    if (!job) job = find_work(w);
    if (job) {
      execute(w, job);
    } else {
      std::this_thread::yield();
    }
  }
}

EventHub& Scheduler::hub() {
  std::lock_guard lock{hub_mutex_};
  if (!hub_) hub_ = std::make_unique<EventHub>(num_workers());
  return *hub_;
}

void Scheduler::stop() {
  stopping_.store(true, std::memory_order_seq_cst);
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  epoch_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  {
    std::lock_guard lock{hub_mutex_};
    hub_.reset();  // every observed run has ended, and its events are delivered
  }
  for (auto& w : workers_) {
    while (Job* job = w->deque.pop()) job->fn(job, JobAction::kDiscard);
  }
  while (Job* job = take_injected()) job->fn(job, JobAction::kDiscard);
}

}  // namespace trainflow::detail

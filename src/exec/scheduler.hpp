// Scheduler: the worker threads and queues behind an Executor (private to trainflow).
//
// Each worker owns a WorkStealingDeque; jobs posted from outside go to one shared injection queue.
// An idle worker spins briefly over the other deques and the injection queue, then sleeps on an
// event count. Pushing a job wakes one sleeper if there is any; the check costs one fence.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "exec/event_hub.hpp"
#include "exec/resource_pool.hpp"
#include "exec/work_stealing_deque.hpp"
#include "trainflow/exec/clock.hpp"
#include "trainflow/exec/detail/job.hpp"

namespace trainflow {
class Executor;
}

namespace trainflow::detail {

class RunState;
struct InvokeScope;

struct alignas(64) Worker {
  WorkStealingDeque deque;
  unsigned index = 0;
  std::uint64_t rng = 0;
  // Sinks resolved by this worker and not yet counted in their run (batched to avoid contention
  // on the run's counter). Flushed before the worker runs anything of another run or goes idle.
  RunState* pending_run = nullptr;
  std::uint32_t pending_sinks = 0;
  // The stage this worker is invoking (innermost of nested runs); see RunState::invoke.
  InvokeScope* invoke_scope = nullptr;
};

// A stage being invoked on a worker: lets a Deferred destroyed by an exception escaping that
// stage's body hand the exception to invoke() instead of failing with "completion dropped".
struct InvokeScope {
  const RunState* run;
  std::uint32_t stage;
  InvokeScope* outer;
  bool abandoned_by_exception = false;
};

class Scheduler {
 public:
  Scheduler(Executor& owner, unsigned threads);
  ~Scheduler();  // REQUIRES: stop() was called

  unsigned num_workers() const noexcept { return static_cast<unsigned>(workers_.size()); }

  // The calling thread's worker if it belongs to this scheduler, else null.
  Worker* current() const noexcept;

  // Queues a job from any thread: onto the caller's own deque if it is a worker, else onto the
  // injection queue. Wakes a sleeping worker if any.
  void post(Job* job);
  // REQUIRES: w is the calling thread's worker.
  void push_local(Worker& w, Job* job) {
    w.deque.push(job);
    wake_one();
  }

  // Runs jobs on the calling worker until done is true (a worker must never block).
  void help_until(Worker& w, const std::atomic<bool>& done);

  // Makes workers exit after their current job, joins them and discards queued jobs.
  void stop();

  // Counts sinks held back by w into their run.
  static void flush(Worker& w);

  Executor& owner() noexcept { return owner_; }

  // The clock of retry backoffs and timeouts. REQUIRES: set, and not changed while runs go on.
  Clock& clock() noexcept { return *clock_; }
  void set_clock(std::shared_ptr<Clock> clock) noexcept { clock_ = std::move(clock); }

  // The event hub of observed runs, started by the first one.
  EventHub& hub();

  // Admission of stages against the executor's capacity. REQUIRES: set.
  ResourcePool& pool() noexcept { return *pool_; }
  void set_pool(std::unique_ptr<ResourcePool> pool) noexcept { pool_ = std::move(pool); }

  // Bookkeeping of runs, so that the executor's destructor can wait for them.
  void run_started() noexcept { active_runs_.fetch_add(1, std::memory_order_relaxed); }
  void run_finished() noexcept {
    if (active_runs_.fetch_sub(1, std::memory_order_acq_rel) == 1) active_runs_.notify_all();
  }
  void wait_for_runs() noexcept {
    for (int n = active_runs_.load(std::memory_order_acquire); n != 0;
         n = active_runs_.load(std::memory_order_acquire)) {
      active_runs_.wait(n, std::memory_order_acquire);
    }
  }

 private:
  void worker_main(Worker& w);
  Job* take_injected();
  Job* find_work(Worker& w);
  void execute(Worker& w, Job* job);
  void wake_one();

  Executor& owner_;
  std::shared_ptr<Clock> clock_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;

  std::mutex inject_mutex_;
  Job* inject_head_ = nullptr;
  Job* inject_tail_ = nullptr;
  std::atomic<std::size_t> injected_{0};

  alignas(64) std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<std::uint32_t> epoch_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_runs_{0};

  std::unique_ptr<ResourcePool> pool_;
  std::mutex hub_mutex_;
  std::unique_ptr<EventHub> hub_;
};

}  // namespace trainflow::detail

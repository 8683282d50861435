// ResourcePool: admission of stages against an executor's capacity (private to trainflow; see
// trainflow/exec/resources.hpp for the contract).
//
// Runs whose graph declares resources (a stage with more than one thread, memory, GPUs or a
// growing grant) or that carry expected durations go through the pool, and so does any run that
// starts while such a run is in progress on the executor: each ready stage asks for
// its whole demand — cores, memory, GPUs — and either gets all of it at once or waits in one
// queue shared by every such run, ordered by priority (the stage's critical path: the longest
// expected time from its start to the end of the run), then by arrival.
//
// A run with every duration known may be planned ahead (exec/plan_ahead.hpp): its stages are
// then in turn only in the order of their planned starts (RunState::in_turn), and its queued
// stages are left out of the packing search; a stage not in turn is neither admitted nor
// counted as passed.
//
// Whenever a stage gives its resources back, or joins a queue that is not empty, the pool
// decides what to admit:
//   1. Packing search. The window is the first kSearchWindow waiting stages, cut before the
//      first one without an expected duration and after the first one that holds the line.
//      When at least two window stages fit but not all of them together, the pool takes every
//      maximal set of window stages that fits in what is free (with the line's holder when it
//      fits) and estimates the end of the run by list scheduling from it: that set starts now;
//      the window's other stages, up to kSearchTail more waiting ones and, as their
//      predecessors end in the estimate, up to kSearchHorizon successors follow by priority,
//      each as soon as it fits; running stages end at their expected times (one already
//      overdue, or without a duration, at once). The estimated end is the latest simulated
//      start + priority. The set with the earliest estimated end is admitted; ties (within a
//      relative 1e-9) go to the set tried first, and sets with the higher-priority stages are
//      tried first, so the first-fit set wins unless another is estimated to end sooner. The
//      estimate counts cores, memory and GPUs (as whole devices); a decision costs at most
//      2^kSearchWindow estimates of at most kSearchWindow + kSearchTail + kSearchHorizon stages
//      besides the running ones.
//   2. First fit: the queue is scanned in priority order and every stage that fits is admitted.
// A stage that does not fit, or that the search leaves out, may be overtaken by stages behind
// it, but only kMaxBypass times: then it holds the line (the search must take it if it fits, and
// nothing behind it starts until it does), so large stages never starve.
//
// Cores left over once the queue is empty go to running stages whose grant may grow
// (ResourceDemand::max_threads), highest priority first. They come back when those stages end,
// or sooner: while a waiting stage lacks cores, every grown grant is asked back down to the
// stage's own threads. The stage's next StageContext::threads() returns that, and the read
// gives the extra cores back (the stage uses at most what it last read, so the cores are free
// from then on); then waiting stages are admitted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "trainflow/exec/clock.hpp"
#include "trainflow/exec/resources.hpp"

namespace trainflow::detail {

class RunState;

// What one admitted stage holds.
struct Held {
  unsigned cpus = 0;
  std::uint64_t memory = 0;
  std::uint64_t gpu_memory = 0;  // on each GPU in `gpus`
  std::uint64_t gpus = 0;        // bit d: GPU d
  bool elastic = false;          // in the pool's list of growable stages
};

// One stage's demand as the pool sees it (cores already capped at the capacity).
struct Demand {
  unsigned cpus = 1;
  unsigned max_cpus = 1;  // >= cpus; more: the grant may grow
  std::uint64_t memory = 0;
  unsigned gpus = 0;
  std::uint64_t gpu_memory = 0;
  // Expected duration in seconds (RunOptions::expected_durations); 0: unknown, and the pool
  // does not search how this stage packs.
  double seconds = 0;
};

class ResourcePool {
 public:
  static constexpr unsigned kMaxBypass = 16;
  // Waiting stages whose admission the packing search chooses (at most 2^kSearchWindow sets).
  static constexpr std::size_t kSearchWindow = 8;
  // Further waiting stages the search's estimate schedules after the window.
  static constexpr std::size_t kSearchTail = 16;
  // Successors (not yet ready) the estimate schedules as their predecessors end in it.
  static constexpr std::size_t kSearchHorizon = 32;

  // `capacity` with its defaults filled in for `workers`.
  ResourcePool(const ResourceCapacity& capacity, unsigned workers);

  const ResourceCapacity& capacity() const noexcept { return capacity_; }

  // The pool's view of a stage's declared needs.
  Demand demand_of(unsigned threads, const ResourceDemand& d) const noexcept;
  // Why `d` can never be admitted here ("needs 64 GiB of memory; the executor has 16 GiB"), or
  // empty when it can.
  std::string never_fits(const ResourceDemand& d) const;

  // Admits stage `stage` of `run` now (true) when it fits and nothing waits ahead of it; else
  // queues it (false), and RunState::admitted() is called once it is admitted. Either way the
  // pool fills the run's Held for the stage and sets its grant (RunState::set_grant) under its
  // lock; the pool alone writes them until release().
  bool admit_or_queue(RunState* run, std::uint32_t stage, const Demand& demand, double priority);
  // Gives back what a stage holds, then admits what now fits and grows grants.
  void release(RunState* run, std::uint32_t stage);
  // release(run, stage) if `held`, and queues `ready` (stages of `run` with their demands and
  // priorities), all under one lock, then admits by priority: each admitted stage goes to
  // RunState::admitted().
  void release_and_queue(RunState* run, std::uint32_t stage, bool held,
                         const std::vector<std::uint32_t>& ready,
                         const std::vector<double>& priority, const std::vector<Demand>& demands);
  // Stage `stage` of a planned run resolved without being admitted (skipped or cancelled):
  // stages planned after it may be in turn now.
  void pass(RunState* run, std::uint32_t stage);
  // Removes every queued stage of `run` and hands each to RunState::admitted() holding nothing
  // (the run is stopping: they resolve as cancelled).
  void drop(RunState* run);

  // Called by StageContext::threads() when RunState::shrinking(): gives back the cores of the
  // stage's grant above its lowered grant, then admits what now fits.
  void shrink(RunState* run, std::uint32_t stage);

  // Cores held now, for tests and monitoring.
  unsigned cpus_in_use() const;

  // Runs going through admission now: from their start to their end. A run that declares
  // nothing starts under admission too while any is, so that its stages count.
  void run_started() noexcept { runs_.fetch_add(1, std::memory_order_relaxed); }
  void run_ended() noexcept { runs_.fetch_sub(1, std::memory_order_relaxed); }
  bool has_runs() const noexcept { return runs_.load(std::memory_order_relaxed) != 0; }

 private:
  struct Waiting {
    RunState* run;
    std::uint32_t stage;
    Demand demand;
    double priority;
    std::uint64_t seq;
    unsigned bypassed = 0;
  };
  struct Running {
    RunState* run;
    std::uint32_t stage;
    Clock::time_point end;  // expected; time_point::max() when unknown
    const Held* held;       // RunState's, guarded by mutex_
  };
  struct Growable {
    RunState* run;
    std::uint32_t stage;
    unsigned cpus;  // what the stage asked for: the grant never shrinks below it
    unsigned max_cpus;
    double priority;
    Held* held;  // RunState's, guarded by mutex_
  };

  bool fits(const Demand& d) const noexcept;           // REQUIRES: mutex_ held
  void give_back(RunState* run, std::uint32_t stage);  // REQUIRES: mutex_ held
  void enqueue(const Waiting& w);                      // REQUIRES: mutex_ held
  // Takes `d` for stage `stage` of `run`. REQUIRES: mutex_ held and fits(d).
  void take(RunState* run, std::uint32_t stage, const Demand& d, double priority, Held& held);
  // Admits queued stages (the packing search, then first fit), then grows grants. `caller`
  // gives the clock. REQUIRES: mutex_ held.
  void pump(RunState* caller);
  // The window positions (bit k: queue_[k]) the packing search admits first; 0 when it does
  // not apply. REQUIRES: mutex_ held.
  std::uint32_t search(RunState* caller) const;
  // Spare cores, when nothing waits, to growable stages; while a waiting stage lacks cores,
  // asks grown grants back. REQUIRES: mutex_ held.
  void grow();

  ResourceCapacity capacity_;
  mutable std::mutex mutex_;
  unsigned free_cpus_;
  std::uint64_t free_memory_;
  std::vector<std::uint64_t> free_gpu_memory_;
  std::vector<unsigned> gpu_users_;
  std::vector<Waiting> queue_;  // by priority (descending), then seq
  std::vector<Growable> growable_;
  std::vector<Running> running_;  // admitted stages, for the search's estimate
  std::uint64_t next_seq_ = 0;
  std::atomic<unsigned> runs_{0};
};

}  // namespace trainflow::detail

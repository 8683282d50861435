// RunState: one run of one plan on one executor (private to trainflow).
//
// Life of a stage: its join count reaches zero (or it is a source) -> dispatch decides to run,
// skip or cancel it -> resolve records the outcome, releases its inputs, marks and counts down its
// successors and runs one ready successor inline (the others go to the worker's deque). The run
// ends when every sink is resolved, which implies every stage is.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stop_token>
#include <utility>
#include <vector>

#include "exec/resource_pool.hpp"
#include "exec/scheduler.hpp"
#include "graph/plan.hpp"
#include "trainflow/exec/executor.hpp"

namespace trainflow::detail {

// Bits a stage receives from resolved predecessors.
inline constexpr std::uint8_t kUpstreamFailed = 1;     // a predecessor failed or was skipped
inline constexpr std::uint8_t kUpstreamCancelled = 2;  // a predecessor was cancelled

// What RunState::progress() reads of a stage while the run goes on: the run's progress tag in
// the high bits and a phase in the low kPhaseBits. A word with another run's tag (the scratch
// is recycled) means pending, so no run has to reset the words before it starts.
inline constexpr std::uint32_t kPhaseBits = 3;
inline constexpr std::uint32_t kPhaseRunning = 1;  // else 1 + the StageStatus it resolved to
inline constexpr std::uint32_t kPhaseMask = (1U << kPhaseBits) - 1;

struct StageState {
  std::atomic<std::uint8_t> upstream{0};
  StageStatus status = StageStatus::kPending;
  std::uint16_t worker = 0;
  std::uint32_t attempts = 0;
  std::atomic<std::uint32_t> progress{0};  // tag << kPhaseBits | phase; relaxed
};

struct StageTimes {
  std::int64_t ready_ns = 0;  // when the latest of its predecessors ended (0 for sources)
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t cpu_ns = 0;
};

class RunState;

struct RunScratch;

// One attempt of a stage that has a timeout. Shared, by an intrusive count, by the invocation,
// the attempt's StageContext copies (a Deferred's included) and its deadline wake-up, so that a
// completion arriving after the deadline still finds it, and is ignored. It keeps its run alive.
struct Attempt {
  // kInvoking -> kWaiting (an asynchronous body returned) -> kDone. Whoever moves it to kDone —
  // the invocation, the completion or the deadline — ends the attempt.
  enum Phase : std::uint8_t { kInvoking, kWaiting, kDone };

  struct Forward {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };

  Attempt(std::shared_ptr<RunState> owner, std::uint32_t stage_index, std::uint32_t attempt,
          std::uint32_t num_outputs, const std::stop_token& run_stop)
      : run(std::move(owner)),
        stage(stage_index),
        number(attempt),
        forward(run_stop, Forward{&stop}),
        outputs(num_outputs) {}

  std::atomic<std::uint32_t> refs{1};
  std::shared_ptr<RunState> run;
  std::uint32_t stage;
  std::uint32_t number;  // 1-based
  std::atomic<std::uint8_t> phase{kInvoking};
  std::atomic<bool> timed_out{false};
  std::atomic<Clock::WakeupId> deadline{0};
  std::stop_source stop;                // the stage's stop token for this attempt
  std::stop_callback<Forward> forward;  // the run's stop reaches `stop`
  std::vector<Value> outputs;           // a Deferred's outputs, moved to the run on completion
};

// An owning reference to an Attempt.
class AttemptRef {
 public:
  AttemptRef() noexcept = default;
  explicit AttemptRef(Attempt* adopt) noexcept : p_(adopt) {}
  AttemptRef(const AttemptRef& other) noexcept : p_(other.p_) {
    if (p_) retain(p_);
  }
  AttemptRef(AttemptRef&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  AttemptRef& operator=(AttemptRef other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~AttemptRef() {
    if (p_) release(p_);
  }
  Attempt* get() const noexcept { return p_; }
  Attempt* operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  Attempt* p_ = nullptr;
};

// Per run, per stage with a retry policy or a timeout (Plan::controls).
struct ControlState {
  std::uint32_t attempts = 0;  // attempts started; touched by one attempt at a time
  // True between a failed attempt and the next. Whoever takes it (exchange to false) ends the
  // wait: the wake-up, which runs the next attempt, or stop_retries(), which cancels the stage.
  std::atomic<bool> waiting{false};
  // The wait's wake-up. stop_retries() may take the wait before wake_at() has returned its id;
  // it then leaves `cancel_wakeup` for the waiting side to cancel the id once it has it.
  std::mutex wakeup_mutex;
  std::uint32_t wakeup_wait = 0;  // the `attempts` count of the wait that `wakeup` belongs to
  Clock::WakeupId wakeup = 0;
  bool cancel_wakeup = false;
};

struct StageJob : Job {
  RunScratch* scratch = nullptr;  // scratch->run is the run this job belongs to now
  std::uint32_t index = 0;
  std::atomic<std::int32_t> join{0};  // predecessors still to resolve
};

// Per-stage memory of a run. Recycled through Plan::scratch_pool once both the run and its report
// are gone, since allocating it anew costs a page fault per 4 KiB on every run. It is set up once;
// a run leaves it as it found it: each stage resets its join counter and upstream marks when it
// fires, and each slot's countdown when its last consumer resolves. So a run needs no pass over
// all stages before it starts.
struct RunScratch {
  RunState* run = nullptr;
  std::unique_ptr<StageJob[]> jobs;
  std::unique_ptr<std::atomic<std::uint32_t>[]> slot_remaining;  // consumers still to resolve
  std::unique_ptr<StageState[]> states;
  std::unique_ptr<StageTimes[]> times;  // allocated by the first run that records times
  // With times, for a stage of several predecessors: the latest end among those resolved so far
  // (0 before the first; the last one takes it and sets it back to 0).
  std::unique_ptr<std::atomic<std::int64_t>[]> latest_pred_end;
};

// Takes scratch memory for a run of `plan` from its pool (or allocates it); it returns to the pool
// when the last shared_ptr to it goes.
std::shared_ptr<RunScratch> acquire_scratch(const std::shared_ptr<const Plan>& plan);

// What a RunReport shows: written by the run, read-only once the run ended.
struct RunData {
  std::shared_ptr<const Plan> plan;
  std::string invalid_graph_name;  // for reports of runs that never started
  std::shared_ptr<RunScratch> scratch;
  StageState* states = nullptr;  // scratch->states
  StageTimes* times = nullptr;   // scratch->times; null under Timing::kNone
  Timing timing = Timing::kFull;
  std::vector<Value> slots;  // after the run: only outputs nobody consumed
  RunStatus status = RunStatus::kSucceeded;
  Status error;
  std::int64_t failed_stage = -1;
  std::exception_ptr exception;
  std::chrono::system_clock::time_point started_at;
  std::chrono::nanoseconds wall{0};
  std::size_t size() const noexcept { return plan ? plan->num_stages : 0; }
};

class RunState {
 public:
  RunState(Scheduler& scheduler, std::shared_ptr<const Plan> plan, RunOptions options);

  // Queues the sources. Keeps this alive until the run ends.
  void start(std::shared_ptr<RunState> self);

  // Ends a run that could not start (an invalid graph) with the given report data.
  void fail_before_start(std::shared_ptr<RunData> data);

  void cancel() noexcept;
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  const RunReport& wait();
  // See RunHandle::progress().
  RunProgress progress(std::size_t max_names, std::size_t stages) const;

  // Runs stage i, whose predecessors are all resolved, and then whatever it makes ready,
  // inline where possible. Called on a worker.
  void dispatch(std::uint32_t i, Worker& w);

  // Completion of a deferred stage, from any thread. `attempt` is the timed attempt the Deferred
  // belongs to (null for stages without a timeout): its outputs wait there, and a completion
  // after its deadline is ignored.
  void set_deferred_output(std::uint32_t stage, Attempt* attempt, std::uint32_t port, Value value);
  void complete_deferred(std::uint32_t stage, Attempt* attempt, Status status,
                         std::exception_ptr error);
  // A Deferred destroyed unfinished: fails the stage, or, when an exception escaping the stage's
  // body destroyed it, leaves the failure to invoke(), which has the exception.
  void abandon_deferred(std::uint32_t stage, Attempt* attempt);

  // The deadline of a timed attempt passed (from the clock, any thread).
  void deadline_passed(Attempt* attempt);
  // The backoff of control c ended (from the clock, any thread): runs its next attempt.
  void backoff_ended(std::uint32_t control);
  // Which attempt of `stage` runs (or ran last).
  std::uint32_t attempts_of(std::uint32_t stage) const noexcept {
    return data_->states[stage].attempts;
  }

  // Events for observers (no-ops for runs without observers). From the stage's own code.
  void report(std::uint32_t stage, EventKind kind, std::string_view text, double value,
              std::int64_t step, std::uint8_t level = 0);
  bool observed() const noexcept { return channel_ != nullptr; }

  // Resource admission (runs that go through the executor's ResourcePool).
  Held* held_of(std::uint32_t stage) noexcept { return &held_[stage]; }
  // For admission's estimate of how the run goes on (under the pool's lock, from any thread):
  // the executor's clock; a stage's demand and priority; the successors of `stage`, each with
  // the predecessors it still waits for (a snapshot that may be stale), appended to `out`.
  Clock& clock() noexcept { return scheduler_.clock(); }
  const Demand& demand(std::uint32_t stage) const noexcept { return demands_[stage]; }
  double priority(std::uint32_t stage) const noexcept { return priority_[stage]; }
  // Plan-ahead (see exec/plan_ahead.hpp), under the pool's lock. A run with a plan has its
  // stages admitted in the order of their planned starts: a stage is in turn once every stage
  // planned before it has been admitted or has resolved without being admitted, or once the
  // run is past the stage's planned start (the plan has slipped: keep work flowing). Reads the
  // clock only for a planned stage not yet in turn by order.
  bool planned() const noexcept { return !plan_order_.empty(); }
  bool in_turn(std::uint32_t stage) const noexcept {
    return !planned() || plan_rank_[stage] <= plan_next_ ||
           scheduler_.clock().now() >= planned_start_[stage];
  }
  // Marks `stage` admitted (or resolved without admission); true when later stages came in
  // turn.
  bool pass(std::uint32_t stage) noexcept;
  void successors(std::uint32_t stage,
                  std::vector<std::pair<std::uint32_t, std::uint32_t>>& out) const;
  void set_grant(std::uint32_t stage, unsigned cpus) noexcept {
    grant_[stage].store(cpus, std::memory_order_relaxed);
  }
  // The pool admitted a queued stage (its Held and grant are set): runs it.
  void admitted(std::uint32_t stage);
  // The pool grew a running stage's grant.
  void grant_changed(std::uint32_t stage, unsigned cpus);
  // The current grant of `stage`, or `fixed` outside admission.
  unsigned grant_of(std::uint32_t stage, unsigned fixed) const noexcept {
    return grant_ ? grant_[stage].load(std::memory_order_relaxed) : fixed;
  }
  // StageContext::threads(): the grant; when the pool has asked it down, this read gives the
  // cores above the lowered grant back first (the stage now uses at most what it reads).
  unsigned read_grant(std::uint32_t stage, unsigned fixed) {
    if (!grant_) return fixed;
    if (shrinking_[stage].load(std::memory_order_acquire)) pool_->shrink(this, stage);
    return grant_[stage].load(std::memory_order_relaxed);
  }
  // The pool asks a grown grant down to `cpus` (under its lock): the next read_grant() gives
  // the rest back.
  void start_shrinking(std::uint32_t stage, unsigned cpus) noexcept {
    grant_[stage].store(cpus, std::memory_order_relaxed);
    shrinking_[stage].store(true, std::memory_order_release);
  }
  // Whether the grant was being asked down (under the pool's lock); clears it.
  bool end_shrinking(std::uint32_t stage) noexcept {
    return shrinking_[stage].exchange(false, std::memory_order_relaxed);
  }

  // Counts `count` resolved sinks; the last one ends the run (which may destroy this).
  void sinks_resolved(std::uint32_t count);

  std::uint64_t seed_of(std::uint32_t stage) const noexcept;
  const Plan& plan() const noexcept { return *plan_; }
  std::stop_token stop_token() const noexcept { return stop_source_.get_token(); }
  Executor& executor() noexcept { return scheduler_.owner(); }

  static void run_stage_job(Job* job, JobAction action);
  static void run_range_job(Job* job, JobAction action);

 private:
  StageStatus invoke(std::uint32_t i, Worker& w);
  // An attempt of stage i failed with `status`: kPending when another attempt will run (or the
  // stage was cancelled while waiting for it), kCancelled for a stage that gave up because the
  // run stops, else kFailed with the failure recorded. `own_message`: status's message already
  // names the stage.
  StageStatus failed(std::uint32_t i, const Status& status, std::exception_ptr error,
                     bool own_message = false);
  // Schedules the next attempt of control c after a failure with `code`, if the policy allows.
  // Observers get a kStageRetry event carrying `status` (or `error`'s message).
  bool retry_later(std::uint32_t c, const Status& status, const std::exception_ptr& error);
  // Cancels every stage waiting for its next attempt; called once the run stops.
  void stop_retries();
  // Starts a timed attempt of stage i: its state and its deadline wake-up.
  AttemptRef start_attempt(std::uint32_t i, std::uint32_t number);
  // Ends a deferred stage whose completion (or deadline) came: retries, or resolves it.
  void end_deferred(std::uint32_t stage, Status status, std::exception_ptr error, bool own_message);
  Status timeout_status(std::uint32_t i) const;
  // Records the outcome of stage i and readies its successors; returns one ready successor to
  // run inline (or UINT32_MAX). With w == null (a foreign thread) every ready stage is posted.
  std::uint32_t resolve(std::uint32_t i, StageStatus outcome, Worker* w);
  void record_failure(std::uint32_t i, const Status& status, std::exception_ptr error,
                      bool own_message = false);
  void finish();
  // Marks the run done; wakes waiters. The end of finish(), or for observed runs, after their
  // kRunFinished event has been delivered.
  void complete();
  std::int64_t now_ns() const noexcept;
  void emit(int worker, RawEvent& event);  // sets the event's run and queues it
  // Asks the pool for stage i's resources: true when it may run now.
  bool request(std::uint32_t i);
  // Gives back what stage i holds, if anything.
  void release_held(std::uint32_t i);
  // Critical-path priorities of admission, from RunOptions::expected_durations.
  void compute_priorities();

  Scheduler& scheduler_;
  std::shared_ptr<const Plan> plan_;
  RunOptions options_;
  std::shared_ptr<RunData> data_;
  StageJob* jobs_ = nullptr;                              // data_->scratch->jobs
  std::atomic<std::uint32_t>* slot_remaining_ = nullptr;  // data_->scratch->slot_remaining
  std::atomic<std::int64_t>* latest_pred_end_ = nullptr;  // ->latest_pred_end, with times
  std::stop_source stop_source_;
  std::unique_ptr<ControlState[]> controls_;  // one per Plan::controls; null when none
  std::chrono::steady_clock::time_point start_time_;
  // This run's tag in StageState::progress, shifted into place; never 0 (fresh scratch memory).
  std::uint32_t progress_tag_ = 0;

  std::atomic<bool> stopping_{false};  // no new stage may start
  std::atomic<bool> any_cancelled_{false};
  std::mutex failure_mutex_;
  bool has_failure_ = false;  // guarded by failure_mutex_

  alignas(64) std::atomic<std::uint32_t> remaining_sinks_{0};
  std::atomic<bool> done_{false};
  RunReport report_;                // final once done_
  std::shared_ptr<RunState> self_;  // keeps the run alive while it runs

  // Observed runs only.
  std::shared_ptr<RunChannel> channel_;
  EventHub* hub_ = nullptr;
  std::unique_ptr<std::uint32_t[]> failure_text_;  // per stage: RawEvent::text of its failure

  // Runs under admission only (pool_ set).
  ResourcePool* pool_ = nullptr;
  std::vector<Demand> demands_;
  std::vector<double> priority_;  // expected seconds from the stage's start to the run's end
  // Plan-ahead (empty without a plan), guarded by the pool's lock: the stages by planned start;
  // each stage's place in that order, planned start (on the executor's clock) and whether it
  // has passed; the first place not yet passed.
  std::vector<std::uint32_t> plan_order_;
  std::vector<std::uint32_t> plan_rank_;
  std::vector<Clock::time_point> planned_start_;
  std::vector<char> plan_passed_;
  std::uint32_t plan_next_ = 0;
  std::unique_ptr<Held[]> held_;  // written by the pool under its lock
  std::unique_ptr<std::atomic<unsigned>[]> grant_;
  std::unique_ptr<std::atomic<bool>[]> shrinking_;  // grant_ asked down, cores not yet back
  // Per stage: admitted and not yet released. Handed between threads through the pool's lock and
  // the job queues.
  std::unique_ptr<bool[]> admitted_;
};

}  // namespace trainflow::detail

#include "exec/run_state.hpp"

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "exec/plan_ahead.hpp"
#include "trainflow/core/hash.hpp"

namespace trainflow::detail {

namespace {

constexpr std::uint32_t kNone = UINT32_MAX;

constexpr const char* kDroppedCompletion =
    "the stage's completion was destroyed without being called; call it exactly once";

std::int64_t thread_cpu_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string exception_message(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

// A contiguous range of the plan's sources, split in half whenever the worker's deque is empty
// so that idle workers can steal the other half.
struct RangeJob : Job {
  RunState* run = nullptr;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

RangeJob* make_range_job(RunState* run, std::uint32_t begin, std::uint32_t end) {
  auto* job = new RangeJob;
  job->fn = &RunState::run_range_job;
  job->run = run;
  job->begin = begin;
  job->end = end;
  return job;
}

void delete_scratch(RunScratch* scratch) {
  delete scratch;
}

// A tag for the next run, shifted into place. Tags repeat after 2^29 - 1 runs; a recycled
// scratch would mislead progress() only if its last run was a multiple of that many runs ago and
// not every stage of the new run has started.
std::uint32_t next_progress_tag() noexcept {
  static std::atomic<std::uint32_t> runs{0};
  constexpr std::uint32_t kTags = (1U << (32 - kPhaseBits)) - 1;
  return (runs.fetch_add(1, std::memory_order_relaxed) % kTags + 1) << kPhaseBits;
}

std::uint32_t phase_of(StageStatus status) noexcept {
  return 1 + static_cast<std::uint32_t>(status);
}

}  // namespace

void retain(Attempt* attempt) noexcept {
  attempt->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(Attempt* attempt) noexcept {
  if (attempt->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete attempt;
}

std::shared_ptr<RunScratch> acquire_scratch(const std::shared_ptr<const Plan>& plan) {
  PooledScratch pooled{nullptr, &delete_scratch};
  {
    std::lock_guard lock{plan->scratch_mutex};
    if (!plan->scratch_pool.empty()) {
      pooled = std::move(plan->scratch_pool.back());
      plan->scratch_pool.pop_back();
    }
  }
  if (!pooled) {
    pooled.reset(new RunScratch);
    RunScratch& scratch = *pooled;
    scratch.jobs = std::make_unique<StageJob[]>(plan->num_stages);
    scratch.slot_remaining = std::make_unique<std::atomic<std::uint32_t>[]>(plan->num_slots);
    scratch.states = std::make_unique<StageState[]>(plan->num_stages);
    for (std::uint32_t i = 0; i < plan->num_stages; ++i) {
      StageJob& job = scratch.jobs[i];
      job.fn = &RunState::run_stage_job;
      job.scratch = &scratch;
      job.index = i;
      job.join.store(plan->info[i].num_preds, std::memory_order_relaxed);
    }
    for (std::uint32_t s = 0; s < plan->num_slots; ++s) {
      scratch.slot_remaining[s].store(plan->slot_consumers[s], std::memory_order_relaxed);
    }
  }
  // Back to the pool when the run and its report are both gone (unless the plan is gone too).
  return std::shared_ptr<RunScratch>(
      pooled.release(), [weak = std::weak_ptr<const Plan>(plan)](RunScratch* scratch) {
        constexpr std::size_t kMaxPooled = 4;
        if (auto owner = weak.lock()) {
          std::lock_guard lock{owner->scratch_mutex};
          if (owner->scratch_pool.size() < kMaxPooled) {
            owner->scratch_pool.emplace_back(scratch, &delete_scratch);
            return;
          }
        }
        delete scratch;
      });
}

RunState::RunState(Scheduler& scheduler, std::shared_ptr<const Plan> plan, RunOptions options)
    : scheduler_(scheduler), plan_(std::move(plan)), options_(options) {
  if (!plan_) return;  // an invalid graph: see fail_before_start
  const std::uint32_t n = plan_->num_stages;
  data_ = std::make_shared<RunData>();
  data_->plan = plan_;
  data_->timing = options_.timing;
  data_->slots.resize(plan_->num_slots);
  data_->scratch = acquire_scratch(plan_);
  RunScratch& scratch = *data_->scratch;
  if (options_.timing != Timing::kNone && !scratch.times) {
    scratch.times = std::make_unique<StageTimes[]>(n);
    scratch.latest_pred_end = std::make_unique<std::atomic<std::int64_t>[]>(n);
  }
  data_->states = scratch.states.get();
  data_->times = options_.timing == Timing::kNone ? nullptr : scratch.times.get();
  jobs_ = scratch.jobs.get();
  if (data_->times) latest_pred_end_ = scratch.latest_pred_end.get();
  slot_remaining_ = scratch.slot_remaining.get();
  scratch.run = this;
  progress_tag_ = next_progress_tag();
  if (!plan_->controls.empty()) {
    controls_ = std::make_unique<ControlState[]>(plan_->controls.size());
  }
  remaining_sinks_.store(plan_->num_sinks, std::memory_order_relaxed);
  if (!options_.observers.empty()) {
    channel_ = std::make_shared<RunChannel>();
    channel_->plan = plan_;
    channel_->run_id = options_.run_id;
    channel_->observers = options_.observers;
    failure_text_ = std::make_unique<std::uint32_t[]>(n);
  }
  // Under admission: runs that declare resources or durations, and any run that starts while
  // such a run goes on on this executor (its stages then count, one core each).
  if (!plan_->demands.empty() || !options_.expected_durations.empty() ||
      scheduler_.pool().has_runs()) {
    pool_ = &scheduler_.pool();
    demands_.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      demands_[i] = pool_->demand_of(plan_->info[i].threads,
                                     plan_->demands.empty() ? ResourceDemand{} : plan_->demands[i]);
    }
    held_ = std::make_unique<Held[]>(n);
    grant_ = std::make_unique<std::atomic<unsigned>[]>(n);
    shrinking_ = std::make_unique<std::atomic<bool>[]>(n);
    admitted_ = std::make_unique<bool[]>(n);
    compute_priorities();
  }
}

void RunState::compute_priorities() {
  const Plan& plan = *plan_;
  const std::uint32_t n = plan.num_stages;
  std::vector<double> known;
  std::vector<double> seconds(n, -1.0);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto it = options_.expected_durations.find(plan.names[i]);
    if (it == options_.expected_durations.end()) continue;
    seconds[i] = std::max(0.0, std::chrono::duration<double>(it->second).count());
    known.push_back(seconds[i]);
  }
  double fallback = 1e-3;
  if (!known.empty()) {
    std::nth_element(known.begin(), known.begin() + static_cast<std::ptrdiff_t>(known.size() / 2),
                     known.end());
    fallback = known[known.size() / 2];
  }
  for (double& s : seconds) {
    if (s < 0) s = fallback;
  }
  // Longest path to a sink, weighing each stage by its duration: in reverse topological order.
  std::vector<std::int32_t> preds(plan.num_preds.begin(), plan.num_preds.end());
  std::vector<std::uint32_t> order(plan.sources.begin(), plan.sources.end());
  order.reserve(n);
  for (std::size_t k = 0; k < order.size(); ++k) {
    const StageInfo& info = plan.info[order[k]];
    for (std::uint32_t e = info.succ_begin; e < info.succ_end; ++e) {
      const std::uint32_t s = plan.succs[e] & Plan::kStageMask;
      if (--preds[s] == 0) order.push_back(s);
    }
  }
  priority_.assign(n, 0.0);
  for (std::size_t k = order.size(); k-- > 0;) {
    const std::uint32_t i = order[k];
    const StageInfo& info = plan.info[i];
    double tail = 0;
    for (std::uint32_t e = info.succ_begin; e < info.succ_end; ++e) {
      tail = std::max(tail, priority_[plan.succs[e] & Plan::kStageMask]);
    }
    priority_[i] = seconds[i] + tail;
  }
  // Admission estimates how its choices pack only with durations the caller gave.
  if (!known.empty()) {
    for (std::uint32_t i = 0; i < n; ++i) demands_[i].seconds = seconds[i];
  }
  // With every duration known, the priorities come from a schedule planned ahead: the time
  // from the stage's planned start to the plan's end.
  if (known.size() != n) return;
  std::vector<PlannedStage> stages(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    stages[i] = {seconds[i], demands_[i].cpus, demands_[i].memory, demands_[i].gpus};
  }
  const ResourceCapacity& capacity = pool_->capacity();
  const std::vector<double> starts =
      plan_ahead(plan, stages,
                 {capacity.cpus, capacity.memory_bytes,
                  static_cast<unsigned>(capacity.gpu_memory_bytes.size())});
  if (starts.empty()) return;
  double end = 0;
  for (std::uint32_t i = 0; i < n; ++i) end = std::max(end, starts[i] + seconds[i]);
  for (std::uint32_t i = 0; i < n; ++i) priority_[i] = end - starts[i];
  // Admission follows the plan's order; among equal starts, the order the plan placed them in
  // (plan_ahead returns starts in a precedence-feasible order when sorted stably by start, and
  // `order` is topological).
  plan_order_ = std::move(order);
  std::stable_sort(plan_order_.begin(), plan_order_.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return starts[a] < starts[b]; });
  const Clock::time_point origin = scheduler_.clock().now();
  plan_rank_.resize(n);
  planned_start_.resize(n);
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::uint32_t i = plan_order_[k];
    plan_rank_[i] = k;
    planned_start_[i] = origin + std::chrono::duration_cast<Clock::time_point::duration>(
                                     std::chrono::duration<double>(starts[i]));
  }
  plan_passed_.assign(n, 0);
  plan_next_ = 0;
}

bool RunState::pass(std::uint32_t stage) noexcept {
  if (!planned() || plan_passed_[stage]) return false;
  plan_passed_[stage] = 1;
  const std::uint32_t before = plan_next_;
  while (plan_next_ < plan_order_.size() && plan_passed_[plan_order_[plan_next_]]) ++plan_next_;
  return plan_next_ != before;
}

void RunState::successors(std::uint32_t stage,
                          std::vector<std::pair<std::uint32_t, std::uint32_t>>& out) const {
  const StageInfo& info = plan_->info[stage];
  for (std::uint32_t e = info.succ_begin; e < info.succ_end; ++e) {
    const std::uint32_t s = plan_->succs[e] & Plan::kStageMask;
    const std::int32_t waits = (plan_->succs[e] & Plan::kSinglePredecessor)
                                   ? 1
                                   : jobs_[s].join.load(std::memory_order_relaxed);
    out.emplace_back(s, static_cast<std::uint32_t>(std::max(1, waits)));
  }
}

bool RunState::request(std::uint32_t i) {
  if (!pool_->admit_or_queue(this, i, demands_[i], priority_[i])) return false;
  admitted_[i] = true;
  return true;
}

void RunState::admitted(std::uint32_t stage) {
  admitted_[stage] = true;
  scheduler_.post(&jobs_[stage]);
}

void RunState::release_held(std::uint32_t i) {
  if (!pool_ || !admitted_[i]) return;
  admitted_[i] = false;
  pool_->release(this, i);
}

void RunState::grant_changed(std::uint32_t stage, unsigned cpus) {
  set_grant(stage, cpus);
  if (!channel_) return;
  RawEvent e;
  e.kind = EventKind::kGrantChanged;
  e.t = EventHub::now_ns();
  e.stage = stage;
  e.attempt = data_->states[stage].attempts;
  e.threads = cpus;
  Worker* w = scheduler_.current();
  emit(w ? static_cast<int>(w->index) : -1, e);
}

void RunState::start(std::shared_ptr<RunState> self) {
  self_ = std::move(self);
  scheduler_.run_started();
  if (pool_) pool_->run_started();
  data_->started_at = std::chrono::system_clock::now();
  start_time_ = std::chrono::steady_clock::now();
  if (channel_) {
    channel_->started_at = data_->started_at;
    channel_->start_steady_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(start_time_.time_since_epoch())
            .count();
    hub_ = &scheduler_.hub();
    hub_->attach(channel_);
    RawEvent e;
    e.kind = EventKind::kRunStarted;
    e.t = channel_->start_steady_ns;
    Worker* w = scheduler_.current();
    emit(w ? static_cast<int>(w->index) : -1, e);
  }
  if (plan_->num_stages == 0) {
    finish();
    return;
  }
  scheduler_.post(make_range_job(this, 0, static_cast<std::uint32_t>(plan_->sources.size())));
}

void RunState::fail_before_start(std::shared_ptr<RunData> data) {
  data_ = std::move(data);
  report_ = RunReport{data_};
  done_.store(true, std::memory_order_release);
}

void RunState::cancel() noexcept {
  if (done()) return;
  stopping_.store(true, std::memory_order_relaxed);
  stop_source_.request_stop();
  stop_retries();
  if (pool_) pool_->drop(this);
}

const RunReport& RunState::wait() {
  if (Worker* w = scheduler_.current()) {
    scheduler_.help_until(*w, done_);
  } else {
    done_.wait(false, std::memory_order_acquire);
  }
  return report_;
}

RunProgress RunState::progress(std::size_t max_names, std::size_t stages) const {
  RunProgress out;
  // Read first: once it is true, every stage's last progress store is visible.
  out.done = done();
  if (!plan_) {
    out.done = true;
    return out;
  }
  const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(plan_->num_stages, stages));
  out.total = n;
  out.elapsed = out.done ? data_->wall : std::chrono::steady_clock::now() - start_time_;
  std::size_t by_phase[kPhaseMask + 1] = {};
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t word = data_->states[i].progress.load(std::memory_order_relaxed);
    const std::uint32_t phase = (word & ~kPhaseMask) == progress_tag_ ? word & kPhaseMask : 0;
    ++by_phase[phase];
    if (phase == kPhaseRunning && out.running_stages.size() < max_names) {
      out.running_stages.push_back(plan_->names[i]);
    }
  }
  out.running = by_phase[kPhaseRunning];
  out.succeeded = by_phase[phase_of(StageStatus::kSucceeded)];
  out.failed = by_phase[phase_of(StageStatus::kFailed)];
  out.skipped = by_phase[phase_of(StageStatus::kSkipped)];
  out.cancelled = by_phase[phase_of(StageStatus::kCancelled)];
  out.pending = n - out.running - out.succeeded - out.failed - out.skipped - out.cancelled;
  return out;
}

std::int64_t RunState::now_ns() const noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start_time_)
      .count();
}

std::uint64_t RunState::seed_of(std::uint32_t stage) const noexcept {
  return stage_seed(options_.seed, plan_->names[stage]);
}

void RunState::run_stage_job(Job* job, JobAction action) {
  if (action == JobAction::kDiscard) return;  // owned by its run
  auto* stage = static_cast<StageJob*>(job);
  RunState* run = stage->scratch->run;
  run->dispatch(stage->index, *run->scheduler_.current());
}

void RunState::run_range_job(Job* job, JobAction action) {
  std::unique_ptr<RangeJob> range{static_cast<RangeJob*>(job)};
  if (action == JobAction::kDiscard) return;
  RunState* run = range->run;
  Worker& w = *run->scheduler_.current();
  const auto& sources = run->plan_->sources;
  while (range->begin < range->end) {
    if (range->end - range->begin > 1 && w.deque.empty()) {
      const std::uint32_t mid = range->begin + (range->end - range->begin) / 2;
      run->scheduler_.push_local(w, make_range_job(run, mid, range->end));
      range->end = mid;
    }
    run->dispatch(sources[range->begin++], w);
  }
}

void RunState::dispatch(std::uint32_t i, Worker& w) {
  if (w.pending_run != this) Scheduler::flush(w);
  while (i != kNone) {
    // Every predecessor is resolved: reset what they counted down, for the scratch's next run.
    StageState& state = data_->states[i];
    const std::uint8_t upstream = state.upstream.load(std::memory_order_relaxed);
    if (upstream) state.upstream.store(0, std::memory_order_relaxed);
    if (const std::int32_t preds = plan_->info[i].num_preds; preds > 1) {
      jobs_[i].join.store(preds, std::memory_order_relaxed);
    }
    StageStatus outcome;
    if (upstream & kUpstreamFailed) {
      outcome = StageStatus::kSkipped;
    } else if ((upstream & kUpstreamCancelled) || stopping_.load(std::memory_order_relaxed)) {
      outcome = StageStatus::kCancelled;
    } else {
      outcome = StageStatus::kPending;
    }
    if (outcome != StageStatus::kPending) {
      // A stage cancelled before a retry keeps the attempts it made.
      const std::uint32_t c = plan_->info[i].control;
      state.attempts = c == StageInfo::kNoControl ? 0 : controls_[c].attempts;
      if (state.attempts == 0) state.worker = 0;
      // Stages planned after it may now be in turn.
      if (planned()) pool_->pass(this, i);
    } else {
      if (pool_ && !admitted_[i] && !request(i)) return;  // queued: admission runs it
      outcome = invoke(i, w);
      if (outcome == StageStatus::kPending) return;  // deferred: its completion resolves it
    }
    i = resolve(i, outcome, &w);
  }
}

StageStatus RunState::invoke(std::uint32_t i, Worker& w) {
  StageState& state = data_->states[i];
  const Plan& plan = *plan_;
  const StageInfo& info = plan.info[i];
  const std::uint32_t attempt =
      info.control == StageInfo::kNoControl ? 1 : ++controls_[info.control].attempts;
  state.attempts = attempt;
  state.worker = static_cast<std::uint16_t>(w.index);
  state.progress.store(progress_tag_ | kPhaseRunning, std::memory_order_relaxed);
  // The grant it starts with (under admission it may grow while the stage runs).
  const unsigned threads = grant_of(i, std::min(info.threads, scheduler_.num_workers()));
  StageTimes* times = data_->times ? &data_->times[i] : nullptr;
  const bool cpu_time = options_.timing == Timing::kFull;
  std::int64_t cpu_start = 0;
  if (times) {
    // A retried stage's times span all its attempts.
    if (attempt == 1) {
      times->start_ns = now_ns();
      times->cpu_ns = 0;
    }
    if (cpu_time) cpu_start = thread_cpu_ns();
  }

  if (channel_) {
    RawEvent e;
    e.kind = EventKind::kStageStarted;
    e.stage = i;
    e.attempt = attempt;
    e.threads = threads;
    e.worker = static_cast<std::int16_t>(w.index);
    if (times && attempt == 1) {
      e.t = channel_->start_steady_ns + times->start_ns;
      e.a = std::max<std::int64_t>(times->start_ns - times->ready_ns, 0);
    } else {
      e.t = EventHub::now_ns();
    }
    emit(static_cast<int>(w.index), e);
  }

  AttemptRef timed;
  if (info.control != StageInfo::kNoControl && plan.controls[info.control].timeout) {
    timed = start_attempt(i, attempt);
  }
  StageCall call{this,
                 i,
                 StageContext{this, i, w.index, threads, timed.get()},
                 data_->slots.data(),
                 plan.input_slots.data() + info.in_begin,
                 info.in_end - info.in_begin,
                 data_->slots.data() + info.out_begin,
                 info.out_end - info.out_begin,
                 plan.sole_consumer.get()};
  InvokeScope scope{this, i, w.invoke_scope};
  w.invoke_scope = &scope;
  std::exception_ptr error;
  try {
    if (info.entry) {
      info.entry(*info.body, call);
    } else {
      info.body->invoke(call);
    }
  } catch (...) {
    error = std::current_exception();
  }
  w.invoke_scope = scope.outer;
  // A deferred stage may already have completed, and its run ended and been freed: from here on
  // only the stack may be touched, unless the completion was dropped by an escaping exception.
  // (A timed attempt keeps the run alive.)
  if (call.deferred() && !scope.abandoned_by_exception) {
    if (!timed) return StageStatus::kPending;
    std::uint8_t phase = Attempt::kInvoking;
    if (!timed->phase.compare_exchange_strong(phase, Attempt::kWaiting)) {
      return StageStatus::kPending;  // completed inside the body: already resolved
    }
    // Pairs with deadline_passed: either it sees kWaiting, or this sees timed_out.
    if (!timed->timed_out.load()) return StageStatus::kPending;
    phase = Attempt::kWaiting;
    if (!timed->phase.compare_exchange_strong(phase, Attempt::kDone)) {
      return StageStatus::kPending;  // the completion or the deadline ends it
    }
    if (times) times->end_ns = now_ns();
    return failed(i, timeout_status(i), nullptr, true);
  }

  if (times) {
    if (cpu_time) times->cpu_ns += thread_cpu_ns() - cpu_start;
    times->end_ns = now_ns();
  }
  if (timed) {
    timed->phase.store(Attempt::kDone);
    scheduler_.clock().cancel(timed->deadline.load());
    if (timed->timed_out.load()) return failed(i, timeout_status(i), nullptr, true);
  }
  if (error) return failed(i, unknown_error(exception_message(error)), error);
  if (scope.abandoned_by_exception) {
    // The body caught the exception that destroyed its completion.
    call.fail(internal_error(kDroppedCompletion));
  }
  if (call.status().ok()) return StageStatus::kSucceeded;
  return failed(i, call.status(), nullptr);
}

StageStatus RunState::failed(std::uint32_t i, const Status& status, std::exception_ptr error,
                             bool own_message) {
  // A stage that gives up because it was told to stop is cancelled, not failed.
  // Resources go back before a retry can be scheduled (it asks for them again).
  release_held(i);
  if (status.code() == StatusCode::kCancelled && stopping_.load(std::memory_order_relaxed)) {
    return StageStatus::kCancelled;
  }
  if (const std::uint32_t c = plan_->info[i].control;
      c != StageInfo::kNoControl && retry_later(c, status, error)) {
    return StageStatus::kPending;  // this run may be gone already
  }
  if (channel_) {
    failure_text_[i] =
        EventHub::keep_text(*channel_, error ? exception_message(error) : status.message());
  }
  record_failure(i, status, std::move(error), own_message);
  return StageStatus::kFailed;
}

bool RunState::retry_later(std::uint32_t c, const Status& status, const std::exception_ptr& error) {
  const StatusCode code = status.code();
  const StageControl& control = plan_->controls[c];
  ControlState& state = controls_[c];
  if (state.attempts >= control.retry.max_attempts || !control.retry.retryable(code) ||
      stopping_.load(std::memory_order_relaxed)) {
    return false;
  }
  const std::chrono::milliseconds delay =
      control.retry.delay(state.attempts, seed_of(control.stage));
  const std::uint32_t wait = state.attempts;
  {
    std::lock_guard lock{state.wakeup_mutex};
    state.wakeup_wait = wait;
    state.wakeup = 0;
    state.cancel_wakeup = false;
  }
  state.waiting.store(true);
  // Pairs with the fence in stop_retries: either it sees `waiting`, or this sees stopping_.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (stopping_.load(std::memory_order_relaxed)) {
    // The run stopped meanwhile: if stop_retries took the wait, it has cancelled the stage.
    return !state.waiting.exchange(false);
  }
  // The wake-up may run the next attempt and end the run before wake_at returns: hold the run
  // until the id is stored (this may then be freed on return, as after resolve()).
  const std::shared_ptr<RunState> keep = self_;
  if (channel_) {
    RawEvent e;
    e.kind = EventKind::kStageRetry;
    e.t = EventHub::now_ns();
    e.stage = control.stage;
    e.attempt = state.attempts;
    e.a = std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
    e.text = EventHub::keep_text(*channel_, error ? exception_message(error) : status.message());
    Worker* w = scheduler_.current();
    emit(w ? static_cast<int>(w->index) : -1, e);
  }
  Clock& clock = scheduler_.clock();
  const Clock::WakeupId id =
      clock.wake_at(clock.now() + delay, [run = keep, c] { run->backoff_ended(c); });
  bool cancel = false;
  {
    std::lock_guard lock{state.wakeup_mutex};
    // A different wait means this wake-up has already run and the next attempt failed too.
    if (state.wakeup_wait == wait) {
      cancel = state.cancel_wakeup;
      state.wakeup = cancel ? 0 : id;
    }
  }
  if (cancel) clock.cancel(id);  // stop_retries() took the wait before the id was known
  return true;
}

void RunState::backoff_ended(std::uint32_t c) {
  if (!controls_[c].waiting.exchange(false)) return;  // the run stopped first
  scheduler_.post(&jobs_[plan_->controls[c].stage]);  // dispatch() runs the next attempt
}

void RunState::stop_retries() {
  if (!controls_) return;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (std::uint32_t c = 0; c < plan_->controls.size(); ++c) {
    ControlState& state = controls_[c];
    if (!state.waiting.load(std::memory_order_relaxed) || !state.waiting.exchange(false)) continue;
    Clock::WakeupId id = 0;
    {
      std::lock_guard lock{state.wakeup_mutex};
      id = std::exchange(state.wakeup, 0);
      state.cancel_wakeup = id == 0;
    }
    if (id != 0) scheduler_.clock().cancel(id);
    // The run cannot end here: the caller holds it (cancel) or is inside an unresolved stage.
    resolve(plan_->controls[c].stage, StageStatus::kCancelled, nullptr);
  }
}

AttemptRef RunState::start_attempt(std::uint32_t i, std::uint32_t number) {
  const StageInfo& info = plan_->info[i];
  AttemptRef attempt{
      new Attempt(self_, i, number, info.out_end - info.out_begin, stop_source_.get_token())};
  Clock& clock = scheduler_.clock();
  attempt->deadline.store(clock.wake_at(clock.now() + *plan_->controls[info.control].timeout,
                                        [ref = attempt] { ref->run->deadline_passed(ref.get()); }));
  return attempt;
}

void RunState::deadline_passed(Attempt* attempt) {
  attempt->timed_out.store(true);
  attempt->stop.request_stop();
  std::uint8_t phase = Attempt::kWaiting;
  if (attempt->phase.compare_exchange_strong(phase, Attempt::kDone)) {
    // An asynchronous stage still waiting: it fails now, and its completion will be ignored.
    end_deferred(attempt->stage, timeout_status(attempt->stage), nullptr, true);
  }
}

Status RunState::timeout_status(std::uint32_t i) const {
  return Status{StatusCode::kDeadlineExceeded,
                "stage '" + plan_->names[i] + "' timed out after " +
                    std::to_string(plan_->controls[plan_->info[i].control].timeout->count()) +
                    " ms"};
}

void RunState::abandon_deferred(std::uint32_t stage, Attempt* attempt) {
  if (std::uncaught_exceptions() > 0) {
    Worker* w = scheduler_.current();
    InvokeScope* scope = w ? w->invoke_scope : nullptr;
    if (scope && scope->run == this && scope->stage == stage) {
      scope->abandoned_by_exception = true;
      return;
    }
  }
  complete_deferred(stage, attempt, internal_error(kDroppedCompletion), nullptr);
}

void RunState::record_failure(std::uint32_t i, const Status& status, std::exception_ptr error,
                              bool own_message) {
  bool stop = false;
  {
    std::lock_guard lock{failure_mutex_};
    if (!has_failure_) {
      has_failure_ = true;
      data_->failed_stage = i;
      data_->error = own_message ? status
                                 : Status{status.code(), "stage '" + plan_->names[i] +
                                                             "' failed: " + status.message()};
      data_->exception = std::move(error);
    }
    stop = options_.on_failure == FailurePolicy::kFailFast;
  }
  if (stop) {
    stopping_.store(true, std::memory_order_relaxed);
    stop_source_.request_stop();
    stop_retries();
    if (pool_) pool_->drop(this);
  }
}

std::uint32_t RunState::resolve(std::uint32_t i, StageStatus outcome, Worker* w) {
  const Plan& plan = *plan_;
  const StageInfo& info = plan.info[i];
  data_->states[i].status = outcome;
  data_->states[i].progress.store(progress_tag_ | phase_of(outcome), std::memory_order_relaxed);
  if (channel_) {
    RawEvent e;
    e.kind = outcome == StageStatus::kFailed ? EventKind::kStageFailed : EventKind::kStageFinished;
    e.stage = i;
    e.attempt = data_->states[i].attempts;
    e.status = static_cast<std::uint8_t>(outcome);
    e.worker = w ? static_cast<std::int16_t>(w->index) : std::int16_t{-1};
    e.t = 0;
    if (data_->times && e.attempt > 0) {
      const StageTimes& t = data_->times[i];
      e.a = t.end_ns - t.start_ns;
      e.b = t.cpu_ns;
      // A success resolves as its body ends: it takes the record's end, which nothing it caused
      // can precede. (A stage cancelled in a retry's backoff ended its last attempt long ago.)
      if (outcome == StageStatus::kSucceeded) e.t = channel_->start_steady_ns + t.end_ns;
    }
    if (e.t == 0) e.t = EventHub::now_ns();
    if (outcome == StageStatus::kFailed) e.text = failure_text_[i];
    emit(w ? static_cast<int>(w->index) : -1, e);
  }

  // Release inputs whose last consumer this was.
  for (std::uint32_t k = info.in_begin; k < info.in_end; ++k) {
    const std::uint32_t slot = plan.input_slots[k];
    if (plan.sole_consumer[slot]) {
      data_->slots[slot].reset();
    } else if (slot_remaining_[slot].fetch_sub(1, std::memory_order_acq_rel) == 1) {
      data_->slots[slot].reset();
      slot_remaining_[slot].store(plan.slot_consumers[slot], std::memory_order_relaxed);
    }
  }

  std::uint8_t mark = 0;
  if (outcome != StageStatus::kSucceeded) {
    mark = outcome == StageStatus::kCancelled ? kUpstreamCancelled : kUpstreamFailed;
    if (outcome == StageStatus::kCancelled) any_cancelled_.store(true, std::memory_order_relaxed);
    for (std::uint32_t s = info.out_begin; s < info.out_end; ++s) {
      data_->slots[s].reset();
    }
  }

  // Under admission a succeeded stage keeps its resources until its ready successors are queued
  // (below), so that they are admitted by priority, not by who asks first.
  const bool queue_successors = pool_ && mark == 0 && info.succ_begin != info.succ_end;
  if (!queue_successors) release_held(i);

  if (info.succ_begin == info.succ_end) {
    if (w) {
      if (w->pending_run != this) Scheduler::flush(*w);
      w->pending_run = this;
      ++w->pending_sinks;
    } else {
      sinks_resolved(1);
    }
    return kNone;
  }

  // Once the last successor is handed over, another worker may finish the run and free the plan
  // and this state: the loop works on local copies and touches nothing after the last hand-off.
  Scheduler& scheduler = scheduler_;
  StageJob* const jobs = jobs_;
  StageState* const states = data_->states;
  StageTimes* const times = data_->times;
  std::atomic<std::int64_t>* const latest = latest_pred_end_;
  const std::int64_t ended = times ? times[i].end_ns : 0;
  const std::uint32_t* succ = plan.succs.data() + info.succ_begin;
  const std::uint32_t* const succ_end = plan.succs.data() + info.succ_end;
  std::uint32_t next = kNone;
  std::vector<std::uint32_t> ready;
  for (; succ != succ_end; ++succ) {
    const std::uint32_t s = *succ & Plan::kStageMask;
    StageJob& job = jobs[s];
    if (mark) states[s].upstream.fetch_or(mark, std::memory_order_relaxed);
    if (*succ & Plan::kSinglePredecessor) {
      if (times) times[s].ready_ns = ended;
    } else {
      // The last predecessor to resolve need not be the last to end: each one leaves its end
      // before it counts down, and the last to count down (its acquire sees every earlier one's
      // end) takes the latest.
      if (times) {
        std::int64_t seen = latest[s].load(std::memory_order_relaxed);
        while (seen < ended &&
               !latest[s].compare_exchange_weak(seen, ended, std::memory_order_relaxed)) {
        }
      }
      if (job.join.fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
      if (times) times[s].ready_ns = latest[s].exchange(0, std::memory_order_relaxed);
    }
    if (queue_successors) {
      ready.push_back(s);
    } else if (w && next == kNone) {
      next = s;
    } else if (w) {
      scheduler.push_local(*w, &job);
    } else {
      scheduler.post(&job);
    }
  }
  if (queue_successors) {
    // The last touch of this run: the pool may start (and end) the successors at once.
    const bool held = std::exchange(admitted_[i], false);
    pool_->release_and_queue(this, i, held, ready, priority_, demands_);
  }
  return next;
}

void RunState::set_deferred_output(std::uint32_t stage, Attempt* attempt, std::uint32_t port,
                                   Value value) {
  if (attempt) {
    // Kept aside until the completion wins over the deadline.
    attempt->outputs[port] = std::move(value);
    return;
  }
  data_->slots[plan_->output_offsets[stage] + port] = std::move(value);
}

void RunState::complete_deferred(std::uint32_t stage, Attempt* attempt, Status status,
                                 std::exception_ptr error) {
  if (attempt) {
    if (attempt->phase.exchange(Attempt::kDone) == Attempt::kDone) return;  // after the deadline
    scheduler_.clock().cancel(attempt->deadline.load());
    const std::uint32_t base = plan_->output_offsets[stage];
    for (std::uint32_t k = 0; k < attempt->outputs.size(); ++k) {
      if (attempt->outputs[k]) data_->slots[base + k] = std::move(attempt->outputs[k]);
    }
    if (attempt->timed_out.load()) {
      end_deferred(stage, timeout_status(stage), nullptr, true);
      return;
    }
  }
  end_deferred(stage, std::move(status), std::move(error), false);
}

void RunState::end_deferred(std::uint32_t stage, Status status, std::exception_ptr error,
                            bool own_message) {
  // Counted like a run, so that the executor outlives this call even if the run ends inside it.
  Scheduler& scheduler = scheduler_;
  scheduler.run_started();
  if (data_->times) data_->times[stage].end_ns = now_ns();
  StageStatus outcome = StageStatus::kSucceeded;
  if (error) {
    outcome = failed(stage, unknown_error(exception_message(error)), error);
  } else if (!status.ok()) {
    outcome = failed(stage, status, nullptr, own_message);
  }
  // Successors are posted, never run inline: the caller may be inside another stage's code.
  if (outcome != StageStatus::kPending) resolve(stage, outcome, nullptr);  // may free this
  scheduler.run_finished();
}

void RunState::sinks_resolved(std::uint32_t count) {
  if (remaining_sinks_.fetch_sub(count, std::memory_order_acq_rel) == count) finish();
}

void RunState::finish() {
  if (pool_) pool_->run_ended();
  RunData& data = *data_;
  data.wall = std::chrono::steady_clock::now() - start_time_;
  bool failed = false;
  {
    std::lock_guard lock{failure_mutex_};
    failed = has_failure_;
  }
  if (failed) {
    data.status = RunStatus::kFailed;
  } else if (any_cancelled_.load(std::memory_order_relaxed)) {
    data.status = RunStatus::kCancelled;
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < plan_->num_stages; ++i) {
      n += data.states[i].status == StageStatus::kCancelled;
    }
    data.error = cancelled("run cancelled: " + std::to_string(n) + " of " +
                           std::to_string(plan_->num_stages) + " stages did not run");
  }
  report_ = RunReport{data_};
  if (channel_) {
    // Done once observers have had the run's last event.
    channel_->on_finished = [self = std::move(self_)] { self->complete(); };
    RawEvent e;
    e.kind = EventKind::kRunFinished;
    e.t = EventHub::now_ns();
    e.status = static_cast<std::uint8_t>(data.status);
    if (!data.error.ok()) e.text = EventHub::keep_text(*channel_, data.error.message());
    Worker* w = scheduler_.current();
    emit(w ? static_cast<int>(w->index) : -1, e);
    return;
  }
  std::shared_ptr<RunState> self = std::move(self_);
  complete();
}

void RunState::complete() {
  Scheduler& scheduler = scheduler_;
  done_.store(true, std::memory_order_release);
  done_.notify_all();
  scheduler.run_finished();
}

void RunState::emit(int worker, RawEvent& event) {
  event.run = channel_.get();
  hub_->emit(worker, event);
}

void RunState::report(std::uint32_t stage, EventKind kind, std::string_view text, double value,
                      std::int64_t step, std::uint8_t level) {
  if (!channel_) return;
  RawEvent e;
  e.kind = kind;
  e.t = EventHub::now_ns();
  e.stage = stage;
  e.attempt = data_->states[stage].attempts;
  e.value = value;
  e.b = step;
  e.status = level;
  if (!text.empty()) e.text = EventHub::keep_text(*channel_, std::string(text));
  Worker* w = scheduler_.current();
  emit(w ? static_cast<int>(w->index) : -1, e);
}

}  // namespace trainflow::detail

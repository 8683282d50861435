#include "trainflow/exec/executor.hpp"

#include <algorithm>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "exec/run_state.hpp"
#include "exec/scheduler.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace trainflow {

// --- StageContext, Deferred ------------------------------------------------------------------

std::string_view StageContext::stage_name() const noexcept {
  return run_->plan().names[stage_];
}
std::uint64_t StageContext::seed() const noexcept {
  return run_->seed_of(stage_);
}
std::uint32_t StageContext::attempt() const noexcept {
  return attempt_ ? attempt_->number : run_->attempts_of(stage_);
}
std::stop_token StageContext::stop_token() const noexcept {
  return attempt_ ? attempt_->stop.get_token() : run_->stop_token();
}
bool StageContext::stop_requested() const noexcept {
  return attempt_ ? attempt_->stop.stop_requested() : run_->stop_token().stop_requested();
}
Executor& StageContext::executor() const noexcept {
  return run_->executor();
}
unsigned StageContext::threads() const noexcept {
  return run_->read_grant(stage_, threads_);
}
void StageContext::report_metric(std::string_view name, double value, std::int64_t step) const {
  run_->report(stage_, EventKind::kMetric, name, value, step);
}
void StageContext::report_progress(double fraction) const {
  if (!(fraction >= 0.0)) fraction = 0.0;  // NaN too
  run_->report(stage_, EventKind::kProgress, {}, std::min(fraction, 1.0), -1);
}
void StageContext::report_cache_hit() const {
  run_->report(stage_, EventKind::kCacheHit, {}, 0.0, -1);
}
void StageContext::log(LogLevel level, std::string_view message) const {
  run_->report(stage_, EventKind::kLog, message, 0.0, -1, static_cast<std::uint8_t>(level));
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kRunStarted: return "run_started";
    case EventKind::kRunFinished: return "run_finished";
    case EventKind::kStageStarted: return "stage_started";
    case EventKind::kStageFinished: return "stage_finished";
    case EventKind::kStageFailed: return "stage_failed";
    case EventKind::kStageRetry: return "stage_retry";
    case EventKind::kCacheHit: return "cache_hit";
    case EventKind::kProgress: return "progress";
    case EventKind::kMetric: return "metric";
    case EventKind::kGrantChanged: return "grant_changed";
    case EventKind::kLog: return "log";
  }
  return "unknown";
}

void Deferred::set_output(std::uint32_t i, Value value) {
  assert(run_ && "Deferred::set_output after finish");
  run_->set_deferred_output(stage_, context_->timed_attempt(), i, std::move(value));
}

void Deferred::finish(Status status) {
  assert(run_ && "Deferred finished twice");
  std::exchange(run_, nullptr)
      ->complete_deferred(stage_, context_->timed_attempt(), std::move(status), nullptr);
}

void Deferred::finish(std::exception_ptr error) {
  assert(run_ && "Deferred finished twice");
  std::exchange(run_, nullptr)
      ->complete_deferred(stage_, context_->timed_attempt(), {}, std::move(error));
}

void Deferred::abandon() noexcept {
  if (!run_) return;
  std::exchange(run_, nullptr)->abandon_deferred(stage_, context_->timed_attempt());
}

// --- RetryPolicy -------------------------------------------------------------------------------

std::vector<StatusCode> RetryPolicy::default_retry_on() {
  std::vector<StatusCode> codes(3);
  codes[0] = StatusCode::kUnavailable;
  codes[1] = StatusCode::kResourceExhausted;
  codes[2] = StatusCode::kDeadlineExceeded;
  return codes;
}

bool RetryPolicy::retryable(StatusCode code) const noexcept {
  if (code == StatusCode::kInvalidArgument || code == StatusCode::kCancelled) return false;
  return std::find(retry_on.begin(), retry_on.end(), code) != retry_on.end();
}

std::chrono::milliseconds RetryPolicy::backoff(std::uint32_t failed_attempt) const noexcept {
  const double cap = static_cast<double>(std::max<std::int64_t>(max_backoff.count(), 0));
  double ms = static_cast<double>(std::max<std::int64_t>(initial_backoff.count(), 0));
  for (std::uint32_t k = 1; k < failed_attempt && ms < cap; ++k) ms *= multiplier;
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::min(ms, cap))};
}

std::chrono::milliseconds RetryPolicy::delay(std::uint32_t failed_attempt,
                                             std::uint64_t seed) const noexcept {
  const std::chrono::milliseconds d = backoff(failed_attempt);
  if (jitter <= 0.0) return d;
  // splitmix64 of (seed, attempt): a uniform draw in [0, 1).
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (failed_attempt + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
  const double ms = static_cast<double>(d.count()) * (1.0 - std::min(jitter, 1.0) * u);
  return std::chrono::milliseconds{std::llround(ms)};
}

std::vector<std::string> RetryPolicy::problems() const {
  std::vector<std::string> out;
  if (max_attempts < 1) out.emplace_back("retry.max_attempts must be at least 1");
  if (initial_backoff.count() < 0) out.emplace_back("retry.initial_backoff must not be negative");
  if (max_backoff.count() < 0) out.emplace_back("retry.max_backoff must not be negative");
  if (!(multiplier >= 1.0) || !std::isfinite(multiplier)) {
    out.emplace_back("retry.multiplier must be a finite number >= 1");
  }
  if (!(jitter >= 0.0 && jitter <= 1.0)) out.emplace_back("retry.jitter must be in [0, 1]");
  return out;
}

// --- RunHandle ---------------------------------------------------------------------------------

void RunHandle::cancel() const noexcept {
  if (state_) state_->cancel();
}

bool RunHandle::done() const noexcept {
  return state_ && state_->done();
}

const RunReport& RunHandle::wait() const {
  assert(state_ && "RunHandle::wait on an empty handle");
  return state_->wait();
}

RunProgress RunHandle::progress(std::size_t max_names, std::size_t stages) const {
  if (state_) return state_->progress(max_names, stages);
  RunProgress none;
  none.done = true;
  return none;
}

// --- Executor ----------------------------------------------------------------------------------

namespace {

// The default Clock: the steady clock, with Asio timers on the executor, so that a wake-up is a
// job on a worker and no thread waits for it.
class AsioClock final : public Clock {
 public:
  explicit AsioClock(Executor& executor) : executor_(executor) {}
  // Cancels what is pending; their handlers still run (aborted), so REQUIRES: the executor's
  // workers and services are still up.
  ~AsioClock() override {
    std::lock_guard lock{shared_->mutex};
    for (auto& [id, timer] : shared_->timers) timer->cancel();
    shared_->timers.clear();
  }

  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }

  WakeupId wake_at(time_point when, std::function<void()> wake) override {
    auto timer = std::make_shared<Timer>(executor_.get_executor(), when);
    WakeupId id = 0;
    {
      std::lock_guard lock{shared_->mutex};
      id = ++shared_->last_id;
      shared_->timers.emplace(id, timer);
    }
    timer->async_wait([shared = shared_, id, timer,
                       wake = std::move(wake)](const boost::system::error_code& error) {
      if (error) return;
      {
        std::lock_guard lock{shared->mutex};
        if (shared->timers.erase(id) == 0) return;  // cancelled meanwhile
      }
      wake();
    });
    return id;
  }

  void cancel(WakeupId id) noexcept override {
    std::shared_ptr<Timer> timer;
    {
      std::lock_guard lock{shared_->mutex};
      auto it = shared_->timers.find(id);
      if (it == shared_->timers.end()) return;
      timer = std::move(it->second);
      shared_->timers.erase(it);
    }
    timer->cancel();
  }

 private:
  using Timer =
      boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                        boost::asio::wait_traits<std::chrono::steady_clock>,
                                        Executor::executor_type>;
  // Outlives the clock while handlers are queued.
  struct Shared {
    std::mutex mutex;
    WakeupId last_id = 0;
    std::unordered_map<WakeupId, std::shared_ptr<Timer>> timers;
  };
  Executor& executor_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace

Executor::Executor(ExecutorOptions options)
    : scheduler_(std::make_unique<detail::Scheduler>(*this, options.threads)) {
  scheduler_->set_clock(options.clock ? std::move(options.clock)
                                      : std::make_shared<AsioClock>(*this));
  scheduler_->set_pool(
      std::make_unique<detail::ResourcePool>(options.capacity, scheduler_->num_workers()));
}

const ResourceCapacity& Executor::capacity() const noexcept {
  return scheduler_->pool().capacity();
}

Executor::~Executor() {
  scheduler_->wait_for_runs();
  scheduler_->set_clock(nullptr);  // the default clock's timers go while the workers run
  scheduler_->stop();
  // Services (Asio's timer queue and its thread) go before the remaining handlers are dropped.
  shutdown();
  scheduler_->stop();
  destroy();
}

unsigned Executor::num_workers() const noexcept {
  return scheduler_->num_workers();
}

int Executor::current_worker() const noexcept {
  const detail::Worker* w = scheduler_->current();
  return w ? static_cast<int>(w->index) : -1;
}

void Executor::post_job(detail::Job* job) {
  scheduler_->post(job);
}

RunHandle Executor::submit(const Graph& graph, RunOptions options) {
  auto plan = graph.plan();
  if (plan.has_value() && !(*plan)->demands.empty()) {
    // A demand that can never be met is a problem of the graph on this executor.
    std::vector<std::string> problems;
    const detail::Plan& p = **plan;
    for (std::uint32_t i = 0; i < p.num_stages; ++i) {
      std::string why = scheduler_->pool().never_fits(p.demands[i]);
      if (!why.empty()) problems.push_back("stage '" + p.names[i] + "' can never run: " + why);
    }
    if (!problems.empty()) {
      std::string message = "graph '" + p.graph_name + "' cannot run on this executor (" +
                            std::to_string(problems.size()) + " problem" +
                            (problems.size() == 1 ? "" : "s") + "):";
      for (const std::string& s : problems) message += "\n  " + s;
      plan = Result<std::shared_ptr<const detail::Plan>>{invalid_argument(std::move(message))};
    }
  }
  if (!plan.has_value()) {
    auto data = std::make_shared<detail::RunData>();
    data->status = RunStatus::kInvalid;
    data->error = plan.error();
    data->invalid_graph_name = graph.name();
    data->started_at = std::chrono::system_clock::now();
    auto state = std::make_shared<detail::RunState>(*scheduler_, nullptr, options);
    state->fail_before_start(std::move(data));
    return RunHandle{std::move(state)};
  }
  auto state = std::make_shared<detail::RunState>(*scheduler_, *std::move(plan), options);
  state->start(state);
  return RunHandle{std::move(state)};
}

RunHandle Executor::submit(const Pipeline& pipeline, RunOptions options) {
  return submit(pipeline.graph(), options);
}

RunReport Executor::run(const Graph& graph, RunOptions options) {
  return submit(graph, options).wait();
}

RunReport Executor::run(const Pipeline& pipeline, RunOptions options) {
  return run(pipeline.graph(), options);
}

}  // namespace trainflow

// --- polling of futures ------------------------------------------------------------------------

namespace trainflow::detail {

namespace {

struct Poller : std::enable_shared_from_this<Poller> {
  Poller(Executor& executor, std::function<bool()> ready)
      : timer(executor.get_executor()), poll(std::move(ready)) {}

  void step() {
    if (poll()) return;
    timer.expires_after(delay);
    delay = std::min(delay * 2, std::chrono::microseconds{10'000});
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      if (!error) self->step();
    });
  }

  boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                    boost::asio::wait_traits<std::chrono::steady_clock>,
                                    Executor::executor_type>
      timer;
  std::function<bool()> poll;
  std::chrono::microseconds delay{50};
};

}  // namespace

void poll_until(Executor& executor, std::function<bool()> poll) {
  auto poller = std::make_shared<Poller>(executor, std::move(poll));
  boost::asio::post(executor.get_executor(), [poller] { poller->step(); });
}

}  // namespace trainflow::detail

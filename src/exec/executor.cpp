#include "trainflow/exec/executor.hpp"

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>

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
std::stop_token StageContext::stop_token() const noexcept {
  return run_->stop_token();
}
bool StageContext::stop_requested() const noexcept {
  return run_->stop_token().stop_requested();
}
Executor& StageContext::executor() const noexcept {
  return run_->executor();
}

void Deferred::set_output(std::uint32_t i, Value value) {
  assert(run_ && "Deferred::set_output after finish");
  run_->set_deferred_output(stage_, i, std::move(value));
}

void Deferred::finish(Status status) {
  assert(run_ && "Deferred finished twice");
  std::exchange(run_, nullptr)->complete_deferred(stage_, std::move(status), nullptr);
}

void Deferred::finish(std::exception_ptr error) {
  assert(run_ && "Deferred finished twice");
  std::exchange(run_, nullptr)->complete_deferred(stage_, {}, std::move(error));
}

void Deferred::abandon() noexcept {
  if (!run_) return;
  std::exchange(run_, nullptr)->abandon_deferred(stage_);
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

Executor::Executor(ExecutorOptions options)
    : scheduler_(std::make_unique<detail::Scheduler>(*this, options.threads)) {}

Executor::~Executor() {
  scheduler_->wait_for_runs();
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

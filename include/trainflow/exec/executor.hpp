// Executor: runs pipelines on a fixed set of worker threads; an Asio execution context.
//
// Ready stages run in parallel on the workers (work stealing: each worker keeps its own queue,
// idle workers take from the others). A stage that waits for something — a timer, a device, the
// network — does so asynchronously (a Deferred, a coroutine, a future) and holds no worker.
// Several runs, of the same or different pipelines, may share one executor concurrently.
//
// The executor is an Asio execution context: get_executor() satisfies Asio's executor
// requirements, so asio::post, asio::steady_timer and asio::co_spawn work on it directly.
//
//   trainflow::Executor ex{{.threads = 4}};
//   trainflow::RunReport report = ex.run(pipeline);          // blocks until the run ends
//   trainflow::RunHandle h = ex.submit(other, {.seed = 7});  // returns at once
//   h.cancel();
//   const trainflow::RunReport& r = h.wait();
//
// Thread safety: every member function may be called from any thread, including from inside a
// stage (a run or wait() from a worker lends that worker to the executor instead of blocking it).
// Destroying the executor waits for every submitted run to end; REQUIRES: not called from one of
// its own workers.
#pragma once

#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trainflow/exec/clock.hpp"
#include "trainflow/exec/detail/job.hpp"
#include "trainflow/exec/observer.hpp"
#include "trainflow/exec/resources.hpp"
#include "trainflow/exec/run_report.hpp"
#include "trainflow/graph/graph.hpp"

namespace trainflow {

class Pipeline;

// What the run does after a stage fails.
enum class FailurePolicy : std::uint8_t {
  kFailFast,  // default: stages not yet started are cancelled; running ones finish
  kContinue,  // stages that do not depend on the failed one still run
};

// Which per-stage times a run records. Each stage reads the clocks twice: about 25 ns a read for
// wall time and 650 ns for thread CPU time (a system call) on the machines trainflow is
// measured on. Negligible for real stages, dominant for microsecond-sized ones.
enum class Timing : std::uint8_t {
  kFull,  // default: start, end, wall and CPU time
  kWall,  // start, end and wall time
  kNone,  // no times (statuses, attempts and workers are always recorded)
};

struct ExecutorOptions {
  // Worker threads. Default 0: std::thread::hardware_concurrency(). More workers than cores
  // only adds switching; fewer leave cores to the rest of the process.
  unsigned threads = 0;
  // Time and wake-ups for retry backoffs and stage timeouts. Default null: the steady clock,
  // with Asio timers on this executor. Tests pass a fake so that waits are exact and instant.
  // Shared: a wake-up still pending when the executor is destroyed may be called later and
  // then does nothing.
  std::shared_ptr<Clock> clock{};
  // What stages may hold at once (see exec/resources.hpp). Default: every field's default.
  ResourceCapacity capacity{};
};

struct RunOptions {
  // Default kFailFast: the first failure ends the run as soon as running stages finish.
  FailurePolicy on_failure = FailurePolicy::kFailFast;
  // The run seed; each stage's seed is stage_seed(seed, name). Default 0.
  std::uint64_t seed = 0;
  // Default kFull.
  Timing timing = Timing::kFull;
  // Receive the run's events (exec/observer.hpp). Default none.
  std::vector<std::shared_ptr<Observer>> observers{};
  // Names the run in events (Event::run_id) and logs. Default empty.
  std::string run_id{};
  // How long stages took in earlier runs, by stage name: ready stages that wait for resources
  // are taken longest remaining path first (their critical path), with these durations; a stage
  // not listed counts as the median of the listed ones, or 1 ms when none is. When every stage
  // is listed (at most 256 stages), the run is planned ahead and its stages are admitted in the
  // order of their planned starts (docs/resources.md). Default none.
  std::unordered_map<std::string, std::chrono::nanoseconds> expected_durations{};
};

// A snapshot of where a run stands: see RunHandle::progress(). Every stage is counted in exactly
// one of the status fields, so they add up to `total`.
struct RunProgress {
  std::size_t total = 0;      // stages in the run (those counted: see progress())
  std::size_t pending = 0;    // not started yet
  std::size_t running = 0;    // started and not resolved (asynchronous stages included)
  std::size_t succeeded = 0;  // the others as StageStatus says
  std::size_t failed = 0;
  std::size_t skipped = 0;
  std::size_t cancelled = 0;
  // Names of running stages in stage order, at most the `max_names` given to progress().
  std::vector<std::string> running_stages;
  // Since the run started; the run's wall time once it ended.
  std::chrono::nanoseconds elapsed{0};
  // True once the run ended; the counts then match the report's.
  bool done = false;

  // Stages resolved so far: total - pending - running.
  std::size_t resolved() const noexcept { return total - pending - running; }
};

namespace detail {
class RunState;
class Scheduler;
}  // namespace detail

// A submitted run. Copies refer to the same run. All members are thread-safe.
class RunHandle {
 public:
  RunHandle() noexcept = default;

  // Stops scheduling new stages (they end kCancelled) and signals the stop token of running
  // ones. Harmless after the run ended.
  void cancel() const noexcept;
  // True once every stage is resolved and the report is final.
  bool done() const noexcept;
  // Blocks until the run ends and returns its report. From a worker of the same executor it runs
  // other work while waiting instead of blocking. REQUIRES: the handle refers to a run.
  const RunReport& wait() const;
  // Where the run stands now, with the names of up to `max_names` running stages. Only stages
  // with ids below `stages` are counted (default: all), so that a tool that appends stages of
  // its own to a graph (sinks, say) shows the others. Cheap enough to call a few times a second:
  // it reads one word per stage and takes no lock; the run pays a relaxed store per stage start
  // and end, to memory it writes anyway. While the run goes on the snapshot is not atomic: a
  // stage that ends meanwhile may be seen running or resolved, but each stage is counted once.
  // After done() it is exact. An empty handle, or a run of a graph that did not validate, shows
  // total 0 and done.
  RunProgress progress(std::size_t max_names = 8, std::size_t stages = SIZE_MAX) const;

  explicit RunHandle(std::shared_ptr<detail::RunState> state) noexcept : state_(std::move(state)) {}

 private:
  std::shared_ptr<detail::RunState> state_;
};

class Executor : public boost::asio::execution_context {
 public:
  class executor_type;

  explicit Executor(ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs `graph` and waits for the end. An invalid graph is not run: the report's status is
  // RunStatus::kInvalid and error() lists the problems. REQUIRES: the graph does not change
  // until the run ends.
  RunReport run(const Graph& graph, RunOptions options = {});
  RunReport run(const Pipeline& pipeline, RunOptions options = {});

  // Starts running `graph` and returns at once. Same REQUIRES as run().
  RunHandle submit(const Graph& graph, RunOptions options = {});
  RunHandle submit(const Pipeline& pipeline, RunOptions options = {});

  unsigned num_workers() const noexcept;
  // What stages may hold at once: ExecutorOptions::capacity with its defaults filled in.
  const ResourceCapacity& capacity() const noexcept;

  // The Asio executor of this context.
  executor_type get_executor() noexcept;

  // The index of the calling thread among this executor's workers, or -1 if it is not one.
  int current_worker() const noexcept;

  // Queues a job. For executor_type and trainflow's own code.
  void post_job(detail::Job* job);

 private:
  std::unique_ptr<detail::Scheduler> scheduler_;
};

// Satisfies both Asio's standard executor concept (execute, query, require) and the Networking
// TS executor requirements (context, dispatch, post, defer, on_work_started/finished).
class Executor::executor_type {
 public:
  explicit executor_type(Executor& context) noexcept : context_(&context) {}

  // Standard executors.
  template <class F>
  void execute(F&& f) const {
    if constexpr (std::is_same_v<std::decay_t<F>, boost::asio::detail::executor_function_view>) {
      f();  // a view asks for blocking execution (never requested of this executor)
    } else {
      context_->post_job(new detail::FunctionJob<std::decay_t<F>>(std::forward<F>(f)));
    }
  }
  Executor& query(boost::asio::execution::context_t) const noexcept { return *context_; }
  static constexpr boost::asio::execution::blocking_t query(
      boost::asio::execution::blocking_t) noexcept {
    return boost::asio::execution::blocking.never;
  }
  executor_type require(boost::asio::execution::blocking_t::never_t) const noexcept {
    return *this;
  }

  // Networking TS executors.
  Executor& context() const noexcept { return *context_; }
  void on_work_started() const noexcept {}
  void on_work_finished() const noexcept {}
  template <class F, class Alloc>
  void dispatch(F&& f, const Alloc&) const {
    if (context_->current_worker() >= 0) {
      std::decay_t<F> local(std::forward<F>(f));
      local();
    } else {
      execute(std::forward<F>(f));
    }
  }
  template <class F, class Alloc>
  void post(F&& f, const Alloc&) const {
    execute(std::forward<F>(f));
  }
  template <class F, class Alloc>
  void defer(F&& f, const Alloc&) const {
    execute(std::forward<F>(f));
  }

  friend bool operator==(const executor_type& a, const executor_type& b) noexcept {
    return a.context_ == b.context_;
  }
  friend bool operator!=(const executor_type& a, const executor_type& b) noexcept {
    return a.context_ != b.context_;
  }

 private:
  Executor* context_;
};

inline Executor::executor_type Executor::get_executor() noexcept {
  return executor_type{*this};
}

}  // namespace trainflow

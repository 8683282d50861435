// run_workflow(): runs a loaded workflow the way `trainflow run` does — on an executor, with the
// stage cache and the run store of a work directory — and returns what each stage did.
//
// Everything persists under `options.workdir`: artifacts and cache entries (StageCache) and
// `runs.db` (RunStore), where the run, its manifest and every stage (status, attempts, times,
// cache outcome and key, parameters, output digests, metrics) are recorded. A stage that ran and
// stored its outputs is recorded the moment it succeeds, after its artifacts are durable; the
// others when the run ends. Metrics that stages report while they run (StageContext::
// report_metric: an MLP's loss per epoch) are written as they arrive (MetricRecorder).
//
// Each stage's row also says what it cost: wall and CPU time, threads granted, peak RSS growth,
// bytes read and written, queue wait, GPU time and memory, and a cost estimate when rates are
// known (WorkflowRunOptions::rates, or the file's `cost`); the run's row sums the costs.
// Scheduling uses the store too: the median durations of the workflow's earlier runs become
// RunOptions::expected_durations (see execution_options). A run killed at any point is resumed by
// running the same workflow again with the same run id (`resume`): stages whose results are stored
// are not run again, and the results are the bytes an uninterrupted run gives.
//
//   Result<config::Workflow> wf = config::load_workflow("churn.yaml");
//   Result<config::WorkflowRun> run = config::run_workflow(std::move(*wf), {.threads = 4});
//   for (const config::StageOutcome& s : run->stages) ... s.metrics ...
//
// Thread safety: reentrant; runs in one work directory may overlap (in one or several
// processes): the store and the cache are safe to share.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "trainflow/config/workflow.hpp"
#include "trainflow/core/hash.hpp"
#include "trainflow/core/status.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/exec/observer.hpp"
#include "trainflow/exec/resources.hpp"
#include "trainflow/exec/run_report.hpp"
#include "trainflow/ml/evaluate.hpp"
#include "trainflow/store/run_store.hpp"
#include "trainflow/store/stage_cache.hpp"

namespace trainflow::config {

struct WorkflowRunOptions {
  // Default ".trainflow", created when absent.
  std::filesystem::path workdir = ".trainflow";
  // Executor workers. Default 0: every core.
  unsigned threads = 0;
  // Default true. False (`--no-cache`): nothing is read from the cache; results are still
  // stored.
  bool cache = true;
  // Stages that run even when stored (`--force`): a name in the file (every trial of a sweep) or
  // a graph stage name ("train[l2=0.1]"). Unknown names are an error. Default none.
  std::vector<std::string> force{};
  // Default false. True (`--verify`): cacheable stages run again and their outputs are compared
  // with the stored ones; StageOutcome::cache says kMismatch for a stage that is not
  // deterministic.
  bool verify = false;
  // Default true: record the run in `<workdir>/runs.db`.
  bool record = true;
  // The run's id. Default empty: a new one, "<UTC date>T<time>Z-<6 hex digits>".
  std::string run_id{};
  // Default false. True: `run_id` names a recorded run that did not succeed, to finish (resume):
  // its succeeded stages keep their rows (RunStore::reopen_run), the others are recorded again,
  // and the run's row is updated at the end.
  bool resume = false;
  // What the manifest records about the source of the workflow (the file and its text, the
  // overrides), so that the run can be repeated or resumed. Default: nothing.
  std::string manifest_source_json{};
  // Called once the run has started, with its handle (to cancel it on a signal, to show
  // progress). Default none.
  std::function<void(const RunHandle&)> on_start{};
  // Receive the run's events (exec/observer.hpp): logs, the live HTTP status. Default none.
  std::vector<std::shared_ptr<Observer>> observers{};
  // What stages may hold at once (ExecutorOptions::capacity). Default: the executor's defaults
  // (every worker's core, the machine's memory, no GPU).
  ResourceCapacity capacity{};
  // Prices for the stages' cost estimates; replaces the workflow file's `cost`. Default none:
  // the file's, and without one no cost is recorded.
  std::optional<CostRates> rates{};
};

// What run_workflow hands the executor.
struct ExecutionOptions {
  ExecutorOptions executor;
  RunOptions run;
};

// The executor and run options run_workflow uses for `wf` (before its observers of its own are
// added): `options.threads` workers (0: every core) and `options.capacity`; the workflow's
// seed, `options.observers`, `run_id`, and as expected_durations the median wall time of each
// stage over the workflow's newest 20 succeeded runs in `store` (RunStore::stage_durations),
// none when `store` is null. Fails when the store cannot be read.
Result<ExecutionOptions> execution_options(const Workflow& wf, const WorkflowRunOptions& options,
                                           const RunStore* store, std::string run_id);

// A stage's cost at `rates`: wall_ms / 3.6e6 hours x (threads x core_hour + gpus x gpu_hour).
double stage_cost(double wall_ms, unsigned threads, unsigned gpus, const CostRates& rates) noexcept;

// An Observer that writes the kMetric events of one run into a RunStore (append_metrics), so
// that `trainflow show` has the curves while the run goes on and after it. Rows are batched into
// one transaction each: written at the first event that finds the oldest pending row older than
// `flush_interval` or `batch_rows` rows pending, at kRunFinished, and on flush(). The store is
// written on the observer's (the executor's delivery) thread, never a worker's. A failing write
// drops its rows and is kept (error()); at most `max_pending` rows wait, further ones are dropped
// and counted. Never throws from on_event.
//
// Thread safety: on_event, flush, error and dropped may be called from any thread.
class MetricRecorder final : public Observer {
 public:
  struct Options {
    std::chrono::milliseconds flush_interval{100};  // default 100 ms; lower: fresher, more writes
    std::size_t batch_rows = 256;                   // default 256
    std::size_t max_pending = 65536;                // default 65536 rows (about 5 MB)
  };

  // REQUIRES: `store` outlives this recorder; run `run_id` exists in it.
  MetricRecorder(RunStore& store, std::string run_id, Options options);
  MetricRecorder(RunStore& store, std::string run_id)
      : MetricRecorder(store, std::move(run_id), Options{}) {}

  void on_event(const Event& event) override;
  // Writes the pending rows now. Returns the write's status (ok when nothing was pending).
  Status flush();
  // The first failed write's status; ok when none failed.
  Status error() const;
  // Rows lost: dropped over max_pending or in a failed write.
  std::uint64_t dropped() const;

 private:
  Status flush_locked();

  RunStore* store_;
  std::string run_id_;
  Options options_;
  mutable std::mutex mu_;
  std::vector<LiveMetric> pending_;
  std::chrono::steady_clock::time_point oldest_{};
  Status error_;
  std::uint64_t dropped_ = 0;
};

// What one stage of the workflow did.
struct StageOutcome {
  std::string name;  // the graph stage's name
  std::string type;  // its registered type ("gather" for the loader's gather stages)
  StageStatus status = StageStatus::kPending;
  std::uint32_t attempts = 0;
  double wall_ms = 0;
  double cpu_ms = 0;
  CacheOutcome cache = CacheOutcome::kNotRun;
  std::optional<Digest> cache_key{};
  std::string note{};  // why a stored result was not used, or why storing failed
  // Every Metrics output's values (the union, for a stage with several), also when it was
  // restored from the cache; empty when the stage produced none.
  ml::Metrics metrics{};
};

struct WorkflowRun {
  std::string run_id;
  RunReport report;                  // the graph's report
  std::vector<StageOutcome> stages;  // one per workflow stage, in graph order
  // Stages that verify found not deterministic.
  std::vector<std::string> mismatches{};
};

// Runs `wf` as described above. Fails (before running anything) when the work directory or its
// run store cannot be opened, `force` names an unknown stage, or a resumed run is not recorded;
// afterwards a failed stage is in the returned report (and recorded), and only a failure to
// record the run's end is an error. REQUIRES: `wf` as load_workflow returned it.
Result<WorkflowRun> run_workflow(Workflow wf, const WorkflowRunOptions& options = {});

// A new run id: "<UTC date>T<time>Z-<6 random hex digits>", e.g. "20261124T031500Z-3fa2c1".
std::string new_run_id();

}  // namespace trainflow::config

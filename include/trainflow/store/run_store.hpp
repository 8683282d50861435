// RunStore: the history of runs in an SQLite database (`<workdir>/runs.db`): each run's
// settings, outcome and cost, and per stage its status, times, resource use (threads, memory,
// bytes read and written, GPU time), cost, cache key, parameters, output digests and metrics —
// the final ones and the live per-step ones reported while it ran. `trainflow runs`, `show` and
// `diff` read it; the scheduler reads the median duration of each stage from it.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a call that returned ok
// has reached the disk. record_stage() writes a stage and everything about it in one
// transaction: after a crash a stage is either fully recorded or absent.
//
//   Result<RunStore> store = RunStore::open(".trainflow/runs.db");
//   Status s = store->begin_run({.id = id, .workflow = "churn", .seed = 42, .started_ms = now});
//   s = store->record_stage(id, {.name = "train", .type = "logistic_regression", ...});
//   s = store->finish_run(id, {.status = "succeeded", .ended_ms = later});
//   Result<RunDetails> run = store->run(*store->resolve_id("2026-05-0"));
//
// Thread safety: a RunStore may be shared by threads (calls are serialised on its one
// connection). Any number of RunStores, in any number of processes, may open the same file:
// writers take turns (each waits up to RunStoreOptions::busy_timeout) and readers never wait.
// A RunStore must not be used in a child process after fork(); open another one there.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/hash.hpp"
#include "trainflow/core/status.hpp"

namespace trainflow {

struct RunStoreOptions {
  // How long a write waits for another connection's write transaction to end before it fails
  // with kUnavailable. Default 5 s: long enough for any single record_stage() of another
  // process; shorter makes a stuck writer visible sooner, longer tolerates slower disks.
  std::chrono::milliseconds busy_timeout{5000};
};

// What begin_run() records about a run when it starts. Timestamps are milliseconds since the
// Unix epoch (UTC).
struct RunInfo {
  std::string id;  // unique, non-empty; the CLI makes it start with the date, so prefixes sort
  std::string workflow;
  std::uint64_t seed = 0;
  std::int64_t started_ms = 0;
  std::string host{};
  std::string trainflow_version{};  // e.g. kVersion
  std::string compiler{};           // e.g. "g++ 12.2.0"
  unsigned threads = 0;             // the executor's workers
  std::string manifest_json{};      // the run's manifest; stored as given, not parsed
};

// A row of the runs table: the RunInfo plus how the run ended.
struct RunSummary {
  RunInfo info;
  // "running" until finish_run(); then what it was given ("succeeded", "failed", ...). A run
  // still "running" after its process died was interrupted.
  std::string status;
  std::optional<std::int64_t> ended_ms{};  // Unix epoch ms; absent while running
  std::string error{};                     // empty unless the run failed or was cancelled
  std::string failed_stage{};              // the stage whose failure is `error`, if any
  // The sum of its stages' cost estimates (StoredStage::cost), set by finish_run(); absent
  // while running, when no stage has one, and for runs recorded before schema version 2.
  std::optional<double> cost{};
};

// How a run ended, for finish_run().
struct RunEnd {
  std::string status;  // to_string(RunStatus) of the run; anything but "running"
  std::int64_t ended_ms = 0;
  std::string error{};
  std::string failed_stage{};
};

// One metric a stage reported. NaN is stored faithfully (as SQL NULL, read back as NaN); so are
// infinities. -0.0 reads back as 0.0 (SQLite stores integral reals as integers).
struct StageMetric {
  std::string name;
  double value = 0;
  std::optional<std::int64_t> step{};  // e.g. the epoch of a per-epoch metric; absent: final
  friend bool operator==(const StageMetric&, const StageMetric&) = default;
};

// One bound parameter of a stage, as text in the workflow file's syntax.
struct StageParam {
  std::string name;
  std::string value;
  friend bool operator==(const StageParam&, const StageParam&) = default;
};

// The digest of one output port's content (its artifact in the ArtifactStore).
struct StageOutput {
  std::string port;
  Digest digest{};
  friend bool operator==(const StageOutput&, const StageOutput&) = default;
};

// Everything recorded about one stage of a run. Times are milliseconds; started_ms/ended_ms
// are measured from the run's start (as in StageRecord). The accounting fields after `metrics`
// are optional: absent when not measured, and for stages recorded before schema version 2.
struct StoredStage {
  std::string name;  // the graph stage's name; unique within a run
  std::string type{};
  std::string status{};  // to_string(StageStatus)
  std::uint32_t attempts = 0;
  std::int64_t wall_ms = 0;
  std::int64_t cpu_ms = 0;
  std::optional<std::int64_t> queue_wait_ms{};  // absent when not measured
  std::string cache_outcome{};                  // to_string(CacheOutcome); empty: no cache
  std::optional<Digest> cache_key{};
  std::string params_canonical{};  // Params::canonical()
  std::string error{};
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
  unsigned worker = 0;
  std::vector<StageParam> params{};    // unique names; read back sorted by name
  std::vector<StageOutput> outputs{};  // unique ports; read back sorted by port
  std::vector<StageMetric> metrics{};  // read back in the order written

  // Accounting (what the stage cost; see docs/design.md, "Run store").
  std::optional<unsigned> threads{};  // cores granted (the largest grant it ran with)
  unsigned gpus = 0;                  // GPUs held; 0 for CPU stages
  // How far the stage raised the process's peak resident set (VmHWM), in bytes. Process-wide,
  // so approximate when stages run concurrently; 0 when the peak was already higher.
  std::optional<std::int64_t> peak_rss_growth_bytes{};
  // Bytes the stage's thread read and wrote through system calls (files, pipes, sockets;
  // /proc/thread-self/io rchar and wchar), helper threads of its kernels not counted; absent
  // for asynchronous stages.
  std::optional<std::int64_t> bytes_read{};
  std::optional<std::int64_t> bytes_written{};
  // GPU time held (wall time x gpus) and GPU memory reserved, in ms and bytes; absent (SQL
  // NULL) for CPU stages.
  std::optional<std::int64_t> gpu_ms{};
  std::optional<std::int64_t> gpu_memory_bytes{};
  // Estimated cost in the rates' currency: wall hours x (threads x core-hour rate + gpus x
  // GPU-hour rate). Absent when no rates were given.
  std::optional<double> cost{};
  friend bool operator==(const StoredStage&, const StoredStage&) = default;
};

// A metric a stage reported while it ran (StageContext::report_metric), for append_metrics().
struct LiveMetric {
  std::string stage;  // the graph stage's name
  StageMetric metric;
};

// The time a stage waited from ready to started, for update_queue_waits().
struct StageQueueWait {
  std::string stage;
  std::int64_t queue_wait_ms = 0;
};

// A run with everything recorded about its stages.
struct RunDetails {
  RunSummary summary;
  std::vector<StoredStage> stages;  // in the order recorded
};

// A named value that differs between two runs; std::nullopt where a run lacks it.
struct ValueChange {
  std::string name;
  std::optional<std::string> a{};
  std::optional<std::string> b{};
};

// A metric that differs: different values (NaN equals NaN), or present in one run only.
struct MetricChange {
  std::string name;
  std::optional<std::int64_t> step{};
  std::optional<double> a{};
  std::optional<double> b{};
};

// How one stage differs between two runs. Times, workers, attempts and cache outcomes are not
// compared: they differ between identical reruns.
struct StageDiff {
  std::string stage;
  bool in_a = true;  // false: the stage exists in run b only (nothing else is filled in)
  bool in_b = true;  // false: the stage exists in run a only
  // "type", "status", "cache_key" (hex) and "error", where they differ.
  std::vector<ValueChange> fields{};
  std::vector<ValueChange> params{};   // by name
  std::vector<ValueChange> outputs{};  // by port; values are digest hex
  std::vector<MetricChange> metrics{};
};

// What differs between two runs.
struct RunDiff {
  std::string run_a;
  std::string run_b;
  // "workflow", "status", "seed", "trainflow_version", "compiler", "threads", "host",
  // "manifest" and "error", where they differ.
  std::vector<ValueChange> fields{};
  // Only stages that differ, in run a's recording order, then stages of run b only.
  std::vector<StageDiff> stages{};
};

class RunStore {
 public:
  // Opens the database at `path` (e.g. ".trainflow/runs.db"), creating it, its directory and
  // its schema when absent, and sets WAL mode, synchronous=FULL, foreign keys and the busy
  // timeout. Fails with kDataLoss when the file is not an SQLite database (the file is left
  // as it was), kInvalidArgument when it is another application's database,
  // kFailedPrecondition when its schema is newer than this trainflow understands, kUnavailable
  // when creating the schema waited longer than the busy timeout, or as SQLite reports
  // otherwise (the message names the operation and the path).
  static Result<RunStore> open(const std::filesystem::path& path, RunStoreOptions options = {});

  RunStore(RunStore&&) noexcept;
  RunStore& operator=(RunStore&&) noexcept;
  ~RunStore();  // closes the connection

  // The schema version this trainflow writes (PRAGMA user_version). open() upgrades a database
  // of an older version in place, in one transaction (version 2 added the accounting columns);
  // older trainflows then refuse it.
  static constexpr int kSchemaVersion = 2;

  // Records a new run with status "running". kInvalidArgument for an empty id; kAlreadyExists
  // when the id is taken; kUnavailable when another writer held the database longer than the
  // busy timeout (as for every writing function).
  Status begin_run(const RunInfo& run);

  // Records `stage` of run `run_id`, with its params, outputs and metrics, in one transaction:
  // on any failure nothing of it is stored. This is the commit that says "stage succeeded":
  // the caller must call it only after the stage's artifacts are durable (ArtifactStore::put
  // returned), so a recorded output digest always names a stored artifact. kNotFound when the
  // run does not exist; kAlreadyExists when the run already has a stage of that name, or two
  // params (or outputs) share a name; kInvalidArgument for an empty stage name.
  Status record_stage(std::string_view run_id, const StoredStage& stage);

  // Appends metrics reported while stages ran, in one transaction, after those already stored
  // (a stage's row need not exist yet; its metrics show once it is recorded). kNotFound when the
  // run does not exist; kInvalidArgument when a stage name is empty (nothing is stored then).
  Status append_metrics(std::string_view run_id, std::span<const LiveMetric> metrics);

  // Sets the queue wait of recorded stages of run `run_id`, in one transaction; names not
  // recorded are ignored. For stages recorded before their wait was known. kNotFound when the
  // run does not exist.
  Status update_queue_waits(std::string_view run_id, std::span<const StageQueueWait> waits);

  // Sets the run's status, end time, error and failed stage, and its cost to the sum of its
  // stages' (RunSummary::cost). kNotFound when the run does not exist; kFailedPrecondition
  // when it has already finished; kInvalidArgument when `end.status` is empty or "running".
  Status finish_run(std::string_view run_id, const RunEnd& end);

  // Makes a run that ended without succeeding (failed, cancelled) or whose process died
  // ("running") ready to be finished again by a resume, in one transaction: its status becomes
  // "running" (end, error, failed stage and cost cleared) and the stages recorded with any
  // status but "succeeded" are deleted with their params, outputs and metrics (live metrics of
  // stages never recorded too), so that the resume records them afresh; succeeded stages stay.
  // kNotFound for an unknown run; kFailedPrecondition for a run that succeeded (there is nothing to
  // resume).
  Status reopen_run(std::string_view run_id);

  // The newest `limit` runs (by started_ms, then by insertion), newest first. 0: all.
  Result<std::vector<RunSummary>> runs(std::size_t limit = 0) const;

  // Run `id` with all its stages. kNotFound when there is no such run.
  Result<RunDetails> run(std::string_view id) const;

  // The id of the one run whose id starts with `prefix` (an exact match always wins), like a
  // git revision. kNotFound when none does; kInvalidArgument when several do (the message
  // lists up to 10 of them, newest first) or `prefix` is empty.
  Result<std::string> resolve_id(std::string_view prefix) const;

  // For each stage name of `workflow`, the median wall time in ms of its measured executions
  // (status "succeeded" and not restored or skipped by the cache) over the newest
  // `recent_runs` succeeded runs of the workflow (0: all). Stages never measured are absent.
  Result<std::map<std::string, double, std::less<>>> stage_durations(
      std::string_view workflow, std::size_t recent_runs = 20) const;

  // What differs between runs `a` and `b` (see RunDiff). kNotFound when either is missing.
  Result<RunDiff> diff(std::string_view a, std::string_view b) const;

  // Runs PRAGMA integrity_check and foreign_key_check: ok, or kDataLoss with what they
  // reported.
  Status integrity_check() const;

  // The database file.
  const std::filesystem::path& path() const noexcept;

 private:
  class Connection;
  explicit RunStore(std::unique_ptr<Connection> connection) noexcept;

  std::unique_ptr<Connection> connection_;  // never null except after a move
};

}  // namespace trainflow

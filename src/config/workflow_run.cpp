#include "trainflow/config/workflow_run.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "trainflow/graph/stage_body.hpp"
#include "trainflow/registry/params.hpp"
#include "trainflow/store/run_store.hpp"
#include "trainflow/version.hpp"

namespace trainflow::config {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Reads a small /proc file into `buffer`; the bytes read, or 0 when it cannot be read.
std::size_t read_proc(const char* path, char* buffer, std::size_t size) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::size_t total = 0;
  while (total + 1 < size) {
    const ssize_t n = ::read(fd, buffer + total, size - 1 - total);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buffer[total] = '\0';
  return total;
}

// The number after `key` in `text` ("VmHWM:\t  1234 kB", "rchar: 5678").
std::optional<std::int64_t> field(std::string_view text, std::string_view key) {
  std::size_t at = text.find(key);
  while (at != std::string_view::npos && at != 0 && text[at - 1] != '\n') {
    at = text.find(key, at + 1);
  }
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t i = at + key.size();
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), v);
  if (ec != std::errc{}) return std::nullopt;
  return v;
}

// The process's peak resident set (VmHWM), in bytes.
std::optional<std::int64_t> peak_rss_bytes() {
  char buffer[4096];
  const std::size_t n = read_proc("/proc/self/status", buffer, sizeof buffer);
  const std::optional<std::int64_t> kb = field({buffer, n}, "VmHWM:");
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

// Bytes the calling thread has read and written through system calls (rchar, wchar).
std::optional<std::pair<std::int64_t, std::int64_t>> thread_io_bytes() {
  char buffer[512];
  const std::size_t n = read_proc("/proc/thread-self/io", buffer, sizeof buffer);
  const std::optional<std::int64_t> r = field({buffer, n}, "rchar:");
  const std::optional<std::int64_t> w = field({buffer, n}, "wchar:");
  if (!r || !w) return std::nullopt;
  return std::pair{*r, *w};
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "unknown";
  return buffer;
}

// {"core_hour": 0.04, "gpu_hour": 2.5}, or null.
std::string rates_json(const std::optional<CostRates>& rates) {
  if (!rates) return "null";
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "{\"core_hour\": %.17g, \"gpu_hour\": %.17g}",
                rates->core_hour, rates->gpu_hour);
  return buffer;
}

// Everything the manifest needs to repeat the run: the source (as the caller describes it), the
// seed and worker count, the cost rates, trainflow's version, and each stage's type and
// parameters.
std::string manifest(const Workflow& wf, const WorkflowRunOptions& options, unsigned workers) {
  std::string m =
      "{\"format\": 1, \"workflow\": " + json_string(wf.name) +
      ", \"seed\": " + std::to_string(wf.seed) + ", \"threads\": " + std::to_string(workers) +
      ", \"trainflow\": " + json_string(kVersion) + ", \"source\": " +
      (options.manifest_source_json.empty() ? "null" : options.manifest_source_json) +
      ", \"cost\": " + rates_json(options.rates ? options.rates : wf.cost) + ", \"stages\": [";
  for (std::size_t i = 0; i < wf.stages.size(); ++i) {
    const WorkflowStage& s = wf.stages[i];
    if (i > 0) m += ", ";
    m += "{\"name\": " + json_string(s.name) + ", \"type\": " + json_string(s.type) +
         ", \"params\": " + json_string(s.params.canonical()) + "}";
  }
  return m + "]}";
}

// What a stage's bodies used, summed over its attempts (measured around each body).
struct Usage {
  bool measured = false;  // a body ran
  double wall_ms = 0;
  double cpu_ms = 0;
  unsigned threads = 0;  // the largest grant seen
  std::optional<std::int64_t> rss_growth;
  std::optional<std::int64_t> bytes_read;
  std::optional<std::int64_t> bytes_written;
  bool asynchronous = false;  // a body deferred: its IO happened elsewhere
};

// What the stage bodies share: the metrics they produced, what they used, and whether their row
// is written.
struct Tap {
  const Workflow* wf = nullptr;
  std::shared_ptr<StageCache> cache;
  RunStore* store = nullptr;
  std::string run_id;
  std::int64_t run_started_ms = 0;  // RunInfo::started_ms: stage times are recorded from it
  std::optional<CostRates> rates;
  std::vector<ml::Metrics> metrics;  // per graph stage; written by its body only
  std::unique_ptr<bool[]> recorded;  // per graph stage; written by its body, or up front
  // Per graph stage. Guarded by `mu`: a timed-out attempt may still run beside its retry.
  std::vector<Usage> usage;
  std::mutex mu;
};

// Fills in `row`'s accounting from what the stage's bodies used (wall and CPU time too, when a
// body ran), its declared demand and the rates.
void account(Tap& tap, StageId s, StoredStage& row) {
  const StageSpec& spec = tap.wf->graph.stage(s);
  Usage u;
  {
    std::lock_guard lock(tap.mu);
    u = tap.usage[s];
  }
  double wall_ms = static_cast<double>(row.wall_ms);
  // An asynchronous stage's work happens outside its body: its times are the report's.
  if (u.measured && !u.asynchronous) {
    wall_ms = u.wall_ms;
    row.wall_ms = static_cast<std::int64_t>(u.wall_ms);
    row.cpu_ms = static_cast<std::int64_t>(u.cpu_ms);
    row.peak_rss_growth_bytes = u.rss_growth;
    row.bytes_read = u.bytes_read;
    row.bytes_written = u.bytes_written;
  }
  const unsigned threads = u.threads ? u.threads : std::max(1u, spec.threads);
  row.threads = threads;
  row.gpus = spec.resources.gpus;
  if (row.gpus > 0) {
    row.gpu_ms = static_cast<std::int64_t>(wall_ms * row.gpus);
    row.gpu_memory_bytes = static_cast<std::int64_t>(spec.resources.gpu_memory_bytes * row.gpus);
  }
  if (tap.rates) row.cost = stage_cost(wall_ms, threads, row.gpus, *tap.rates);
}

StoredStage stored_stage(const Tap& tap, StageId s, std::string_view status) {
  const WorkflowStage& ws = tap.wf->stages[s];
  const StageCacheRecord& cached = tap.cache->record(s);
  StoredStage row;
  row.name = ws.name;
  row.type = ws.type;
  row.status = std::string(status);
  row.cache_outcome = std::string(to_string(cached.outcome));
  row.cache_key = cached.key;
  row.params_canonical = ws.params.canonical();
  for (const auto& [name, value] : ws.params.values()) {
    row.params.push_back({name, to_string(value)});
  }
  const StageSpec& spec = tap.wf->graph.stage(s);
  for (std::size_t i = 0; i < cached.outputs.size() && i < spec.outputs.size(); ++i) {
    if (cached.outputs[i]) row.outputs.push_back({spec.outputs[i].name, *cached.outputs[i]});
  }
  for (const auto& [name, value] : tap.metrics[s]) row.metrics.push_back({name, value, {}});
  return row;
}

// Wraps a stage's (cache-wrapped) body: keeps its metrics, and records it in the run store as
// soon as it has stored its outputs.
class TapBody final : public StageBody {
 public:
  TapBody(std::shared_ptr<Tap> tap, StageId stage, std::shared_ptr<StageBody> inner)
      : tap_(std::move(tap)), stage_(stage), inner_(std::move(inner)) {}

  void invoke(StageCall& call) override {
    const unsigned threads_before = call.context().threads();
    const std::optional<std::int64_t> rss_before = peak_rss_bytes();
    const auto io_before = thread_io_bytes();
    const auto start = std::chrono::steady_clock::now();
    const double cpu = thread_cpu_ms();
    try {
      inner_->invoke(call);
    } catch (...) {
      measure(call, start, cpu, threads_before, rss_before, io_before);
      throw;
    }
    measure(call, start, cpu, threads_before, rss_before, io_before);
    if (call.deferred() || !call.status().ok()) return;
    for (std::uint32_t i = 0; i < call.num_outputs(); ++i) {
      const Value& v = call.output(i);
      if (v.has_value() && v.type() == type_id<ml::Metrics>()) {
        for (const auto& [name, value] : v.get<ml::Metrics>()) tap_->metrics[stage_][name] = value;
      }
    }
    // Work that was stored is committed now, after its artifacts are durable: a run killed
    // later never redoes it.
    if (tap_->store == nullptr || tap_->recorded[stage_] ||
        tap_->cache->record(stage_).outcome != CacheOutcome::kStored) {
      return;
    }
    StoredStage row = stored_stage(*tap_, stage_, "succeeded");
    row.attempts = call.context().attempt();
    account(*tap_, stage_, row);
    row.ended_ms = now_ms() - tap_->run_started_ms;
    row.started_ms = row.ended_ms - row.wall_ms;
    row.worker = call.context().worker();
    if (Status s = tap_->store->record_stage(tap_->run_id, row); !s.ok()) {
      call.fail(Status(s.code(), "recording the stage in the run store: " + s.message()));
      return;
    }
    tap_->recorded[stage_] = true;
  }

 private:
  // Adds this attempt's use to the stage's.
  void measure(StageCall& call, std::chrono::steady_clock::time_point start, double cpu,
               unsigned threads_before, std::optional<std::int64_t> rss_before,
               std::optional<std::pair<std::int64_t, std::int64_t>> io_before) {
    const double wall =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const double cpu_used = thread_cpu_ms() - cpu;
    const unsigned threads = std::max(threads_before, call.context().threads());
    const std::optional<std::int64_t> rss_after = peak_rss_bytes();
    const auto io_after = thread_io_bytes();
    std::lock_guard lock(tap_->mu);
    Usage& u = tap_->usage[stage_];
    u.measured = true;
    u.wall_ms += wall;
    u.cpu_ms += cpu_used;
    u.threads = std::max(u.threads, threads);
    if (rss_before && rss_after) {
      u.rss_growth = u.rss_growth.value_or(0) + std::max<std::int64_t>(0, *rss_after - *rss_before);
    }
    if (call.deferred()) u.asynchronous = true;
    if (io_before && io_after) {
      u.bytes_read = u.bytes_read.value_or(0) + (io_after->first - io_before->first);
      u.bytes_written = u.bytes_written.value_or(0) + (io_after->second - io_before->second);
    }
  }

  std::shared_ptr<Tap> tap_;
  StageId stage_;
  std::shared_ptr<StageBody> inner_;
};

}  // namespace

std::string new_run_id() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::ostringstream out;
  out << std::put_time(&utc, "%Y%m%dT%H%M%SZ") << '-' << std::hex << std::setw(6)
      << std::setfill('0') << (std::random_device{}() & 0xffffffU);
  return out.str();
}

double stage_cost(double wall_ms, unsigned threads, unsigned gpus,
                  const CostRates& rates) noexcept {
  return wall_ms / 3.6e6 * (threads * rates.core_hour + gpus * rates.gpu_hour);
}

Result<ExecutionOptions> execution_options(const Workflow& wf, const WorkflowRunOptions& options,
                                           const RunStore* store, std::string run_id) {
  ExecutionOptions out;
  out.executor.threads =
      options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  out.executor.capacity = options.capacity;
  out.run.seed = wf.seed;
  out.run.observers = options.observers;
  out.run.run_id = std::move(run_id);
  if (store) {
    Result<std::map<std::string, double, std::less<>>> durations = store->stage_durations(wf.name);
    if (!durations) return std::move(durations).error();
    for (const auto& [name, ms] : *durations) {
      out.run.expected_durations.emplace(name, std::chrono::nanoseconds(std::llround(ms * 1e6)));
    }
  }
  return out;
}

MetricRecorder::MetricRecorder(RunStore& store, std::string run_id, Options options)
    : store_(&store), run_id_(std::move(run_id)), options_(options) {}

void MetricRecorder::on_event(const Event& event) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (event.kind == EventKind::kMetric) {
    if (pending_.size() >= options_.max_pending) {
      ++dropped_;
    } else {
      try {
        if (pending_.empty()) oldest_ = now;
        std::optional<std::int64_t> step;
        if (event.step >= 0) step = event.step;
        pending_.push_back(
            {std::string(event.stage), {std::string(event.metric), event.value, step}});
      } catch (...) {  // out of memory: lose the row, not the run
        ++dropped_;
      }
    }
  }
  if (pending_.empty()) return;
  if (event.kind == EventKind::kRunFinished || pending_.size() >= options_.batch_rows ||
      now - oldest_ >= options_.flush_interval) {
    (void)flush_locked();
  }
}

Status MetricRecorder::flush() {
  std::lock_guard lock(mu_);
  return flush_locked();
}

Status MetricRecorder::flush_locked() {
  if (pending_.empty()) return ok_status();
  Status s;
  try {
    s = store_->append_metrics(run_id_, pending_);
  } catch (...) {
    s = internal_error("recording live metrics: out of memory");
  }
  if (!s.ok()) {
    dropped_ += pending_.size();
    if (error_.ok()) error_ = s;
  }
  pending_.clear();
  return s;
}

Status MetricRecorder::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

std::uint64_t MetricRecorder::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

Result<WorkflowRun> run_workflow(Workflow wf, const WorkflowRunOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.workdir, ec);
  if (ec) {
    return failed_precondition(options.workdir.string() +
                               ": cannot create the work directory: " + ec.message());
  }
  const unsigned workers =
      options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());

  // --force names a stage of the file (every trial) or a graph stage.
  std::vector<std::string> force;
  for (const std::string& name : options.force) {
    if (const auto group = wf.groups.find(name); group != wf.groups.end()) {
      for (StageId id : group->second) force.push_back(wf.stages[id].name);
    } else if (wf.ids.contains(name)) {
      force.push_back(name);
    } else {
      std::vector<std::string> names;
      for (const auto& [group_name, ids] : wf.groups) names.push_back(group_name);
      std::string message = "--force: no stage called '" + name + "' in " + wf.name;
      if (std::optional<std::string> near = closest_match(name, names)) {
        message += "; did you mean '" + *near + "'?";
      }
      return not_found(std::move(message));
    }
  }
  std::vector<std::string> exclude;
  for (const WorkflowStage& s : wf.stages) {
    if (!s.settings.cache) exclude.push_back(s.name);
  }

  std::optional<RunStore> store;
  std::set<std::string, std::less<>> already_recorded;
  std::string run_id = options.run_id.empty() ? new_run_id() : options.run_id;
  std::int64_t run_started_ms = now_ms();
  if (options.record) {
    Result<RunStore> opened = RunStore::open(options.workdir / "runs.db");
    if (!opened) return std::move(opened).error();
    store.emplace(std::move(*opened));
    if (options.resume) {
      if (Status s = store->reopen_run(run_id); !s.ok()) return s;
      Result<RunDetails> previous = store->run(run_id);
      if (!previous) return std::move(previous).error();
      for (const StoredStage& s : previous->stages) already_recorded.insert(s.name);
      run_started_ms = previous->summary.info.started_ms;
    } else {
      RunInfo info{.id = run_id,
                   .workflow = wf.name,
                   .seed = wf.seed,
                   .started_ms = run_started_ms,
                   .host = host_name(),
                   .trainflow_version = kVersion,
                   .compiler = __VERSION__,
                   .threads = workers,
                   .manifest_json = manifest(wf, options, workers)};
      if (Status s = store->begin_run(info); !s.ok()) return s;
    }
  }

  Result<std::shared_ptr<StageCache>> cache =
      StageCache::attach(wf.graph, {.workdir = options.workdir,
                                    .read = options.cache,
                                    .force = force,
                                    .verify = options.verify,
                                    .always_load = {type_id<ml::Metrics>()},
                                    .exclude = exclude,
                                    .run_seed = wf.seed,
                                    .workers = workers});
  if (!cache) return std::move(cache).error();

  Result<ExecutionOptions> exec = execution_options(wf, options, store ? &*store : nullptr, run_id);
  if (!exec) return std::move(exec).error();

  const std::size_t n = wf.graph.size();
  auto tap = std::make_shared<Tap>();
  tap->wf = &wf;
  tap->cache = *cache;
  tap->store = store ? &*store : nullptr;
  tap->run_id = run_id;
  tap->run_started_ms = run_started_ms;
  tap->rates = options.rates ? options.rates : wf.cost;
  tap->metrics.resize(n);
  tap->recorded = std::make_unique<bool[]>(n);
  tap->usage.resize(n);
  for (StageId s = 0; s < n; ++s) {
    tap->recorded[s] = already_recorded.contains(wf.stages[s].name);
    wf.graph.set_body(s, std::make_shared<TapBody>(tap, s, wf.graph.stage(s).body));
  }

  std::shared_ptr<MetricRecorder> recorder;
  if (store) {
    recorder = std::make_shared<MetricRecorder>(*store, run_id);
    exec->run.observers.push_back(recorder);
  }
  Executor executor{std::move(exec->executor)};
  const RunHandle handle = executor.submit(wf.graph, std::move(exec->run));
  if (options.on_start) options.on_start(handle);
  WorkflowRun result;
  result.run_id = run_id;
  result.report = handle.wait();
  const RunReport& report = result.report;
  // kRunFinished flushed it; this catches rows of an executor that delivers no events.
  if (recorder) (void)recorder->flush();
  std::vector<StageQueueWait> waits;  // of the stages recorded as they succeeded

  for (StageId s = 0; s < n; ++s) {
    const StageRecord r = report.stage(s);
    const StageCacheRecord& cached = (*cache)->record(s);
    StageOutcome out;
    out.name = wf.stages[s].name;
    out.type = wf.stages[s].type;
    out.status = r.status;
    out.attempts = r.attempts;
    out.wall_ms = static_cast<double>(r.wall.count()) / 1e6;
    out.cpu_ms = static_cast<double>(r.cpu.count()) / 1e6;
    out.cache = cached.outcome;
    out.cache_key = cached.key;
    out.note = cached.note;
    out.metrics = tap->metrics[s];
    if (cached.outcome == CacheOutcome::kMismatch) result.mismatches.push_back(out.name);
    const std::int64_t queue_wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(r.queue_wait).count();
    if (store && tap->recorded[s] && r.attempts > 0 && !already_recorded.contains(out.name)) {
      waits.push_back({out.name, queue_wait_ms});
    }
    if (store && !tap->recorded[s]) {
      StoredStage row = stored_stage(*tap, s, to_string(r.status));
      row.attempts = r.attempts;
      row.wall_ms = static_cast<std::int64_t>(out.wall_ms);
      row.cpu_ms = static_cast<std::int64_t>(out.cpu_ms);
      row.queue_wait_ms = queue_wait_ms;
      row.worker = r.worker;
      row.started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.start).count();
      row.ended_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.end).count();
      account(*tap, s, row);
      if (r.status == StageStatus::kFailed && report.failed_stage() == out.name) {
        row.error = report.error().message();
      }
      // A stage the run never reached is recorded by the run that reaches it (resume).
      if (r.status != StageStatus::kPending && r.attempts > 0) {
        if (Status st = store->record_stage(run_id, row); !st.ok()) return st;
      }
    }
    result.stages.push_back(std::move(out));
  }
  if (store && !waits.empty()) {
    if (Status st = store->update_queue_waits(run_id, waits); !st.ok()) return st;
  }
  if (store) {
    RunEnd end{.status = std::string(to_string(report.status())), .ended_ms = now_ms()};
    if (!report.ok()) {
      end.error = report.error().message();
      end.failed_stage = std::string(report.failed_stage());
    }
    if (Status s = store->finish_run(run_id, end); !s.ok()) return s;
  }
  return result;
}

}  // namespace trainflow::config

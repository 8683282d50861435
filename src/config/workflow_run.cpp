#include "trainflow/config/workflow_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <memory>
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

// Everything the manifest needs to repeat the run: the source (as the caller describes it), the
// seed and worker count, trainflow's version, and each stage's type and parameters.
std::string manifest(const Workflow& wf, const WorkflowRunOptions& options, unsigned workers) {
  std::string m = "{\"format\": 1, \"workflow\": " + json_string(wf.name) +
                  ", \"seed\": " + std::to_string(wf.seed) +
                  ", \"threads\": " + std::to_string(workers) +
                  ", \"trainflow\": " + json_string(kVersion) + ", \"source\": " +
                  (options.manifest_source_json.empty() ? "null" : options.manifest_source_json) +
                  ", \"stages\": [";
  for (std::size_t i = 0; i < wf.stages.size(); ++i) {
    const WorkflowStage& s = wf.stages[i];
    if (i > 0) m += ", ";
    m += "{\"name\": " + json_string(s.name) + ", \"type\": " + json_string(s.type) +
         ", \"params\": " + json_string(s.params.canonical()) + "}";
  }
  return m + "]}";
}

// What the stage bodies share: the metrics they produced and whether their row is written.
struct Tap {
  const Workflow* wf = nullptr;
  std::shared_ptr<StageCache> cache;
  RunStore* store = nullptr;
  std::string run_id;
  std::vector<ml::Metrics> metrics;  // per graph stage; written by its body only
  std::unique_ptr<bool[]> recorded;  // per graph stage; written by its body, or up front
  std::vector<std::pair<double, double>> times;  // wall and CPU ms, measured around the body
};

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
    const auto start = std::chrono::steady_clock::now();
    const double cpu = thread_cpu_ms();
    inner_->invoke(call);
    if (call.deferred() || !call.status().ok()) return;
    tap_->times[stage_] = {
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
        thread_cpu_ms() - cpu};
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
    row.attempts = 1;
    row.wall_ms = static_cast<std::int64_t>(tap_->times[stage_].first);
    row.cpu_ms = static_cast<std::int64_t>(tap_->times[stage_].second);
    row.started_ms = now_ms() - row.wall_ms;
    row.ended_ms = now_ms();
    if (Status s = tap_->store->record_stage(tap_->run_id, row); !s.ok()) {
      call.fail(Status(s.code(), "recording the stage in the run store: " + s.message()));
      return;
    }
    tap_->recorded[stage_] = true;
  }

 private:
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
  if (options.record) {
    Result<RunStore> opened = RunStore::open(options.workdir / "runs.db");
    if (!opened) return std::move(opened).error();
    store.emplace(std::move(*opened));
    if (options.resume) {
      if (Status s = store->reopen_run(run_id); !s.ok()) return s;
      Result<RunDetails> previous = store->run(run_id);
      if (!previous) return std::move(previous).error();
      for (const StoredStage& s : previous->stages) already_recorded.insert(s.name);
    } else {
      RunInfo info{.id = run_id,
                   .workflow = wf.name,
                   .seed = wf.seed,
                   .started_ms = now_ms(),
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

  const std::size_t n = wf.graph.size();
  auto tap = std::make_shared<Tap>();
  tap->wf = &wf;
  tap->cache = *cache;
  tap->store = store ? &*store : nullptr;
  tap->run_id = run_id;
  tap->metrics.resize(n);
  tap->recorded = std::make_unique<bool[]>(n);
  tap->times.resize(n);
  for (StageId s = 0; s < n; ++s) {
    tap->recorded[s] = already_recorded.contains(wf.stages[s].name);
    wf.graph.set_body(s, std::make_shared<TapBody>(tap, s, wf.graph.stage(s).body));
  }

  Executor executor{{.threads = workers}};
  RunOptions run_options{.seed = wf.seed, .observers = options.observers, .run_id = run_id};
  const RunHandle handle = executor.submit(wf.graph, std::move(run_options));
  if (options.on_start) options.on_start(handle);
  WorkflowRun result;
  result.run_id = run_id;
  result.report = handle.wait();
  const RunReport& report = result.report;

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
    if (store && !tap->recorded[s]) {
      StoredStage row = stored_stage(*tap, s, to_string(r.status));
      row.attempts = r.attempts;
      row.wall_ms = static_cast<std::int64_t>(out.wall_ms);
      row.cpu_ms = static_cast<std::int64_t>(out.cpu_ms);
      row.worker = r.worker;
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

// chrome_trace(): RunDetails -> Trace Event Format JSON.
#include "trainflow/observe/trace.hpp"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "observe/log_time.hpp"

namespace trainflow::observe {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kRunPid = 1;
constexpr int kQueuePid = 2;
constexpr int kRunTid = 0;  // the run's own track; worker w is tid w + 1

// Microseconds from milliseconds.
std::int64_t us(std::int64_t ms) {
  return ms * 1000;
}

Json metadata(const char* name, int pid, std::int64_t tid, const std::string& value) {
  return Json{{"name", name}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", value}}}};
}

Json sort_index(int pid, std::int64_t tid, std::int64_t index) {
  return Json{{"name", "thread_sort_index"},
              {"ph", "M"},
              {"pid", pid},
              {"tid", tid},
              {"args", {{"sort_index", index}}}};
}

// Whether the stage started at all (else it has no times worth drawing).
bool ran(const StoredStage& s) {
  return s.attempts > 0 || s.status == "succeeded" || s.status == "failed";
}

bool from_cache(const StoredStage& s) {
  return s.cache_outcome == "restored" || s.cache_outcome == "skipped";
}

}  // namespace

std::string chrome_trace(const RunDetails& run) {
  const RunSummary& summary = run.summary;
  Json events = Json::array();
  std::string process = "run " + summary.info.id;
  if (!summary.info.workflow.empty()) process += " (" + summary.info.workflow + ")";
  events.push_back(metadata("process_name", kRunPid, kRunTid, process));
  events.push_back(Json{{"name", "process_sort_index"},
                        {"ph", "M"},
                        {"pid", kRunPid},
                        {"tid", kRunTid},
                        {"args", {{"sort_index", 0}}}});
  events.push_back(metadata("thread_name", kRunPid, kRunTid, "run"));
  events.push_back(sort_index(kRunPid, kRunTid, 0));

  // The run's slice: to its end, or while running to the last stage's end.
  std::int64_t end_ms = 0;
  for (const StoredStage& s : run.stages) {
    if (ran(s)) end_ms = std::max(end_ms, s.ended_ms);
  }
  if (summary.ended_ms) end_ms = std::max(end_ms, *summary.ended_ms - summary.info.started_ms);
  Json run_args = {{"status", summary.status}, {"stages", run.stages.size()}};
  if (!summary.error.empty()) run_args["error"] = summary.error;
  if (!summary.failed_stage.empty()) run_args["failed_stage"] = summary.failed_stage;
  if (summary.cost) run_args["cost"] = *summary.cost;
  events.push_back(Json{{"name", "run " + summary.info.id},
                        {"cat", "run"},
                        {"ph", "X"},
                        {"pid", kRunPid},
                        {"tid", kRunTid},
                        {"ts", 0},
                        {"dur", us(end_ms)},
                        {"args", std::move(run_args)}});

  std::set<unsigned> workers;
  for (const StoredStage& s : run.stages) {
    if (!ran(s)) continue;
    workers.insert(s.worker);
    std::string name = s.name;
    std::string category = "stage";
    if (s.attempts > 1) {
      name += " (" + std::to_string(s.attempts) + " attempts)";
      category += ",retried";
    }
    if (from_cache(s)) category += ",cache";
    if (s.status == "failed") category += ",failed";
    Json args = {{"type", s.type},     {"status", s.status},   {"attempts", s.attempts},
                 {"worker", s.worker}, {"wall_ms", s.wall_ms}, {"cpu_ms", s.cpu_ms}};
    if (!s.cache_outcome.empty()) args["cache"] = s.cache_outcome;
    if (s.queue_wait_ms) args["queue_wait_ms"] = *s.queue_wait_ms;
    if (s.threads) args["threads"] = *s.threads;
    if (s.gpus > 0) args["gpus"] = s.gpus;
    if (s.peak_rss_growth_bytes) args["peak_rss_growth_bytes"] = *s.peak_rss_growth_bytes;
    if (s.bytes_read) args["bytes_read"] = *s.bytes_read;
    if (s.bytes_written) args["bytes_written"] = *s.bytes_written;
    if (s.gpu_ms) args["gpu_ms"] = *s.gpu_ms;
    if (s.gpu_memory_bytes) args["gpu_memory_bytes"] = *s.gpu_memory_bytes;
    if (s.cost) args["cost"] = *s.cost;
    if (!s.error.empty()) args["error"] = s.error;
    Json slice = {{"name", std::move(name)},
                  {"cat", std::move(category)},
                  {"ph", "X"},
                  {"pid", kRunPid},
                  {"tid", static_cast<std::int64_t>(s.worker) + 1},
                  {"ts", us(s.started_ms)},
                  {"dur", us(std::max<std::int64_t>(0, s.ended_ms - s.started_ms))},
                  {"args", std::move(args)}};
    if (s.status == "failed") slice["cname"] = "terrible";
    events.push_back(std::move(slice));
  }
  for (const unsigned w : workers) {
    const std::int64_t tid = static_cast<std::int64_t>(w) + 1;
    events.push_back(metadata("thread_name", kRunPid, tid, "worker " + std::to_string(w)));
    events.push_back(sort_index(kRunPid, tid, tid));
  }

  // Queue waits, in ready order, each on the first lane free at its ready time.
  struct Wait {
    std::int64_t ready_ms;
    std::int64_t started_ms;
    const StoredStage* stage;
  };
  std::vector<Wait> waits;
  for (const StoredStage& s : run.stages) {
    if (!ran(s) || !s.queue_wait_ms || *s.queue_wait_ms <= 0) continue;
    waits.push_back({s.started_ms - *s.queue_wait_ms, s.started_ms, &s});
  }
  std::stable_sort(waits.begin(), waits.end(),
                   [](const Wait& a, const Wait& b) { return a.ready_ms < b.ready_ms; });
  std::vector<std::int64_t> lane_free;  // per lane, when its last slice ends
  for (const Wait& w : waits) {
    std::size_t lane = 0;
    while (lane < lane_free.size() && lane_free[lane] > w.ready_ms) ++lane;
    if (lane == lane_free.size()) lane_free.push_back(0);
    lane_free[lane] = w.started_ms;
    events.push_back(
        Json{{"name", w.stage->name + " (queued)"},
             {"cat", "queue"},
             {"ph", "X"},
             {"pid", kQueuePid},
             {"tid", static_cast<std::int64_t>(lane) + 1},
             {"ts", us(w.ready_ms)},
             {"dur", us(w.started_ms - w.ready_ms)},
             {"args", {{"stage", w.stage->name}, {"queue_wait_ms", w.started_ms - w.ready_ms}}}});
  }
  if (!lane_free.empty()) {
    events.push_back(metadata("process_name", kQueuePid, 0, "queue"));
    events.push_back(Json{{"name", "process_sort_index"},
                          {"ph", "M"},
                          {"pid", kQueuePid},
                          {"tid", 0},
                          {"args", {{"sort_index", 1}}}});
    for (std::size_t lane = 0; lane < lane_free.size(); ++lane) {
      const auto tid = static_cast<std::int64_t>(lane) + 1;
      events.push_back(metadata("thread_name", kQueuePid, tid, "queue " + std::to_string(tid)));
      events.push_back(sort_index(kQueuePid, tid, tid));
    }
  }

  Json other = {{"run_id", summary.info.id},
                {"workflow", summary.info.workflow},
                {"status", summary.status},
                {"host", summary.info.host},
                {"started", iso_utc_ms(summary.info.started_ms)},
                {"trainflow", summary.info.trainflow_version}};
  const Json trace = {{"traceEvents", std::move(events)},
                      {"displayTimeUnit", "ms"},
                      {"otherData", std::move(other)}};
  return trace.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace trainflow::observe

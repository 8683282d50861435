// LiveStatus: an Observer that keeps the state of one run as it goes on, for the live HTTP
// status (observe/status_server.hpp) and for embedders that want to show progress their way.
//
// It is built from the run's Graph, so it knows every stage, its kind, its declared resources
// and the edges before anything runs; then each Event (exec/observer.hpp) updates the stage it
// names. At any time json() and prometheus() render a consistent snapshot.
//
//   auto live = std::make_shared<trainflow::observe::LiveStatus>(pipeline.graph());
//   auto server = trainflow::observe::StatusServer::start(live);   // http://127.0.0.1:PORT/
//   executor.run(pipeline, {.observers = {live}});
//
// Memory is bounded: every metric series keeps at most `max_points_per_series` points (see
// LiveStatusOptions), a stage keeps at most `max_series_per_stage` series, and messages are
// truncated to `max_message_bytes`.
//
// Thread safety: every member may be called concurrently (on_event from the executor's delivery
// thread, json() and prometheus() from a server's thread); a mutex serialises them. The Graph
// is copied at construction and need not outlive the LiveStatus.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "trainflow/exec/observer.hpp"

namespace trainflow {
class Graph;
}

namespace trainflow::observe {

// What a stage is doing, as seen by a LiveStatus. Extends StageStatus with the states that only
// exist while a run goes on (running) or that the report folds into succeeded (cached).
enum class LiveStageStatus : std::uint8_t {
  kPending,    // not started yet
  kRunning,    // an attempt is under way (or waiting for its retry backoff)
  kSucceeded,  // ran and succeeded
  kFailed,     // failed for good
  kSkipped,    // a stage it depends on failed or was skipped
  kCancelled,  // the run was cancelled or stopped before it
  kCached,     // succeeded with its outputs from the stage cache
};

// "pending", "running", "succeeded", "failed", "skipped", "cancelled", "cached".
std::string_view to_string(LiveStageStatus status) noexcept;

struct LiveStatusOptions {
  // Points kept per metric series (a stage's metric name). Default 1000: enough for a curve on a
  // screen while keeping /api/run small enough to fetch every second. When a series is full,
  // every second point is dropped and from then on only every second reported point is kept (the
  // stride doubles each time), so a series always spans the whole run at an even resolution; the
  // latest reported point is always shown in addition. REQUIRES: >= 2.
  std::size_t max_points_per_series = 1000;
  // Series kept per stage. Default 64. Metrics with further names are ignored and counted
  // (`metric_events_ignored`).
  std::size_t max_series_per_stage = 64;
  // Error and retry messages are cut to this many bytes (on a UTF-8 boundary). Default 4096.
  std::size_t max_message_bytes = 4096;
  // The steady clock that measures how long a running run or stage has been going. Default
  // null: std::chrono::steady_clock::now. Tests inject a fake.
  std::function<std::chrono::steady_clock::time_point()> now{};
};

class LiveStatus final : public Observer {
 public:
  // Copies what it needs of `graph` (stage names, kinds, declared resources, edges); every stage
  // starts pending and the run "pending" until kRunStarted arrives.
  explicit LiveStatus(const Graph& graph, LiveStatusOptions options = {});
  ~LiveStatus() override;
  LiveStatus(const LiveStatus&) = delete;
  LiveStatus& operator=(const LiveStatus&) = delete;

  // Folds one event into the state. Events naming a stage index outside the graph are ignored.
  // Never throws (a failed allocation drops the event's series point).
  void on_event(const Event& event) override;

  // The /api/run document (UTF-8 JSON), described in docs/serve.md: the run (id, graph, status,
  // elapsed, error), counters, every stage (status, attempts, worker, threads, times in seconds,
  // queue wait, progress, last error, metric series) and the DAG's edges.
  std::string json() const;

  // The /metrics document in the Prometheus text exposition format 0.0.4; every metric is listed
  // in docs/serve.md. Labels carry only the stage's name without a sweep trial's bracketed
  // parameters ("train[l2=0.1]" -> stage="train", trial="0": the trial's position among the
  // graph's stages of that name), the metric's name and status names: never paths or parameter
  // values.
  std::string prometheus() const;

  // True once kRunFinished arrived.
  bool finished() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace trainflow::observe

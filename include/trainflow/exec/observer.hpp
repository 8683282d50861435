// Observers: what a run tells the outside while it goes on.
//
// An Observer receives an Event for every run start and end, stage start, end, failure and
// retry, cache hit, progress report and metric, each with its time, worker and device:
//
//   struct Printer final : trainflow::Observer {
//     void on_event(const trainflow::Event& e) override {
//       if (e.kind == trainflow::EventKind::kMetric) std::cout << e.metric << ' ' << e.value <<
//       '\n';
//     }
//   };
//   executor.run(pipeline, {.observers = {std::make_shared<Printer>()}});
//
// Delivery: events are queued by the threads that produce them and delivered on one thread of
// the executor's own (never a worker), a few milliseconds later. So an observer never slows a
// stage down, and needs no locking against itself. Order is causal: the events of a stage arrive
// in order (started, [progress, metric, retry, ...], finished or failed), a stage starts after
// its predecessors have ended, a worker's events come in the order it timed them, kRunStarted
// is the run's first event and kRunFinished its last, delivered before RunHandle::wait()
// returns. Events of stages that run at the same time on different workers come in time order,
// except when a worker is descheduled between timing an event and queueing it for longer than
// a delivery pass (about a millisecond): that event then comes after later-timed events of the
// stages running beside it. Sort by `since_start` where a strict time line is needed.
//
// A failing observer never breaks a run: an exception from on_event is caught, and that
// observer receives nothing more of the run. An observer that is slow only delays delivery;
// if undelivered events pile up past a bound, further ones are dropped and counted in
// kRunFinished's `dropped`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "trainflow/exec/log_level.hpp"
#include "trainflow/exec/run_report.hpp"

namespace trainflow {

enum class EventKind : std::uint8_t {
  kRunStarted,     // the run begins; stage fields empty
  kRunFinished,    // the run ended: `run_status`, `message` (its error), `dropped`
  kStageStarted,   // an attempt starts on `worker` with `threads`; `queue_wait` since ready
  kStageFinished,  // the stage resolved: `status` (succeeded, skipped, cancelled; failed ones
                   // come as kStageFailed), `wall`, `cpu`
  kStageFailed,    // the stage failed for good: `message`
  kStageRetry,     // attempt `attempt` failed (`message`); another runs after `backoff`
  kCacheHit,       // the stage's outputs came from the stage cache instead of running
  kProgress,       // the stage reported `value` in [0, 1] of its work done
  kMetric,         // the stage reported metric `metric` = `value` at `step` (-1: no step)
  kGrantChanged,   // a running stage's thread grant changed to `threads`
  kLog,            // the stage logged `message` at `level` (StageContext::log)
};

std::string_view to_string(EventKind kind) noexcept;

// One event. Its string_views are valid during on_event only.
struct Event {
  EventKind kind = EventKind::kRunStarted;
  // When it happened: wall-clock time, and time since the run started (steady clock).
  std::chrono::system_clock::time_point time{};
  std::chrono::nanoseconds since_start{0};
  // RunOptions::run_id (may be empty) and the graph's name.
  std::string_view run_id{};
  std::string_view graph{};
  // The stage; empty name and index UINT32_MAX for run events.
  std::string_view stage{};
  std::uint32_t stage_index = UINT32_MAX;
  std::uint32_t attempt = 0;                   // 1-based; 0 for run events
  int worker = -1;                             // the worker thread, -1 when none (a foreign thread)
  int device = -1;                             // the GPU, -1 for CPU work
  unsigned threads = 0;                        // the stage's thread grant
  StageStatus status = StageStatus::kPending;  // kStageFinished, kStageFailed
  RunStatus run_status = RunStatus::kSucceeded;  // kRunFinished
  std::chrono::nanoseconds queue_wait{0};        // kStageStarted: from ready to started
  std::chrono::nanoseconds backoff{0};           // kStageRetry
  std::chrono::nanoseconds wall{0};              // kStageFinished, kStageFailed
  std::chrono::nanoseconds cpu{0};
  std::string_view message{};        // kStageFailed, kStageRetry, kRunFinished: the error
  std::string_view metric{};         // kMetric
  double value = 0;                  // kMetric, kProgress
  std::int64_t step = -1;            // kMetric
  std::uint64_t dropped = 0;         // kRunFinished: events dropped because observers fell behind
  LogLevel level = LogLevel::kInfo;  // kLog
};

class Observer {
 public:
  virtual ~Observer() = default;
  // Called on the executor's delivery thread, one event at a time. May throw: see above.
  virtual void on_event(const Event& event) = 0;
};

}  // namespace trainflow

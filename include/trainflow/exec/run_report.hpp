// RunReport: what happened in one run — the run's status, the first failure, and for every stage
// its status, attempts, worker, times; plus the values of outputs that nothing consumed.
//
//   trainflow::RunReport report = executor.run(pipeline);
//   if (!report.ok()) std::cerr << report.error().message() << '\n';
//   std::cout << report.to_string();            // one line per stage
//   const double* auc = report.value(score);     // a sink's value, or nullptr
//
// A RunReport is an immutable value: cheap to copy (shared), safe to read from any thread, and
// independent of the Executor and Pipeline after the run ended.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "trainflow/core/status.hpp"
#include "trainflow/graph/handle.hpp"
#include "trainflow/graph/value.hpp"

namespace trainflow {

enum class StageStatus : std::uint8_t {
  kPending,    // not resolved: only seen in reports of runs that have not ended
  kSucceeded,  // ran and produced its outputs
  kFailed,     // ran and threw, returned an error, or completed with an error
  kSkipped,    // not run because a stage it depends on failed or was skipped
  kCancelled,  // not run because the run was cancelled or stopped after a failure, or ended with
               // a kCancelled error after its stop token was signalled
};

enum class RunStatus : std::uint8_t {
  kSucceeded,  // every stage succeeded
  kFailed,     // some stage failed; error() is the first failure
  kCancelled,  // cancelled before all stages ran, with no stage failed
  kInvalid,    // the graph did not validate; nothing ran; error() lists every problem
};

std::string_view to_string(StageStatus status) noexcept;
std::string_view to_string(RunStatus status) noexcept;

// One stage of a run. Times are measured from the run's start on a steady clock.
struct StageRecord {
  std::string_view name;  // valid while the RunReport (or a copy) lives
  StageStatus status = StageStatus::kPending;
  // 0 when the stage never started; more than 1 when its retry policy ran it again.
  std::uint32_t attempts = 0;
  unsigned worker = 0;  // the worker that started its last attempt (meaningless if attempts == 0)
  // Zero when the stage never started or the run's Timing leaves them out. For a retried stage
  // they span every attempt: start is the first one's, end the last one's, wall includes the
  // backoffs and cpu sums the attempts.
  std::chrono::nanoseconds start{0};
  std::chrono::nanoseconds end{0};
  std::chrono::nanoseconds wall{0};  // end - start
  // CPU time the worker thread spent in the stage's body (Timing::kFull); 0 for asynchronous
  // stages, whose work happens elsewhere.
  std::chrono::nanoseconds cpu{0};
  // From the moment the stage was ready (the latest end among its predecessors; the run's start
  // for a source) to its first attempt's start: time spent waiting for a worker or for resources
  // (0 under Timing::kNone).
  std::chrono::nanoseconds queue_wait{0};
};

namespace detail {
struct RunData;
}

class RunReport {
 public:
  // An empty report of an empty run.
  RunReport();

  RunStatus status() const noexcept;
  bool ok() const noexcept { return status() == RunStatus::kSucceeded; }
  // Ok when the run succeeded; else the first failure ("stage 'train' failed: <message>"), the
  // cancellation, or the validation problems.
  const Status& error() const noexcept;
  // The name of the stage whose failure is error(); empty when none failed.
  std::string_view failed_stage() const noexcept;
  // The exception the failed stage threw; null when it returned an error or none failed.
  std::exception_ptr exception() const noexcept;
  // Throws exception() if set, else std::runtime_error(error().message()) unless ok().
  void rethrow_if_failed() const;

  std::size_t size() const noexcept;
  // REQUIRES: id < size().
  StageRecord stage(StageId id) const noexcept;
  std::optional<StageRecord> find(std::string_view name) const;
  // How many stages ended with `status`.
  std::size_t count(StageStatus status) const noexcept;

  std::chrono::system_clock::time_point started_at() const noexcept;
  std::chrono::nanoseconds wall_time() const noexcept;

  // The value of an output port that no stage consumed (a sink's result); null when the stage did
  // not succeed or the output has consumers (those are released after their last consumer).
  const Value* output(PortRef port) const noexcept;
  template <class T>
  const T* value(const Handle<T>& handle) const noexcept {
    const Value* v = output(handle.ref());
    return v ? v->get_if<T>() : nullptr;
  }

  // A human-readable table: one line per stage with status, attempts, worker and times.
  std::string to_string() const;

  // For trainflow's executor.
  explicit RunReport(std::shared_ptr<const detail::RunData> data) noexcept;

 private:
  std::shared_ptr<const detail::RunData> data_;
};

}  // namespace trainflow

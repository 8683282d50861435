// StageContext: what a running stage may ask of the run — its name, seed, stop token, worker and
// thread grant.
//
// A stage receives one by declaring a first parameter `trainflow::StageContext&`:
//
//   p.add("train", [](trainflow::StageContext& ctx, const Data& d) {
//     std::mt19937_64 rng{ctx.seed()};
//     for (int epoch = 0; epoch < 100 && !ctx.stop_requested(); ++epoch) { ... }
//   }, data);
//
// A StageContext is valid until the stage completes (for an asynchronous stage: until its
// completion is called). Its accessors are thread-safe.
#pragma once

#include <cstdint>
#include <stop_token>
#include <string_view>

#include "trainflow/exec/log_level.hpp"

namespace trainflow {

class Executor;

namespace detail {
class RunState;
struct Attempt;
void retain(Attempt* attempt) noexcept;
void release(Attempt* attempt) noexcept;
}  // namespace detail

class StageContext {
 public:
  // The stage's name, unique within its pipeline. Valid for the whole run.
  std::string_view stage_name() const noexcept;
  // The stage's position in its graph (0-based, in the order stages were added).
  std::uint32_t stage_index() const noexcept { return stage_; }

  // This stage's seed: a function of the run's seed and the stage's name only, never of
  // scheduling order, so a rerun with the same seed draws the same numbers.
  std::uint64_t seed() const noexcept;

  // Which attempt of the stage this is: 1, then 2, 3, ... when its retry policy runs it again.
  std::uint32_t attempt() const noexcept;

  // Signalled when the run is cancelled (RunHandle::cancel), under FailurePolicy::kFailFast when
  // another stage failed, and when this attempt ran past the stage's timeout. A long stage should
  // poll it and return early.
  std::stop_token stop_token() const noexcept;
  bool stop_requested() const noexcept;

  // The index of the worker thread that started the stage, in [0, executor().num_workers()).
  unsigned worker() const noexcept { return worker_; }
  // How many threads the stage may use for its own kernels (its grant); at least 1. A stage whose
  // ResourceDemand::max_threads exceeds its StageSpec::threads may see this grow while it runs
  // (as cores free up), and fall back, never below StageSpec::threads, while other stages wait
  // for cores: read it again before each parallel section and use at most what the last read
  // returned. A read is when the cores above a lowered grant go back to the executor. Fixed for
  // other stages.
  unsigned threads() const noexcept;

  // Reports a metric while the stage runs (a loss per epoch, say): observers receive it as a
  // kMetric event, and trainflow's run store records it. `step` orders a series; -1: none.
  void report_metric(std::string_view name, double value, std::int64_t step = -1) const;
  // Reports how much of its work the stage has done, in [0, 1] (a kProgress event).
  void report_progress(double fraction) const;
  // Logs a line of the stage's own (a kLog event): `trainflow run` writes it to the run's log
  // and to the stage's log file under the work directory.
  void log(LogLevel level, std::string_view message) const;
  // For trainflow's stage cache: the stage's outputs were restored, not computed (kCacheHit).
  void report_cache_hit() const;

  // The executor that runs the stage: post asynchronous work here (it is an Asio context).
  Executor& executor() const noexcept;

  // For trainflow's own executor: builds the context of one stage of one run.
  // `attempt` is the state of a timed attempt (null for stages without a timeout); the context
  // holds a reference to it.
  StageContext(detail::RunState* run, std::uint32_t stage, unsigned worker, unsigned threads,
               detail::Attempt* attempt = nullptr) noexcept
      : run_(run), stage_(stage), worker_(worker), threads_(threads), attempt_(attempt) {
    if (attempt_) detail::retain(attempt_);
  }
  StageContext(const StageContext& other) noexcept
      : StageContext(other.run_, other.stage_, other.worker_, other.threads_, other.attempt_) {}
  StageContext& operator=(const StageContext& other) noexcept {
    if (other.attempt_) detail::retain(other.attempt_);
    if (attempt_) detail::release(attempt_);
    run_ = other.run_;
    stage_ = other.stage_;
    worker_ = other.worker_;
    threads_ = other.threads_;
    attempt_ = other.attempt_;
    return *this;
  }
  ~StageContext() {
    if (attempt_) detail::release(attempt_);
  }
  detail::Attempt* timed_attempt() const noexcept { return attempt_; }

 private:
  detail::RunState* run_;
  std::uint32_t stage_;
  unsigned worker_;
  unsigned threads_;
  detail::Attempt* attempt_ = nullptr;
};

}  // namespace trainflow

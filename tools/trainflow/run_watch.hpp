// Watching a run from the command line: SIGINT and SIGTERM cancel it, and a terminal shows a
// one-line live progress display.
//
//   block_interrupt_signals();         // before the executor starts its workers
//   Executor executor;
//   RunHandle run = executor.submit(graph);
//   RunWatch watch{run, isatty(STDOUT_FILENO) != 0};
//   run.wait();
//   watch.stop();                      // erases the progress line
//   if (watch.interrupted()) ...       // exit 130
//
// The signals are taken by a thread of RunWatch that reads them from a signalfd, not by a
// handler, so what it does on a signal needs not be async-signal-safe. Linux only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "trainflow/exec/executor.hpp"

namespace trainflow::cli {

// Blocks SIGINT and SIGTERM in the calling thread; threads started afterwards (the executor's
// workers, the threads their stages start) inherit the mask, so the signals stay pending until
// a RunWatch takes them. They stay blocked: the command ends soon after its run. Call it before
// the executor is created, on the thread that will create the RunWatch.
void block_interrupt_signals();

// While it lives, a thread of its own watches `run`:
//  - the first SIGINT or SIGTERM (also one that arrived since block_interrupt_signals()) cancels
//    the run (RunHandle::cancel: no stage starts any more, running ones see their stop token),
//    says so on stderr, and makes interrupted() true;
//  - a second one ends the process at once with exit code 130 (_exit: nothing is flushed,
//    destroyed or printed besides a line end after the progress line);
//  - with `progress_line`, stdout shows from 200 ms after the start and then 5 times a second
//    one line redrawn in place ("\r", the line, clear to its end):
//      [12/3200] 2 running: fit[seed=3], data[seed=4] | 1.4 s
//    resolved/total stages, the running ones (as many as the terminal's width allows) and the
//    time since the start. Nothing else may write to stdout until stop().
// If the signals cannot be watched (no signalfd), they are unblocked in the calling thread, so
// that they end the process as they would without trainflow, and only the progress line is kept.
// REQUIRES: block_interrupt_signals() was called on this thread before. Not thread-safe: one
// thread creates, stops and destroys it.
class RunWatch {
 public:
  // The progress line counts the stages with ids below `stages` (RunHandle::progress).
  RunWatch(RunHandle run, bool progress_line, std::size_t stages = SIZE_MAX);
  ~RunWatch();  // stop()
  RunWatch(const RunWatch&) = delete;
  RunWatch& operator=(const RunWatch&) = delete;

  // Wakes the thread at once, joins it and erases the progress line. Idempotent.
  void stop();
  // True once a SIGINT or SIGTERM arrived while watching.
  bool interrupted() const noexcept { return interrupted_.load(std::memory_order_acquire); }

 private:
  void watch();
  void draw();
  void erase();

  RunHandle run_;
  bool progress_line_;
  std::size_t stages_;
  int signal_fd_ = -1;
  int wake_read_ = -1;  // stop() writes to wake_write_; the thread polls wake_read_
  int wake_write_ = -1;
  bool line_shown_ = false;  // the thread's; read by stop() after the join
  std::atomic<bool> interrupted_{false};
  std::thread thread_;
};

}  // namespace trainflow::cli

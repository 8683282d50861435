// LogObserver: an Observer that writes a run's events as log lines (spdlog underneath): one log
// for the whole run, one per stage, and optionally a console stream.
//
// Files: `<directory>/<run>/run.log` holds every line of the run; `<directory>/<run>/<stage>.log`
// holds the lines of one stage, where <run> and <stage> are log_file_name() of the event's run id
// and stage name (e.g. "train[l2=0.1]" -> "train%5Bl2%3D0.1%5D.log"). Files are appended to, so a
// resumed run (same id) continues its logs. `trainflow run` uses `<workdir>/logs` as directory.
//
// Every line carries the run id and, for stage events, the stage:
//
//   text: 2026-11-24T07:30:01.123Z info [run 20261124T073000Z-3fa2c1] [train] started on worker 1
//         with 2 threads
//   json: {"time":"2026-11-24T07:30:01.123Z","level":"info","run":"20261124T073000Z-3fa2c1",
//          "stage":"train","event":"stage_started","message":"started on worker 1 with 2
//          threads","attempt":1,"worker":1,"threads":2,"queue_wait_ms":0.4}
//
// (one line each). The time is the event's, in UTC. Every EventKind maps to a line; its level is
// info except: kStageFailed and a failed run are errors; kStageRetry, a cancelled run and a run
// that dropped events are warnings (a stage skipped or cancelled is info: the failure or the
// cancellation that caused it is logged already); kGrantChanged is debug; kLog has its own
// level. Progress lines are throttled per stage (see LogOptions). Line breaks and
// other control characters inside a text line's message are escaped (\n, \r, \xNN), so one
// event is one line. A run without an id logs under `<directory>/unnamed/`.
//
//   auto log = std::make_shared<observe::LogObserver>(observe::LogOptions{
//       .directory = ".trainflow/logs", .console = &std::cerr});
//   executor.run(graph, {.observers = {log}, .run_id = "nightly-42"});
//   if (!log->status().ok()) std::cerr << log->status().message() << "\n";
//
// Memory is bounded: lines are written as they come (buffered by the C library, flushed at the
// end of each run and at destruction), at most LogOptions::max_open_files stage files are open at
// once (the least recently written is closed and reopened when needed), and the progress throttle
// keeps one timestamp per stage of a running run.
//
// A LogObserver never brings a run down: a file that cannot be created or written is skipped,
// and the first such failure is kept in status(). Thread safety: all member functions may be
// called from any thread (calls are serialised), so one LogObserver may serve several runs at
// once; their run ids keep their files apart.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

#include "trainflow/core/status.hpp"
#include "trainflow/exec/log_level.hpp"
#include "trainflow/exec/observer.hpp"

namespace trainflow::observe {

enum class LogFormat : std::uint8_t {
  kText,  // human-readable lines: time, level, [run id], [stage], message
  kJson,  // one JSON object per line: time, level, run, stage, event, message, the event's fields
};

// "text", "json".
std::string_view to_string(LogFormat format) noexcept;
// "text" or "json"; kInvalidArgument naming the accepted values otherwise.
Result<LogFormat> parse_log_format(std::string_view text);
// "trace", "debug", "info", "warn" (or "warning"), "error"; kInvalidArgument naming the
// accepted values otherwise.
Result<LogLevel> parse_log_level(std::string_view text);

// The file name (without ".log") under which `name`, a stage name or run id, is logged. Bytes
// A-Z, a-z, 0-9, '.', '_' and '-' are kept; every other byte becomes %XX (its value in upper-case
// hex), so different names give different files and the name can be read back. Exceptions, to
// keep the result a safe, unique file name: the empty name gives "%", a name whose result would
// be "run" (the run's own log) gives "%72un", and a result longer than 200 bytes is cut at 183
// bytes (never inside a %XX) followed by "~" and 16 hex digits of a hash of the whole name.
std::string log_file_name(std::string_view name);

struct LogOptions {
  // Where log files go: `<directory>/<run>/run.log` and `<directory>/<run>/<stage>.log`, the
  // directories created as needed. Default empty: no files.
  std::filesystem::path directory{};
  // Format of every line, in files and on the console. Default kText.
  LogFormat format = LogFormat::kText;
  // Lines below this level are not written to the files. Default kInfo (grant changes are
  // debug).
  LogLevel file_level = LogLevel::kInfo;
  // Also write lines to this stream (e.g. &std::cerr). Default nullptr: no console. REQUIRES:
  // outlives the LogObserver, and nothing else writes to it while a line is written.
  std::ostream* console = nullptr;
  // Lines below this level are not written to the console. Default kWarn: a terminal sees
  // problems only, the files have everything.
  LogLevel console_level = LogLevel::kWarn;
  // A stage's progress is logged at most once per this interval of run time (Event::since_start),
  // besides its first report and the report of completion (1.0). Default 1 s; 0 logs every one.
  std::chrono::milliseconds progress_interval{1000};
  // Stage log files open at once, at least 1. Default 32: a wide run reopens files instead of
  // running out of descriptors.
  std::size_t max_open_files = 32;
};

class LogObserver final : public Observer {
 public:
  explicit LogObserver(LogOptions options = {});
  ~LogObserver() override;  // flushes and closes every file
  LogObserver(const LogObserver&) = delete;
  LogObserver& operator=(const LogObserver&) = delete;

  // Writes the line(s) for `event`. Never throws. kRunFinished flushes and closes the run's files.
  void on_event(const Event& event) override;

  // Writes buffered lines of every open file and of the console.
  void flush();

  // Ok, or the first failure to create, open or write a log file (kUnavailable, naming the path
  // and the system's reason); later lines still go wherever they can.
  Status status() const;

  // The line `event` gives, without its trailing newline. Pure: nothing is written or throttled.
  static std::string format(const Event& event, LogFormat format);
  // The level `event` is logged at (see the file comment).
  static LogLevel level(const Event& event) noexcept;

 private:
  class State;
  std::unique_ptr<State> state_;  // never null
};

}  // namespace trainflow::observe

// LogObserver: events as text or JSON lines, written through spdlog loggers (one per open file,
// each with the pattern "%v": the line is formatted here, from the event, not from the time of
// writing).
#include "trainflow/observe/logging.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/ostream_sink.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "observe/log_time.hpp"
#include "trainflow/core/hash.hpp"

namespace trainflow::observe {
namespace {

constexpr std::size_t kMaxFileName = 200;
constexpr std::size_t kHashedPrefix = kMaxFileName - 17;  // "~" and 16 hex digits follow

spdlog::level::level_enum spdlog_level(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

// "12.3 ms"
std::string ms_text(std::chrono::nanoseconds d) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.1f ms", ms(d));
  return buffer;
}

// Shortest text that reads back as `v` ("0.25", "1e-08", "nan", "inf").
std::string number_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buffer[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
    if (std::strtod(buffer, nullptr) == v) break;
  }
  return buffer;
}

// One event is one text line: control characters of the message are escaped.
void append_escaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 && c != '\t') {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02X", u);
      out += buffer;
    } else {
      out += c;
    }
  }
}

std::string threads_text(unsigned threads) {
  return std::to_string(threads) + (threads == 1 ? " thread" : " threads");
}

// The message part of a line: what happened, in words.
std::string message(const Event& e) {
  std::string m;
  switch (e.kind) {
    case EventKind::kRunStarted:
      m = "run started";
      if (!e.graph.empty()) m += " (graph " + std::string(e.graph) + ")";
      return m;
    case EventKind::kRunFinished:
      m = "run " + std::string(to_string(e.run_status));
      if (!e.message.empty()) m += ": " + std::string(e.message);
      if (e.dropped > 0) {
        m +=
            "; " + std::to_string(e.dropped) + " events were dropped because observers fell behind";
      }
      return m;
    case EventKind::kStageStarted:
      m = "started";
      if (e.worker >= 0) m += " on worker " + std::to_string(e.worker);
      if (e.threads > 0) m += " with " + threads_text(e.threads);
      if (e.device >= 0) m += " on GPU " + std::to_string(e.device);
      if (e.attempt > 1) m += ", attempt " + std::to_string(e.attempt);
      if (e.queue_wait.count() > 0) m += ", after waiting " + ms_text(e.queue_wait);
      return m;
    case EventKind::kStageFinished:
      m = std::string(to_string(e.status));
      if (e.wall.count() > 0 || e.status == StageStatus::kSucceeded) {
        m += " in " + ms_text(e.wall) + " (cpu " + ms_text(e.cpu) + ")";
      }
      return m;
    case EventKind::kStageFailed:
      m = "failed";
      if (e.attempt > 1) m += " on attempt " + std::to_string(e.attempt);
      if (e.wall.count() > 0) m += " after " + ms_text(e.wall);
      if (!e.message.empty()) m += ": " + std::string(e.message);
      return m;
    case EventKind::kStageRetry:
      m = "attempt " + std::to_string(e.attempt) + " failed";
      if (!e.message.empty()) m += ": " + std::string(e.message);
      m += "; retrying in " + ms_text(e.backoff);
      return m;
    case EventKind::kCacheHit: return "cache hit: the outputs come from the stage cache";
    case EventKind::kProgress: {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "progress %.0f%%", e.value * 100);
      return buffer;
    }
    case EventKind::kMetric:
      m = std::string(e.metric) + " = " + number_text(e.value);
      if (e.step >= 0) m += " at step " + std::to_string(e.step);
      return m;
    case EventKind::kGrantChanged: return "thread grant now " + std::to_string(e.threads);
    case EventKind::kLog: return std::string(e.message);
  }
  return std::string(to_string(e.kind));
}

nlohmann::ordered_json json_number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

std::string json_line(const Event& e, LogLevel level) {
  nlohmann::ordered_json j;
  j["time"] = iso_utc(e.time);
  j["level"] = std::string(to_string(level));
  j["run"] = std::string(e.run_id);
  if (!e.stage.empty()) j["stage"] = std::string(e.stage);
  j["event"] = std::string(to_string(e.kind));
  j["message"] = message(e);
  const bool stage_event = e.kind != EventKind::kRunStarted && e.kind != EventKind::kRunFinished;
  if (stage_event) {
    if (e.attempt > 0) j["attempt"] = e.attempt;
    if (e.worker >= 0) j["worker"] = e.worker;
    if (e.device >= 0) j["device"] = e.device;
  }
  switch (e.kind) {
    case EventKind::kRunStarted:
      if (!e.graph.empty()) j["graph"] = std::string(e.graph);
      break;
    case EventKind::kRunFinished:
      j["status"] = std::string(to_string(e.run_status));
      if (!e.message.empty()) j["error"] = std::string(e.message);
      j["dropped"] = e.dropped;
      break;
    case EventKind::kStageStarted:
      j["threads"] = e.threads;
      j["queue_wait_ms"] = ms(e.queue_wait);
      break;
    case EventKind::kStageFinished:
    case EventKind::kStageFailed:
      j["status"] = std::string(to_string(e.status));
      j["wall_ms"] = ms(e.wall);
      j["cpu_ms"] = ms(e.cpu);
      if (!e.message.empty()) j["error"] = std::string(e.message);
      break;
    case EventKind::kStageRetry:
      j["backoff_ms"] = ms(e.backoff);
      if (!e.message.empty()) j["error"] = std::string(e.message);
      break;
    case EventKind::kProgress: j["progress"] = json_number(e.value); break;
    case EventKind::kMetric:
      j["metric"] = std::string(e.metric);
      j["value"] = json_number(e.value);
      if (e.step >= 0) j["step"] = e.step;
      break;
    case EventKind::kGrantChanged: j["threads"] = e.threads; break;
    case EventKind::kCacheHit:
    case EventKind::kLog: break;
  }
  // Names and messages come from users: invalid UTF-8 is replaced, never thrown on.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string text_line(const Event& e, LogLevel level) {
  std::string line = iso_utc(e.time);
  line += ' ';
  line += to_string(level);
  line += " [run ";
  line += e.run_id.empty() ? std::string_view("-") : e.run_id;
  line += ']';
  if (!e.stage.empty()) {
    line += " [";
    append_escaped(line, e.stage);
    line += ']';
  }
  line += ' ';
  append_escaped(line, message(e));
  return line;
}

}  // namespace

std::string_view to_string(LogFormat format) noexcept {
  return format == LogFormat::kJson ? "json" : "text";
}

Result<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return Status(StatusCode::kInvalidArgument,
                "unknown log format '" + std::string(text) + "': use text or json");
}

Result<LogLevel> parse_log_level(std::string_view text) {
  if (text == "trace") return LogLevel::kTrace;
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn" || text == "warning") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  return Status(StatusCode::kInvalidArgument, "unknown log level '" + std::string(text) +
                                                  "': use trace, debug, info, warn or error");
}

std::string log_file_name(std::string_view name) {
  if (name.empty()) return "%";
  std::string out;
  std::size_t cut = 0;  // the longest prefix of `out` that ends on a whole byte's encoding
  bool cut_found = false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    const std::size_t before = out.size();
    if (keep) {
      out += c;
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", u);
      out += buffer;
    }
    if (!cut_found && out.size() > kHashedPrefix) {
      cut = before;
      cut_found = true;
    }
  }
  if (out == "run") return "%72un";
  if (out.size() <= kMaxFileName) return out;
  char hash[24];
  std::snprintf(hash, sizeof hash, "~%016llx",
                static_cast<unsigned long long>(hash64(name)));  // NOLINT(runtime/int)
  out.resize(cut);
  return out + hash;
}

LogLevel LogObserver::level(const Event& e) noexcept {
  switch (e.kind) {
    case EventKind::kRunFinished:
      if (e.run_status == RunStatus::kSucceeded) {
        return e.dropped > 0 ? LogLevel::kWarn : LogLevel::kInfo;
      }
      return e.run_status == RunStatus::kCancelled ? LogLevel::kWarn : LogLevel::kError;
    case EventKind::kStageFailed: return LogLevel::kError;
    case EventKind::kStageRetry: return LogLevel::kWarn;
    case EventKind::kGrantChanged: return LogLevel::kDebug;
    case EventKind::kLog: return e.level;
    case EventKind::kRunStarted:
    case EventKind::kStageStarted:
    case EventKind::kStageFinished:
    case EventKind::kCacheHit:
    case EventKind::kProgress:
    case EventKind::kMetric: return LogLevel::kInfo;
  }
  return LogLevel::kInfo;
}

std::string LogObserver::format(const Event& event, LogFormat format) {
  const LogLevel lvl = level(event);
  return format == LogFormat::kJson ? json_line(event, lvl) : text_line(event, lvl);
}

// Everything behind the mutex. Loggers are spdlog::logger objects over single-threaded sinks
// (the mutex serialises them), kept out of spdlog's global registry.
class LogObserver::State {
 public:
  explicit State(LogOptions options) : options_(std::move(options)) {
    if (options_.max_open_files == 0) options_.max_open_files = 1;
    if (options_.console != nullptr) {
      console_ = std::make_shared<spdlog::logger>(
          "trainflow.console",
          std::make_shared<spdlog::sinks::ostream_sink_st>(*options_.console, true));
      prepare(*console_, "the console");
    }
  }

  ~State() { flush_all(); }

  void on_event(const Event& e) {
    const std::lock_guard lock(mutex_);
    const LogLevel lvl = LogObserver::level(e);
    const bool to_files = !options_.directory.empty() && lvl >= options_.file_level;
    const bool to_console = console_ && lvl >= options_.console_level;
    if (e.kind == EventKind::kProgress && (to_files || to_console) && !progress_due(e)) return;
    if (to_files || to_console) {
      const std::string line = LogObserver::format(e, options_.format);
      if (to_console) console_->log(spdlog_level(lvl), line);
      if (to_files) write_files(e, lvl, line);
    }
    if (e.kind == EventKind::kRunFinished) end_run(std::string(e.run_id));
  }

  void flush_all() {
    for (auto& [id, run] : runs_) {
      if (run.log) run.log->flush();
    }
    for (auto& entry : lru_) entry.second->flush();
    if (console_) console_->flush();
  }

  std::mutex mutex_;
  Status status_{};

 private:
  struct RunFiles {
    std::filesystem::path dir;
    bool dir_ok = false;
    std::shared_ptr<spdlog::logger> log;  // run.log; null when it could not be opened
    // Per stage, the run time of its last logged progress line.
    std::unordered_map<std::string, std::chrono::nanoseconds> progress;
  };

  void fail(std::string message) {
    if (status_.ok()) status_ = Status(StatusCode::kUnavailable, std::move(message));
  }

  void prepare(spdlog::logger& logger, const std::string& where) {
    logger.set_pattern("%v");
    logger.set_level(spdlog::level::trace);
    logger.flush_on(spdlog::level::off);
    // Called with mutex_ held (from inside a log or flush call of ours).
    logger.set_error_handler([this, where](const std::string& what) {
      fail("cannot write the log " + where + ": " + what);
    });
  }

  RunFiles& run_files(const std::string& run_id) {
    auto [it, added] = runs_.try_emplace(run_id);
    RunFiles& run = it->second;
    if (!added) return run;
    run.dir =
        options_.directory / (run_id.empty() ? std::string("unnamed") : log_file_name(run_id));
    std::error_code ec;
    std::filesystem::create_directories(run.dir, ec);
    if (ec) {
      fail("cannot create the log directory " + run.dir.string() + ": " + ec.message() +
           "; check the work directory's permissions and free space");
      return run;
    }
    run.dir_ok = true;
    run.log = open_file(run.dir / "run.log");
    return run;
  }

  std::shared_ptr<spdlog::logger> open_file(const std::filesystem::path& path) {
    try {
      auto logger = std::make_shared<spdlog::logger>(
          "trainflow.file", std::make_shared<spdlog::sinks::basic_file_sink_st>(path.string()));
      prepare(*logger, path.string());
      return logger;
    } catch (const std::exception& ex) {
      fail("cannot open the log file " + path.string() + ": " + ex.what());
      return nullptr;
    }
  }

  // The stage's file, opened (appending) when it is not; the least recently used one is closed
  // when max_open_files are open. Null when it cannot be opened.
  spdlog::logger* stage_file(const std::string& run_id, RunFiles& run, std::string_view stage) {
    std::string key = run_id;
    key += '\0';
    key += stage;
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second.get();
    }
    std::shared_ptr<spdlog::logger> logger = open_file(run.dir / (log_file_name(stage) + ".log"));
    if (!logger) return nullptr;
    while (lru_.size() >= options_.max_open_files) close(std::prev(lru_.end()));
    lru_.emplace_front(key, std::move(logger));
    index_.emplace(std::move(key), lru_.begin());
    return lru_.front().second.get();
  }

  using Lru = std::list<std::pair<std::string, std::shared_ptr<spdlog::logger>>>;

  void close(Lru::iterator it) {
    it->second->flush();
    index_.erase(it->first);
    lru_.erase(it);
  }

  void write_files(const Event& e, LogLevel lvl, const std::string& line) {
    const std::string run_id(e.run_id);
    RunFiles& run = run_files(run_id);
    if (!run.dir_ok) return;
    if (run.log) run.log->log(spdlog_level(lvl), line);
    if (e.stage.empty()) return;
    if (spdlog::logger* logger = stage_file(run_id, run, e.stage)) {
      logger->log(spdlog_level(lvl), line);
    }
  }

  bool progress_due(const Event& e) {
    auto& last = runs_progress_[std::string(e.run_id)];
    const std::string stage(e.stage);
    const auto it = last.find(stage);
    if (it == last.end() || e.value >= 1.0 ||
        e.since_start - it->second >= options_.progress_interval) {
      last[stage] = e.since_start;
      return true;
    }
    return false;
  }

  void end_run(const std::string& run_id) {
    runs_progress_.erase(run_id);
    const std::string prefix = run_id + '\0';
    for (auto it = lru_.begin(); it != lru_.end();) {
      const auto next = std::next(it);
      if (it->first.compare(0, prefix.size(), prefix) == 0) close(it);
      it = next;
    }
    if (auto it = runs_.find(run_id); it != runs_.end()) {
      if (it->second.log) it->second.log->flush();
      runs_.erase(it);
    }
    if (console_) console_->flush();
  }

  LogOptions options_;
  std::shared_ptr<spdlog::logger> console_;
  std::map<std::string, RunFiles> runs_;
  std::map<std::string, std::unordered_map<std::string, std::chrono::nanoseconds>> runs_progress_;
  Lru lru_;  // open stage files, most recently written first
  std::unordered_map<std::string, Lru::iterator> index_;
};

LogObserver::LogObserver(LogOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}

LogObserver::~LogObserver() = default;

void LogObserver::on_event(const Event& event) {
  try {
    state_->on_event(event);
  } catch (const std::exception& ex) {
    // Out of memory or a broken file system: the run goes on without this line.
    const std::lock_guard lock(state_->mutex_);
    if (state_->status_.ok()) {
      state_->status_ =
          Status(StatusCode::kUnavailable, std::string("logging failed: ") + ex.what());
    }
  }
}

void LogObserver::flush() {
  const std::lock_guard lock(state_->mutex_);
  state_->flush_all();
}

Status LogObserver::status() const {
  const std::lock_guard lock(state_->mutex_);
  return state_->status_;
}

}  // namespace trainflow::observe

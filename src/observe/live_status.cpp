// LiveStatus: the run's state folded from its events, rendered as JSON and Prometheus text.
#include "trainflow/observe/live_status.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "trainflow/graph/graph.hpp"

namespace trainflow::observe {

std::string_view to_string(LiveStageStatus status) noexcept {
  switch (status) {
    case LiveStageStatus::kPending: return "pending";
    case LiveStageStatus::kRunning: return "running";
    case LiveStageStatus::kSucceeded: return "succeeded";
    case LiveStageStatus::kFailed: return "failed";
    case LiveStageStatus::kSkipped: return "skipped";
    case LiveStageStatus::kCancelled: return "cancelled";
    case LiveStageStatus::kCached: return "cached";
  }
  return "unknown";
}

namespace {

constexpr std::array kAllStatuses = {LiveStageStatus::kPending,   LiveStageStatus::kRunning,
                                     LiveStageStatus::kSucceeded, LiveStageStatus::kFailed,
                                     LiveStageStatus::kSkipped,   LiveStageStatus::kCancelled,
                                     LiveStageStatus::kCached};

using Clock = std::chrono::steady_clock;

double seconds(std::chrono::nanoseconds ns) {
  return std::chrono::duration<double>(ns).count();
}

// One metric series, downsampled by a doubling stride once full (see LiveStatusOptions).
struct Series {
  std::vector<std::pair<double, double>> points;  // (step, value), every stride-th reported one
  std::uint64_t reported = 0;
  std::uint64_t stride = 1;
  std::pair<double, double> latest{0, 0};  // the last reported point, kept or not

  void add(double step, double value, std::size_t max_points) {
    latest = {step, value};
    const bool keep = reported % stride == 0;
    ++reported;
    if (!keep) return;
    if (points.size() >= max_points) {
      // Keep the even positions: points 0, 2s, 4s, ... of the reported ones.
      std::size_t kept = 0;
      for (std::size_t i = 0; i < points.size(); i += 2) points[kept++] = points[i];
      points.resize(kept);
      stride *= 2;
      // The point at hand sits at an odd multiple of the old stride unless it is even.
      if ((reported - 1) % stride != 0) return;
    }
    points.push_back({step, value});
  }
};

struct StageState {
  std::string name;
  std::string group;  // the name without a sweep trial's "[...]"
  std::optional<std::size_t> trial;
  std::string kind;
  unsigned declared_threads = 1;
  std::uint64_t memory_bytes = 0;
  unsigned gpus = 0;

  LiveStageStatus status = LiveStageStatus::kPending;
  bool cache_hit = false;
  std::uint32_t attempts = 0;
  std::uint32_t retries = 0;
  int worker = -1;
  int device = -1;
  unsigned threads = 0;
  bool started = false;
  bool ended = false;
  std::chrono::nanoseconds start{0};
  std::chrono::nanoseconds end{0};
  std::chrono::nanoseconds wall{0};
  std::chrono::nanoseconds cpu{0};
  std::chrono::nanoseconds queue_wait{0};
  double progress = 0;
  std::string error;
  // Insertion order of names, for a stable output; map for lookup.
  std::vector<std::string> series_order;
  std::map<std::string, Series, std::less<>> series;
};

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string truncate(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return std::string(text.substr(0, n)) + "...";
}

std::string iso8601(std::chrono::system_clock::time_point t) {
  const std::time_t seconds_since_epoch = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds_since_epoch, &utc);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buf.data(), n);
}

// Prometheus sample values: shortest round-trip decimal, NaN and +Inf / -Inf spelled as the
// format wants.
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc{}) {
    out += "NaN";
    return;
  }
  out.append(buf.data(), end);
}

// A label value escaped per the text format: backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// `labels` is the inside of {...}, already escaped; empty for none.
void append_sample(std::string& out, std::string_view name, std::string_view labels, double v) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out += ' ';
  append_number(out, v);
  out += '\n';
}

}  // namespace

struct LiveStatus::State {
  LiveStatusOptions options;
  std::string graph_name;
  std::vector<std::pair<StageId, StageId>> edges;

  mutable std::mutex mutex;
  std::vector<StageState> stages;
  std::string run_id;
  bool run_started = false;
  bool run_finished = false;
  RunStatus run_status = RunStatus::kSucceeded;
  std::string run_error;
  std::chrono::system_clock::time_point started_at{};
  Clock::time_point run_start_steady{};  // the run's start on options.now's clock
  std::chrono::nanoseconds finished_elapsed{0};
  std::uint64_t cache_hits = 0;
  std::uint64_t retries = 0;
  std::uint64_t events_dropped = 0;
  std::uint64_t metric_events_ignored = 0;

  Clock::time_point now() const { return options.now ? options.now() : Clock::now(); }

  // Caller holds `mutex`.
  std::chrono::nanoseconds elapsed() const {
    if (run_finished) return finished_elapsed;
    if (!run_started) return std::chrono::nanoseconds{0};
    return std::max(std::chrono::nanoseconds{0},
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now() - run_start_steady));
  }

  // The stage's wall time: as reported once it ended, the time since its start while it runs.
  std::optional<std::chrono::nanoseconds> duration(const StageState& s) const {
    if (s.ended && s.started)
      return s.wall > std::chrono::nanoseconds{0} ? s.wall : s.end - s.start;
    if (s.started && s.status == LiveStageStatus::kRunning) {
      return std::max(std::chrono::nanoseconds{0}, elapsed() - s.start);
    }
    return std::nullopt;
  }

  // stage="...",trial="..." for stage `s`.
  static std::string stage_labels(const StageState& s) {
    std::string labels = "stage=\"";
    append_label_value(labels, s.group);
    labels += '"';
    if (s.trial) labels.append(",trial=\"").append(std::to_string(*s.trial)).append("\"");
    return labels;
  }
};

LiveStatus::LiveStatus(const Graph& graph, LiveStatusOptions options)
    : state_(std::make_unique<State>()) {
  if (options.max_points_per_series < 2) options.max_points_per_series = 2;
  state_->options = std::move(options);
  state_->graph_name = graph.name();
  state_->stages.resize(graph.size());
  std::map<std::string, std::size_t, std::less<>> trials_per_group;
  for (StageId id = 0; id < graph.size(); ++id) {
    const StageSpec& spec = graph.stage(id);
    StageState& s = state_->stages[id];
    s.name = spec.name;
    s.kind = spec.kind;
    s.declared_threads = std::max(1U, spec.threads);
    s.memory_bytes = spec.resources.memory_bytes;
    s.gpus = spec.resources.gpus;
    const std::size_t bracket = spec.name.find('[');
    if (bracket != std::string::npos && bracket > 0 && spec.name.back() == ']') {
      s.group = spec.name.substr(0, bracket);
      s.trial = trials_per_group[s.group]++;
    } else {
      s.group = spec.name;
    }
    for (const std::optional<PortRef>& source : graph.sources(id)) {
      if (source) state_->edges.emplace_back(source->stage, id);
    }
    for (StageId before : graph.order_dependencies(id)) state_->edges.emplace_back(before, id);
  }
  std::sort(state_->edges.begin(), state_->edges.end());
  state_->edges.erase(std::unique(state_->edges.begin(), state_->edges.end()), state_->edges.end());
}

LiveStatus::~LiveStatus() = default;

bool LiveStatus::finished() const {
  std::lock_guard lock(state_->mutex);
  return state_->run_finished;
}

void LiveStatus::on_event(const Event& event) {
  State& st = *state_;
  std::lock_guard lock(st.mutex);
  const std::size_t max_message = st.options.max_message_bytes;
  switch (event.kind) {
    case EventKind::kRunStarted:
      st.run_started = true;
      st.run_id = std::string(event.run_id);
      st.started_at = event.time;
      st.run_start_steady =
          st.now() - std::chrono::duration_cast<Clock::duration>(event.since_start);
      return;
    case EventKind::kRunFinished:
      if (!st.run_started) {
        st.run_started = true;
        st.run_id = std::string(event.run_id);
      }
      st.run_finished = true;
      st.run_status = event.run_status;
      st.run_error = truncate(event.message, max_message);
      st.finished_elapsed = event.since_start;
      st.events_dropped += event.dropped;
      // A stage still running when the run ended was cut off with it.
      for (StageState& s : st.stages) {
        if (s.status != LiveStageStatus::kRunning) continue;
        s.status = LiveStageStatus::kCancelled;
        s.threads = 0;
      }
      return;
    default: break;
  }
  if (event.stage_index >= st.stages.size()) return;
  StageState& s = st.stages[event.stage_index];
  switch (event.kind) {
    case EventKind::kStageStarted:
      if (!s.started) {
        s.started = true;
        s.start = event.since_start;
        s.queue_wait = event.queue_wait;
      }
      s.status = LiveStageStatus::kRunning;
      s.attempts = std::max(s.attempts, std::max<std::uint32_t>(event.attempt, 1));
      s.worker = event.worker;
      s.device = event.device;
      s.threads = event.threads;
      break;
    case EventKind::kStageFinished:
    case EventKind::kStageFailed:
      s.ended = true;
      s.end = event.since_start;
      s.wall = event.wall;
      s.cpu = event.cpu;
      s.threads = 0;
      if (event.kind == EventKind::kStageFailed || event.status == StageStatus::kFailed) {
        s.status = LiveStageStatus::kFailed;
        s.error = truncate(event.message, max_message);
      } else if (event.status == StageStatus::kSkipped) {
        s.status = LiveStageStatus::kSkipped;
      } else if (event.status == StageStatus::kCancelled) {
        s.status = LiveStageStatus::kCancelled;
      } else {
        s.status = s.cache_hit ? LiveStageStatus::kCached : LiveStageStatus::kSucceeded;
      }
      break;
    case EventKind::kStageRetry:
      ++s.retries;
      ++st.retries;
      s.error = truncate(event.message, max_message);
      break;
    case EventKind::kCacheHit:
      if (!s.cache_hit) ++st.cache_hits;
      s.cache_hit = true;
      if (s.status == LiveStageStatus::kSucceeded) s.status = LiveStageStatus::kCached;
      break;
    case EventKind::kProgress:
      if (!std::isnan(event.value)) s.progress = std::clamp(event.value, 0.0, 1.0);
      break;
    case EventKind::kGrantChanged:
      if (s.status == LiveStageStatus::kRunning) s.threads = event.threads;
      break;
    case EventKind::kMetric: {
      auto it = s.series.find(event.metric);
      if (it == s.series.end()) {
        if (s.series.size() >= st.options.max_series_per_stage) {
          ++st.metric_events_ignored;
          break;
        }
        try {
          it = s.series.emplace(std::string(event.metric), Series{}).first;
          s.series_order.emplace_back(event.metric);
        } catch (...) {
          ++st.metric_events_ignored;
          break;
        }
      }
      Series& series = it->second;
      const double step =
          event.step >= 0 ? static_cast<double>(event.step) : static_cast<double>(series.reported);
      try {
        series.add(step, event.value, st.options.max_points_per_series);
      } catch (...) {
        ++st.metric_events_ignored;
      }
      break;
    }
    default: break;
  }
}

std::string LiveStatus::json() const {
  using nlohmann::ordered_json;
  const State& st = *state_;
  std::lock_guard lock(st.mutex);
  std::array<std::size_t, kAllStatuses.size()> counts{};
  unsigned threads_in_use = 0;
  std::uint64_t memory_in_use = 0;
  ordered_json stages = ordered_json::array();
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    const StageState& s = st.stages[i];
    ++counts[static_cast<std::size_t>(s.status)];
    const bool running = s.status == LiveStageStatus::kRunning;
    if (running) {
      threads_in_use += s.threads;
      memory_in_use += s.memory_bytes;
    }
    ordered_json metrics = ordered_json::object();
    for (const std::string& name : s.series_order) {
      const Series& series = s.series.at(name);
      ordered_json points = ordered_json::array();
      for (const auto& p : series.points) points.push_back({p.first, p.second});
      metrics[name] = {{"points", std::move(points)},
                       {"latest", {series.latest.first, series.latest.second}},
                       {"reported", series.reported},
                       {"stride", series.stride}};
    }
    const std::optional<std::chrono::nanoseconds> duration = st.duration(s);
    ordered_json stage = {
        {"id", i},
        {"name", s.name},
        {"group", s.group},
        {"trial", s.trial ? ordered_json(*s.trial) : ordered_json(nullptr)},
        {"kind", s.kind},
        {"status", std::string(to_string(s.status))},
        {"attempts", s.attempts},
        {"retries", s.retries},
        {"worker", s.worker >= 0 ? ordered_json(s.worker) : ordered_json(nullptr)},
        {"device", s.device >= 0 ? ordered_json(s.device) : ordered_json(nullptr)},
        {"threads", s.threads},
        {"declared_threads", s.declared_threads},
        {"memory_bytes", s.memory_bytes},
        {"gpus", s.gpus},
        {"start_seconds", s.started ? ordered_json(seconds(s.start)) : ordered_json(nullptr)},
        {"end_seconds", s.ended ? ordered_json(seconds(s.end)) : ordered_json(nullptr)},
        {"wall_seconds", duration ? ordered_json(seconds(*duration)) : ordered_json(nullptr)},
        {"cpu_seconds", s.ended ? ordered_json(seconds(s.cpu)) : ordered_json(nullptr)},
        {"queue_wait_seconds",
         s.started ? ordered_json(seconds(s.queue_wait)) : ordered_json(nullptr)},
        {"progress", s.progress},
        {"cache_hit", s.cache_hit},
        {"error", s.error.empty() ? ordered_json(nullptr) : ordered_json(s.error)},
        {"metrics", std::move(metrics)}};
    stages.push_back(std::move(stage));
  }
  ordered_json by_status = ordered_json::object();
  for (LiveStageStatus status : kAllStatuses) {
    by_status[std::string(to_string(status))] = counts[static_cast<std::size_t>(status)];
  }
  ordered_json edges = ordered_json::array();
  for (const auto& e : st.edges) edges.push_back({e.first, e.second});
  const std::string run_status = !st.run_started    ? "pending"
                                 : !st.run_finished ? "running"
                                                    : std::string(to_string(st.run_status));
  const ordered_json doc = {
      {"run",
       {{"id", st.run_id},
        {"graph", st.graph_name},
        {"status", run_status},
        {"finished", st.run_finished},
        {"started_at", st.run_started && st.started_at.time_since_epoch().count() != 0
                           ? ordered_json(iso8601(st.started_at))
                           : ordered_json(nullptr)},
        {"elapsed_seconds", seconds(st.elapsed())},
        {"error", st.run_error.empty() ? ordered_json(nullptr) : ordered_json(st.run_error)}}},
      {"counters",
       {{"stages", std::move(by_status)},
        {"threads_in_use", threads_in_use},
        {"memory_in_use_bytes", memory_in_use},
        {"cache_hits", st.cache_hits},
        {"retries", st.retries},
        {"events_dropped", st.events_dropped},
        {"metric_events_ignored", st.metric_events_ignored}}},
      {"stages", std::move(stages)},
      {"edges", std::move(edges)}};
  // Messages and metric names come from user code: invalid UTF-8 becomes U+FFFD, not an error.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string LiveStatus::prometheus() const {
  const State& st = *state_;
  std::lock_guard lock(st.mutex);
  std::string out;
  out.reserve(256 + st.stages.size() * 512);

  append_family(out, "trainflow_run_info", "gauge",
                "The observed run: its id and graph name as labels; always 1.");
  {
    std::string labels = "run_id=\"";
    append_label_value(labels, st.run_id);
    labels += "\",graph=\"";
    append_label_value(labels, st.graph_name);
    labels += '"';
    append_sample(out, "trainflow_run_info", labels, 1);
  }
  append_family(out, "trainflow_run_finished", "gauge", "1 once the run has ended, else 0.");
  append_sample(out, "trainflow_run_finished", "", st.run_finished ? 1 : 0);
  append_family(out, "trainflow_run_succeeded", "gauge",
                "1 when the run ended and every stage succeeded, else 0.");
  append_sample(out, "trainflow_run_succeeded", "",
                st.run_finished && st.run_status == RunStatus::kSucceeded ? 1 : 0);
  append_family(out, "trainflow_run_elapsed_seconds", "gauge",
                "Time since the run started; its whole duration once it ended.");
  append_sample(out, "trainflow_run_elapsed_seconds", "", seconds(st.elapsed()));

  std::array<std::size_t, kAllStatuses.size()> counts{};
  unsigned threads_in_use = 0;
  std::uint64_t memory_in_use = 0;
  unsigned gpus_in_use = 0;
  for (const StageState& s : st.stages) {
    ++counts[static_cast<std::size_t>(s.status)];
    if (s.status == LiveStageStatus::kRunning) {
      threads_in_use += s.threads;
      memory_in_use += s.memory_bytes;
      gpus_in_use += s.gpus;
    }
  }
  append_family(out, "trainflow_stages", "gauge", "Stages of the run by status.");
  for (LiveStageStatus status : kAllStatuses) {
    append_sample(out, "trainflow_stages", "status=\"" + std::string(to_string(status)) + "\"",
                  static_cast<double>(counts[static_cast<std::size_t>(status)]));
  }
  append_family(out, "trainflow_threads_in_use", "gauge",
                "Threads granted to the stages running now.");
  append_sample(out, "trainflow_threads_in_use", "", threads_in_use);
  append_family(out, "trainflow_memory_in_use_bytes", "gauge",
                "Memory declared by the stages running now (their resources.memory), in bytes.");
  append_sample(out, "trainflow_memory_in_use_bytes", "", static_cast<double>(memory_in_use));
  append_family(out, "trainflow_gpus_in_use", "gauge", "GPUs declared by the stages running now.");
  append_sample(out, "trainflow_gpus_in_use", "", gpus_in_use);
  append_family(out, "trainflow_cache_hits_total", "counter",
                "Stages whose outputs came from the stage cache.");
  append_sample(out, "trainflow_cache_hits_total", "", static_cast<double>(st.cache_hits));
  append_family(out, "trainflow_retries_total", "counter",
                "Failed attempts that were retried, over every stage.");
  append_sample(out, "trainflow_retries_total", "", static_cast<double>(st.retries));
  append_family(out, "trainflow_events_dropped_total", "counter",
                "Events the executor dropped because observers fell behind (known at the end).");
  append_sample(out, "trainflow_events_dropped_total", "", static_cast<double>(st.events_dropped));
  append_family(out, "trainflow_metric_events_ignored_total", "counter",
                "Metric events not kept: past the series limit of a stage.");
  append_sample(out, "trainflow_metric_events_ignored_total", "",
                static_cast<double>(st.metric_events_ignored));

  // Per-stage families: only stages that have the value.
  std::vector<std::string> labels(st.stages.size());
  for (std::size_t i = 0; i < st.stages.size(); ++i) labels[i] = State::stage_labels(st.stages[i]);
  append_family(out, "trainflow_stage_duration_seconds", "gauge",
                "Wall time of a stage: since its start while it runs, its whole time once ended "
                "(retries and their backoffs included).");
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    if (auto d = st.duration(st.stages[i])) {
      append_sample(out, "trainflow_stage_duration_seconds", labels[i], seconds(*d));
    }
  }
  append_family(out, "trainflow_stage_cpu_seconds", "gauge",
                "CPU time of a stage's body on its worker thread, once it ended.");
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    const StageState& s = st.stages[i];
    if (s.started && s.ended)
      append_sample(out, "trainflow_stage_cpu_seconds", labels[i], seconds(s.cpu));
  }
  append_family(out, "trainflow_stage_queue_wait_seconds", "gauge",
                "Time a stage waited from ready (inputs resolved) to its first start.");
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    const StageState& s = st.stages[i];
    if (s.started)
      append_sample(out, "trainflow_stage_queue_wait_seconds", labels[i], seconds(s.queue_wait));
  }
  append_family(out, "trainflow_stage_attempts", "gauge", "Attempts a stage started.");
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    const StageState& s = st.stages[i];
    if (s.attempts > 0) append_sample(out, "trainflow_stage_attempts", labels[i], s.attempts);
  }
  append_family(out, "trainflow_stage_threads", "gauge", "Thread grant of a running stage.");
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    const StageState& s = st.stages[i];
    if (s.status == LiveStageStatus::kRunning)
      append_sample(out, "trainflow_stage_threads", labels[i], s.threads);
  }
  append_family(out, "trainflow_stage_progress", "gauge",
                "Fraction of its work a started stage reported done, in [0, 1].");
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    const StageState& s = st.stages[i];
    if (s.started) append_sample(out, "trainflow_stage_progress", labels[i], s.progress);
  }
  append_family(out, "trainflow_stage_metric", "gauge",
                "The latest value of each metric a stage reported (loss, validation score, ...).");
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    const StageState& s = st.stages[i];
    for (const std::string& name : s.series_order) {
      std::string metric_labels = labels[i] + ",metric=\"";
      append_label_value(metric_labels, name);
      metric_labels += '"';
      append_sample(out, "trainflow_stage_metric", metric_labels, s.series.at(name).latest.second);
    }
  }
  return out;
}

}  // namespace trainflow::observe

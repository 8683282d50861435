#include "trainflow/exec/run_report.hpp"

#include <cstdio>
#include <stdexcept>

#include "exec/run_state.hpp"

namespace trainflow {

std::string_view to_string(StageStatus status) noexcept {
  switch (status) {
    case StageStatus::kPending: return "pending";
    case StageStatus::kSucceeded: return "succeeded";
    case StageStatus::kFailed: return "failed";
    case StageStatus::kSkipped: return "skipped";
    case StageStatus::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(RunStatus status) noexcept {
  switch (status) {
    case RunStatus::kSucceeded: return "succeeded";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kCancelled: return "cancelled";
    case RunStatus::kInvalid: return "invalid";
  }
  return "unknown";
}

RunReport::RunReport() : data_(std::make_shared<detail::RunData>()) {}
RunReport::RunReport(std::shared_ptr<const detail::RunData> data) noexcept
    : data_(std::move(data)) {}

RunStatus RunReport::status() const noexcept {
  return data_->status;
}
const Status& RunReport::error() const noexcept {
  return data_->error;
}

std::string_view RunReport::failed_stage() const noexcept {
  if (data_->failed_stage < 0) return {};
  return data_->plan->names[static_cast<std::size_t>(data_->failed_stage)];
}

std::exception_ptr RunReport::exception() const noexcept {
  return data_->exception;
}

void RunReport::rethrow_if_failed() const {
  if (data_->exception) std::rethrow_exception(data_->exception);
  if (!ok()) throw std::runtime_error(data_->error.message());
}

std::size_t RunReport::size() const noexcept {
  return data_->size();
}

StageRecord RunReport::stage(StageId id) const noexcept {
  const detail::StageState& s = data_->states[id];
  StageRecord r;
  r.name = data_->plan->names[id];
  r.status = s.status;
  r.attempts = s.attempts;
  r.worker = s.worker;
  if (data_->times && s.attempts > 0) {
    const detail::StageTimes& t = data_->times[id];
    r.start = std::chrono::nanoseconds{t.start_ns};
    r.end = std::chrono::nanoseconds{t.end_ns};
    r.wall = r.end - r.start;
    if (data_->timing == Timing::kFull) r.cpu = std::chrono::nanoseconds{t.cpu_ns};
    r.queue_wait = std::chrono::nanoseconds{std::max<std::int64_t>(t.start_ns - t.ready_ns, 0)};
  }
  return r;
}

std::optional<StageRecord> RunReport::find(std::string_view name) const {
  for (std::size_t i = 0; i < size(); ++i) {
    if (data_->plan->names[i] == name) return stage(static_cast<StageId>(i));
  }
  return std::nullopt;
}

std::size_t RunReport::count(StageStatus status) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < size(); ++i) n += data_->states[i].status == status;
  return n;
}

std::chrono::system_clock::time_point RunReport::started_at() const noexcept {
  return data_->started_at;
}

std::chrono::nanoseconds RunReport::wall_time() const noexcept {
  return data_->wall;
}

const Value* RunReport::output(PortRef port) const noexcept {
  if (!data_->plan || port.stage >= data_->plan->num_stages) return nullptr;
  const auto& plan = *data_->plan;
  if (port.port >= plan.num_outputs(port.stage)) return nullptr;
  const Value& v = data_->slots[plan.output_offsets[port.stage] + port.port];
  return v.has_value() ? &v : nullptr;
}

namespace {

// printf into a std::string of whatever length the result needs.
template <class... Args>
void append_format(std::string& out, const char* format, Args... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  if (n <= 0) return;
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(n) + 1);
  std::snprintf(out.data() + at, static_cast<std::size_t>(n) + 1, format, args...);
  out.resize(at + static_cast<std::size_t>(n));
}

double to_ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

}  // namespace

std::string RunReport::to_string() const {
  std::string out;
  const std::string& name = data_->plan ? data_->plan->graph_name : data_->invalid_graph_name;
  append_format(out, "run of '%s': %s in %.3f ms\n", name.c_str(),
                std::string(trainflow::to_string(status())).c_str(), to_ms(wall_time()));
  if (!error().ok()) out += error().message() + "\n";
  if (size() == 0) return out;
  int width = 5;
  for (std::size_t i = 0; i < size(); ++i) {
    width = std::max(width, static_cast<int>(data_->plan->names[i].size()));
  }
  append_format(out, "%-*s  %-9s  %8s  %6s  %10s  %10s  %10s\n", width, "stage", "status",
                "attempts", "worker", "start ms", "wall ms", "cpu ms");
  for (std::size_t i = 0; i < size(); ++i) {
    const StageRecord r = stage(static_cast<StageId>(i));
    const std::string worker = r.attempts ? std::to_string(r.worker) : "-";
    append_format(out, "%-*s  %-9s  %8u  %6s  %10.3f  %10.3f  %10.3f\n", width,
                  data_->plan->names[i].c_str(),
                  std::string(trainflow::to_string(r.status)).c_str(), r.attempts, worker.c_str(),
                  to_ms(r.start), to_ms(r.wall), to_ms(r.cpu));
  }
  return out;
}

}  // namespace trainflow

#include "exec/event_hub.hpp"

#include <algorithm>

#include "graph/plan.hpp"

namespace trainflow::detail {

namespace {

// Among events timed alike, the order a run's events take: the run starts, a stage starts, what
// it reports, it ends, the run ends.
int rank(EventKind kind) noexcept;

bool earlier(const RawEvent& x, const RawEvent& y) noexcept {
  if (x.t != y.t) return x.t < y.t;
  return rank(x.kind) < rank(y.kind);
}

int rank(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kRunStarted: return 0;
    case EventKind::kStageStarted: return 1;
    case EventKind::kStageFinished:
    case EventKind::kStageFailed: return 3;
    case EventKind::kRunFinished: return 4;
    default: return 2;
  }
}

}  // namespace

EventHub::EventHub(unsigned workers) {
  rings_.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) rings_.push_back(std::make_unique<Ring>());
  thread_ = std::thread([this] { main(); });
}

EventHub::~EventHub() {
  {
    std::lock_guard lock{mutex_};
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void EventHub::attach(std::shared_ptr<RunChannel> channel) {
  channel->broken.assign(channel->observers.size(), false);
  {
    std::lock_guard lock{mutex_};
    channels_.push_back(std::move(channel));
  }
  wake_.notify_one();
}

std::uint32_t EventHub::keep_text(RunChannel& channel, std::string text) {
  std::lock_guard lock{channel.text_mutex};
  channel.texts.push_back(std::move(text));
  return static_cast<std::uint32_t>(channel.texts.size());
}

void EventHub::emit(int worker, const RawEvent& event) {
  const bool urgent = event.kind == EventKind::kRunFinished;
  if (worker >= 0 && static_cast<std::size_t>(worker) < rings_.size() && !urgent) {
    Ring& ring = *rings_[static_cast<std::size_t>(worker)];
    const std::uint64_t head = ring.head.load(std::memory_order_relaxed);
    if (head - ring.tail.load(std::memory_order_acquire) < kRingSize) {
      ring.slots[head & (kRingSize - 1)] = event;
      ring.head.store(head + 1, std::memory_order_release);
      return;
    }
  }
  push_shared(event, urgent);
}

void EventHub::push_shared(const RawEvent& event, bool urgent) {
  {
    std::lock_guard lock{mutex_};
    if (shared_.size() >= kMaxBacklog && !urgent) {
      event.run->dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    shared_.push_back(event);
    if (!urgent) return;
    urgent_ = true;
    // Under the lock: once the run's end is delivered its executor, and this hub, may go.
    wake_.notify_one();
  }
}

std::int64_t EventHub::read_all() {
  std::int64_t newest = INT64_MIN;
  const std::size_t before = pending_.size();
  // Each producer's events are nearly always in time order: keep sorted runs to merge later.
  const auto close_run = [&](std::size_t from) {
    if (pending_.size() == from) return;
    auto first = pending_.begin() + static_cast<std::ptrdiff_t>(from);
    if (!std::is_sorted(first, pending_.end(), earlier)) std::sort(first, pending_.end(), earlier);
    runs_.push_back(from);
  };
  for (const auto& ring : rings_) {
    const std::size_t from = pending_.size();
    const std::uint64_t head = ring->head.load(std::memory_order_acquire);
    std::uint64_t tail = ring->tail.load(std::memory_order_relaxed);
    for (; tail != head; ++tail) pending_.push_back(ring->slots[tail & (kRingSize - 1)]);
    ring->tail.store(tail, std::memory_order_release);
    close_run(from);
  }
  {
    std::lock_guard lock{mutex_};
    swap_.swap(shared_);
  }
  const std::size_t from = pending_.size();
  pending_.insert(pending_.end(), swap_.begin(), swap_.end());
  swap_.clear();
  close_run(from);
  for (std::size_t k = before; k < pending_.size(); ++k) newest = std::max(newest, pending_[k].t);
  return newest;
}

void EventHub::deliver(std::int64_t horizon) {
  if (pending_.empty()) return;
  // Merge the sorted runs pairwise until one is left.
  while (runs_.size() > 1) {
    std::vector<std::size_t> merged;
    for (std::size_t k = 0; k < runs_.size(); k += 2) {
      merged.push_back(runs_[k]);
      if (k + 1 == runs_.size()) break;
      const std::size_t end = k + 2 < runs_.size() ? runs_[k + 2] : pending_.size();
      std::inplace_merge(pending_.begin() + static_cast<std::ptrdiff_t>(runs_[k]),
                         pending_.begin() + static_cast<std::ptrdiff_t>(runs_[k + 1]),
                         pending_.begin() + static_cast<std::ptrdiff_t>(end), earlier);
    }
    runs_.swap(merged);
  }
  std::size_t n = 0;
  while (n < pending_.size() && pending_[n].t <= horizon) ++n;
  for (std::size_t k = 0; k < n; ++k) deliver_one(pending_[k]);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  runs_.clear();
  if (!pending_.empty()) runs_.push_back(0);
}

void EventHub::deliver_one(const RawEvent& raw) {
  RunChannel& run = *raw.run;
  const Plan& plan = *run.plan;
  Event e;
  e.kind = raw.kind;
  e.since_start = std::chrono::nanoseconds{raw.t - run.start_steady_ns};
  e.time = run.started_at +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(e.since_start);
  e.run_id = run.run_id;
  e.graph = plan.graph_name;
  if (raw.stage != UINT32_MAX) {
    e.stage = plan.names[raw.stage];
    e.stage_index = raw.stage;
  }
  e.attempt = raw.attempt;
  e.worker = raw.worker;
  e.threads = raw.threads;
  std::string text;
  if (raw.text != 0) {
    std::lock_guard lock{run.text_mutex};
    text = run.texts[raw.text - 1];
  }
  switch (raw.kind) {
    case EventKind::kRunFinished:
      e.run_status = static_cast<RunStatus>(raw.status);
      e.message = text;
      e.dropped = run.dropped.load(std::memory_order_relaxed);
      break;
    case EventKind::kStageStarted: e.queue_wait = std::chrono::nanoseconds{raw.a}; break;
    case EventKind::kStageFinished:
    case EventKind::kStageFailed:
      e.status = static_cast<StageStatus>(raw.status);
      e.wall = std::chrono::nanoseconds{raw.a};
      e.cpu = std::chrono::nanoseconds{raw.b};
      e.message = text;
      break;
    case EventKind::kStageRetry:
      e.backoff = std::chrono::nanoseconds{raw.a};
      e.message = text;
      break;
    case EventKind::kMetric:
      e.metric = text;
      e.value = raw.value;
      e.step = raw.b;
      break;
    case EventKind::kProgress: e.value = raw.value; break;
    case EventKind::kLog:
      e.level = static_cast<LogLevel>(raw.status);
      e.message = text;
      break;
    default: break;
  }
  for (std::size_t k = 0; k < run.observers.size(); ++k) {
    if (run.broken[k]) continue;
    try {
      run.observers[k]->on_event(e);
    } catch (...) {
      run.broken[k] = true;  // a failing observer never breaks the run
    }
  }
  if (raw.kind != EventKind::kRunFinished) return;
  std::shared_ptr<RunChannel> keep;
  {
    std::lock_guard lock{mutex_};
    auto it = std::find_if(channels_.begin(), channels_.end(),
                           [&](const auto& c) { return c.get() == &run; });
    if (it != channels_.end()) {
      keep = std::move(*it);
      channels_.erase(it);
    }
  }
  if (keep && keep->on_finished) std::exchange(keep->on_finished, nullptr)();
}

void EventHub::main() {
  std::unique_lock lock{mutex_};
  bool again = false;
  for (;;) {
    if (!again && !urgent_) {
      if (channels_.empty() && shared_.empty() && pending_.empty()) {
        if (stop_) break;
        wake_.wait(lock, [&] { return stop_ || urgent_ || !channels_.empty(); });
      } else {
        wake_.wait_for(lock, std::chrono::milliseconds{1}, [&] { return stop_ || urgent_; });
      }
    }
    urgent_ = false;
    lock.unlock();
    const std::int64_t newest = read_all();
    deliver(horizon_);
    horizon_ = std::max(horizon_, newest);
    // A run's end waits in pending_ for one more pass: take it at once.
    again = std::any_of(pending_.begin(), pending_.end(),
                        [](const RawEvent& e) { return e.kind == EventKind::kRunFinished; });
    lock.lock();
  }
}

}  // namespace trainflow::detail

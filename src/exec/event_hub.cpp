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

// How far ahead of delivery the hub fetches events (each from the cache of the worker that wrote
// it) and, half as far, their stages' names.
constexpr std::uint64_t kAhead = 8;

}  // namespace

EventHub::EventHub(unsigned workers) {
  rings_.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) rings_.push_back(std::make_unique<Ring>());
  seen_.assign(workers, 0);
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
    const std::uint64_t used = head - ring.tail.load(std::memory_order_acquire);
    const bool in_order = event.t > ring.last_t ||
                          (event.t == ring.last_t && rank(event.kind) >= rank(ring.last_kind));
    if (used < kRingSize && in_order) {
      ring.slots[head & (kRingSize - 1)] = event;
      ring.head.store(head + 1, std::memory_order_release);
      ring.last_t = event.t;
      ring.last_kind = event.kind;
      // Once per filling: a wake-up that races with the hub going to sleep is lost, and the
      // hub then comes within its millisecond anyway.
      if (used == kRingSize / 2) {
        filling_.store(true, std::memory_order_relaxed);
        wake_.notify_one();
      }
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
  // A ring is one sorted run (emit() keeps it so): its newest event is its last.
  for (std::size_t r = 0; r < rings_.size(); ++r) {
    const Ring& ring = *rings_[r];
    const std::uint64_t head = ring.head.load(std::memory_order_acquire);
    if (seen_[r] == head) continue;
    newest = std::max(newest, ring.slots[(head - 1) & (kRingSize - 1)].t);
    seen_[r] = head;
  }
  // The shared list becomes one more sorted run of pending_.
  {
    std::lock_guard lock{mutex_};
    swap_.swap(shared_);
  }
  if (!swap_.empty()) {
    const std::size_t from = pending_.size();
    pending_.insert(pending_.end(), swap_.begin(), swap_.end());
    swap_.clear();
    const auto first = pending_.begin() + static_cast<std::ptrdiff_t>(from);
    if (!std::is_sorted(first, pending_.end(), earlier)) std::sort(first, pending_.end(), earlier);
    runs_.push_back(from);
    newest = std::max(newest, pending_.back().t);
  }
  return newest;
}

void EventHub::deliver(std::int64_t horizon) {
  cursors_.clear();
  for (std::size_t r = 0; r < rings_.size(); ++r) {
    const std::uint64_t tail = rings_[r]->tail.load(std::memory_order_relaxed);
    if (tail != seen_[r]) {
      cursors_.push_back(
          {rings_[r]->slots.get(), tail, seen_[r], kRingSize - 1, static_cast<int>(r)});
    }
  }
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    const std::size_t end = k + 1 < runs_.size() ? runs_[k + 1] : pending_.size();
    if (runs_[k] < end) cursors_.push_back({pending_.data(), runs_[k], end, ~std::uint64_t{0}, -1});
  }
  const auto earliest = [this] {
    std::size_t best = 0;
    for (std::size_t k = 1; k < cursors_.size(); ++k) {
      if (earlier(cursors_[k].head(), cursors_[best].head())) best = k;
    }
    return best;
  };
  // A ring's slots go back to its worker once delivered.
  const auto release = [this](const Cursor& c) {
    if (c.ring >= 0)
      rings_[static_cast<std::size_t>(c.ring)]->tail.store(c.at, std::memory_order_release);
  };
  // Hand over what is due, in time order. Runs are sorted: once the earliest head is past the
  // horizon, everything left is.
  while (!cursors_.empty()) {
    Cursor& c = cursors_[earliest()];
    if (c.head().t > horizon) break;
    deliver_one(c.head());
    // Ahead in this run of events: the event itself, and the name of a nearer one's stage.
    if (c.at + kAhead < c.end) __builtin_prefetch(&c.base[(c.at + kAhead) & c.mask]);
    if (c.at + kAhead / 2 < c.end) {
      const RawEvent& next = c.base[(c.at + kAhead / 2) & c.mask];
      if (next.stage != UINT32_MAX) __builtin_prefetch(&next.run->plan->names[next.stage]);
    }
    if (++c.at == c.end) {
      release(c);
      c = cursors_.back();
      cursors_.pop_back();
    }
  }
  for (const Cursor& c : cursors_) release(c);
  std::erase_if(cursors_, [](const Cursor& c) { return c.ring >= 0; });
  // Keep the rest of pending_, merged into one sorted run, for the next pass.
  kept_.clear();
  while (!cursors_.empty()) {
    Cursor& c = cursors_[earliest()];
    kept_.push_back(c.head());
    if (++c.at == c.end) {
      c = cursors_.back();
      cursors_.pop_back();
    }
  }
  pending_.swap(kept_);
  runs_.clear();
  if (!pending_.empty()) runs_.push_back(0);
}

void EventHub::deliver_one(const RawEvent& raw) {
  RunChannel& run = *raw.run;
  const Plan& plan = *run.plan;
  // event_ is reused, and only what may differ from the previous event is written (an observer
  // sees `const Event&`, so the fields keep what was written): the run's fields when the run
  // changes; a stage's start and end fields always, without a branch on the kind (the two kinds
  // alternate unpredictably); the other kinds' fields only around an event that sets them.
  static_assert(sizeof(Event) == 192, "Event changed: set (and reset) its new fields here");
  Event& e = event_;
  if (&run != event_run_) {
    e.run_id = run.run_id;
    e.graph = plan.graph_name;
    event_run_ = &run;
  }
  e.kind = raw.kind;
  e.since_start = std::chrono::nanoseconds{raw.t - run.start_steady_ns};
  e.time = run.started_at +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(e.since_start);
  e.stage = raw.stage != UINT32_MAX ? std::string_view{plan.names[raw.stage]} : std::string_view{};
  e.stage_index = raw.stage;
  e.attempt = raw.attempt;
  e.worker = raw.worker;
  e.threads = raw.threads;
  const bool starts = raw.kind == EventKind::kStageStarted;
  const bool ends = raw.kind == EventKind::kStageFinished || raw.kind == EventKind::kStageFailed;
  e.queue_wait = std::chrono::nanoseconds{starts ? raw.a : 0};
  e.wall = std::chrono::nanoseconds{ends ? raw.a : 0};
  e.cpu = std::chrono::nanoseconds{ends ? raw.b : 0};
  e.status = ends ? static_cast<StageStatus>(raw.status) : StageStatus::kPending;
  if (others_set_) {
    e.run_status = RunStatus::kSucceeded;
    e.backoff = std::chrono::nanoseconds{0};
    e.message = std::string_view{};
    e.metric = std::string_view{};
    e.value = 0;
    e.step = -1;
    e.dropped = 0;
    e.level = LogLevel::kInfo;
    others_set_ = false;
  }
  if (raw.text != 0 || !(starts || ends)) {
    others_set_ = true;
    std::string_view text;
    if (raw.text != 0) {
      // Texts are only appended while the run goes on, which leaves a deque's elements in place.
      std::lock_guard lock{run.text_mutex};
      text = run.texts[raw.text - 1];
    }
    switch (raw.kind) {
      case EventKind::kRunFinished:
        e.run_status = static_cast<RunStatus>(raw.status);
        e.message = text;
        e.dropped = run.dropped.load(std::memory_order_relaxed);
        break;
      case EventKind::kStageFailed: e.message = text; break;
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
  event_run_ = nullptr;  // the channel may go now, and another be made at its address
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
        wake_.wait_for(lock, std::chrono::milliseconds{1}, [&] {
          return stop_ || urgent_ || filling_.load(std::memory_order_relaxed);
        });
      }
    }
    urgent_ = false;
    filling_.store(false, std::memory_order_relaxed);
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

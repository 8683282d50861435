// EventHub: carries a run's events from the threads that produce them to its observers (private to
// trainflow; see trainflow/exec/observer.hpp for the contract).
//
// Producers never wait for observers. A worker appends to its own single-producer ring (one
// cache line per event; no lock, no shared cache line); other threads, and a worker whose ring is
// full, append to one shared list under a mutex, which is bounded: past kMaxBacklog undelivered
// events there, new events are dropped and counted (kRunFinished never is). A worker whose ring
// reaches half full wakes the delivery thread. (Rings of 2^11 events, which a busy worker fills
// that far about every millisecond, measured slower: observing a chain of empty stages cost 13%
// against 4% with these.)
//
// One delivery thread per hub drains the rings and the list about every millisecond while runs are
// observed (sooner when a ring fills), and hands events over in time order, as below. A ring holds
// its events in time order (an event that would precede its ring's last goes to the shared list
// instead, which is rare: a worker emits events as they happen), so they are merged and handed over
// where they lie, and their slots given back once delivered; the shared list is copied out and
// sorted first. Order is exact for causally related events: an event e read in drain pass k is
// delivered only after pass k + 1, together with every event whose time is at most e's. Whatever
// happened before e was queued before e was, so by the end of pass k + 1 it has been read; and it
// was timed no later than e (the steady clock is monotonic). Unrelated events may not be: a
// producer descheduled between timing an event and queueing it for longer than a pass finds
// later-timed events of other producers already delivered (docs/design.md).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "trainflow/exec/observer.hpp"

namespace trainflow::detail {

struct Plan;

// One observed run, shared by the run and the hub until its kRunFinished has been delivered.
struct RunChannel {
  std::shared_ptr<const Plan> plan;
  std::string run_id;
  std::vector<std::shared_ptr<Observer>> observers;
  std::vector<bool> broken;  // observers that threw: they receive nothing more (hub thread only)
  std::chrono::system_clock::time_point started_at{};
  std::int64_t start_steady_ns = 0;
  std::atomic<std::uint64_t> dropped{0};
  // Called on the hub thread once kRunFinished has been delivered.
  std::function<void()> on_finished;

  // Texts carried by events (messages, metric names): an event holds an index + 1 into these.
  std::mutex text_mutex;
  std::deque<std::string> texts;
};

// One event as recorded: exactly one cache line, so that a ring slot is one line to write.
struct alignas(64) RawEvent {
  RunChannel* run = nullptr;
  std::int64_t t = 0;  // steady clock, ns since its epoch
  std::int64_t a = 0;  // kStageStarted: queue wait; kStageRetry: backoff; finished: wall
  std::int64_t b = 0;  // finished: cpu; kMetric: step
  double value = 0;
  std::uint32_t stage = UINT32_MAX;
  std::uint32_t attempt = 0;
  std::uint32_t text = 0;  // 0: none; else index + 1 into run->texts
  std::uint32_t threads = 0;
  std::int16_t worker = -1;
  EventKind kind = EventKind::kRunStarted;
  std::uint8_t status = 0;  // StageStatus, RunStatus or LogLevel, by kind
};
static_assert(sizeof(RawEvent) == 64);

class EventHub {
 public:
  explicit EventHub(unsigned workers);
  ~EventHub();  // delivers what is queued, then stops its thread
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Starts delivering to `channel`'s observers. Its events must be emitted after this.
  void attach(std::shared_ptr<RunChannel> channel);

  // Queues an event; `worker` is the calling thread's worker index, or -1 for any other thread.
  // Cheap and lock-free on a worker; never blocks on an observer.
  void emit(int worker, const RawEvent& event);

  // Stores a text for an event of `channel`; returns what RawEvent::text takes.
  static std::uint32_t keep_text(RunChannel& channel, std::string text);

  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  static constexpr std::size_t kRingSize = 1 << 16;    // events per worker ring (4 MiB)
  static constexpr std::size_t kMaxBacklog = 1 << 20;  // events in the shared list

 private:
  struct alignas(64) Ring {
    std::unique_ptr<RawEvent[]> slots = std::make_unique<RawEvent[]>(kRingSize);
    alignas(64) std::atomic<std::uint64_t> head{0};  // written by the producer
    // The producer's own: its last event in the ring, which the next must not precede.
    std::int64_t last_t = INT64_MIN;
    EventKind last_kind = EventKind::kRunStarted;
    alignas(64) std::atomic<std::uint64_t> tail{0};  // written by the hub thread
  };

  void push_shared(const RawEvent& event, bool urgent);
  void main();
  // Reads what has been queued since the last pass (the rings' new events in place, the shared
  // list into pending_); returns the newest time read.
  std::int64_t read_all();
  void deliver(std::int64_t horizon);
  void deliver_one(const RawEvent& event);

  std::vector<std::unique_ptr<Ring>> rings_;

  std::mutex mutex_;  // guards shared_, channels_, stop_, urgent_
  std::condition_variable wake_;
  std::vector<RawEvent> shared_;
  std::vector<std::shared_ptr<RunChannel>> channels_;
  bool stop_ = false;
  bool urgent_ = false;
  std::atomic<bool> filling_{false};  // a ring is half full: drain now

  // Hub thread only.
  std::vector<std::uint64_t> seen_;  // per ring: its events before this were read, in order
  std::vector<RawEvent> pending_;
  std::vector<std::size_t> runs_;  // pending_ is sorted within [runs_[k], runs_[k + 1])
  std::vector<RawEvent> swap_;
  // A sorted run not yet merged: events base[i & mask] for i in [at, end), of ring `ring` (its
  // slots) or, when ring < 0, of pending_.
  struct Cursor {
    const RawEvent* base;
    std::uint64_t at, end, mask;
    int ring;
    const RawEvent& head() const noexcept { return base[at & mask]; }
  };
  std::vector<Cursor> cursors_;
  std::vector<RawEvent> kept_;             // what is not yet due, merged
  Event event_;                            // the event being delivered (reused: see deliver_one)
  const RunChannel* event_run_ = nullptr;  // the run event_'s run fields are of
  bool others_set_ = false;  // event_ holds fields of a kind other than a stage's start or end
  std::int64_t horizon_ = INT64_MIN;  // the newest time read before the current pass

  std::thread thread_;
};

}  // namespace trainflow::detail

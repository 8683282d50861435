// The event hub on its own: events reach observers in time order whichever way they were queued
// (a worker's ring, the shared list), none is lost, and a ring is reused as it is delivered.
#include "exec/event_hub.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "graph/plan.hpp"

namespace trainflow::detail {
namespace {

struct Delivered {
  EventKind kind;
  std::int64_t t;
  std::uint32_t stage;
  int worker;
};

class Recorder final : public Observer {
 public:
  void on_event(const Event& e) override {
    std::lock_guard lock{mutex_};
    seen_.push_back({e.kind, e.since_start.count(), e.stage_index, e.worker});
  }
  std::vector<Delivered> seen() {
    std::lock_guard lock{mutex_};
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::vector<Delivered> seen_;
};

// A channel whose times count from 0, and a future that is ready once its end is delivered.
std::pair<std::shared_ptr<RunChannel>, std::future<void>> channel(std::shared_ptr<Recorder> r,
                                                                  std::uint32_t stages) {
  auto plan = std::make_shared<Plan>();
  plan->graph_name = "g";
  for (std::uint32_t i = 0; i < stages; ++i) plan->names.push_back("s" + std::to_string(i));
  plan->num_stages = stages;
  auto c = std::make_shared<RunChannel>();
  c->plan = std::move(plan);
  c->run_id = "run";
  c->observers = {std::move(r)};
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  c->on_finished = [done] { done->set_value(); };
  return {std::move(c), std::move(finished)};
}

RawEvent event(RunChannel& run, EventKind kind, std::int64_t t, std::uint32_t stage,
               std::int16_t worker) {
  RawEvent e;
  e.run = &run;
  e.kind = kind;
  e.t = t;
  e.stage = stage;
  e.worker = worker;
  return e;
}

TEST(EventHubTest, AnEventEarlierThanItsRingsLastIsStillDeliveredInTimeOrder) {
  auto recorder = std::make_shared<Recorder>();
  auto [run, finished] = channel(recorder, 8);
  EventHub hub{1};
  hub.attach(run);
  hub.emit(0, event(*run, EventKind::kRunStarted, 0, UINT32_MAX, -1));
  hub.emit(0, event(*run, EventKind::kStageStarted, 10, 0, 0));
  hub.emit(0, event(*run, EventKind::kStageStarted, 30, 1, 0));
  hub.emit(0, event(*run, EventKind::kStageStarted, 20, 2, 0));  // timed before the one above
  hub.emit(-1, event(*run, EventKind::kStageStarted, 25, 3, -1));
  // Timed alike: a stage's start comes before another's finish, whatever the queueing order.
  hub.emit(0, event(*run, EventKind::kStageFinished, 40, 0, 0));
  hub.emit(0, event(*run, EventKind::kStageStarted, 40, 4, 0));
  hub.emit(0, event(*run, EventKind::kStageFinished, 50, 4, 0));
  hub.emit(-1, event(*run, EventKind::kRunFinished, 60, UINT32_MAX, -1));
  ASSERT_EQ(finished.wait_for(std::chrono::seconds{30}), std::future_status::ready);

  const std::vector<Delivered> seen = recorder->seen();
  std::vector<std::pair<EventKind, std::int64_t>> got;
  for (const Delivered& d : seen) got.emplace_back(d.kind, d.t);
  const std::vector<std::pair<EventKind, std::int64_t>> want = {
      {EventKind::kRunStarted, 0},     {EventKind::kStageStarted, 10},
      {EventKind::kStageStarted, 20},  {EventKind::kStageStarted, 25},
      {EventKind::kStageStarted, 30},  {EventKind::kStageStarted, 40},
      {EventKind::kStageFinished, 40}, {EventKind::kStageFinished, 50},
      {EventKind::kRunFinished, 60}};
  EXPECT_EQ(got, want);
}

// Producers on two workers' rings and on other threads, far more events than a ring holds: each
// producer's events arrive once each, in the order it timed them.
TEST(EventHubTest, ManyEventsFromRingsAndOtherThreadsArriveOnceInEachProducersOrder) {
  constexpr int kPerProducer = 3 * static_cast<int>(EventHub::kRingSize) / 2;
  constexpr int kProducers = 4;  // workers 0 and 1, then two other threads
  auto recorder = std::make_shared<Recorder>();
  // Named variables, not a structured binding: lambdas capture `run` (clang 14 cannot capture a
  // binding).
  auto made = channel(recorder, kProducers);
  const std::shared_ptr<RunChannel> run = made.first;
  std::future<void> finished = std::move(made.second);
  EventHub hub{2};
  hub.attach(run);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&hub, &run, p] {
      const int worker = p < 2 ? p : -1;
      for (int i = 0; i < kPerProducer; ++i) {
        RawEvent e = event(*run, EventKind::kProgress, EventHub::now_ns() - run->start_steady_ns,
                           static_cast<std::uint32_t>(p), static_cast<std::int16_t>(worker));
        e.value = i;
        hub.emit(worker, e);
        if (i % 4096 == 0) std::this_thread::yield();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  hub.emit(-1, event(*run, EventKind::kRunFinished, EventHub::now_ns() - run->start_steady_ns,
                     UINT32_MAX, -1));
  ASSERT_EQ(finished.wait_for(std::chrono::seconds{60}), std::future_status::ready);
  EXPECT_EQ(run->dropped.load(), 0u);

  const std::vector<Delivered> seen = recorder->seen();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kProducers * kPerProducer + 1));
  EXPECT_EQ(seen.back().kind, EventKind::kRunFinished);
  std::vector<std::int64_t> last(kProducers, -1);
  std::vector<int> count(kProducers, 0);
  for (std::size_t i = 0; i + 1 < seen.size(); ++i) {
    const Delivered& d = seen[i];
    ASSERT_LT(d.stage, static_cast<std::uint32_t>(kProducers));
    ASSERT_GE(d.t, last[d.stage]) << "producer " << d.stage << " out of order at event " << i;
    last[d.stage] = d.t;
    ++count[d.stage];
  }
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(count[p], kPerProducer) << "producer " << p;
}

}  // namespace
}  // namespace trainflow::detail

// FakeClock: a trainflow::Clock whose time moves only when a test calls advance(), so that retry
// backoffs and timeouts are exact and never sleep. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "testing/sync.hpp"
#include "trainflow/exec/clock.hpp"

namespace trainflow::test {

class FakeClock final : public Clock {
 public:
  time_point now() const noexcept override {
    std::lock_guard lock{mutex_};
    return now_;
  }

  WakeupId wake_at(time_point when, std::function<void()> wake) override {
    std::function<void()> hook;
    WakeupId id = 0;
    {
      std::lock_guard lock{mutex_};
      id = ++last_id_;
      pending_.emplace(id, Entry{when, std::move(wake)});
      ++scheduled_;
      hook = std::exchange(on_scheduled_, nullptr);
    }
    if (hook) hook();
    return id;
  }

  // Calls `hook` once, on the next wake_at(), after the wake-up is pending and before its id is
  // returned: the window in which the caller cannot yet cancel it by id.
  void on_next_scheduled(std::function<void()> hook) {
    std::lock_guard lock{mutex_};
    on_scheduled_ = std::move(hook);
  }

  void cancel(WakeupId id) noexcept override {
    std::function<void()> dropped;  // destroyed outside the lock
    std::lock_guard lock{mutex_};
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    dropped = std::move(it->second.wake);
    pending_.erase(it);
  }

  // Moves time forward by `d`, calling the wake-ups that fall due, in time order, on this thread.
  void advance(std::chrono::milliseconds d) {
    std::unique_lock lock{mutex_};
    const time_point target = now_ + d;
    while (true) {
      auto first = pending_.end();
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->second.when <= target &&
            (first == pending_.end() || it->second.when < first->second.when)) {
          first = it;
        }
      }
      if (first == pending_.end()) break;
      now_ = std::max(now_, first->second.when);
      std::function<void()> wake = std::move(first->second.wake);
      pending_.erase(first);
      lock.unlock();
      wake();
      wake = nullptr;
      lock.lock();
    }
    now_ = target;
  }

  // Wake-ups scheduled and neither called nor cancelled.
  std::size_t pending() const {
    std::lock_guard lock{mutex_};
    return pending_.size();
  }
  // Wake-ups ever scheduled.
  std::size_t scheduled() const {
    std::lock_guard lock{mutex_};
    return scheduled_;
  }
  // How long until the earliest pending wake-up; nullopt when none is pending.
  std::optional<std::chrono::milliseconds> next_wakeup_in() const {
    std::lock_guard lock{mutex_};
    std::optional<std::chrono::milliseconds> out;
    for (const auto& [id, e] : pending_) {
      const auto in = std::chrono::duration_cast<std::chrono::milliseconds>(e.when - now_);
      if (!out || in < *out) out = in;
    }
    return out;
  }
  // Waits (for real, bounded) until exactly `n` wake-ups are pending.
  bool wait_for_pending(std::size_t n) const {
    return wait_until([&] { return pending() == n; });
  }

 private:
  struct Entry {
    time_point when;
    std::function<void()> wake;
  };
  mutable std::mutex mutex_;
  time_point now_{};
  WakeupId last_id_ = 0;
  std::size_t scheduled_ = 0;
  std::map<WakeupId, Entry> pending_;
  std::function<void()> on_scheduled_;
};

}  // namespace trainflow::test

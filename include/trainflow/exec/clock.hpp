// Clock: the time source and wake-up service behind retry backoffs and stage timeouts.
//
// The executor reads now() when an attempt starts (for its deadline) and when it fails (for its
// backoff), and asks wake_at() to call it back later. By default (ExecutorOptions::clock null)
// that is the steady clock with Asio timers on the executor itself, so no wait holds a worker.
// Tests inject a fake (tests/testing/fake_clock.hpp) whose time moves only when told, so that
// backoffs and timeouts are exact and never sleep.
//
// Thread safety: an implementation must accept calls from any thread, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace trainflow {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  // Names one wake-up; never 0.
  using WakeupId = std::uint64_t;

  virtual ~Clock() = default;

  virtual time_point now() const noexcept = 0;

  // Arranges for `wake` to be called once, from any thread but never from inside this call, at
  // or after `when`. The function is destroyed after it was called, when cancelled, or when the
  // clock is destroyed. Returns an id for cancel().
  virtual WakeupId wake_at(time_point when, std::function<void()> wake) = 0;

  // Drops wake-up `id` if it was not called yet: its function is destroyed without a call. A
  // call already under way on another thread is not waited for. Harmless for an id already
  // called or cancelled.
  virtual void cancel(WakeupId id) noexcept = 0;
};

}  // namespace trainflow

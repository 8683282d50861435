// RetryPolicy: how often, and after how long a wait, the executor runs a failed stage again.
//
// A stage's attempt fails when its body throws, returns or completes with an error, or runs past
// its timeout (StageSpec::timeout). If the error's code is retryable and attempts are left, the
// stage waits out a backoff and runs again with the same inputs; otherwise it fails as usual.
// The wait holds no worker (it is a timer on the executor's Clock), and a run that stops —
// RunHandle::cancel, or another stage's failure under FailurePolicy::kFailFast — stops retrying
// at once: a stage waiting for its next attempt then ends kCancelled.
//
//   p.add(trainflow::StageOptions{.name = "fetch",
//                                 .retry = {.max_attempts = 4,
//                                           .initial_backoff = std::chrono::milliseconds{200}}},
//         fetch_shard);
//
// The wait before attempt k + 1 is min(initial_backoff * multiplier^(k-1), max_backoff), of
// which a fraction `jitter` is drawn at random from a generator seeded by the stage's seed and
// k, so a rerun with the same run seed waits exactly as long. A RetryPolicy is a plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "trainflow/core/status.hpp"

namespace trainflow {

struct RetryPolicy {
  // Attempts in all, the first included. Default 1: no retry. REQUIRES (validate): >= 1.
  std::uint32_t max_attempts = 1;
  // The wait after the first failed attempt. Default 100 ms.
  std::chrono::milliseconds initial_backoff{100};
  // Each further wait is the previous one times this. Default 2 (exponential backoff); 1 waits
  // the same each time. REQUIRES (validate): >= 1.
  double multiplier = 2.0;
  // No wait is longer. Default 10 s.
  std::chrono::milliseconds max_backoff{10'000};
  // The fraction of each wait drawn at random: the wait is uniform in [(1 - jitter) * d, d].
  // 0 (the default) waits exactly d; 1 is "full jitter". Jitter spreads out stages that fail
  // together against the same service, at the price of less predictable timings.
  // REQUIRES (validate): in [0, 1].
  double jitter = 0.0;
  // The error codes worth another attempt. Default: kUnavailable, kResourceExhausted and
  // kDeadlineExceeded (timeouts included) — the transient ones. An exception thrown by a stage is
  // kUnknown, so it is retried only when kUnknown is listed. kInvalidArgument and kCancelled are
  // never retried, even when listed: a bad argument stays bad, and a stage that gives up because
  // it was told to stop must not start again.
  std::vector<StatusCode> retry_on = default_retry_on();

  // kUnavailable, kResourceExhausted, kDeadlineExceeded.
  static std::vector<StatusCode> default_retry_on();

  // True when a failed attempt may be followed by another (max_attempts > 1).
  bool retries() const noexcept { return max_attempts > 1; }
  // Whether an attempt that failed with `code` may be retried (ignoring attempts left).
  bool retryable(StatusCode code) const noexcept;
  // The wait after attempt `failed_attempt` (1-based) failed, before jitter.
  std::chrono::milliseconds backoff(std::uint32_t failed_attempt) const noexcept;
  // The wait after attempt `failed_attempt` failed, jitter applied with a generator seeded by
  // `seed` (the executor passes the stage's seed): equal arguments give equal waits.
  std::chrono::milliseconds delay(std::uint32_t failed_attempt, std::uint64_t seed) const noexcept;
  // One line per field out of range ("retry.max_attempts must be at least 1"); empty when valid.
  std::vector<std::string> problems() const;
};

}  // namespace trainflow

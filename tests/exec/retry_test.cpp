// Retries and timeouts, driven by a fake clock: no test sleeps for a backoff or a deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "testing/fake_clock.hpp"
#include "testing/printers.hpp"
#include "testing/sync.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/exec/retry.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace trainflow {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

Status transient(const std::string& what) {
  return Status{StatusCode::kUnavailable, what};
}

class RetryTest : public ::testing::TestWithParam<unsigned> {
 protected:
  std::shared_ptr<test::FakeClock> clock_ = std::make_shared<test::FakeClock>();
  Executor executor_{{.threads = GetParam(), .clock = clock_}};

  milliseconds elapsed() const {
    return std::chrono::duration_cast<milliseconds>(clock_->now() - start_);
  }
  Clock::time_point start_ = clock_->now();

  // A stage that fails transiently on every attempt, an hour's backoff after the first; counts
  // its calls.
  Handle<int> add_down_for_hours(Pipeline& p, std::atomic<int>& calls) {
    return p.add(
        StageOptions{.name = "flaky", .retry = {.max_attempts = 10, .initial_backoff = 1h}},
        [&calls]() -> Result<int> {
          ++calls;
          return transient("down");
        });
  }

  // After a cancelled run: its backoff's wake-up is cancelled (which may land on the executor
  // just after the run is done), so no attempt follows the first even hours later.
  void expect_backoff_cancelled(const std::atomic<int>& calls, const char* why) {
    EXPECT_TRUE(test::wait_until([&] { return clock_->pending() == 0u; })) << why;
    clock_->advance(2h);
    EXPECT_EQ(calls.load(), 1);
  }

  // Advances the clock to each wake-up in turn until the run ends.
  RunReport drive(const RunHandle& handle) {
    EXPECT_TRUE(test::wait_until([&] {
      if (handle.done()) return true;
      if (auto next = clock_->next_wakeup_in()) clock_->advance(*next);
      return handle.done();
    })) << "the run did not end";
    return handle.wait();
  }
};

std::string worker_name(const ::testing::TestParamInfo<unsigned>& info) {
  return "w" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(Workers, RetryTest, ::testing::Values(1u, 2u, 4u, 8u), worker_name);

TEST_P(RetryTest, WaitsExponentiallyGrowingBackoffsCappedAtTheMaximum) {
  Pipeline p;
  std::mutex mutex;
  std::vector<milliseconds> started;  // fake time at which each attempt started
  auto flaky = p.add(StageOptions{.name = "flaky",
                                  .retry = {.max_attempts = 5,
                                            .initial_backoff = 100ms,
                                            .multiplier = 2.0,
                                            .max_backoff = 300ms}},
                     [&](StageContext& ctx) -> Result<int> {
                       std::lock_guard lock{mutex};
                       started.push_back(elapsed());
                       EXPECT_EQ(ctx.attempt(), started.size());
                       if (started.size() < 4) return transient("not yet");
                       return 42;
                     });
  auto after = p.add(
      "after", [](int x) { return x + 1; }, flaky);
  RunHandle handle = executor_.submit(p);
  // Each wake-up is due exactly one backoff after the failure that scheduled it.
  for (milliseconds expected : {100ms, 200ms, 300ms}) {
    ASSERT_TRUE(clock_->wait_for_pending(1));
    EXPECT_EQ(clock_->next_wakeup_in(), expected);
    EXPECT_FALSE(handle.done());
    clock_->advance(expected);
  }
  const RunReport& report = handle.wait();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(after), 43);
  EXPECT_EQ(report.stage(flaky.stage()).attempts, 4u);
  EXPECT_EQ(report.stage(after.stage()).attempts, 1u);
  EXPECT_EQ(started, (std::vector<milliseconds>{0ms, 100ms, 300ms, 600ms}));
}

TEST_P(RetryTest, GivesUpAfterMaxAttemptsWithTheLastError) {
  Pipeline p;
  std::atomic<int> calls{0};
  auto flaky = p.add(
      StageOptions{.name = "flaky", .retry = {.max_attempts = 3}},
      [&]() -> Result<int> { return transient("attempt " + std::to_string(++calls) + " failed"); });
  auto dependant = p.add(
      "dependant", [](int x) { return x; }, flaky);
  const RunReport report = drive(executor_.submit(p));
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(report.error().message(), "stage 'flaky' failed: attempt 3 failed");
  EXPECT_EQ(report.stage(flaky.stage()).status, StageStatus::kFailed);
  EXPECT_EQ(report.stage(flaky.stage()).attempts, 3u);
  EXPECT_EQ(report.stage(dependant.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(elapsed(), 300ms);  // 100 + 200
}

TEST_P(RetryTest, DoesNotRetryErrorsThePolicyDoesNotList) {
  Pipeline p;
  std::atomic<int> bad_calls{0};
  std::atomic<int> throw_calls{0};
  // kInvalidArgument is never retried, even when listed.
  auto bad =
      p.add(StageOptions{.name = "bad",
                         .retry = {.max_attempts = 5, .retry_on = {StatusCode::kInvalidArgument}}},
            [&]() -> Result<int> {
              ++bad_calls;
              return Status{StatusCode::kInvalidArgument, "bad parameter"};
            });
  // An exception is kUnknown: not in the default list.
  auto throws = p.add(StageOptions{.name = "throws", .retry = {.max_attempts = 5}}, [&] {
    ++throw_calls;
    throw std::runtime_error("boom");
    return 1;
  });
  const RunReport report = executor_.run(p, {.on_failure = FailurePolicy::kContinue});
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.stage(bad.stage()).attempts, 1u);
  EXPECT_EQ(report.stage(throws.stage()).attempts, 1u);
  EXPECT_EQ(bad_calls.load(), 1);
  EXPECT_EQ(throw_calls.load(), 1);
  EXPECT_EQ(clock_->scheduled(), 0u) << "no backoff was due";
}

TEST_P(RetryTest, RetriesExceptionsWhenUnknownIsListed) {
  Pipeline p;
  std::atomic<int> calls{0};
  auto s = p.add(
      StageOptions{.name = "s", .retry = {.max_attempts = 3, .retry_on = {StatusCode::kUnknown}}},
      [&] {
        if (++calls < 3) throw std::runtime_error("flaky");
        return 7;
      });
  const RunReport report = drive(executor_.submit(p));
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(s), 7);
  EXPECT_EQ(report.stage(s.stage()).attempts, 3u);
  EXPECT_FALSE(report.exception()) << "the failed attempts leave no exception behind";
}

TEST_P(RetryTest, RetriesAsynchronousStages) {
  Pipeline p;
  std::atomic<int> calls{0};
  auto s =
      p.add(StageOptions{.name = "async", .retry = {.max_attempts = 2}}, [&](Completion<int> done) {
        if (++calls == 1) {
          done.fail(transient("first"));
        } else {
          done(5);
        }
      });
  const RunReport report = drive(executor_.submit(p));
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(s), 5);
  EXPECT_EQ(report.stage(s.stage()).attempts, 2u);
}

TEST_P(RetryTest, RetriedStageReadsTheSameInputAgain) {
  Pipeline p;
  auto source = p.add("source", [] { return std::string(1000, 'x'); });
  std::atomic<int> calls{0};
  auto size = p.add(
      StageOptions{.name = "size", .retry = {.max_attempts = 2}},
      [&](std::string s) -> Result<std::size_t> {  // by value: moved out if it could be
        if (++calls == 1) return transient("first");
        return s.size();
      },
      source);
  const RunReport report = drive(executor_.submit(p));
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(size), 1000u);
}

TEST_P(RetryTest, CancelDuringABackoffEndsTheRunAtOnce) {
  Pipeline p;
  std::atomic<int> calls{0};
  auto flaky = add_down_for_hours(p, calls);
  auto dependant = p.add(
      "dependant", [](int x) { return x; }, flaky);
  RunHandle handle = executor_.submit(p);
  ASSERT_TRUE(clock_->wait_for_pending(1));
  handle.cancel();
  ASSERT_TRUE(test::wait_until([&] { return handle.done(); })) << "cancel did not end the wait";
  const RunReport& report = handle.wait();
  EXPECT_EQ(report.status(), RunStatus::kCancelled);
  EXPECT_EQ(report.stage(flaky.stage()).status, StageStatus::kCancelled);
  EXPECT_EQ(report.stage(flaky.stage()).attempts, 1u);
  EXPECT_EQ(report.stage(dependant.stage()).status, StageStatus::kCancelled);
  expect_backoff_cancelled(calls, "the backoff's wake-up was not cancelled");
}

TEST_P(RetryTest, CancelBeforeTheBackoffsIdIsKnownStillCancelsTheWakeUp) {
  Pipeline p;
  std::atomic<int> calls{0};
  auto flaky = add_down_for_hours(p, calls);
  // The first wake_at() is the backoff's: cancel the run while its id is not yet returned.
  std::optional<RunHandle> handle;
  std::mutex mutex;
  clock_->on_next_scheduled([&] {
    std::lock_guard lock{mutex};
    handle->cancel();
  });
  {
    std::lock_guard lock{mutex};
    handle = executor_.submit(p);
  }
  ASSERT_TRUE(test::wait_until([&] { return handle->done(); })) << "cancel did not end the run";
  const RunReport& report = handle->wait();
  EXPECT_EQ(report.status(), RunStatus::kCancelled);
  EXPECT_EQ(report.stage(flaky.stage()).status, StageStatus::kCancelled);
  expect_backoff_cancelled(calls, "the backoff's wake-up was left scheduled");
}

TEST_P(RetryTest, FailureElsewhereUnderFailFastStopsRetries) {
  Pipeline p;
  auto flaky = p.add(StageOptions{.name = "flaky", .retry = {.max_attempts = 10}},
                     []() -> Result<int> { return transient("down"); });
  std::unique_ptr<Completion<int>> pending;
  std::mutex mutex;
  auto failer = p.add("failer", [&](Completion<int> done) {
    std::lock_guard lock{mutex};
    pending = std::make_unique<Completion<int>>(std::move(done));
  });
  RunHandle handle = executor_.submit(p);
  ASSERT_TRUE(clock_->wait_for_pending(1));
  ASSERT_TRUE(test::wait_until([&] {
    std::lock_guard lock{mutex};
    return pending != nullptr;
  }));
  {
    std::lock_guard lock{mutex};
    pending->fail(Status{StatusCode::kInvalidArgument, "bad"});
  }
  ASSERT_TRUE(test::wait_until([&] { return handle.done(); }));
  const RunReport& report = handle.wait();
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.failed_stage(), "failer");
  EXPECT_EQ(report.stage(flaky.stage()).status, StageStatus::kCancelled);
  EXPECT_EQ(report.stage(failer.stage()).status, StageStatus::kFailed);
}

TEST_P(RetryTest, JitteredBackoffsAreReproducibleForTheSameSeed) {
  const auto backoffs = [&](std::uint64_t seed) {
    Pipeline p;
    p.add(StageOptions{.name = "flaky",
                       .retry = {.max_attempts = 4, .initial_backoff = 1000ms, .jitter = 0.5}},
          []() -> Result<int> { return transient("down"); });
    RunHandle handle = executor_.submit(p, {.seed = seed});
    std::vector<milliseconds> out;
    for (int k = 0; k < 3; ++k) {
      EXPECT_TRUE(clock_->wait_for_pending(1));
      out.push_back(*clock_->next_wakeup_in());
      clock_->advance(out.back());
    }
    EXPECT_EQ(handle.wait().status(), RunStatus::kFailed);
    return out;
  };
  const std::vector<milliseconds> a = backoffs(7);
  EXPECT_EQ(backoffs(7), a);
  EXPECT_NE(backoffs(8), a);
  const milliseconds full[] = {1000ms, 2000ms, 4000ms};
  for (int k = 0; k < 3; ++k) {
    EXPECT_GE(a[k], full[k] / 2);
    EXPECT_LE(a[k], full[k]);
  }
}

TEST_P(RetryTest, StagesWithoutPolicyScheduleNothing) {
  Pipeline p;
  auto a = p.add("a", [] { return 1; });
  auto b = p.add("b", []() -> Result<int> { return transient("down"); });
  const RunReport report = executor_.run(p, {.on_failure = FailurePolicy::kContinue});
  EXPECT_EQ(report.stage(a.stage()).attempts, 1u);
  EXPECT_EQ(report.stage(b.stage()).attempts, 1u);
  EXPECT_EQ(clock_->scheduled(), 0u);
}

TEST_P(RetryTest, TimeoutSignalsTheStopTokenAndFailsASynchronousStage) {
  Pipeline p;
  test::Flag started;
  std::atomic<bool> run_token_stopped{false};
  auto slow = p.add(StageOptions{.name = "slow", .timeout = 200ms}, [&](StageContext& ctx) {
    started.set();
    EXPECT_TRUE(test::wait_until([&] { return ctx.stop_requested(); }));
    EXPECT_TRUE(ctx.stop_token().stop_requested());
    return 1;
  });
  // A stage of the same run without a timeout is not told to stop by another's deadline.
  std::atomic<bool> other_stopped{false};
  auto other = p.add("other", [&](StageContext& ctx) {
    EXPECT_TRUE(started.wait());
    other_stopped = ctx.stop_requested();
    return 2;
  });
  RunHandle handle = executor_.submit(p, {.on_failure = FailurePolicy::kContinue});
  ASSERT_TRUE(started.wait());
  ASSERT_TRUE(clock_->wait_for_pending(1));
  EXPECT_EQ(clock_->next_wakeup_in(), 200ms);
  clock_->advance(199ms);
  EXPECT_FALSE(handle.done());
  clock_->advance(1ms);
  const RunReport& report = handle.wait();
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.error().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(report.error().message(), "stage 'slow' timed out after 200 ms");
  EXPECT_EQ(report.stage(slow.stage()).status, StageStatus::kFailed);
  EXPECT_EQ(report.stage(other.stage()).status, StageStatus::kSucceeded);
  EXPECT_FALSE(other_stopped.load());
  (void)run_token_stopped;
}

TEST_P(RetryTest, StageThatEndsBeforeItsDeadlineSucceedsAndCancelsTheWakeup) {
  Pipeline p;
  auto quick = p.add(StageOptions{.name = "quick", .timeout = 200ms}, [] { return 3; });
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(quick), 3);
  EXPECT_EQ(clock_->scheduled(), 1u);
  EXPECT_EQ(clock_->pending(), 0u);
}

TEST_P(RetryTest, TimedOutAttemptIsRetried) {
  Pipeline p;
  auto s = p.add(StageOptions{.name = "s", .retry = {.max_attempts = 2}, .timeout = 200ms},
                 [&](StageContext& ctx) {
                   if (ctx.attempt() == 1) {
                     EXPECT_TRUE(test::wait_until([&] { return ctx.stop_requested(); }));
                     return 0;
                   }
                   EXPECT_FALSE(ctx.stop_requested()) << "a new attempt gets a fresh stop token";
                   return 9;
                 });
  RunHandle handle = executor_.submit(p);
  ASSERT_TRUE(clock_->wait_for_pending(1));
  EXPECT_EQ(clock_->next_wakeup_in(), 200ms);
  clock_->advance(200ms);  // the deadline
  ASSERT_TRUE(test::wait_until([&] { return clock_->next_wakeup_in() == 100ms; }));
  clock_->advance(100ms);  // the backoff
  const RunReport& report = handle.wait();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(s), 9);
  EXPECT_EQ(report.stage(s.stage()).attempts, 2u);
}

TEST_P(RetryTest, AsynchronousStageFailsAtItsDeadlineAndALateCompletionIsIgnored) {
  Pipeline p;
  std::mutex mutex;
  std::vector<Completion<int>> completions;
  std::vector<std::stop_token> tokens;
  auto s = p.add(StageOptions{.name = "async", .retry = {.max_attempts = 2}, .timeout = 50ms},
                 [&](StageContext& ctx, Completion<int> done) {
                   std::lock_guard lock{mutex};
                   tokens.push_back(ctx.stop_token());
                   completions.push_back(std::move(done));
                 });
  auto after = p.add(
      "after", [](int x) { return x * 10; }, s);
  RunHandle handle = executor_.submit(p);
  const auto attempts_started = [&] {
    std::lock_guard lock{mutex};
    return completions.size();
  };
  ASSERT_TRUE(test::wait_until([&] { return attempts_started() == 1; }));
  clock_->advance(50ms);  // the first attempt times out and its stop token is signalled
  {
    std::lock_guard lock{mutex};
    EXPECT_TRUE(tokens[0].stop_requested());
  }
  ASSERT_TRUE(test::wait_until([&] { return clock_->next_wakeup_in() == 100ms; }));
  clock_->advance(100ms);  // the backoff
  ASSERT_TRUE(test::wait_until([&] { return attempts_started() == 2; }));
  {
    std::lock_guard lock{mutex};
    completions[0](1);  // late: ignored
    EXPECT_FALSE(handle.done());
    completions[1](2);
  }
  const RunReport& report = handle.wait();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(after), 20);
  EXPECT_EQ(report.stage(s.stage()).attempts, 2u);
}

TEST_P(RetryTest, CompletionAfterTheRunEndedIsHarmless) {
  Pipeline p;
  std::mutex mutex;
  std::optional<Completion<int>> completion;
  auto s = p.add(StageOptions{.name = "async", .timeout = 10ms}, [&](Completion<int> done) {
    std::lock_guard lock{mutex};
    completion.emplace(std::move(done));
  });
  RunHandle handle = executor_.submit(p);
  ASSERT_TRUE(test::wait_until([&] {
    std::lock_guard lock{mutex};
    return completion.has_value();
  }));
  clock_->advance(10ms);
  const RunReport report = handle.wait();
  EXPECT_EQ(report.stage(s.stage()).status, StageStatus::kFailed);
  EXPECT_EQ(report.error().message(), "stage 'async' timed out after 10 ms");
  handle = RunHandle{};
  std::lock_guard lock{mutex};
  (*completion)(1);  // the run is over; nothing changes
  completion.reset();
  EXPECT_EQ(report.stage(s.stage()).status, StageStatus::kFailed);
}

TEST(RetryPolicyTest, BackoffGrowsAndIsCapped) {
  const RetryPolicy policy{
      .max_attempts = 6, .initial_backoff = 100ms, .multiplier = 3.0, .max_backoff = 1000ms};
  EXPECT_EQ(policy.backoff(1), 100ms);
  EXPECT_EQ(policy.backoff(2), 300ms);
  EXPECT_EQ(policy.backoff(3), 900ms);
  EXPECT_EQ(policy.backoff(4), 1000ms);
  EXPECT_EQ(policy.backoff(60), 1000ms);
  EXPECT_EQ(policy.delay(2, 123), 300ms) << "no jitter: exact";
}

TEST(RetryPolicyTest, JitterStaysWithinItsFraction) {
  const RetryPolicy policy{.initial_backoff = 1000ms, .multiplier = 1.0, .jitter = 0.25};
  bool varied = false;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const milliseconds d = policy.delay(1, seed);
    EXPECT_GE(d, 750ms);
    EXPECT_LE(d, 1000ms);
    EXPECT_EQ(policy.delay(1, seed), d);
    varied = varied || d != policy.delay(1, 0);
  }
  EXPECT_TRUE(varied);
}

TEST(RetryPolicyTest, DefaultsRetryTransientErrorsOnly) {
  const RetryPolicy policy;
  EXPECT_FALSE(policy.retries());
  EXPECT_TRUE(policy.retryable(StatusCode::kUnavailable));
  EXPECT_TRUE(policy.retryable(StatusCode::kResourceExhausted));
  EXPECT_TRUE(policy.retryable(StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(policy.retryable(StatusCode::kUnknown));
  EXPECT_FALSE(policy.retryable(StatusCode::kInvalidArgument));
  EXPECT_TRUE(policy.problems().empty());
}

TEST(RetryPolicyTest, ValidationReportsBadPoliciesAndTimeouts) {
  Pipeline p;
  p.add(StageOptions{.name = "a", .retry = {.max_attempts = 0, .jitter = 2.0}}, [] { return 1; });
  p.add(StageOptions{.name = "b", .timeout = 0ms}, [] { return 1; });
  Executor executor{{.threads = 1}};
  const RunReport report = executor.run(p);
  EXPECT_EQ(report.status(), RunStatus::kInvalid);
  const std::string& m = report.error().message();
  EXPECT_NE(m.find("stage 'a': retry.max_attempts must be at least 1"), std::string::npos) << m;
  EXPECT_NE(m.find("stage 'a': retry.jitter must be in [0, 1]"), std::string::npos) << m;
  EXPECT_NE(m.find("stage 'b': timeout must be positive, not 0 ms"), std::string::npos) << m;
}

TEST(RetrySteadyClockTest, DefaultClockTimesOutAStageThatPollsItsToken) {
  Pipeline p;
  p.add(StageOptions{.name = "slow", .timeout = 20ms}, [](StageContext& ctx) {
    EXPECT_TRUE(test::wait_until([&] { return ctx.stop_requested(); }));
    return 1;
  });
  Executor executor{{.threads = 2}};
  const RunReport report = executor.run(p);
  EXPECT_EQ(report.error().code(), StatusCode::kDeadlineExceeded);
  EXPECT_GE(report.stage(0).wall, 20ms);
}

}  // namespace
}  // namespace trainflow

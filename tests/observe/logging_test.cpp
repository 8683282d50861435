#include "trainflow/observe/logging.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "testing/temp_dir.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/graph/pipeline.hpp"

namespace trainflow::observe {
namespace {

using std::chrono::milliseconds;

// 2026-11-24T07:30:01.123Z
constexpr std::int64_t kTimeMs = 1795505401123;
constexpr std::string_view kRun = "20261124T073000Z-3fa2c1";

Event event(EventKind kind, std::string_view stage = {}, std::int64_t ms_after = 0) {
  Event e;
  e.kind = kind;
  e.time = std::chrono::system_clock::time_point{milliseconds{kTimeMs + ms_after}};
  e.since_start = milliseconds{ms_after};
  e.run_id = kRun;
  e.graph = "churn";
  e.stage = stage;
  if (!stage.empty()) {
    e.stage_index = 3;
    e.attempt = 1;
    e.worker = 1;
  }
  return e;
}

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(LogObserverTest, TextLinesCarryTimeLevelRunAndStage) {
  Event started = event(EventKind::kStageStarted, "train");
  started.threads = 2;
  EXPECT_EQ(LogObserver::format(started, LogFormat::kText),
            "2026-11-24T07:30:01.123Z info [run 20261124T073000Z-3fa2c1] [train] started on "
            "worker 1 with 2 threads");
  started.threads = 1;
  started.attempt = 2;
  started.device = 0;
  started.queue_wait = milliseconds{12};
  EXPECT_EQ(LogObserver::format(started, LogFormat::kText),
            "2026-11-24T07:30:01.123Z info [run 20261124T073000Z-3fa2c1] [train] started on "
            "worker 1 with 1 thread on GPU 0, attempt 2, after waiting 12.0 ms");

  Event finished = event(EventKind::kStageFinished, "train", 1500);
  finished.status = StageStatus::kSucceeded;
  finished.wall = std::chrono::microseconds{1234567};
  finished.cpu = std::chrono::microseconds{2000000};
  EXPECT_EQ(LogObserver::format(finished, LogFormat::kText),
            "2026-11-24T07:30:02.623Z info [run 20261124T073000Z-3fa2c1] [train] succeeded in "
            "1234.6 ms (cpu 2000.0 ms)");

  Event retry = event(EventKind::kStageRetry, "train");
  retry.attempt = 1;
  retry.message = "disk busy";
  retry.backoff = milliseconds{100};
  EXPECT_EQ(LogObserver::format(retry, LogFormat::kText),
            "2026-11-24T07:30:01.123Z warn [run 20261124T073000Z-3fa2c1] [train] attempt 1 "
            "failed: disk busy; retrying in 100.0 ms");

  Event metric = event(EventKind::kMetric, "train");
  metric.metric = "loss";
  metric.value = 0.25;
  metric.step = 3;
  EXPECT_EQ(LogObserver::format(metric, LogFormat::kText),
            "2026-11-24T07:30:01.123Z info [run 20261124T073000Z-3fa2c1] [train] loss = 0.25 at "
            "step 3");

  Event run_end = event(EventKind::kRunFinished);
  run_end.run_status = RunStatus::kFailed;
  run_end.message = "stage 'train' failed: boom";
  EXPECT_EQ(LogObserver::format(run_end, LogFormat::kText),
            "2026-11-24T07:30:01.123Z error [run 20261124T073000Z-3fa2c1] run failed: stage "
            "'train' failed: boom");
}

TEST(LogObserverTest, EveryKindHasALevelAndAMessage) {
  EXPECT_EQ(LogObserver::level(event(EventKind::kRunStarted)), LogLevel::kInfo);
  Event failed = event(EventKind::kStageFailed, "s");
  EXPECT_EQ(LogObserver::level(failed), LogLevel::kError);
  Event skipped = event(EventKind::kStageFinished, "s");
  skipped.status = StageStatus::kSkipped;
  // A consequence of another stage's failure or of cancelling the run, which say so themselves.
  EXPECT_EQ(LogObserver::level(skipped), LogLevel::kInfo);
  EXPECT_EQ(LogObserver::level(event(EventKind::kGrantChanged, "s")), LogLevel::kDebug);
  Event cancelled = event(EventKind::kRunFinished);
  cancelled.run_status = RunStatus::kCancelled;
  EXPECT_EQ(LogObserver::level(cancelled), LogLevel::kWarn);
  Event dropped = event(EventKind::kRunFinished);
  dropped.dropped = 7;
  EXPECT_EQ(LogObserver::level(dropped), LogLevel::kWarn);
  EXPECT_NE(LogObserver::format(dropped, LogFormat::kText).find("7 events were dropped"),
            std::string::npos);
  Event log = event(EventKind::kLog, "s");
  log.level = LogLevel::kDebug;
  log.message = "epoch 3 done";
  EXPECT_EQ(LogObserver::level(log), LogLevel::kDebug);
  EXPECT_EQ(LogObserver::format(log, LogFormat::kText),
            "2026-11-24T07:30:01.123Z debug [run 20261124T073000Z-3fa2c1] [s] epoch 3 done");
  const std::set<std::string> distinct = [] {
    std::set<std::string> out;
    for (int k = 0; k <= static_cast<int>(EventKind::kLog); ++k) {
      Event e = event(static_cast<EventKind>(k), k < 2 ? "" : "s");
      out.insert(LogObserver::format(e, LogFormat::kText));
    }
    return out;
  }();
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(EventKind::kLog) + 1)
      << "each kind says something different";
}

TEST(LogObserverTest, TextEscapesLineBreaksSoAnEventIsOneLine) {
  Event failed = event(EventKind::kStageFailed, "s");
  failed.message = "line one\nline two\r\x01";
  EXPECT_EQ(LogObserver::format(failed, LogFormat::kText),
            "2026-11-24T07:30:01.123Z error [run 20261124T073000Z-3fa2c1] [s] failed: line "
            "one\\nline two\\r\\x01");
}

TEST(LogObserverTest, JsonLinesHoldTheEventFields) {
  Event started = event(EventKind::kStageStarted, "train[l2=0.1]");
  started.threads = 4;
  started.queue_wait = std::chrono::microseconds{2500};
  const auto j = nlohmann::json::parse(LogObserver::format(started, LogFormat::kJson));
  EXPECT_EQ(j["time"], "2026-11-24T07:30:01.123Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["run"], kRun);
  EXPECT_EQ(j["stage"], "train[l2=0.1]");
  EXPECT_EQ(j["event"], "stage_started");
  EXPECT_EQ(j["message"], "started on worker 1 with 4 threads, after waiting 2.5 ms");
  EXPECT_EQ(j["worker"], 1);
  EXPECT_EQ(j["threads"], 4);
  EXPECT_EQ(j["attempt"], 1);
  EXPECT_DOUBLE_EQ(j["queue_wait_ms"].get<double>(), 2.5);
  EXPECT_FALSE(j.contains("device"));

  Event metric = event(EventKind::kMetric, "train");
  metric.metric = "loss";
  metric.value = std::numeric_limits<double>::quiet_NaN();
  const auto m = nlohmann::json::parse(LogObserver::format(metric, LogFormat::kJson));
  EXPECT_EQ(m["metric"], "loss");
  EXPECT_TRUE(m["value"].is_null());
  EXPECT_FALSE(m.contains("step"));

  Event run_end = event(EventKind::kRunFinished);
  run_end.dropped = 2;
  const auto r = nlohmann::json::parse(LogObserver::format(run_end, LogFormat::kJson));
  EXPECT_FALSE(r.contains("stage"));
  EXPECT_EQ(r["status"], "succeeded");
  EXPECT_EQ(r["dropped"], 2);
  EXPECT_EQ(r["level"], "warn");

  // Invalid UTF-8 from a stage does not throw; it is replaced.
  Event log = event(EventKind::kLog, "s");
  log.message = "bad \xff byte";
  const auto l = nlohmann::json::parse(LogObserver::format(log, LogFormat::kJson));
  EXPECT_EQ(l["message"], "bad \xEF\xBF\xBD byte");
}

TEST(LogFileNameTest, KeepsSafeBytesAndEncodesTheRest) {
  EXPECT_EQ(log_file_name("train"), "train");
  EXPECT_EQ(log_file_name("train[l2=0.1,max_iter=100]"), "train%5Bl2%3D0.1%2Cmax_iter%3D100%5D");
  EXPECT_EQ(log_file_name("a/b"), "a%2Fb");
  EXPECT_EQ(log_file_name(".."), "..");
  EXPECT_EQ(log_file_name("50%"), "50%25");
  EXPECT_EQ(log_file_name("\xC3\xA9t\xC3\xA9"), "%C3%A9t%C3%A9");
  EXPECT_EQ(log_file_name(""), "%");
  EXPECT_EQ(log_file_name("run"), "%72un");
  EXPECT_EQ(log_file_name("Run"), "Run");
  // Distinct names stay distinct where plain replacement would merge them.
  EXPECT_NE(log_file_name("a b"), log_file_name("a_b"));
}

TEST(LogFileNameTest, LongNamesAreCutAndHashed) {
  const std::string a(300, 'x');
  const std::string b = std::string(299, 'x') + "y";
  EXPECT_EQ(log_file_name(a).size(), 200U);
  EXPECT_EQ(log_file_name(a).substr(0, 184), std::string(183, 'x') + "~");
  EXPECT_NE(log_file_name(a), log_file_name(b));
  EXPECT_EQ(log_file_name(a), log_file_name(a));
  // 200 bytes exactly are kept as they are.
  EXPECT_EQ(log_file_name(std::string(200, 'z')), std::string(200, 'z'));
  // A cut never splits a %XX.
  const std::string encoded = log_file_name(std::string(182, 'x') + std::string(50, '/'));
  EXPECT_EQ(encoded.substr(0, 183), std::string(182, 'x') + "~");
  EXPECT_LE(encoded.size(), 200U);
}

TEST(LogObserverTest, WritesTheRunLogAndOneFilePerStage) {
  test::TempDir dir("trainflow-logs");
  {
    LogObserver log({.directory = dir.path()});
    log.on_event(event(EventKind::kRunStarted));
    Event a = event(EventKind::kStageStarted, "train[l2=0.1]", 5);
    a.threads = 2;
    log.on_event(a);
    Event l = event(EventKind::kLog, "train[l2=0.1]", 6);
    l.message = "fitting";
    log.on_event(l);
    Event debug = l;
    debug.level = LogLevel::kDebug;
    debug.message = "not in the files at info";
    log.on_event(debug);
    Event b = event(EventKind::kStageStarted, "load", 7);
    b.threads = 1;
    log.on_event(b);
    Event end = event(EventKind::kRunFinished, {}, 10);
    log.on_event(end);
    EXPECT_TRUE(log.status().ok()) << log.status().message();
  }
  const auto run_dir = dir.path() / std::string(kRun);
  const auto run_lines = lines(read(run_dir / "run.log"));
  ASSERT_EQ(run_lines.size(), 5U) << read(run_dir / "run.log");
  EXPECT_EQ(run_lines[0],
            "2026-11-24T07:30:01.123Z info [run 20261124T073000Z-3fa2c1] run started (graph "
            "churn)");
  EXPECT_EQ(run_lines[2],
            "2026-11-24T07:30:01.129Z info [run 20261124T073000Z-3fa2c1] [train[l2=0.1]] fitting");
  EXPECT_EQ(run_lines[4],
            "2026-11-24T07:30:01.133Z info [run 20261124T073000Z-3fa2c1] run succeeded");
  const auto train = lines(read(run_dir / "train%5Bl2%3D0.1%5D.log"));
  ASSERT_EQ(train.size(), 2U);
  EXPECT_EQ(train[0], run_lines[1]);
  EXPECT_EQ(train[1], run_lines[2]);
  const auto load = lines(read(run_dir / "load.log"));
  ASSERT_EQ(load.size(), 1U);
  EXPECT_EQ(load[0], run_lines[3]);
}

TEST(LogObserverTest, JsonFilesHaveOneObjectPerLine) {
  test::TempDir dir("trainflow-logs");
  LogObserver log({.directory = dir.path(), .format = LogFormat::kJson});
  log.on_event(event(EventKind::kRunStarted));
  Event m = event(EventKind::kMetric, "fit", 3);
  m.metric = "val_auc";
  m.value = 0.875;
  m.step = 2;
  log.on_event(m);
  log.on_event(event(EventKind::kRunFinished, {}, 4));
  const auto got = lines(read(dir.path() / std::string(kRun) / "fit.log"));
  ASSERT_EQ(got.size(), 1U);
  const auto j = nlohmann::json::parse(got[0]);
  EXPECT_EQ(j["event"], "metric");
  EXPECT_EQ(j["stage"], "fit");
  EXPECT_EQ(j["step"], 2);
  EXPECT_DOUBLE_EQ(j["value"].get<double>(), 0.875);
  EXPECT_EQ(lines(read(dir.path() / std::string(kRun) / "run.log")).size(), 3U);
}

TEST(LogObserverTest, FilesAreAppendedToSoAResumedRunKeepsItsLog) {
  test::TempDir dir("trainflow-logs");
  for (int i = 0; i < 2; ++i) {
    LogObserver log({.directory = dir.path()});
    log.on_event(event(EventKind::kStageStarted, "s"));
    log.on_event(event(EventKind::kRunFinished));
  }
  EXPECT_EQ(lines(read(dir.path() / std::string(kRun) / "s.log")).size(), 2U);
  EXPECT_EQ(lines(read(dir.path() / std::string(kRun) / "run.log")).size(), 4U);
}

TEST(LogObserverTest, ConsoleGetsItsLevelAndAbove) {
  std::ostringstream console;
  LogObserver log({.console = &console});
  log.on_event(event(EventKind::kRunStarted));
  Event retry = event(EventKind::kStageRetry, "s");
  retry.message = "flaky";
  log.on_event(retry);
  Event failed = event(EventKind::kStageFailed, "s");
  failed.message = "boom";
  log.on_event(failed);
  const auto got = lines(console.str());
  ASSERT_EQ(got.size(), 2U) << console.str();
  EXPECT_NE(got[0].find(" warn [run 20261124T073000Z-3fa2c1] [s] attempt 1 failed: flaky"),
            std::string::npos);
  EXPECT_NE(got[1].find(" error [run 20261124T073000Z-3fa2c1] [s] failed: boom"),
            std::string::npos);
}

TEST(LogObserverTest, ProgressIsThrottledPerStage) {
  std::ostringstream console;
  LogObserver log({.console = &console,
                   .console_level = LogLevel::kInfo,
                   .progress_interval = milliseconds{1000}});
  const auto progress = [&](std::string_view stage, std::int64_t at_ms, double value) {
    Event p = event(EventKind::kProgress, stage, at_ms);
    p.value = value;
    log.on_event(p);
  };
  progress("a", 0, 0.1);     // first: logged
  progress("a", 500, 0.2);   // too soon
  progress("b", 600, 0.5);   // another stage: logged
  progress("a", 1000, 0.3);  // an interval after the last line: logged
  progress("a", 1999, 0.4);  // too soon
  progress("a", 2100, 1.0);  // completion: always logged
  const auto got = lines(console.str());
  ASSERT_EQ(got.size(), 4U) << console.str();
  EXPECT_NE(got[0].find("[a] progress 10%"), std::string::npos);
  EXPECT_NE(got[1].find("[b] progress 50%"), std::string::npos);
  EXPECT_NE(got[2].find("[a] progress 30%"), std::string::npos);
  EXPECT_NE(got[3].find("[a] progress 100%"), std::string::npos);
}

TEST(LogObserverTest, ManyStagesWithFewOpenFilesLoseNoLine) {
  test::TempDir dir("trainflow-logs");
  {
    LogObserver log({.directory = dir.path(), .max_open_files = 2});
    for (int round = 0; round < 3; ++round) {
      for (int s = 0; s < 5; ++s) {
        const std::string name = "stage" + std::to_string(s);
        Event l = event(EventKind::kLog, name, round * 10 + s);
        const std::string text = "round " + std::to_string(round);
        l.message = text;
        log.on_event(l);
      }
    }
  }  // destroyed without kRunFinished: still flushed
  for (int s = 0; s < 5; ++s) {
    const auto got =
        lines(read(dir.path() / std::string(kRun) / ("stage" + std::to_string(s) + ".log")));
    ASSERT_EQ(got.size(), 3U) << "stage" << s;
    EXPECT_NE(got[2].find("round 2"), std::string::npos);
  }
  EXPECT_EQ(lines(read(dir.path() / std::string(kRun) / "run.log")).size(), 15U);
}

TEST(LogObserverTest, AnUnwritableDirectoryIsReportedNotThrown) {
  test::TempDir dir("trainflow-logs");
  const auto blocker = dir.path() / "file";
  std::ofstream(blocker) << "not a directory";
  LogObserver log({.directory = blocker});
  log.on_event(event(EventKind::kRunStarted));
  log.on_event(event(EventKind::kStageStarted, "s"));
  log.on_event(event(EventKind::kRunFinished));
  ASSERT_FALSE(log.status().ok());
  EXPECT_EQ(log.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(log.status().message().find("cannot create the log directory"), std::string::npos);
  EXPECT_NE(log.status().message().find(blocker.string()), std::string::npos);
}

TEST(LogObserverTest, ARunWithoutIdLogsUnderUnnamed) {
  test::TempDir dir("trainflow-logs");
  {
    LogObserver log({.directory = dir.path()});
    Event e = event(EventKind::kRunStarted);
    e.run_id = {};
    log.on_event(e);
    EXPECT_EQ(LogObserver::format(e, LogFormat::kText).find("[run -]") != std::string::npos, true);
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "unnamed" / "run.log"));
}

// A real run: the executor delivers the events, the run's end is written before wait() returns.
TEST(LogObserverTest, LogsARealRun) {
  test::TempDir dir("trainflow-logs");
  auto log = std::make_shared<LogObserver>(LogOptions{.directory = dir.path()});
  Pipeline p{"tiny"};
  Handle<int> a = p.add("load/a", [] { return 20; });
  p.add(
      "fit[l2=1]",
      [](StageContext& ctx, int x) {
        for (int epoch = 0; epoch < 3; ++epoch) ctx.report_metric("loss", 1.0 / (epoch + 1), epoch);
        ctx.log(LogLevel::kWarn, "learning rate too high");
        if (x > 0) throw std::runtime_error("diverged");
      },
      a);
  Executor executor{{.threads = 2}};
  const RunReport report = executor.run(p, {.observers = {log}, .run_id = "e2e"});
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(log->status().ok()) << log->status().message();
  const auto run = lines(read(dir.path() / "e2e" / "run.log"));
  ASSERT_GE(run.size(), 8U) << read(dir.path() / "e2e" / "run.log");
  EXPECT_NE(run.front().find(" info [run e2e] run started (graph tiny)"), std::string::npos);
  EXPECT_NE(run.back().find(" error [run e2e] run failed: "), std::string::npos) << run.back();
  const auto fit = lines(read(dir.path() / "e2e" / "fit%5Bl2%3D1%5D.log"));
  ASSERT_EQ(fit.size(), 6U) << read(dir.path() / "e2e" / "fit%5Bl2%3D1%5D.log");
  EXPECT_NE(fit[0].find("[fit[l2=1]] started on worker "), std::string::npos);
  EXPECT_NE(fit[1].find("[fit[l2=1]] loss = 1 at step 0"), std::string::npos);
  EXPECT_NE(fit[3].find("[fit[l2=1]] loss = 0.333333333333333"), std::string::npos);
  EXPECT_NE(fit[4].find(" warn [run e2e] [fit[l2=1]] learning rate too high"), std::string::npos);
  EXPECT_NE(fit[5].find(" error [run e2e] [fit[l2=1]] failed"), std::string::npos);
  EXPECT_NE(fit[5].find("diverged"), std::string::npos);
  const auto load = lines(read(dir.path() / "e2e" / "load%2Fa.log"));
  ASSERT_EQ(load.size(), 2U);
  EXPECT_NE(load[1].find("[load/a] succeeded in "), std::string::npos);
}

TEST(LogOptionsTest, ParsesFormatsAndLevels) {
  EXPECT_EQ(*parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(*parse_log_format("text"), LogFormat::kText);
  ASSERT_FALSE(parse_log_format("xml"));
  EXPECT_EQ(parse_log_format("xml").error().message(),
            "unknown log format 'xml': use text or json");
  EXPECT_EQ(*parse_log_level("warning"), LogLevel::kWarn);
  EXPECT_EQ(*parse_log_level("debug"), LogLevel::kDebug);
  ASSERT_FALSE(parse_log_level("loud"));
  EXPECT_NE(parse_log_level("loud").error().message().find("trace, debug, info, warn or error"),
            std::string::npos);
}

}  // namespace
}  // namespace trainflow::observe

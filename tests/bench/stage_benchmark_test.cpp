#include "trainflow/bench/stage_benchmark.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

// Collects the runs Google Benchmark reports.
class CollectingReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) runs_[run.benchmark_name()] = run;
  }
  const std::map<std::string, Run>& runs() const { return runs_; }

 private:
  std::map<std::string, Run> runs_;
};

// Runs the benchmarks whose names match `filter`, briefly.
std::map<std::string, benchmark::BenchmarkReporter::Run> run_benchmarks(const std::string& filter) {
  std::string min_time = "--benchmark_min_time=0.001";
  std::string filter_flag = "--benchmark_filter=" + filter;
  std::string program = "stage_benchmark_test";
  char* argv[] = {program.data(), min_time.data(), filter_flag.data(), nullptr};
  int argc = 3;
  benchmark::Initialize(&argc, argv);
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return reporter.runs();
}

TEST(StageBenchmarkTest, TypedStageRunsWithEachGrantAndSharedInputs) {
  static std::mutex mutex;
  static std::set<unsigned> grants_seen;
  static std::set<const void*> addresses_seen;
  static std::atomic<int> calls{0};
  std::vector<double> data(1000, 2.0);
  trainflow::bench::register_stage(
      "typed_sum",
      [](trainflow::StageContext& ctx, const std::vector<double>& v, const int& k) {
        {
          std::lock_guard lock(mutex);
          grants_seen.insert(ctx.threads());
          addresses_seen.insert(v.data());
        }
        ++calls;
        double s = 0;
        for (double x : v) s += x;
        return s * k;
      },
      trainflow::bench::inputs(std::move(data), 3),
      {.threads = {1, 2}, .items_per_run = 1000, .bytes_per_run = 8000});

  const auto runs = run_benchmarks("^typed_sum/");
  ASSERT_EQ(runs.size(), 2u);
  for (const char* name : {"typed_sum/threads:1/real_time", "typed_sum/threads:2/real_time"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(runs.count(name));
    const auto& run = runs.at(name);
    EXPECT_FALSE(run.error_occurred) << run.error_message;
    EXPECT_GT(run.iterations, 0);
    ASSERT_TRUE(run.counters.count("items_per_second"));
    ASSERT_TRUE(run.counters.count("bytes_per_second"));
    // Both rates come from the same iterations and time: bytes are 8 per item.
    EXPECT_DOUBLE_EQ(run.counters.at("bytes_per_second").value,
                     8 * run.counters.at("items_per_second").value);
    const double seconds = run.GetAdjustedRealTime() * run.iterations /
                           benchmark::GetTimeUnitMultiplier(run.time_unit);
    EXPECT_NEAR(run.counters.at("items_per_second").value, 1000.0 * run.iterations / seconds,
                1e-6 * run.counters.at("items_per_second").value);
  }
  EXPECT_EQ(grants_seen, (std::set<unsigned>{1, 2}));  // StageContext::threads() is the grant
  EXPECT_EQ(addresses_seen.size(), 1u);                // the stored input, never copied
  // Every reported iteration called the stage (Google Benchmark may also run untimed rounds to
  // size the iteration count; how many depends on the machine's speed).
  EXPECT_GE(calls.load(), runs.at("typed_sum/threads:1/real_time").iterations +
                              runs.at("typed_sum/threads:2/real_time").iterations);
}

TEST(StageBenchmarkTest, StageSpecWithPlainBodyAndDefaultGrants) {
  class Doubler final : public trainflow::StageBody {
   public:
    void invoke(trainflow::StageCall& call) override {
      call.set_output(0, trainflow::Value::make(2 * call.input(0).get<int>()));
    }
  };
  trainflow::StageSpec spec{.name = "",
                            .inputs = {{"x", trainflow::type_id<int>()}},
                            .outputs = {{"y", trainflow::type_id<int>()}},
                            .body = std::make_shared<Doubler>()};
  trainflow::bench::register_stage("spec_doubler", spec, {trainflow::Value::make(21)});

  const auto runs = run_benchmarks("^spec_doubler/");
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(runs.size(), cores);  // default grants 1..hardware_concurrency
  for (unsigned g = 1; g <= cores; ++g) {
    const std::string name = "spec_doubler/threads:" + std::to_string(g) + "/real_time";
    ASSERT_TRUE(runs.count(name)) << name;
    EXPECT_FALSE(runs.at(name).error_occurred) << runs.at(name).error_message;
    EXPECT_FALSE(runs.at(name).counters.count("items_per_second"));  // none given
  }
}

TEST(StageBenchmarkTest, FailingStageSkipsWithItsMessage) {
  trainflow::bench::register_stage("failing",
                                   [](const int& x) -> trainflow::Result<int> {
                                     if (x > 0)
                                       return trainflow::invalid_argument("x must not be positive");
                                     return x;
                                   },
                                   trainflow::bench::inputs(1), {.threads = {1}});
  const auto runs = run_benchmarks("^failing/");
  ASSERT_EQ(runs.size(), 1u);
  const auto& run = runs.begin()->second;
  EXPECT_TRUE(run.error_occurred);
  EXPECT_NE(run.error_message.find("x must not be positive"), std::string::npos)
      << run.error_message;
}

TEST(StageBenchmarkTest, InputOfTheWrongTypeIsReportedAsTheCaseError) {
  class Nothing final : public trainflow::StageBody {
   public:
    void invoke(trainflow::StageCall&) override {}
  };
  trainflow::StageSpec spec{.name = "takes_int",
                            .inputs = {{"x", trainflow::type_id<int>()}},
                            .body = std::make_shared<Nothing>()};
  trainflow::bench::register_stage("mismatch", spec, {trainflow::Value::make(1.5)},
                                   {.threads = {1}});
  const auto runs = run_benchmarks("^mismatch/");
  ASSERT_EQ(runs.size(), 1u);
  const auto& run = runs.begin()->second;
  EXPECT_TRUE(run.error_occurred);
  EXPECT_NE(run.error_message.find("takes_int"), std::string::npos) << run.error_message;
}

}  // namespace

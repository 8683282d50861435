// <utility> first: pipeline.hpp is not self-contained (Boost 1.74's asio/awaitable.hpp, which it
// includes first, uses std::exchange without including <utility>); see the header.* ctest checks.
#include <utility>

#include "trainflow/graph/pipeline.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "testing/counting.hpp"
#include "testing/printers.hpp"
#include "trainflow/core/hash.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/exec/run_report.hpp"

namespace trainflow {
namespace {

using test::Counted;
using test::Counts;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

class PipelineTest : public ::testing::Test {
 protected:
  Executor executor_{{.threads = 2}};
};

int add_one(int x) {
  return x + 1;
}

TEST_F(PipelineTest, SingleOutputStage) {
  Pipeline p{"one"};
  const Handle<int> answer = p.add("answer", [] { return 42; });
  EXPECT_EQ(p.size(), 1u);
  EXPECT_EQ(p.name(), "one");
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  ASSERT_NE(report.value(answer), nullptr);
  EXPECT_EQ(*report.value(answer), 42);
}

TEST_F(PipelineTest, ChainsStagesThroughHandles) {
  Pipeline p;
  auto data = p.add("load", [] { return std::vector<double>{1, 2, 3, 4}; });
  auto sum = p.add(
      "sum", [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); },
      data);
  auto text = p.add(
      "format", [](double s) { return std::to_string(static_cast<int>(s)); }, sum);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  ASSERT_NE(report.value(text), nullptr);
  EXPECT_EQ(*report.value(text), "10");
  EXPECT_EQ(p.graph().stage(sum.stage()).inputs.at(0).type, type_id<std::vector<double>>());
}

TEST_F(PipelineTest, GatherCollectsValuesInOrder) {
  Pipeline p;
  std::vector<Handle<int>> trials;
  for (int i = 0; i < 5; ++i) {
    trials.push_back(p.add("trial" + std::to_string(i), [i] { return i * i; }));
  }
  auto all = p.gather("all", trials);
  auto sum = p.add(
      "sum", [](const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0); }, all);
  EXPECT_EQ(p.graph().stage(all.stage()).kind, "gather");
  EXPECT_EQ(p.graph().stage(all.stage()).inputs.size(), 5u);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(sum), 0 + 1 + 4 + 9 + 16);
  const std::vector<int>* values = report.value(all);
  ASSERT_EQ(values, nullptr);  // consumed by `sum`, so released
}

TEST_F(PipelineTest, GatherMovesSoleConsumedValuesAndCopiesShared) {
  Counts counts;
  Pipeline p;
  auto a = p.add("a", [&] { return Counted{&counts, 1}; });
  auto b = p.add("b", [&] { return Counted{&counts, 2}; });
  auto reader = p.add(
      "reader", [](const Counted& c) { return c.payload(); }, b);
  auto all = p.gather("all", std::vector<Handle<Counted>>{a, b});
  auto payloads = p.add(
      "payloads",
      [](const std::vector<Counted>& v) {
        std::vector<int> out;
        for (const Counted& c : v) out.push_back(c.payload());
        return out;
      },
      all);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(payloads), (std::vector<int>{1, 2}));
  EXPECT_EQ(*report.value(reader), 2);
  EXPECT_EQ(counts.copies.load(), 1);  // b has two consumers; a is moved
}

TEST_F(PipelineTest, GatherOfNothingIsAnEmptyList) {
  Pipeline p;
  auto none = p.gather("none", std::vector<Handle<double>>{});
  auto size = p.add(
      "size", [](const std::vector<double>& v) { return v.size(); }, none);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(size), 0u);
}

TEST_F(PipelineTest, SeveralOutputsBindToSeveralHandles) {
  Pipeline p;
  auto [count, label] = p.add("split", [] { return outputs(3, std::string("abc")); });
  static_assert(std::is_same_v<decltype(count), Handle<int>>);
  static_assert(std::is_same_v<decltype(label), Handle<std::string>>);
  EXPECT_EQ(count.port(), 0u);
  EXPECT_EQ(label.port(), 1u);
  auto repeated = p.add(
      "repeat",
      [](int n, const std::string& s) {
        std::string out;
        for (int i = 0; i < n; ++i) out += s;
        return out;
      },
      count, label);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  ASSERT_NE(report.value(repeated), nullptr);
  EXPECT_EQ(*report.value(repeated), "abcabcabc");
}

TEST_F(PipelineTest, FunctionPointersAndGenericLambdasAreStages) {
  Pipeline p;
  auto x = p.add("x", [] { return 1; });
  auto y = p.add("y", &add_one, x);
  auto z = p.add(
      "z", [](const auto& v) { return v * 10; }, y);
  auto w = p.add(
      "w", [](StageContext& ctx, auto v) { return v + static_cast<int>(ctx.stage_index()); }, z);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  ASSERT_NE(report.value(w), nullptr);
  EXPECT_EQ(*report.value(w), 23);
}

TEST_F(PipelineTest, SameHandleMayFeedSeveralParameters) {
  Pipeline p;
  auto x = p.add("x", [] { return 7; });
  auto sq = p.add(
      "square", [](int a, int b) { return a * b; }, x, x);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(sq), 49);
}

TEST_F(PipelineTest, VoidStageOrdersItsDependants) {
  Pipeline p;
  std::atomic<bool> written{false};
  Handle<void> write = p.add("write", [&] { written.store(true); });
  static_assert(std::is_same_v<decltype(write), Handle<void>>);
  auto read = p.add(
      "read", [&] { return written.load(); }, write);
  EXPECT_EQ(p.graph().num_edges(), 1u);
  EXPECT_TRUE(p.graph().stage(read.stage()).inputs.empty()) << "an order edge is no input";
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_TRUE(*report.value(read));
  EXPECT_GE(report.stage(read.stage()).start, report.stage(write.stage()).end);
}

TEST_F(PipelineTest, OrderAddsDependencyBetweenValueStages) {
  Pipeline p;
  std::atomic<int> step{0};
  auto first = p.add("first", [&] { return step.fetch_add(1); });
  auto second = p.add("second", [&] { return step.fetch_add(1); });
  p.order(first, second);
  EXPECT_EQ(p.graph().num_edges(), 1u);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(*report.value(first), 0);
  EXPECT_EQ(*report.value(second), 1);
}

TEST_F(PipelineTest, StageContextGivesNameIndexAndSeed) {
  Pipeline p;
  auto a = p.add("alpha", [](StageContext& ctx) {
    return std::pair<std::string, std::uint64_t>{std::string(ctx.stage_name()), ctx.seed()};
  });
  auto b = p.add(
      "beta",
      [](StageContext& ctx, const std::pair<std::string, std::uint64_t>& in) {
        EXPECT_EQ(ctx.stage_index(), 1u);
        EXPECT_EQ(&ctx.executor().get_executor().context(), &ctx.executor());
        EXPECT_GE(ctx.threads(), 1u);
        EXPECT_LT(ctx.worker(), ctx.executor().num_workers());
        return std::tuple<std::string, std::uint64_t, std::string, std::uint64_t>{
            in.first, in.second, std::string(ctx.stage_name()), ctx.seed()};
      },
      a);
  for (std::uint64_t seed : {0u, 7u, 8u}) {
    const RunReport report = executor_.run(p, {.seed = seed});
    ASSERT_TRUE(report.ok()) << report.error().message();
    const auto* out = report.value(b);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(std::get<0>(*out), "alpha");
    EXPECT_EQ(std::get<1>(*out), stage_seed(seed, "alpha"));
    EXPECT_EQ(std::get<2>(*out), "beta");
    EXPECT_EQ(std::get<3>(*out), stage_seed(seed, "beta"));
  }
  EXPECT_NE(stage_seed(7, "alpha"), stage_seed(8, "alpha"));
}

TEST_F(PipelineTest, ResultValueFeedsConsumers) {
  Pipeline p;
  auto r = p.add("parse", []() -> Result<int> { return 12; });
  static_assert(std::is_same_v<decltype(r), Handle<int>>);
  auto doubled = p.add(
      "double", [](int x) { return 2 * x; }, r);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(doubled), 24);
}

TEST_F(PipelineTest, ResultErrorFailsTheStage) {
  Pipeline p;
  auto s = p.add("sum", [] { return -1.0; });
  auto checked = p.add(
      "check",
      [](double x) -> Result<double> {
        if (x < 0) return invalid_argument("negative sum");
        return x;
      },
      s);
  auto after = p.add(
      "after", [](double x) { return x; }, checked);
  const RunReport report = executor_.run(p);
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(report.error().message(), "stage 'check' failed: negative sum");
  EXPECT_EQ(report.failed_stage(), "check");
  EXPECT_EQ(report.exception(), nullptr);
  EXPECT_EQ(report.stage(checked.stage()).status, StageStatus::kFailed);
  EXPECT_EQ(report.stage(after.stage()).status, StageStatus::kSkipped);
  EXPECT_EQ(report.value(checked), nullptr);
  EXPECT_EQ(report.value(after), nullptr);
  EXPECT_THROW(report.rethrow_if_failed(), std::runtime_error);
}

TEST_F(PipelineTest, ResultOfSeveralOutputs) {
  Pipeline p;
  auto [n, s] = p.add(
      "pair", []() -> Result<Outputs<int, std::string>> { return outputs(2, std::string("xy")); });
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(n), 2);
  EXPECT_EQ(*report.value(s), "xy");
}

TEST_F(PipelineTest, StatusStageSucceedsOrFails) {
  Pipeline p;
  Handle<void> ok = p.add("ok", [] { return Status{}; });
  Handle<void> bad = p.add(
      "bad", [] { return not_found("no table 'users'"); }, ok);
  const RunReport report = executor_.run(p);
  EXPECT_EQ(report.stage(ok.stage()).status, StageStatus::kSucceeded);
  EXPECT_EQ(report.stage(bad.stage()).status, StageStatus::kFailed);
  EXPECT_EQ(report.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(report.error().message(), "stage 'bad' failed: no table 'users'");
}

struct CorruptRow : std::runtime_error {
  explicit CorruptRow(int r) : std::runtime_error("corrupt row " + std::to_string(r)), row(r) {}
  int row;
};

TEST_F(PipelineTest, ThrowingStageKeepsTheException) {
  Pipeline p;
  auto load = p.add("load", []() -> int { throw CorruptRow(17); });
  auto after = p.add(
      "after", [](int x) { return x; }, load);
  const RunReport report = executor_.run(p);
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_EQ(report.failed_stage(), "load");
  EXPECT_EQ(report.error().code(), StatusCode::kUnknown);
  EXPECT_TRUE(contains(report.error().message(), "load")) << report.error().message();
  EXPECT_TRUE(contains(report.error().message(), "corrupt row 17")) << report.error().message();
  ASSERT_NE(report.exception(), nullptr);
  try {
    std::rethrow_exception(report.exception());
    ADD_FAILURE() << "nothing thrown";
  } catch (const CorruptRow& e) {
    EXPECT_EQ(e.row, 17);
  } catch (...) {
    ADD_FAILURE() << "the exception lost its type";
  }
  EXPECT_THROW(report.rethrow_if_failed(), CorruptRow);
  EXPECT_EQ(report.stage(after.stage()).status, StageStatus::kSkipped);
}

TEST_F(PipelineTest, ThrowingSomethingElseThanAnExceptionFailsTheStage) {
  Pipeline p;
  p.add("odd", []() -> int { throw 42; });
  const RunReport report = executor_.run(p);
  EXPECT_EQ(report.status(), RunStatus::kFailed);
  EXPECT_TRUE(contains(report.error().message(), "stage 'odd' failed")) << report.error().message();
  EXPECT_THROW(report.rethrow_if_failed(), int);
}

TEST_F(PipelineTest, SoleConsumerTakingByValueGetsTheValueMoved) {
  Counts counts;
  Pipeline p;
  auto src = p.add("src", [&] { return Counted{&counts, 5}; });
  auto use = p.add(
      "use", [](Counted c) { return c.payload() + 1; }, src);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(use), 6);
  EXPECT_EQ(counts.copies.load(), 0);
  EXPECT_GE(counts.moves.load(), 1);
  EXPECT_EQ(counts.destroyed.load(), 1);
}

TEST_F(PipelineTest, SharedInputTakenByValueIsCopied) {
  Counts counts;
  Pipeline p;
  auto src = p.add("src", [&] { return Counted{&counts, 5}; });
  auto owner = p.add(
      "owner", [](Counted c) { return c.payload(); }, src);
  auto reader = p.add(
      "reader", [](const Counted& c) { return c.live(); }, src);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(owner), 5);
  EXPECT_TRUE(*report.value(reader)) << "the shared payload was moved away";
  EXPECT_EQ(counts.copies.load(), 1);
  EXPECT_EQ(counts.destroyed.load(), 2);
}

TEST_F(PipelineTest, ConstReferenceInputsAreNeverCopied) {
  Counts counts;
  Pipeline p;
  auto src = p.add("src", [&] { return Counted{&counts, 5}; });
  auto a = p.add(
      "a", [](const Counted& c) { return c.payload(); }, src);
  auto b = p.add(
      "b", [](const Counted& c) { return c.payload(); }, src);
  ASSERT_TRUE(executor_.run(p).ok());
  EXPECT_EQ(counts.copies.load(), 0);
  (void)a;
  (void)b;
}

TEST_F(PipelineTest, InputsAreReleasedAfterTheirLastConsumer) {
  Counts counts;
  Pipeline p;
  auto src = p.add("src", [&] { return Counted{&counts, 1}; });
  auto first = p.add(
      "first", [](const Counted& c) { return c.payload(); }, src);
  auto second = p.add(
      "second", [](const Counted& c) { return c.payload(); }, src);
  auto observe = p.add(
      "observe", [&](int, int) { return counts.destroyed.load(); }, first, second);
  const RunReport report = executor_.run(p);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(*report.value(observe), 1) << "src's value outlived its consumers";
  EXPECT_EQ(report.value(src), nullptr);
  EXPECT_EQ(report.value(first), nullptr);
}

TEST_F(PipelineTest, SinkOutputsAreRetainedInTheReport) {
  Pipeline p;
  auto [used, unused] = p.add("pair", [] { return outputs(1, 2.5); });
  auto sink = p.add(
      "sink", [](int x) { return x * 3; }, used);
  auto failed = p.add("failed", []() -> Result<int> { return unknown_error("x"); });
  const RunReport report = executor_.run(p, {.on_failure = FailurePolicy::kContinue});
  ASSERT_NE(report.value(sink), nullptr);
  EXPECT_EQ(*report.value(sink), 3);
  ASSERT_NE(report.value(unused), nullptr) << "an output nobody consumes is kept";
  EXPECT_EQ(*report.value(unused), 2.5);
  EXPECT_EQ(report.value(used), nullptr);
  EXPECT_EQ(report.value(failed), nullptr);
  EXPECT_EQ(report.stage(sink.stage()).status, StageStatus::kSucceeded);
}

TEST_F(PipelineTest, ReportTableMentionsEveryStage) {
  Pipeline p{"table"};
  auto a = p.add("read_the_data", [] { return 1; });
  p.add(
      "fit_a_model", [](int x) { return x; }, a);
  p.add("broken_stage", []() -> Result<int> { return invalid_argument("why"); });
  const RunReport report = executor_.run(p, {.on_failure = FailurePolicy::kContinue});
  const std::string table = report.to_string();
  EXPECT_TRUE(contains(table, "run of 'table': failed")) << table;
  EXPECT_TRUE(contains(table, "read_the_data")) << table;
  EXPECT_TRUE(contains(table, "fit_a_model")) << table;
  EXPECT_TRUE(contains(table, "broken_stage")) << table;
  EXPECT_TRUE(contains(table, "succeeded")) << table;
  EXPECT_TRUE(contains(table, "stage 'broken_stage' failed: why")) << table;
}

TEST_F(PipelineTest, DuplicateStageNamesFailValidation) {
  Pipeline p;
  p.add("same", [] { return 1; });
  p.add("same", [] { return 2; });
  EXPECT_TRUE(contains(p.validate().message(), "duplicate stage name 'same'"))
      << p.validate().message();
  EXPECT_EQ(executor_.run(p).status(), RunStatus::kInvalid);
}

TEST_F(PipelineTest, StageOptionsNamePortsAndKind) {
  Pipeline p;
  auto [train, test] =
      p.add(StageOptions{.name = "split", .outputs = {"train", "test"}, .kind = "random_split"},
            [] { return outputs(1, 2); });
  p.add(
      StageOptions{.name = "fit", .inputs = {"rows", "holdout"}},
      [](int a, int b) { return a + b; }, train, test);
  const std::string dot = p.to_dot();
  EXPECT_TRUE(contains(dot, "split\\nrandom_split")) << dot;
  EXPECT_TRUE(contains(dot, "train -> rows")) << dot;
  EXPECT_TRUE(contains(dot, "test -> holdout")) << dot;
  EXPECT_EQ(p.graph().stage(0).kind, "random_split");
}

TEST_F(PipelineTest, DefaultPortNames) {
  Pipeline p;
  auto one = p.add("one", [] { return 1; });
  auto [a, b] = p.add("two", [] { return outputs(1, 2); });
  p.add(
      "sum", [](int x, int y, int z) { return x + y + z; }, one, a, b);
  EXPECT_EQ(p.graph().stage(0).outputs.at(0).name, "out");
  EXPECT_EQ(p.graph().stage(1).outputs.at(1).name, "out1");
  EXPECT_EQ(p.graph().stage(2).inputs.at(2).name, "in2");
}

}  // namespace
}  // namespace trainflow

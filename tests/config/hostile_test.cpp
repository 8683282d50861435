// Hostile workflow files: each fails cleanly, with a clear message, quickly and without much
// memory. The bounds asserted (1 s) leave room for a loaded machine; the measured times are
// printed for the record.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>

#include "trainflow/config/workflow.hpp"

namespace trainflow::config {
namespace {

using ::testing::HasSubstr;

struct Timed {
  std::string message;
  double ms = 0;
};

Timed load(const std::string& text, const LoadOptions& options = {}) {
  const auto start = std::chrono::steady_clock::now();
  Result<Workflow> wf = parse_workflow(text, "hostile.yaml", options);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ timing   ] " << ::testing::UnitTest::GetInstance()->current_test_info()->name()
            << ": " << ms << " ms, " << text.size() << " bytes\n";
  EXPECT_FALSE(wf.has_value());
  EXPECT_LT(ms, 1000.0);
  return {wf ? std::string("(loaded)") : wf.error().message(), ms};
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

TEST(WorkflowHostileTest, FlowNesting100000Deep) {
  const std::string text = "stages: " + repeat("[", 100000) + repeat("]", 100000) + "\n";
  EXPECT_THAT(load(text).message, HasSubstr("hostile.yaml:1:72: nesting deeper than 64 levels"));
}

TEST(WorkflowHostileTest, MappingNesting100000Deep) {
  const std::string text = "stages: " + repeat("{a: ", 100000) + "1" + repeat("}", 100000) + "\n";
  EXPECT_THAT(load(text).message, HasSubstr("nesting deeper than 64 levels"));
}

TEST(WorkflowHostileTest, CompactSequenceNesting100000Deep) {
  const std::string text = "stages:\n" + repeat("- ", 100000) + "x\n";
  EXPECT_THAT(load(text).message, HasSubstr("hostile.yaml:2:"));
  EXPECT_THAT(load(text).message, HasSubstr("nesting deeper than 64 levels"));
}

TEST(WorkflowHostileTest, IndentationNesting1000Deep) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += std::string(static_cast<std::size_t>(i), ' ') + "a:\n";
  EXPECT_THAT(load(text).message, HasSubstr("hostile.yaml:65:65: nesting deeper than 64 levels"));
}

TEST(WorkflowHostileTest, BillionLaughs) {
  std::string text =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const char prev = static_cast<char>(c - 1);
    text += std::string(1, c) + ": &" + c + " [" + repeat(std::string("*") + prev + ",", 8) + "*" +
            prev + "]\n";
  }
  // The bomb where the loader reads lists, sweeps and references.
  const std::string bombs[] = {
      "stages:\n  x: {uses: column_transformer, needs: [x], with: {numeric: *i}}\n",
      "stages:\n  x: {uses: logistic_regression, foreach: *i}\n",
      "stages:\n  x: {uses: logistic_regression, foreach: {grid: {l2: *i}}}\n",
      "stages:\n  x: {uses: logistic_regression, needs: *i}\n",
      "stages: *i\n",
      "name: *i\nstages: *i\nseed: *i\nresources: *i\n",
  };
  for (const std::string& bomb : bombs) {
    const Timed t = load(text + bomb);
    EXPECT_NE(t.message, "(loaded)");
    EXPECT_THAT(t.message, HasSubstr("hostile.yaml:")) << bomb;
  }
}

TEST(WorkflowHostileTest, AliasesAreChargedToTheNodeBudgetEachTimeTheyAreUsed) {
  // A wide sweep made of one aliased item: little text, many visits.
  std::string text =
      "x-trial: &p {l2: 1, tol: 0.5, max_iter: 3, solver: lbfgs}\n"
      "stages:\n  data: {uses: synthetic}\n  x:\n    uses: logistic_regression\n"
      "    needs: [data]\n    foreach: [" +
      repeat("*p, ", 399) + "*p]\n";
  const Timed t = load(text, {.max_nodes = 1000});
  EXPECT_THAT(t.message, HasSubstr("more than the node budget (LoadOptions::max_nodes)"));
  // Within the budget the same file loads (400 trials, named by index since they are equal).
  Result<Workflow> wf = parse_workflow(text, "hostile.yaml");
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  EXPECT_EQ(wf->groups.at("x").size(), 400u);
  EXPECT_NE(wf->find("x[399]"), nullptr);
}

TEST(WorkflowHostileTest, HugeScalar50MB) {
  std::string text = "name: ";
  text.append(50u << 20, 'a');
  text += "\nstages:\n  data: {uses: synthetic}\n";
  EXPECT_THAT(load(text).message,
              HasSubstr("hostile.yaml:1:1: the file is 52428841 bytes, more than the 1048576"));
}

TEST(WorkflowHostileTest, ScalarJustUnderTheSizeCapLoadsQuickly) {
  std::string text = "name: ";
  text.append(1000000, 'a');
  text += "\nstages:\n  data: {uses: synthetic}\n";
  const auto start = std::chrono::steady_clock::now();
  Result<Workflow> wf = parse_workflow(text, "big.yaml");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ timing   ] 1 MB name: " << ms << " ms\n";
  ASSERT_TRUE(wf.has_value()) << wf.error().message();
  EXPECT_EQ(wf->name.size(), 1000000u);
  EXPECT_LT(ms, 1000.0);
}

TEST(WorkflowHostileTest, ManyNodesUnderTheSizeCap) {
  const std::string text = "stages: {}\nx: [" + repeat("1,", 400000) + "1]\n";
  EXPECT_THAT(load(text).message, HasSubstr("more than 100000 YAML nodes"));
}

TEST(WorkflowHostileTest, SeveralDocuments) {
  EXPECT_THAT(
      load("stages:\n  a: {uses: synthetic}\n---\nstages:\n  b: {uses: synthetic}\n").message,
      HasSubstr("hostile.yaml:3:1: a second YAML document starts here ('---')"));
  EXPECT_THAT(load("---\nstages:\n  a: {uses: synthetic}\n...\nname: x\n").message,
              HasSubstr("hostile.yaml:5:1: content after the document end marker"));
  // One explicit document is fine.
  Result<Workflow> one =
      parse_workflow("%YAML 1.2\n---\nstages:\n  a: {uses: synthetic}\n...\n", "one.yaml");
  EXPECT_TRUE(one.has_value()) << one.error().message();
}

TEST(WorkflowHostileTest, BinaryGarbage) {
  std::mt19937_64 rng(42);
  std::string text(4096, '\0');
  for (char& c : text) c = static_cast<char>(rng());
  EXPECT_THAT(load(text).message, HasSubstr("binary data (byte 0x"));
  EXPECT_THAT(load(std::string("stages:\n  a: {uses: synthetic}\n\0\0", 33)).message,
              HasSubstr("hostile.yaml:3:1: binary data (byte 0x00)"));
  EXPECT_THAT(load("name: caf\xC3\n").message,
              HasSubstr("hostile.yaml:1:10: binary data (byte 0xC3)"));
}

TEST(WorkflowHostileTest, Tags) {
  const Timed t = load(
      "name: !!python/object/apply:os.system [\"rm -rf /\"]\nstages:\n  a: !custom {uses: "
      "synthetic, with: {rows: !!int 5}}\n");
  EXPECT_THAT(t.message, HasSubstr("hostile.yaml:1:7: YAML tags are not supported (found "
                                   "'tag:yaml.org,2002:python/object/apply:os.system')"));
  EXPECT_THAT(t.message, HasSubstr("hostile.yaml:3:6: YAML tags are not supported (found "
                                   "'!custom')"));
  EXPECT_THAT(t.message, HasSubstr("YAML tags are not supported (found 'tag:yaml.org,2002:int')"));
}

TEST(WorkflowHostileTest, ManyErrorsAreCapped) {
  std::string text = "stages:\n";
  for (int i = 0; i < 500; ++i) text += "  s" + std::to_string(i) + ": {uses: nope}\n";
  const Timed t = load(text);
  EXPECT_THAT(t.message, HasSubstr("... and 450 more problems"));
}

TEST(WorkflowHostileTest, OrdinaryYamlFeaturesPassThePrescan) {
  // Comments with brackets, quotes with brackets, block scalars with odd content, anchors.
  Result<Workflow> wf = parse_workflow(R"(# [[[[ not nesting {{{{
name: "it's [a] {test}"   # also: ]]]
base: &base {rows: 50}
note: |
  - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
  ---
stages:
  data:
    uses: synthetic
    with: *base
)",
                                       "ok.yaml");
  // `base` and `note` are unknown keys, and only those.
  ASSERT_FALSE(wf.has_value());
  EXPECT_THAT(wf.error().message(), HasSubstr("ok.yaml:3:1: unknown key 'base'"));
  EXPECT_THAT(wf.error().message(), HasSubstr("ok.yaml:4:1: unknown key 'note'"));
  EXPECT_EQ(wf.error().message().find("nesting"), std::string::npos) << wf.error().message();
  EXPECT_EQ(wf.error().message().find("document"), std::string::npos) << wf.error().message();
}

}  // namespace
}  // namespace trainflow::config

#include "trainflow/registry/params.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace trainflow {
namespace {

std::vector<ParamSpec> specs() {
  return {
      {.name = "l2", .type = ParamType::kDouble, .doc = "penalty", .default_value = 1.0,
       .min = 0.0},
      {.name = "max_iter", .type = ParamType::kInt, .doc = "cap", .default_value = std::int64_t{100},
       .min = 1.0, .max = 1000.0},
      {.name = "solver", .type = ParamType::kString, .doc = "algorithm",
       .default_value = std::string("lbfgs"), .choices = {"lbfgs", "newton"}},
      {.name = "path", .type = ParamType::kString, .doc = "the file to read"},
      {.name = "hidden", .type = ParamType::kIntList, .doc = "layer sizes",
       .default_value = std::vector<std::int64_t>{100}, .min = 1.0, .min_size = 1, .max_size = 4},
      {.name = "fit", .type = ParamType::kBool, .doc = "fit it", .default_value = true},
  };
}

TEST(BindParamsTest, FillsDefaultsAndKeepsGivenValues) {
  const std::vector<ParamSpec> s = specs();
  Result<Params> p = bind_params(s, {{"path", std::string("a.csv")}, {"l2", 0.5}}, "t");
  ASSERT_TRUE(p.has_value()) << p.error().message();
  EXPECT_EQ(p->get<double>("l2"), 0.5);
  EXPECT_EQ(p->get<std::int64_t>("max_iter"), 100);
  EXPECT_EQ(p->get<std::string>("solver"), "lbfgs");
  EXPECT_EQ(p->get<std::string>("path"), "a.csv");
  EXPECT_EQ(p->get<std::vector<std::int64_t>>("hidden"), std::vector<std::int64_t>{100});
  EXPECT_TRUE(p->is_given("l2"));
  EXPECT_FALSE(p->is_given("max_iter"));
  EXPECT_EQ(p->find("nope"), nullptr);
}

TEST(BindParamsTest, CanonicalFormIsSortedAndIndependentOfHowValuesWereGiven) {
  const std::vector<ParamSpec> s = specs();
  Result<Params> a = bind_params(s, {{"path", std::string("a.csv")}}, "t");
  Result<Params> b = bind_params(
      s, {{"max_iter", std::int64_t{100}}, {"l2", std::int64_t{1}}, {"path", std::string("a.csv")}},
      "t");
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->canonical(), b->canonical());
  EXPECT_EQ(a->canonical(),
            "fit=true;hidden=[100];l2=1.0;max_iter=100;path=\"a.csv\";solver=\"lbfgs\"");
  EXPECT_EQ(*a, *b);
}

TEST(BindParamsTest, ReportsEveryProblemAtOnceWithSuggestions) {
  const std::vector<ParamSpec> s = specs();
  Result<Params> p = bind_params(s,
                                 {{"l3", 1.0},
                                  {"max_iter", std::int64_t{0}},
                                  {"solver", std::string("lbgfs")},
                                  {"fit", std::string("yes")},
                                  {"hidden", std::vector<std::int64_t>{}},
                                  {"l2", -1.0}},
                                 "logistic_regression");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), StatusCode::kInvalidArgument);
  const std::string m = p.error().message();
  EXPECT_NE(m.find("stage type 'logistic_regression': parameter 'l3' is unknown; did you mean "
                   "'l2'?"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("parameter 'max_iter' must be >= 1, got 0"), std::string::npos) << m;
  EXPECT_NE(m.find("parameter 'solver' must be one of lbfgs, newton; got 'lbgfs' (did you mean "
                   "'lbfgs'?)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("parameter 'fit' must be a bool, got a string (\"yes\")"), std::string::npos)
      << m;
  EXPECT_NE(m.find("parameter 'hidden' must have 1 to 4 elements, got 0"), std::string::npos) << m;
  EXPECT_NE(m.find("parameter 'l2' must be >= 0, got -1"), std::string::npos) << m;
  EXPECT_NE(m.find("parameter 'path' is required (the file to read) and not given"),
            std::string::npos)
      << m;
}

TEST(BindParamsTest, RejectsAParameterGivenTwice) {
  const std::vector<ParamSpec> s = specs();
  Result<Params> p = bind_params(
      s, {{"path", std::string("a")}, {"path", std::string("b")}}, "read_csv");
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message().find("parameter 'path' is given twice"), std::string::npos);
}

TEST(BindParamsTest, CoercesOnlyExactConversions) {
  const std::vector<ParamSpec> s = specs();
  EXPECT_TRUE(bind_params(s, {{"path", std::string("a")}, {"max_iter", 5.0}}, "t").has_value());
  Result<Params> fractional = bind_params(s, {{"path", std::string("a")}, {"max_iter", 5.5}}, "t");
  ASSERT_FALSE(fractional.has_value());
  EXPECT_NE(fractional.error().message().find("must be a int, got a double (5.5)"),
            std::string::npos)
      << fractional.error().message();
}

TEST(BindParamsTest, ListElementsAreCheckedOneByOne) {
  const std::vector<ParamSpec> s = specs();
  Result<Params> p = bind_params(
      s, {{"path", std::string("a")}, {"hidden", std::vector<std::int64_t>{64, 0}}}, "mlp");
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message().find("parameter 'hidden' element 1 must be >= 1, got 0"),
            std::string::npos)
      << p.error().message();
}

TEST(ParseParamTest, ParsesEachTypeFromCommandLineText) {
  const std::vector<ParamSpec> s = specs();
  EXPECT_EQ(std::get<double>(*parse_param(s[0], "1e-3")), 1e-3);
  EXPECT_EQ(std::get<std::int64_t>(*parse_param(s[1], " 42 ")), 42);
  EXPECT_EQ(std::get<std::string>(*parse_param(s[2], "\"newton\"")), "newton");
  EXPECT_EQ(std::get<std::vector<std::int64_t>>(*parse_param(s[4], "[64, 32]")),
            (std::vector<std::int64_t>{64, 32}));
  EXPECT_EQ(std::get<bool>(*parse_param(s[5], "false")), false);
  const ParamSpec words{.name = "w", .type = ParamType::kStringList};
  EXPECT_EQ(std::get<std::vector<std::string>>(*parse_param(words, "[a, \"b, c\", '']")),
            (std::vector<std::string>{"a", "b, c", ""}));
  EXPECT_TRUE(std::get<std::vector<std::string>>(*parse_param(words, "[]")).empty());
}

TEST(ParseParamTest, RejectsMalformedText) {
  const std::vector<ParamSpec> s = specs();
  Result<ParamValue> d = parse_param(s[0], "inf");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().message(), "expected a finite number, got 'inf'");
  EXPECT_FALSE(parse_param(s[1], "4.5").has_value());
  EXPECT_FALSE(parse_param(s[1], "").has_value());
  EXPECT_FALSE(parse_param(s[1], "99999999999999999999").has_value());
  EXPECT_FALSE(parse_param(s[4], "64, 32").has_value());
  EXPECT_FALSE(parse_param(s[4], "[64, x]").has_value());
  EXPECT_FALSE(parse_param(s[5], "yes").has_value());
}

TEST(ParamValueTest, PrintsAsAWorkflowFileWritesIt) {
  EXPECT_EQ(to_string(ParamValue(true)), "true");
  EXPECT_EQ(to_string(ParamValue(std::int64_t{-3})), "-3");
  EXPECT_EQ(to_string(ParamValue(0.1)), "0.1");
  EXPECT_EQ(to_string(ParamValue(2.0)), "2.0");
  EXPECT_EQ(to_string(ParamValue(std::string("a\"b\\c"))), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(to_string(ParamValue(std::vector<double>{0.5, 1})), "[0.5, 1.0]");
  EXPECT_EQ(to_string(ParamValue(std::vector<std::string>{"x", "y"})), "[\"x\", \"y\"]");
}

TEST(ClosestMatchTest, SuggestsOnlyNearNames) {
  const std::vector<std::string> names{"standard_scaler", "minmax_scaler", "one_hot"};
  EXPECT_EQ(closest_match("standard_scalar", names), "standard_scaler");
  EXPECT_EQ(closest_match("onehot", names), "one_hot");
  EXPECT_EQ(closest_match("xgboost", names), std::nullopt);
  EXPECT_EQ(closest_match("", names), std::nullopt);
}

}  // namespace
}  // namespace trainflow

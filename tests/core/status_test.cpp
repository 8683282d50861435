#include "trainflow/core/status.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>

#include "testing/counting.hpp"
#include "testing/printers.hpp"

namespace trainflow {
namespace {

using test::Counted;
using test::Counts;

TEST(StatusTest, DefaultIsOk) {
  const Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.to_string(), "ok");
  EXPECT_EQ(ok_status(), s);
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  const Status s = invalid_argument("port '80x' is not a number");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "port '80x' is not a number");
  EXPECT_EQ(s.to_string(), "invalid_argument: port '80x' is not a number");
}

TEST(StatusTest, FactoriesSetTheirCodes) {
  EXPECT_EQ(invalid_argument("m").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(failed_precondition("m").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(not_found("m").code(), StatusCode::kNotFound);
  EXPECT_EQ(cancelled("m").code(), StatusCode::kCancelled);
  EXPECT_EQ(internal_error("m").code(), StatusCode::kInternal);
  EXPECT_EQ(unknown_error("m").code(), StatusCode::kUnknown);
  EXPECT_EQ(data_loss("m").code(), StatusCode::kDataLoss);
  EXPECT_EQ(not_found("m").message(), "m");
}

TEST(StatusTest, EqualityComparesCodeAndMessage) {
  EXPECT_EQ(not_found("a"), not_found("a"));
  EXPECT_FALSE(not_found("a") == not_found("b"));
  EXPECT_FALSE(not_found("a") == invalid_argument("a"));
  EXPECT_FALSE(Status{} == not_found(""));
}

TEST(StatusTest, CopiesAndMovesKeepCodeAndMessage) {
  Status original = not_found("no stage 'x'");
  Status copy = original;
  EXPECT_EQ(copy, original);
  Status moved = std::move(original);
  EXPECT_EQ(moved.code(), StatusCode::kNotFound);
  EXPECT_EQ(moved.message(), "no stage 'x'");
}

TEST(StatusCodeTest, ToStringNamesEveryCode) {
  const std::pair<StatusCode, std::string_view> expected[] = {
      {StatusCode::kOk, "ok"},
      {StatusCode::kInvalidArgument, "invalid_argument"},
      {StatusCode::kFailedPrecondition, "failed_precondition"},
      {StatusCode::kNotFound, "not_found"},
      {StatusCode::kAlreadyExists, "already_exists"},
      {StatusCode::kCancelled, "cancelled"},
      {StatusCode::kDeadlineExceeded, "deadline_exceeded"},
      {StatusCode::kResourceExhausted, "resource_exhausted"},
      {StatusCode::kUnavailable, "unavailable"},
      {StatusCode::kInternal, "internal"},
      {StatusCode::kUnknown, "unknown"},
      {StatusCode::kDataLoss, "data_loss"},
  };
  std::set<std::string_view> names;
  for (const auto& [code, name] : expected) {
    EXPECT_EQ(to_string(code), name);
    names.insert(to_string(code));
  }
  EXPECT_EQ(names.size(), std::size(expected)) << "two codes share a name";
}

TEST(StatusCodeTest, StatusToStringUsesCodeName) {
  EXPECT_EQ(Status(StatusCode::kDeadlineExceeded, "slow").to_string(), "deadline_exceeded: slow");
  EXPECT_EQ(Status(StatusCode::kResourceExhausted, "oom").to_string(), "resource_exhausted: oom");
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  EXPECT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  EXPECT_TRUE(r.error().ok());
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, HoldsError) {
  const Result<int> r = not_found("no such stage");
  EXPECT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.error().message(), "no such stage");
}

TEST(ResultTest, ValueOrReturnsValueOrFallback) {
  const Result<int> value = 3;
  const Result<int> error = invalid_argument("x");
  EXPECT_EQ(value.value_or(9), 3);
  EXPECT_EQ(error.value_or(9), 9);
  const Result<std::string> text = unknown_error("x");
  EXPECT_EQ(text.value_or("fallback"), "fallback");
}

TEST(ResultTest, ArrowReachesMembers) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
  r->push_back('d');
  const Result<std::string>& cr = r;
  EXPECT_EQ(*cr, "abcd");
  EXPECT_EQ(cr->front(), 'a');
}

TEST(ResultTest, ConstructsFromConvertibleValues) {
  Result<std::string> r = "literal";
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, "literal");
  Result<std::unique_ptr<int>> owner = std::make_unique<int>(5);
  ASSERT_TRUE(owner.has_value());
  std::unique_ptr<int> p = std::move(owner).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

TEST(ResultTest, MovesValueOutWithoutCopying) {
  Counts counts;
  Result<Counted> r = Counted{&counts, 11};
  const int copies_before = counts.copies.load();
  Counted out = std::move(r).value();
  EXPECT_EQ(out.payload(), 11);
  EXPECT_EQ(counts.copies.load(), copies_before);
  EXPECT_GE(counts.moves.load(), 1);
  Result<Counted> r2 = Counted{&counts, 12};
  Counted out2 = *std::move(r2);
  EXPECT_EQ(out2.payload(), 12);
  EXPECT_EQ(counts.copies.load(), copies_before);
}

TEST(ResultTest, ConstructingFromAnRvalueDoesNotCopy) {
  Counts counts;
  Result<Counted> r = Counted{&counts, 1};
  EXPECT_EQ(counts.copies.load(), 0);
  EXPECT_EQ(r->payload(), 1);
}

TEST(ResultTest, CopyingCopiesValue) {
  Counts counts;
  Result<Counted> r = Counted{&counts, 4};
  Result<Counted> copy = r;
  EXPECT_EQ(counts.copies.load(), 1);
  EXPECT_EQ(copy->payload(), 4);
  EXPECT_TRUE(r->live());
}

TEST(ResultTest, MovesErrorOut) {
  Result<int> r = invalid_argument("bad seed");
  Status s = std::move(r).error();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad seed");
  Result<int> ok = 1;
  EXPECT_TRUE(std::move(ok).error().ok());
}

TEST(ResultTest, IsResultRecognisesOnlyResults) {
  EXPECT_TRUE(is_result_v<Result<int>>);
  EXPECT_TRUE(is_result_v<const Result<std::string>&>);
  EXPECT_FALSE(is_result_v<int>);
  EXPECT_FALSE(is_result_v<Status>);
}

}  // namespace
}  // namespace trainflow

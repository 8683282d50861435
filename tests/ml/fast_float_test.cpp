#include "ml/fast_float.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <system_error>
#include <vector>

namespace trainflow::ml::detail {
namespace {

template <class T>
auto bits(T value) {
  using U = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  U u;
  std::memcpy(&u, &value, sizeof u);
  return u;
}

// Whether the fast path takes `text`; when it does, expects exactly std::from_chars' result.
template <class T>
bool check(const std::string& text) {
  T fast = T{42};
  const bool taken = parse_decimal_fast(text.data(), text.data() + text.size(), fast);
  if (!taken) {
    EXPECT_EQ(fast, T{42}) << "changed the output without taking " << text;
    return false;
  }
  T slow{};
  const auto [ptr, ec] =
      std::from_chars(text.data(), text.data() + text.size(), slow, std::chars_format::general);
  EXPECT_EQ(ec, std::errc{}) << text;
  EXPECT_EQ(ptr, text.data() + text.size()) << text;
  EXPECT_EQ(bits(fast), bits(slow)) << text << ": fast " << fast << ", from_chars " << slow;
  return true;
}

TEST(FastFloatTest, TakesPlainDecimalsExactly) {
  for (const char* text :
       {"0", "-0", "0.0", "-0.0", "1", "-1", "1.5", "0.1", "123.456", "1e22", "1e-22", "-1E+22",
        "9007199254740992", "0.000001", "007.50", "123456789012345e-3", "4.9e-5",
        "2.25073858507201e-7", "00000000000000001.5"}) {
    EXPECT_TRUE(check<double>(text)) << text;
  }
  for (const char* text : {"0", "-0", "1.5", "0.1", "16777216", "1e10", "1e-10", "-3.25e+2"}) {
    EXPECT_TRUE(check<float>(text)) << text;
  }
  double d = 1;
  const std::string minus_zero = "-0";
  ASSERT_TRUE(parse_decimal_fast(minus_zero.data(), minus_zero.data() + minus_zero.size(), d));
  EXPECT_TRUE(std::signbit(d));
  EXPECT_EQ(d, 0.0);
}

TEST(FastFloatTest, LeavesEverythingElseToTheSlowPath) {
  for (const char* text : {"",
                           "-",
                           "+1",
                           " 1",
                           "1 ",
                           ".5",
                           "5.",
                           "-.5",
                           "1e",
                           "1e+",
                           "1e23",
                           "1e-23",
                           "1e00023",
                           "9007199254740993",
                           "18014398509481984",
                           "12345678901234567890",
                           "1.0000000000000000000",
                           "0000000000000000000001.5",
                           "inf",
                           "-inf",
                           "nan",
                           "NaN",
                           "infinity",
                           "0x10",
                           "1x",
                           "1,5",
                           "--1",
                           "1e5x",
                           "1.2.3",
                           "4.9e-324",
                           "1e400",
                           "1e-400",
                           "2.2250738585072014e-308",
                           "1.7976931348623157e308"}) {
    EXPECT_FALSE(check<double>(text)) << text;
  }
  for (const char* text : {"16777217", "1e11", "1e-11", "0.00000000001", "+1", "3.4e38"}) {
    EXPECT_FALSE(check<float>(text)) << text;
  }
}

// Random decimals of many shapes: signs, leading zeros, 0 to 24 integer and fraction digits,
// exponents around the fast path's limits and far beyond, subnormal and overflowing values.
std::string random_decimal(std::mt19937_64& rng) {
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  std::string s;
  if (pick(3) == 0) s += '-';
  const int leading_zeros = pick(4) == 0 ? pick(4) : 0;
  s.append(static_cast<std::size_t>(leading_zeros), '0');
  const int integer = pick(6) == 0 ? 0 : pick(22);
  for (int i = 0; i < integer; ++i) s += static_cast<char>('0' + pick(10));
  if (integer + leading_zeros == 0) s += '0';
  if (pick(3) != 0) {
    s += '.';
    const int fraction = 1 + pick(pick(4) == 0 ? 24 : 12);
    for (int i = 0; i < fraction; ++i) s += static_cast<char>('0' + pick(10));
  }
  if (pick(2) == 0) {
    s += pick(2) == 0 ? 'e' : 'E';
    const int sign = pick(3);
    if (sign == 1) s += '-';
    if (sign == 2) s += '+';
    static constexpr int kExponents[] = {0,  1,   9,   10,  11,  21,  22,  23,  24,  37,  38,
                                         39, 300, 307, 308, 309, 320, 323, 324, 330, 9999};
    const int e = pick(3) == 0 ? kExponents[pick(std::size(kExponents))] : pick(30);
    if (pick(8) == 0) s += '0';  // a leading zero in the exponent
    s += std::to_string(e);
  }
  return s;
}

TEST(FastFloatTest, RandomDecimalsMatchFromChars) {
  std::mt19937_64 rng(20261124);
  constexpr int kCount = 1'500'000;
  int taken64 = 0;
  int taken32 = 0;
  for (int i = 0; i < kCount && !HasFailure(); ++i) {
    const std::string text = random_decimal(rng);
    taken64 += check<double>(text) ? 1 : 0;
    taken32 += check<float>(text) ? 1 : 0;
  }
  // The shapes are meant to exercise both paths.
  EXPECT_GT(taken64, kCount / 4);
  EXPECT_LT(taken64, kCount * 9 / 10);
  EXPECT_GT(taken32, kCount / 10);
}

TEST(FastFloatTest, RandomDoublesPrintedShortestMatchFromChars) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  int taken = 0;
  for (int i = 0; i < 500'000 && !HasFailure(); ++i) {
    // Magnitudes 1e-8 to 1e8 and a few digits, like measurements in a CSV file.
    const double v = std::round(unit(rng) * 1e6) * std::pow(10.0, static_cast<int>(rng() % 17) - 8);
    char buffer[64];
    for (const int precision : {3, 7, 17}) {
      const auto r =
          std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general, precision);
      taken += check<double>(std::string(buffer, r.ptr)) ? 1 : 0;
      taken += check<float>(std::string(buffer, r.ptr)) ? 1 : 0;
    }
    const auto r = std::to_chars(buffer, buffer + sizeof buffer, v);
    taken += check<double>(std::string(buffer, r.ptr)) ? 1 : 0;
  }
  EXPECT_GT(taken, 500'000);
}

// Places `before`, `text` and `after` in a buffer padded to 16 bytes after `text`, and runs
// parse_short_decimal() on `text`. When it decides, expects exactly parse_decimal_prefix()'s end
// and bits; returns whether it decided.
template <class T>
bool check_short(const std::string& before, const std::string& text, const std::string& after) {
  std::string buffer = before + text + after;
  buffer.append(before.size() + 16 > buffer.size() ? before.size() + 16 - buffer.size() : 0, '\n');
  const char* const begin = buffer.data();
  const char* const p = begin + before.size();
  const char* const end = begin + buffer.size();
  T fast = T{42};
  const char* const stop = parse_short_decimal(p, begin, end, fast);
  if (stop == nullptr) {
    EXPECT_EQ(bits(fast), bits(T{42})) << "changed the output without deciding " << text;
    return false;
  }
  T slow = T{7};
  const char* const slow_stop = parse_decimal_prefix(p, end, slow);
  EXPECT_EQ(stop, slow_stop) << before << "|" << text << "|" << after;
  EXPECT_EQ(bits(fast), bits(slow))
      << before << "|" << text << "|" << after << ": short " << fast << ", prefix " << slow;
  return true;
}

const std::string kSixteen = "9876543210.-9876";  // digits, '.' and '-' before the number

TEST(ShortDecimalTest, DecidesShortPlainDecimalsExactly) {
  for (const char* text : {"0", "-0", "1", "-1", "1.5", "-1.5", "0.1", "123.456", "007.50",
                           "-0.0002787413", "123456789012345", "-12345678901234", "1234567.8901234",
                           "0.000000000001", "999999999999.99"}) {
    for (const char* after : {",", "\n", "\r\n", ";", "\t", " ", ",12.5,", "\"", "x", "-3"}) {
      EXPECT_TRUE(check_short<double>(kSixteen, text, after)) << text << " then " << after;
    }
  }
  for (const char* text : {"0", "-1.5", "16777216", "0.0000000001", "1234.5"}) {
    EXPECT_TRUE(check_short<float>(kSixteen, text, ",")) << text;
  }
  const std::string buffer = kSixteen + "-0," + std::string(16, '\n');
  double d = 1;
  ASSERT_NE(
      parse_short_decimal(buffer.data() + 16, buffer.data(), buffer.data() + buffer.size(), d),
      nullptr);
  EXPECT_TRUE(std::signbit(d));
  EXPECT_EQ(d, 0.0);
}

TEST(ShortDecimalTest, LeavesEverythingElseUndecided) {
  for (const char* text : {"",
                           "-",
                           "+1",
                           " 1",
                           ".5",
                           "5.",
                           "-.5",
                           "-5.",
                           "1e5",
                           "1E5",
                           "1.5e-3",
                           "-2E+1",
                           "1.2.3",
                           "1..2",
                           "--1",
                           "1234567890123456",
                           "-123456789012345",
                           "0.00000000000001",
                           "inf",
                           "nan"}) {
    EXPECT_FALSE(check_short<double>(kSixteen, text, ",")) << text;
  }
  for (const char* text : {"16777217", "0.00000000001", "123456789"}) {
    EXPECT_FALSE(check_short<float>(kSixteen, text, ",")) << text;
  }
  // Fewer than 16 bytes before the number, or after its start.
  EXPECT_FALSE(check_short<double>(kSixteen.substr(1), "1.5", ","));
  const std::string text = kSixteen + "1.5,";
  double d = 0;
  EXPECT_EQ(parse_short_decimal(text.data() + 16, text.data(), text.data() + text.size(), d),
            nullptr);
  EXPECT_NE(parse_short_decimal(text.data() + 16, text.data(), text.data() + 32, d), nullptr);
}

// Random numbers between random neighbours: the bytes before must never leak into the value,
// nor the bytes after the number's end.
TEST(ShortDecimalTest, RandomTextsMatchParseDecimalPrefix) {
  std::mt19937_64 rng(1124);
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  static constexpr char kBytes[] = "0123456789.-,\n\r\"eE+ x";
  auto noise = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += kBytes[pick(static_cast<int>(sizeof kBytes) - 1)];
    return s;
  };
  constexpr int kCount = 1'000'000;
  int decided64 = 0;
  int decided32 = 0;
  for (int i = 0; i < kCount && !HasFailure(); ++i) {
    const std::string before = noise(16 + pick(4));
    const std::string text = pick(4) == 0 ? noise(1 + pick(16)) : random_decimal(rng);
    const std::string after = noise(pick(20));
    decided64 += check_short<double>(before, text, after) ? 1 : 0;
    decided32 += check_short<float>(before, text, after) ? 1 : 0;
  }
  EXPECT_GT(decided64, kCount / 10);
  EXPECT_GT(decided32, kCount / 20);
}

}  // namespace
}  // namespace trainflow::ml::detail

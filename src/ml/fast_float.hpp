// Private: an exact fast path for parsing plain decimal numbers (Clinger's fast path), used by
// the CSV reader before it falls back to std::from_chars.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace trainflow::ml::detail {

template <class T>
struct DecimalFastPath;

template <>
struct DecimalFastPath<double> {
  static constexpr std::uint64_t kMaxMantissa = std::uint64_t{1} << 53;
  static constexpr int kMaxPower = 22;  // 10^22 is the largest power of ten a double holds exactly
  static constexpr double kPowers[kMaxPower + 1] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
};

template <>
struct DecimalFastPath<float> {
  static constexpr std::uint64_t kMaxMantissa = std::uint64_t{1} << 24;
  static constexpr int kMaxPower = 10;  // 10^10 is the largest power of ten a float holds exactly
  static constexpr float kPowers[kMaxPower + 1] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                                                   1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
};

// Appends the decimal digits at p to m (m = m * 10 + digit, wrapping), advancing p past them;
// returns how many there were. Takes 8 bytes at a time while 8 are left before `end`.
[[gnu::always_inline]] inline int append_digits(const char*& p, const char* end,
                                                std::uint64_t& m) noexcept {
  static constexpr std::uint64_t kScale[9] = {1,      10,      100,      1000,     10000,
                                              100000, 1000000, 10000000, 100000000};
  int count = 0;
  while (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    const std::uint64_t x = word - 0x3030303030303030;
    // The high bit of a byte is set when the byte is not a digit; a carry or borrow can only
    // reach the bytes after it, so the lowest flagged byte is the first non-digit.
    const std::uint64_t flags = ((word + 0x4646464646464646) | x) & 0x8080808080808080;
    const int n = flags == 0 ? 8 : std::countr_zero(flags) / 8;
    if (n == 0) return count;
    // The n digits into the top bytes (below them zeros, as leading zero digits), then the
    // SWAR conversion of 8 digits (byte 0 the most significant).
    std::uint64_t v = x << (8 * (8 - n));
    v = v * 10 + (v >> 8);
    v = ((v & 0x000000FF000000FF) * (100 + (1000000ULL << 32)) +
         ((v >> 16) & 0x000000FF000000FF) * (1 + (10000ULL << 32))) >>
        32;
    m = m * kScale[n] + v;
    p += n;
    count += n;
    if (n < 8) return count;
  }
  for (; p != end; ++p) {
    const auto d = static_cast<unsigned>(static_cast<unsigned char>(*p) - '0');
    if (d > 9) break;
    m = m * 10 + d;
    ++count;
  }
  return count;
}

// Parses the plain decimal number at the start of [p, end) when the fast path computes its value
// exactly: an optional '-', at least one digit, optionally '.' and at least one digit,
// optionally 'e' or 'E', an optional sign and 1 to 4 digits; at most 19 digits in all (leading
// zeros included) forming an integer m <= 2^53 (double) or 2^24 (float), and an exponent k (after
// moving the point to the end of m) with |k| <= 22 (double) or 10 (float). Then m and 10^|k| are
// exact in T and the one IEEE multiplication or division rounds the exact value m * 10^k once, so
// `out` is the correctly rounded result, bit for bit what std::from_chars gives for that text.
// Returns the end of the number (the first byte that cannot continue it), or null, leaving `out`
// unchanged, when there is no such number there (spaces, '+', "inf", ".5", "1.", "1e", more
// digits, larger exponents): the caller then parses the text the slow way. REQUIRES: p <= end.
template <class T>
[[gnu::always_inline]] inline const char* parse_decimal_prefix(const char* p, const char* end,
                                                               T& out) noexcept {
  using Limits = DecimalFastPath<T>;
  const auto digit = [](char c) {
    return static_cast<unsigned>(static_cast<unsigned char>(c) - '0');
  };
  const bool negative = p != end && *p == '-';
  p += negative ? 1 : 0;
  // Every digit counts, leading zeros too: a number with more than 19 (rare) takes the slow
  // path, and the loops need no branch on the digits' values.
  std::uint64_t m = 0;
  int digits = append_digits(p, end, m);  // m wraps past 19 digits, which are rejected below
  if (digits == 0) return nullptr;
  int exponent = 0;
  if (p != end && *p == '.') {
    ++p;
    const int fraction = append_digits(p, end, m);
    if (fraction == 0 || fraction > 64) return nullptr;
    digits += fraction;
    exponent = -fraction;
  }
  if (p != end && (*p | 0x20) == 'e') {
    ++p;
    bool exponent_negative = false;
    if (p != end && (*p == '-' || *p == '+')) exponent_negative = *p++ == '-';
    const char* const first = p;
    int value = 0;
    for (; p != end && digit(*p) <= 9; ++p) {
      if (p - first == 4) return nullptr;  // 5 digits or more
      value = value * 10 + static_cast<int>(digit(*p));
    }
    if (p == first) return nullptr;
    exponent += exponent_negative ? -value : value;
  }
  if (digits > 19 || m > Limits::kMaxMantissa || exponent < -Limits::kMaxPower ||
      exponent > Limits::kMaxPower) {
    return nullptr;
  }
  T value = static_cast<T>(m);
  if (exponent >= 0) {
    value *= Limits::kPowers[exponent];
  } else {
    value /= Limits::kPowers[-exponent];
  }
  // The sign without a branch (a column's signs are often random): value >= 0 here.
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  constexpr int kSignBit = sizeof(T) * 8 - 1;
  out = std::bit_cast<T>(std::bit_cast<Bits>(value) |
                         (static_cast<Bits>(negative ? 1 : 0) << kSignBit));
  return p;
}

// parse_decimal_prefix() of all of [p, end): true when the fast path takes the whole text.
template <class T>
inline bool parse_decimal_fast(const char* p, const char* end, T& out) noexcept {
  T value{};
  const char* const stop = parse_decimal_prefix(p, end, value);
  if (stop == nullptr || stop != end) return false;
  out = value;
  return true;
}

}  // namespace trainflow::ml::detail

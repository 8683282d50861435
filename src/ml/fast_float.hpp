// Private: an exact fast path for parsing plain decimal numbers (Clinger's fast path), used by
// the CSV reader before it falls back to std::from_chars.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif

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

// The value of 8 decimal digits, one per byte (0 to 9, not ASCII), byte 0 the most significant.
[[gnu::always_inline]] inline std::uint64_t eight_digits(std::uint64_t v) noexcept {
  v = v * 10 + (v >> 8);
  return ((v & 0x000000FF000000FF) * (100 + (1000000ULL << 32)) +
          ((v >> 16) & 0x000000FF000000FF) * (1 + (10000ULL << 32))) >>
         32;
}

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
    m = m * kScale[n] + eight_digits(x << (8 * (8 - n)));
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

#if defined(__SSE2__) && defined(__x86_64__)
// 16 zero bytes, then 16 bytes of 0xFF: 16 bytes from kTail + n select the last n bytes.
alignas(64) inline constexpr unsigned char kTail[32] = {
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

[[gnu::always_inline]] inline __m128i last_bytes(int n) noexcept {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(kTail + n));
}
#endif

// The same as parse_decimal_prefix(), or null for "undecided", for the common short case: an
// optional '-', then digits with at most one '.' between them, 15 bytes at most with the sign,
// followed by a byte that is neither a digit, '.', 'e' nor 'E'. It reads the 16 bytes from p and
// up to 16 before p, so it needs p - begin >= 16 and end - p >= 16 (else it leaves all
// undecided). Everything else is left undecided, and the caller goes on to
// parse_decimal_prefix().
//
// The number's end comes from byte compares of the 16 bytes at p (SSE2), with no branch on how
// many digits there are. Two more loads end at the last digit and at the last digit before the
// '.', so that both runs of digits are right-aligned and one mask joins them into 16 digits with
// no '.'; SSE2 multiply-adds turn those into the mantissa. Where it decides, the text is one that
// parse_decimal_prefix() takes with the same mantissa (at most 15 digits) and exponent, so the
// results are equal bit for bit. Without SSE2 it decides nothing.
template <class T>
[[gnu::always_inline]] inline const char* parse_short_decimal(const char* p, const char* begin,
                                                              const char* end, T& out) noexcept {
#if defined(__SSE2__) && defined(__x86_64__)
  using Limits = DecimalFastPath<T>;
  if (p - begin < 16 || end - p < 16) return nullptr;
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i is_digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                         _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
  const __m128i is_dot = _mm_cmpeq_epi8(x, _mm_set1_epi8('.'));
  const __m128i is_sign =
      _mm_and_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')), _mm_cvtsi32_si128(0xFF));
  const auto number = static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(is_digit, is_dot), is_sign)));
  // The number's end: the first byte that is neither a digit, a '.' nor a leading '-'.
  const int e = std::countr_zero(~number);
  const int sign = static_cast<int>(number & static_cast<unsigned>(_mm_movemask_epi8(is_sign)));
  const unsigned dots = static_cast<unsigned>(_mm_movemask_epi8(is_dot)) & ((1u << e) - 1);
  const int d = dots == 0 ? e : std::countr_zero(dots);  // where the '.' is, or e
  // No digit, an exponent, two dots, or a '.' first or last: parse_decimal_prefix() decides.
  if (e == 16 || d == sign || (p[e] | 0x20) == 'e' || (dots & (dots - 1)) != 0 ||
      (dots != 0 && d == e - 1)) {
    return nullptr;
  }
  const int fraction = dots == 0 ? 0 : e - d - 1;
  const int integer = d - sign;
  // The 16 bytes ending at the number's last byte (the fraction's digits, right-aligned), and
  // those ending at the integer part's last digit moved right by the fraction's length.
  const __m128i tail = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + e - 16));
  const __m128i head = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + d + fraction - 16));
  const __m128i in_fraction = last_bytes(fraction);
  __m128i digits =
      _mm_or_si128(_mm_and_si128(in_fraction, tail), _mm_andnot_si128(in_fraction, head));
  digits = _mm_and_si128(_mm_sub_epi8(digits, _mm_set1_epi8('0')), last_bytes(fraction + integer));
  // 16 digits, byte 0 the most significant, to pairs, fours, eights (each fits its lanes).
  const __m128i zero = _mm_setzero_si128();
  const __m128i tens = _mm_setr_epi16(10, 1, 10, 1, 10, 1, 10, 1);
  const __m128i pairs = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(digits, zero), tens),
                                        _mm_madd_epi16(_mm_unpackhi_epi8(digits, zero), tens));
  const __m128i fours = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
  const __m128i eights = _mm_madd_epi16(_mm_packs_epi32(fours, fours),
                                        _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
  const auto both = static_cast<std::uint64_t>(_mm_cvtsi128_si64(eights));
  const std::uint64_t m = (both & 0xFFFFFFFF) * 100000000 + (both >> 32);
  if constexpr (Limits::kMaxPower < 15) {
    if (m > Limits::kMaxMantissa || fraction > Limits::kMaxPower) return nullptr;
  }
  T value = static_cast<T>(m);
  if (fraction != 0) value /= Limits::kPowers[fraction];
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  constexpr int kSignBit = sizeof(T) * 8 - 1;
  out = std::bit_cast<T>(std::bit_cast<Bits>(value) | (static_cast<Bits>(sign) << kSignBit));
  return p + e;
#else
  static_cast<void>(p);
  static_cast<void>(begin);
  static_cast<void>(end);
  static_cast<void>(out);
  return nullptr;
#endif
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

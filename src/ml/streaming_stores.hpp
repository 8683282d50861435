// Private support for passes that write far more float64 rows than the caches hold: writing rows
// with non-temporal (streaming) stores, which send whole cache lines to memory without first
// reading them (an ordinary store reads every line it writes: the write-allocate) and without
// evicting what the pass reads. Used by the column transformer's fused pass.
//
// A thread's streaming stores are weakly ordered: it calls fence_streaming_stores() before
// another thread may read what it wrote (the pass fences at the end of every block).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace trainflow::ml::detail {

// Whether the wide (AVX2) kernels can run: GCC or Clang on x86-64, and a CPU that has AVX2.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TRAINFLOW_ML_AVX2_KERNELS 1
inline bool has_avx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2") != 0;
  return avx2;
}
#else
#define TRAINFLOW_ML_AVX2_KERNELS 0
inline bool has_avx2() {
  return false;
}
#endif

// Whether the wide kernels may run where the CPU has them; tests switch them off to check the
// 16-byte path against them on any CPU. Default true.
std::atomic<bool>& wide_kernels_enabled();

inline bool use_wide_kernels() {
  return has_avx2() && wide_kernels_enabled().load(std::memory_order_relaxed);
}

inline void fence_streaming_stores() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// out[r] = one(r) for r in [begin, end). With kStream, pairs of rows go straight from registers
// to memory with 16-byte streaming stores: pair(r) is rows r and r + 1 as one vector; the rows
// before the first 16-byte boundary and an odd last row take ordinary stores. Without kStream,
// or without SSE2, a plain loop that the compiler vectorises.
template <bool kStream, class One, class PairOf>
void write_rows(double* out, std::size_t begin, std::size_t end, const One& one,
                const PairOf& pair) {
#if defined(__SSE2__)
  if constexpr (kStream) {
    std::size_t r = begin;
    if (r < end && reinterpret_cast<std::uintptr_t>(out + r) % 16 != 0) {
      out[r] = one(r);
      ++r;
    }
    for (; r + 2 <= end; r += 2) _mm_stream_pd(out + r, pair(r));
    if (r < end) out[r] = one(r);
    return;
  }
#endif
  (void)pair;
  for (std::size_t r = begin; r < end; ++r) out[r] = one(r);
}

// As above, with pairs made from one(r) and one(r + 1).
template <bool kStream, class One>
void write_rows(double* out, std::size_t begin, std::size_t end, const One& one) {
#if defined(__SSE2__)
  write_rows<kStream>(out, begin, end, one,
                      [&one](std::size_t r) { return _mm_set_pd(one(r + 1), one(r)); });
#else
  write_rows<kStream>(out, begin, end, one, [](std::size_t) { return 0; });
#endif
}

// out[r] = one(r) for r in [begin, end) with streaming stores, the bulk by a wide kernel:
// ordinary stores up to the first 32-byte boundary, then wide(r, count) for count rows (a
// multiple of 4, out + r 32-byte aligned), then ordinary stores for the rest.
template <class One, class Wide>
void stream_rows_wide(double* out, std::size_t begin, std::size_t end, const One& one,
                      const Wide& wide) {
  std::size_t r = begin;
  while (r < end && reinterpret_cast<std::uintptr_t>(out + r) % 32 != 0) {
    out[r] = one(r);
    ++r;
  }
  const std::size_t count = (end - r) / 4 * 4;
  if (count > 0) wide(r, count);
  for (r += count; r < end; ++r) out[r] = one(r);
}

}  // namespace trainflow::ml::detail

// OmpThreads: a scope that sets the OpenMP thread count of the calling thread, so that the oneDNN
// primitives it runs (oneDNN's CPU runtime here is GNU OpenMP, which sizes each parallel region
// by the calling thread's omp_get_max_threads()) use exactly the threads a stage was granted.
//
//   {
//     detail::OmpThreads scope(options.threads);   // oneDNN work in here uses that many threads
//     ...
//   }                                              // the thread's previous count is back
//
// The setting is per thread (OpenMP's nthreads-var of the calling thread): scopes on different
// threads do not interfere, and nested scopes on one thread restore in reverse order. Not
// movable: it must end on the thread that made it. trainflow is not compiled with -fopenmp; the
// two runtime functions come from libgomp, which is linked with oneDNN.
#pragma once

#include <cstddef>

namespace trainflow::ml::detail {

class OmpThreads {
 public:
  // Sets the calling thread's OpenMP thread count to `threads`. REQUIRES: 1 <= threads <= INT_MAX
  // (asserted in debug builds).
  explicit OmpThreads(std::size_t threads) noexcept;
  // Restores the count the calling thread had before.
  ~OmpThreads();
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

  // The calling thread's current OpenMP thread count (omp_get_max_threads()).
  static int current() noexcept;

 private:
  int previous_;
};

}  // namespace trainflow::ml::detail

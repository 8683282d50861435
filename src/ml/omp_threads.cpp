#include "omp_threads.hpp"

#include <cassert>
#include <climits>

// From the OpenMP runtime (libgomp). Declared here rather than by <omp.h>, which is only usable
// with -fopenmp; the signatures are those of the OpenMP specification (and noexcept, as in GCC's
// omp.h, in case a translation unit ever sees both).
extern "C" {
void omp_set_num_threads(int num_threads) noexcept;
int omp_get_max_threads(void) noexcept;
}

namespace trainflow::ml::detail {

OmpThreads::OmpThreads(std::size_t threads) noexcept : previous_(omp_get_max_threads()) {
  assert(threads >= 1 && threads <= static_cast<std::size_t>(INT_MAX) && "bad thread count");
  omp_set_num_threads(static_cast<int>(threads));
}

OmpThreads::~OmpThreads() {
  omp_set_num_threads(previous_);
}

int OmpThreads::current() noexcept {
  return omp_get_max_threads();
}

}  // namespace trainflow::ml::detail

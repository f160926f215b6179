#include "densekit/parallel.hpp"

#include <atomic>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "densekit/error.hpp"

namespace densekit {
namespace {

int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Below this many elements an element-wise loop runs faster on one thread than forking a team.
constexpr Index kParallelThreshold = 1 << 15;

std::atomic<int> g_num_threads{0};  // 0: not set yet, use the OpenMP default

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: n must be >= 1. Received: n=" + std::to_string(n));
  g_num_threads = n;
  Eigen::setNbThreads(n);
}

int get_num_threads() {
  int n = g_num_threads.load();
  return n > 0 ? n : default_threads();
}

int loop_threads(Index work) { return work < kParallelThreshold ? 1 : get_num_threads(); }

std::recursive_mutex& compute_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace densekit

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

// Below this many elements an element-wise loop runs faster on one thread than forking a team
// (about 20 µs of work), and below this many multiply-adds a product does (about 15 µs).
constexpr Index kParallelThreshold = 1 << 16;
constexpr double kProductParallelThreshold = 1 << 20;

std::atomic<int> g_num_threads{0};  // 0: not set yet, use the OpenMP default

// Eigen would thread a product by its own rule (from ~50k multiply-adds); we split products
// ourselves, so Eigen stays on one thread, set once when the library loads.
const bool g_eigen_single_threaded = [] {
  Eigen::setNbThreads(1);
  return true;
}();

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: n must be >= 1. Received: n=" + std::to_string(n));
  g_num_threads = n;
}

int get_num_threads() {
  int n = g_num_threads.load();
  return n > 0 ? n : default_threads();
}

int loop_threads(Index work) { return work < kParallelThreshold ? 1 : get_num_threads(); }

int product_threads(double multiply_adds) {
  return multiply_adds < kProductParallelThreshold ? 1 : get_num_threads();
}

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

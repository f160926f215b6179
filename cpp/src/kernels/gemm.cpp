#include "densekit/kernels/gemm.hpp"

#include <dlfcn.h>

#include <atomic>
#include <climits>
#include <deque>
#include <mutex>
#include <stdexcept>

namespace densekit {
namespace {

// OpenBLAS's CBLAS enumerations (cblas.h), passed as ints.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

using SgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float* a, int lda, const float* b, int ldb, float beta, float* c,
                         int ldc);
using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();
using ConfigFn = char* (*)();

struct OpenBlas {
  SgemmFn sgemm;
  SetThreadsFn set_threads;
  GetThreadsFn get_threads;
  std::string path, config;
};

// Every library loaded, never unloaded nor freed (a product on another thread may still be in
// one), and the one in use.
std::deque<OpenBlas>& loaded() {
  static auto* libraries = new std::deque<OpenBlas>;
  return *libraries;
}
std::atomic<const OpenBlas*> g_openblas{nullptr};
std::mutex g_switch_mutex;
std::mutex g_threads_mutex;  // setting OpenBLAS's thread count back to one

// Where OpenBLAS's single-threaded sgemm beats Eigen's on one block, measured per block as
// densekit's parts are cut (medians, AVX-512, OpenBLAS 0.3.34's SkylakeX kernels, Eigen 3.4):
// from about 2^27 multiply-adds it was 3-18% faster (256x2048x1024 x w: 130 vs 118 GFLOP/s,
// 2048x4096x256 xᵀ dy: 118 vs 100); from 256³ to 2^27 within ±7% either way (256³ dy wᵀ: 127 vs
// 137); on batch-32 blocks 1-30% slower (32x392x300 dy wᵀ: 73 vs 103). A thin side never pays.
constexpr Index kOpenBlasMinSide = 256;
constexpr double kOpenBlasMinMultiplyAdds = double(1 << 27);

using RowMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using ColMap = Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>, 0,
                          Eigen::OuterStride<>>;

// The transpose of a row-major matrix is a column-major one with the same stride.
template <class Rhs>
void eigen_gemm_lhs(const GemmOperand& a, const Rhs& b, MatrixOut out) {
  if (a.transposed)
    out.noalias() = ColMap(a.data, a.rows, a.cols, Eigen::OuterStride<>(a.stride)) * b;
  else
    out.noalias() = RowMap(a.data, a.rows, a.cols, Eigen::OuterStride<>(a.stride)) * b;
}

void eigen_gemm(const GemmOperand& a, const GemmOperand& b, MatrixOut out) {
  if (b.transposed)
    eigen_gemm_lhs(a, ColMap(b.data, b.rows, b.cols, Eigen::OuterStride<>(b.stride)), out);
  else
    eigen_gemm_lhs(a, RowMap(b.data, b.rows, b.cols, Eigen::OuterStride<>(b.stride)), out);
}

bool fits_int(Index v) { return v <= Index(INT_MAX); }

void* symbol(void* handle, const char* name, const std::string& path) {
  dlerror();
  void* found = dlsym(handle, name);
  if (found == nullptr)
    throw std::runtime_error("gemm: " + path + " has no symbol " + name +
                             " (expected OpenBLAS as the scipy-openblas32 package builds it)");
  return found;
}

// Whether a product of this shape goes to OpenBLAS when it is loaded.
bool openblas_shape(Index m, Index n, Index k) {
  return m >= kOpenBlasMinSide && n >= kOpenBlasMinSide && k >= kOpenBlasMinSide &&
         double(m) * double(n) * double(k) >= kOpenBlasMinMultiplyAdds && fits_int(m) &&
         fits_int(n) && fits_int(k);
}

}  // namespace

bool gemm_uses_openblas(Index m, Index n, Index k) {
  return g_openblas.load(std::memory_order_acquire) != nullptr && openblas_shape(m, n, k);
}

void gemm(const GemmOperand& a, const GemmOperand& b, MatrixOut out) {
  const Index m = out.rows(), n = out.cols(), k = a.cols;
  const OpenBlas* openblas = g_openblas.load(std::memory_order_acquire);
  if (openblas == nullptr || !openblas_shape(m, n, k) || !fits_int(a.stride) ||
      !fits_int(b.stride) || !fits_int(out.outerStride()))
    return eigen_gemm(a, b, out);
  // threadpoolctl sets every OpenBLAS it finds loaded, this one too (threadpool_limits(4)): back
  // to one thread, or its pool would run inside each of densekit's parts. OpenBLAS does not say
  // its setter is safe to call from two threads at once, and two parts may find it raised: one
  // sets it, the other goes on. Never waiting also means that a child forked while a part held
  // the lock cannot hang on it.
  if (openblas->get_threads() != 1) {
    std::unique_lock<std::mutex> lock(g_threads_mutex, std::try_to_lock);
    if (lock.owns_lock() && openblas->get_threads() != 1) openblas->set_threads(1);
  }
  openblas->sgemm(kRowMajor, a.transposed ? kTrans : kNoTrans, b.transposed ? kTrans : kNoTrans,
                  int(m), int(n), int(k), 1.0f, a.data, int(a.stride), b.data, int(b.stride), 0.0f,
                  out.data(), int(out.outerStride()));
}

void gemm_use_openblas(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_switch_mutex);
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    throw std::runtime_error("gemm: cannot load OpenBLAS from " + path + ": " +
                             (reason ? reason : "unknown reason"));
  }
  try {
    const auto sgemm = reinterpret_cast<SgemmFn>(symbol(handle, "scipy_cblas_sgemm", path));
    const auto set_threads =
        reinterpret_cast<SetThreadsFn>(symbol(handle, "scipy_openblas_set_num_threads", path));
    const auto get_threads =
        reinterpret_cast<GetThreadsFn>(symbol(handle, "scipy_openblas_get_num_threads", path));
    set_threads(1);
    dlerror();
    const auto config = reinterpret_cast<ConfigFn>(dlsym(handle, "scipy_openblas_get_config"));
    loaded().push_back(OpenBlas{sgemm, set_threads, get_threads, path, config ? config() : ""});
    g_openblas.store(&loaded().back(), std::memory_order_release);
  } catch (...) {
    dlclose(handle);
    throw;
  }
}

void gemm_use_eigen() {
  std::lock_guard<std::mutex> lock(g_switch_mutex);
  g_openblas.store(nullptr, std::memory_order_release);
}

GemmEngine gemm_engine() {
  const OpenBlas* openblas = g_openblas.load(std::memory_order_acquire);
  if (openblas == nullptr) return {"eigen", "", ""};
  return {"openblas", openblas->path, openblas->config};
}

}  // namespace densekit

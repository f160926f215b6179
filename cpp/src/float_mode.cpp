#include "densekit/float_mode.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace densekit {

#if defined(__SSE2__)
namespace {
constexpr unsigned kFlushToZero = 0x8000;       // MXCSR.FTZ: subnormal results become 0
constexpr unsigned kDenormalsAreZero = 0x0040;  // MXCSR.DAZ: subnormal inputs read as 0
}  // namespace

SubnormalsFlushed::SubnormalsFlushed() : saved_(_mm_getcsr()) {
  _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
}
SubnormalsFlushed::~SubnormalsFlushed() { _mm_setcsr(saved_); }
void flush_subnormals_on_this_thread() {
  _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero);
}
#else
SubnormalsFlushed::SubnormalsFlushed() : saved_(0) {}
SubnormalsFlushed::~SubnormalsFlushed() {}
void flush_subnormals_on_this_thread() {}
#endif

}  // namespace densekit

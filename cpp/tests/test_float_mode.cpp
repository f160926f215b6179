// Subnormal floats are flushed to zero inside densekit's computations and nowhere else.
#include <gtest/gtest.h>

#include <limits>

#include "densekit/float_mode.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

// volatile: the compiler must not fold the products at build time.
float product(volatile float a, volatile float b) { return a * b; }

TEST(FloatMode, ComputeLockFlushesSubnormalsAndRestoresTheCallersMode) {
  const float tiny = std::numeric_limits<float>::min();  // the smallest normal float
  ASSERT_GT(product(tiny, 0.5f), 0.0f);                  // a subnormal result, kept
  {
    ComputeLock lock(compute_mutex());
#if defined(__SSE2__)
    EXPECT_EQ(product(tiny, 0.5f), 0.0f);
    {
      ComputeLock nested(compute_mutex());
      EXPECT_EQ(product(tiny, 0.5f), 0.0f);
    }
    EXPECT_EQ(product(tiny, 0.5f), 0.0f);  // the nested lock restored the outer one's mode
#endif
  }
  EXPECT_GT(product(tiny, 0.5f), 0.0f);
}

TEST(FloatMode, WorkersFlushSubnormalsToo) {
  const float tiny = std::numeric_limits<float>::min();
  float results[2] = {1, 1};
  ComputeLock lock(compute_mutex());
  run_team(2, [&](int thread, int team) {
    if (team == 2) results[thread] = product(tiny, 0.5f);
  });
#if defined(__SSE2__)
  for (float r : results) EXPECT_EQ(r, 0.0f);
#endif
}

}  // namespace
}  // namespace densekit

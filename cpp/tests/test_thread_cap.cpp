// ThreadCap: fewer threads run a region, while every Partition, and so every result's bits, stays
// as the configured thread count cuts it (the same holds for a nested or concurrent call, which
// runs inline on one thread).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "densekit/contention.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

TEST(ThreadCap, CapsTheRunningThreadsButNotThePartsWhileItLives) {
  const int configured = get_num_threads();
  set_num_threads(2);
  contention_monitor().reset();  // a loaded host may have started a back-off
  constexpr Index kLargeLoop = Index(1) << 22;
  EXPECT_EQ(running_threads(), 2);
  {
    const ThreadCap cap(1);
    EXPECT_EQ(running_threads(), 1);
    EXPECT_EQ(get_num_threads(), 2);  // the configured count is untouched
    EXPECT_EQ(Partition::loop(kLargeLoop).parts(), 2);
    EXPECT_EQ(Partition::product(1000, 1000, 1000).parts(), 2);
  }
  EXPECT_EQ(running_threads(), 2);
  set_num_threads(4);
  {
    const ThreadCap outer(2);
    {
      const ThreadCap inner(1);
      EXPECT_EQ(running_threads(), 1);
    }
    EXPECT_EQ(running_threads(), 2);  // the outer cap again
  }
  EXPECT_EQ(running_threads(), 4);
  set_num_threads(configured);
}

// A loss or a norm summed in parts: the same bits on one thread under a cap as on two, because
// the parts are cut by the configured count.
TEST(ThreadCap, ParallelSumHasTheSameBitsUnderACap) {
  const int configured = get_num_threads();
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::vector<double> values(1 << 20);
  for (double& v : values) v = uniform(rng) * 1e3;
  const auto body = [&](Index i) { return values[size_t(i)]; };
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    const Index count = Index(values.size());
    const double all = parallel_sum(count, count, body);
    double capped;
    {
      const ThreadCap cap(1);
      capped = parallel_sum(count, count, body);
    }
    EXPECT_EQ(capped, all) << "threads=" << threads;
    double serial = 0;
    for (double v : values) serial += v;
    EXPECT_NEAR(all, serial, 1e-6);
  }
  set_num_threads(configured);
}

}  // namespace
}  // namespace densekit

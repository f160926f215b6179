// The contention monitor: when a region's workers keep thread 0 waiting far longer than its own
// work, a few times in a short while, regions run on one thread for a while; never otherwise.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "densekit/contention.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

using Monitor = ContentionMonitor;
constexpr Monitor::Nanoseconds kMs = 1'000'000;

TEST(ContentionMonitor, BalancedRegionsNeverBackOff) {
  Monitor m;
  Monitor::Nanoseconds now = 1'000 * kMs;
  for (int i = 0; i < 10000; ++i) {
    now += kMs;
    m.record_region(kMs, kMs / 10, now);  // waits a tenth of its work
  }
  // Long regions whose workers finish a little later: not stalls either, however long the wait.
  for (int i = 0; i < 100; ++i) {
    now += 40 * kMs;
    m.record_region(20 * kMs, 15 * kMs, now);
  }
  EXPECT_FALSE(m.backing_off(now));
  EXPECT_EQ(m.back_offs(), 0);
}

TEST(ContentionMonitor, StallsCloseTogetherBackOffForAWhile) {
  Monitor m;
  Monitor::Nanoseconds now = 1'000 * kMs;
  const Monitor::Nanoseconds work = kMs / 20, stall = 3 * kMs;
  for (int i = 0; i < Monitor::kStallsToBackOff - 1; ++i) {
    now += 5 * kMs;
    m.record_region(work, stall, now);
    EXPECT_FALSE(m.backing_off(now)) << "after " << i + 1 << " stalls";
  }
  now += 5 * kMs;
  m.record_region(work, stall, now);
  EXPECT_TRUE(m.backing_off(now));
  EXPECT_TRUE(m.backing_off(now + Monitor::kBackOff - 1));
  EXPECT_FALSE(m.backing_off(now + Monitor::kBackOff));
  EXPECT_EQ(m.back_offs(), 1);
}

TEST(ContentionMonitor, StallsFarApartDoNotBackOff) {
  Monitor m;
  Monitor::Nanoseconds now = 1'000 * kMs;
  for (int i = 0; i < 20; ++i) {
    now += Monitor::kWindow + kMs;  // one stall per window
    m.record_region(kMs / 20, 3 * kMs, now);
  }
  EXPECT_FALSE(m.backing_off(now));
  EXPECT_EQ(m.back_offs(), 0);
}

TEST(ContentionMonitor, TheProcessMonitorCapsRunningThreadsButNotTheParts) {
  const int configured = get_num_threads();
  set_num_threads(2);
  Monitor& m = contention_monitor();
  m.reset();
  EXPECT_EQ(running_threads(), 2);
  const Monitor::Nanoseconds now = monotonic_nanoseconds();
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i) m.record_region(kMs / 20, 3 * kMs, now);
  EXPECT_EQ(running_threads(), 1);
  EXPECT_EQ(Partition::product(1000, 1000, 1000).parts(), 2);  // the parts are untouched
  m.reset();
  EXPECT_EQ(running_threads(), 2);
  set_num_threads(configured);
}

// The thread team feeds the process's monitor: a worker that keeps thread 0 waiting for
// milliseconds, three times in a row, starts a back-off.
TEST(ContentionMonitor, TheTeamReportsAWorkerThatKeepsThreadZeroWaiting) {
  const int configured = get_num_threads();
  set_num_threads(2);
  Monitor& m = contention_monitor();
  m.reset();
  const std::int64_t before = m.back_offs();
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i)
    run_team(2, [](int thread, int) {
      if (thread == 1) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    });
  EXPECT_EQ(m.back_offs(), before + 1);
  EXPECT_EQ(running_threads(), 1);
  m.reset();
  set_num_threads(configured);
}

// Waiting at a barrier for a worker that lost its core is waiting too, not work: a wide layer's
// forward meets its workers at a barrier half way.
TEST(ContentionMonitor, ThreadZeroWaitingAtABarrierIsAStall) {
  const int configured = get_num_threads();
  set_num_threads(2);
  Monitor& m = contention_monitor();
  m.reset();
  const std::int64_t before = m.back_offs();
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i)
    run_team(2, [](int thread, int) {
      if (thread == 1) std::this_thread::sleep_for(std::chrono::milliseconds(3));
      team_barrier();
    });
  EXPECT_EQ(m.back_offs(), before + 1);
  m.reset();
  set_num_threads(configured);
}

// A loop of fewer items than threads runs on the calling thread: thread 0 would otherwise have
// none and wait out the whole region, a stall on an idle machine.
TEST(ContentionMonitor, ALoopOfOneLongItemIsNoStall) {
  const int configured = get_num_threads();
  set_num_threads(2);
  Monitor& m = contention_monitor();
  m.reset();
  const std::int64_t before = m.back_offs();
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i)
    parallel_for(1, Index(1) << 30,
                 [](Index) { std::this_thread::sleep_for(std::chrono::milliseconds(3)); });
  EXPECT_EQ(m.back_offs(), before);
  EXPECT_EQ(running_threads(), 2);
  m.reset();
  set_num_threads(configured);
}

}  // namespace
}  // namespace densekit

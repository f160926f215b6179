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

// The process's monitor, on two threads and without stalls; both as they were afterwards.
class ProcessMonitor : public ::testing::Test {
 protected:
  void SetUp() override {
    configured_ = get_num_threads();
    set_num_threads(2);
    contention_monitor().reset();
    before_ = contention_monitor().back_offs();
  }
  void TearDown() override {
    contention_monitor().reset();
    set_num_threads(configured_);
  }
  // Back-offs since SetUp.
  std::int64_t back_offs() const { return contention_monitor().back_offs() - before_; }

  // A region of two threads whose worker sleeps 3 ms, then, when `barrier`, meets thread 0.
  static void region_with_a_sleeping_worker(bool barrier) {
    run_team(2, [barrier](int thread, int) {
      if (thread == 1) std::this_thread::sleep_for(std::chrono::milliseconds(3));
      if (barrier) team_barrier();
    });
  }

 private:
  int configured_ = 1;
  std::int64_t before_ = 0;
};

TEST_F(ProcessMonitor, CapsRunningThreadsButNotTheParts) {
  EXPECT_EQ(running_threads(), 2);
  const Monitor::Nanoseconds now = monotonic_nanoseconds();
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i)
    contention_monitor().record_region(kMs / 20, 3 * kMs, now);
  EXPECT_EQ(running_threads(), 1);
  EXPECT_EQ(Partition::product(1000, 1000, 1000).parts(), 2);  // the parts are untouched
  contention_monitor().reset();
  EXPECT_EQ(running_threads(), 2);
}

// The thread team feeds the process's monitor: a worker that keeps thread 0 waiting for
// milliseconds, three times in a row, starts a back-off.
TEST_F(ProcessMonitor, TheTeamReportsAWorkerThatKeepsThreadZeroWaiting) {
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i) region_with_a_sleeping_worker(false);
  EXPECT_EQ(back_offs(), 1);
  EXPECT_EQ(running_threads(), 1);
}

// Waiting at a barrier for a worker that lost its core is waiting too, not work: a wide layer's
// forward meets its workers at a barrier half way.
TEST_F(ProcessMonitor, ThreadZeroWaitingAtABarrierIsAStall) {
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i) region_with_a_sleeping_worker(true);
  EXPECT_EQ(back_offs(), 1);
}

// A loop of fewer items than threads runs on the calling thread: thread 0 would otherwise have
// none and wait out the whole region, a stall on an idle machine.
TEST_F(ProcessMonitor, ALoopOfOneLongItemIsNoStall) {
  for (int i = 0; i < Monitor::kStallsToBackOff; ++i)
    parallel_for(1, Index(1) << 30,
                 [](Index) { std::this_thread::sleep_for(std::chrono::milliseconds(3)); });
  EXPECT_EQ(back_offs(), 0);
  EXPECT_EQ(running_threads(), 2);
}

}  // namespace
}  // namespace densekit

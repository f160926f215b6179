// densekit's thread team: every thread of a region runs once, the barrier holds, nested and
// concurrent calls run inline, the workers are reused, and a refused thread is an exception.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "densekit/parallel.hpp"
#include "densekit/thread_team.hpp"

namespace densekit {
namespace {

TEST(ThreadTeam, RunsEveryThreadOnceWithTheCallerAsThreadZero) {
  for (int threads : {2, 3, 4}) {
    std::vector<std::atomic<int>> calls(static_cast<size_t>(threads));
    std::atomic<int> sizes_seen{0};
    std::thread::id zero;
    run_team(threads, [&](int thread, int team) {
      calls[size_t(thread)].fetch_add(1);
      if (team == threads) sizes_seen.fetch_add(1);
      if (thread == 0) zero = std::this_thread::get_id();
    });
    for (int t = 0; t < threads; ++t) EXPECT_EQ(calls[size_t(t)].load(), 1) << "thread " << t;
    EXPECT_EQ(sizes_seen.load(), threads);
    EXPECT_EQ(zero, std::this_thread::get_id());
  }
}

// Each thread writes its slot, waits at the barrier, then reads every other slot: all must be
// written, in every one of many rounds.
TEST(ThreadTeam, TheBarrierWaitsForEveryThread) {
  constexpr int kThreads = 3, kRounds = 50;
  std::vector<std::atomic<int>> slots(kThreads);
  std::atomic<int> missed{0};
  for (int round = 1; round <= kRounds; ++round) {
    run_team(kThreads, [&](int thread, int team) {
      slots[size_t(thread)].store(round);
      team_barrier();
      for (int t = 0; t < team; ++t)
        if (slots[size_t(t)].load() != round) missed.fetch_add(1);
      team_barrier();  // a second barrier in the same region
    });
  }
  EXPECT_EQ(missed.load(), 0);
}

TEST(ThreadTeam, ANestedCallRunsInlineOnTheCallingThread) {
  std::atomic<int> inner_calls{0}, wrong{0};
  run_team(2, [&](int, int) {
    EXPECT_TRUE(in_team_region());
    const auto outer = std::this_thread::get_id();
    run_team(4, [&](int thread, int team) {
      inner_calls.fetch_add(1);
      if (thread != 0 || team != 1 || std::this_thread::get_id() != outer) wrong.fetch_add(1);
      team_barrier();  // a region of one: returns at once
    });
  });
  EXPECT_EQ(inner_calls.load(), 2);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_FALSE(in_team_region());
}

TEST(ThreadTeam, WorkersAreStartedOnceAndReused) {
  run_team(3, [](int, int) {});
  const int workers = team_workers();
  EXPECT_GE(workers, 2);
  for (int i = 0; i < 100; ++i) run_team(2, [](int, int) {});
  run_team(3, [](int, int) {});
  EXPECT_EQ(team_workers(), workers);
}

// Two threads that start regions at once: one gets the team, the other runs inline; both finish
// with every index of their work done once.
TEST(ThreadTeam, ConcurrentCallersEachGetTheirWorkDone) {
  std::atomic<long> sums[2] = {{0}, {0}};
  const auto caller = [&](int which) {
    for (int repeat = 0; repeat < 200; ++repeat)
      parallel_for(1000, Index(1) << 20, [&](Index i) { sums[which].fetch_add(long(i)); });
  };
  std::thread other(caller, 1);
  caller(0);
  other.join();
  EXPECT_EQ(sums[0].load(), 200L * 999 * 1000 / 2);
  EXPECT_EQ(sums[1].load(), 200L * 999 * 1000 / 2);
}

TEST(ThreadTeam, AnExceptionOnThreadZeroWaitsForTheWorkersAndPropagates) {
  std::atomic<int> done{0};
  EXPECT_THROW(run_team(2,
                        [&](int thread, int) {
                          if (thread == 0) throw std::runtime_error("thread zero");
                          std::this_thread::sleep_for(std::chrono::milliseconds(20));
                          done.fetch_add(1);
                        }),
               std::runtime_error);
  EXPECT_EQ(done.load(), 1);  // the worker finished before run_team returned
}

#if !defined(__SANITIZE_ADDRESS__)
// A fork while another thread computes (holds the compute lock, its workers mid-region) must
// leave the child able to compute: the child has neither that thread nor the workers. Not under
// AddressSanitizer: a fork while another thread is inside the sanitizer's allocator can leave
// the child waiting on the sanitizer's own lock, which says nothing about densekit's.
TEST(ThreadTeam, AForkWhileAnotherThreadComputesLeavesTheChildAbleToCompute) {
  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
  std::thread computing([&] {
    ComputeLock lock(compute_mutex());
    run_team(2, [&](int thread, int) {
      if (thread == 0) {
        holding.store(true);
        while (!release.load()) std::this_thread::yield();
      }
    });
  });
  while (!holding.load()) std::this_thread::yield();
  const pid_t child = fork();
  if (child == 0) {
    alarm(20);  // a deadlock ends the child by SIGALRM instead of hanging the test
    std::atomic<int> ran{0};
    {
      ComputeLock lock(compute_mutex());
      run_team(2, [&](int, int) { ran.fetch_add(1); });
    }
    std::_Exit(ran.load() == 2 ? 0 : 1);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  release.store(true);
  computing.join();
  ASSERT_TRUE(WIFEXITED(status)) << "the child was ended by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
#endif

#if !defined(__SANITIZE_ADDRESS__)
// An address-space limit leaves no room for more thread stacks, as a system out of threads
// refuses them: starting 1000 threads must throw, in a child process so the limit stays there.
TEST(ThreadTeamDeathTest, ARefusedThreadIsAThreadStartError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        // What the process maps now, plus 256 MiB: room for a few dozen stacks of 8 MiB.
        long pages = 0;
        if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
          if (std::fscanf(statm, "%ld", &pages) != 1) pages = 0;
          std::fclose(statm);
        }
        rlimit limit{};
        getrlimit(RLIMIT_AS, &limit);
        limit.rlim_cur = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (rlim_t(256) << 20);
        setrlimit(RLIMIT_AS, &limit);
        try {
          start_team(1000);
        } catch (const ThreadStartError&) {
          std::_Exit(3);
        }
        std::_Exit(0);
      },
      testing::ExitedWithCode(3), "");
}
#endif

}  // namespace
}  // namespace densekit

#include "densekit/thread_team.hpp"

#include "densekit/contention.hpp"
#include "densekit/float_mode.hpp"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace densekit {
namespace {

// How long an idle worker spins before it sleeps. A training step runs its regions a few
// microseconds apart and an epoch its steps back to back, so the workers stay awake through both;
// a sleeping worker takes ~100 µs to wake. After a fit they sleep and use no CPU.
constexpr auto kSpinBeforeSleep = std::chrono::milliseconds(20);
// A spinning thread (a worker between regions, a thread waiting for the others at a barrier or at
// the end of a region) yields its core this often, ~10-40 µs: the thread it waits for may share
// that core (a new worker runs on its creator's core until the scheduler moves it, a few ms), and
// without yielding each would wait out the other's time slice. Spinning 4096 times between
// yields made the first products after the workers started take ~4 ms instead of ~0.1.
constexpr int kSpinsPerYield = 256;
// A region's team size travels with its number in one atomic word (see Team::region).
constexpr int kSizeBits = 16;
constexpr int kMaxTeam = (1 << kSizeBits) - 1;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

struct Team {
  std::mutex dispatch;               // held by the thread running a region, and while workers start
  std::vector<std::thread> workers;  // worker w is thread w + 1 of a region
  std::atomic<int> started{0};       // workers.size(), readable without the dispatch lock
  // (region number << kSizeBits) | team size: one word, so a worker that wakes late never reads
  // the size of a later region with the number of an earlier one.
  std::atomic<std::uint64_t> region{0};
  detail::RegionBody body{nullptr, nullptr};
  std::atomic<int> pending{0};  // workers of the current region not yet done
  std::atomic<int> arrived{0};  // barrier: threads arrived in the current round
  std::atomic<std::uint64_t> barrier_round{0};
  std::mutex sleep_mutex;
  std::condition_variable wake;
  std::atomic<int> sleepers{0};
};

// Never destroyed: workers may still be waiting in it when the process exits. A forked child
// replaces it (its workers do not exist there) and leaks the parent's copy, whose threads and
// mutexes must not be touched.
std::atomic<Team*> g_team{new Team};

thread_local int t_region_size = 0;  // > 0 while this thread runs a region's body
thread_local Team* t_region_team = nullptr;
// On the thread that dispatched a region of several threads: its time in team_barrier() so far,
// waiting for the workers as much as the join at the end is (the contention monitor counts both).
thread_local bool t_leads_region = false;
thread_local ContentionMonitor::Nanoseconds t_barrier_wait = 0;

int size_of(std::uint64_t region) { return int(region & kMaxTeam); }

using Clock = std::chrono::steady_clock;

// Spins until `spin_until`, then sleeps, until the region word differs from `seen`; returns the
// new word.
std::uint64_t wait_for_region(Team& team, std::uint64_t seen, Clock::time_point spin_until) {
  for (int i = 1;; ++i) {
    const std::uint64_t region = team.region.load(std::memory_order_acquire);
    if (region != seen) return region;
    cpu_relax();
    if (i % kSpinsPerYield == 0) {
      if (Clock::now() > spin_until) break;
      std::this_thread::yield();
    }
  }
  // The sleeper count goes up under the mutex before the last look at the word; run_region stores
  // the word before it reads the count, so either this look sees the new region or run_region
  // sees a sleeper and notifies after this thread waits (all seq_cst).
  std::unique_lock<std::mutex> lock(team.sleep_mutex);
  team.sleepers.fetch_add(1);
  std::uint64_t region;
  team.wake.wait(lock, [&] { return (region = team.region.load()) != seen; });
  team.sleepers.fetch_sub(1);
  return region;
}

// A worker spins for kSpinBeforeSleep after the last region it took part in: regions of fewer
// threads (a ThreadCap, a loop over less work) pass it by and let it sleep.
void worker_loop(Team* team, int thread) {
  flush_subnormals_on_this_thread();
  std::uint64_t seen = 0;
  Clock::time_point spin_until = Clock::now() + kSpinBeforeSleep;
  for (;;) {
    seen = wait_for_region(*team, seen, spin_until);
    const int size = size_of(seen);
    if (thread >= size) continue;  // not in this region
    t_region_size = size;
    t_region_team = team;
    team->body.call(team->body.body, thread, size);
    t_region_size = 0;
    t_region_team = nullptr;
    team->pending.fetch_sub(1, std::memory_order_acq_rel);
    spin_until = Clock::now() + kSpinBeforeSleep;
  }
}

template <class Done>
void spin_until(const Done& done) {
  for (int i = 1; !done(); ++i) {
    cpu_relax();
    if (i % kSpinsPerYield == 0) std::this_thread::yield();
  }
}

// Holds team.dispatch.
void start_workers(Team& team, int threads) {
  const size_t needed = size_t(threads - 1);
  if (team.workers.size() >= needed) return;
  team.workers.reserve(needed);
  while (team.workers.size() < needed) {
    const int thread = int(team.workers.size()) + 1;
    try {
      team.workers.emplace_back(worker_loop, &team, thread);
      team.started.store(int(team.workers.size()));
    } catch (const std::system_error& e) {
      throw ThreadStartError(
          "densekit could not start thread " + std::to_string(thread + 1) + " of " +
          std::to_string(threads) + " (" + e.what() +
          "); lower densekit.set_num_threads. Received: n=" + std::to_string(threads));
    }
  }
}

// A forked child has only the thread that forked: give it a fresh team.
void reset_after_fork() {
  g_team.store(new Team);
  t_region_size = 0;
  t_region_team = nullptr;
}

// Registered when the library loads: this file holds run_region, so it is always linked in.
[[maybe_unused]] const int g_fork_handler = pthread_atfork(nullptr, nullptr, reset_after_fork);

// body(0, 1) on the calling thread, as a region of one: a barrier in it returns at once, and a
// region it starts runs inline too.
void run_inline(detail::RegionBody body) {
  struct Restore {
    int size = t_region_size;
    Team* team = t_region_team;
    ~Restore() {
      t_region_size = size;
      t_region_team = team;
    }
  } restore;
  t_region_size = 1;
  t_region_team = nullptr;
  body.call(body.body, 0, 1);
}

}  // namespace

namespace detail {

void run_region(int threads, RegionBody body) {
  if (threads > kMaxTeam) threads = kMaxTeam;
  if (threads <= 1 || t_region_size > 0) return run_inline(body);
  Team& team = *g_team.load();
  std::unique_lock<std::mutex> hold(team.dispatch, std::try_to_lock);
  if (!hold.owns_lock()) return run_inline(body);  // another thread's region holds the team
  start_workers(team, threads);
  team.body = body;
  team.pending.store(threads - 1, std::memory_order_relaxed);
  const std::uint64_t number = (team.region.load() >> kSizeBits) + 1;
  team.region.store((number << kSizeBits) | std::uint64_t(threads));
  if (team.sleepers.load() > 0) {
    {
      const std::lock_guard<std::mutex> lock(team.sleep_mutex);
    }
    team.wake.notify_all();
  }
  // The workers read `body` until they are done, so wait for them however thread 0 leaves.
  // How long thread 0 waited for them (at the end and at its barriers), against its own work,
  // tells the contention monitor whether the workers still have their cores.
  struct Join {
    Team& team;
    ContentionMonitor::Nanoseconds start = monotonic_nanoseconds();
    ~Join() {
      const ContentionMonitor::Nanoseconds done = monotonic_nanoseconds();
      spin_until([&] { return team.pending.load(std::memory_order_acquire) == 0; });
      const ContentionMonitor::Nanoseconds joined = monotonic_nanoseconds();
      const ContentionMonitor::Nanoseconds barriers = t_barrier_wait;
      contention_monitor().record_region(done - start - barriers, joined - done + barriers, joined);
      t_region_size = 0;
      t_region_team = nullptr;
      t_leads_region = false;
    }
  } join{team};
  t_region_size = threads;
  t_region_team = &team;
  t_leads_region = true;
  t_barrier_wait = 0;
  body.call(body.body, 0, threads);
}

}  // namespace detail

void start_team(int threads) {
  if (threads > kMaxTeam) threads = kMaxTeam;
  if (threads <= 1 || t_region_size > 0) return;  // inside a region, regions run inline
  Team& team = *g_team.load();
  const std::lock_guard<std::mutex> hold(team.dispatch);
  start_workers(team, threads);
}

void team_barrier() {
  if (t_region_size <= 1) return;
  Team& team = *t_region_team;
  const std::uint64_t round = team.barrier_round.load(std::memory_order_acquire);
  if (team.arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == t_region_size) {
    team.arrived.store(0, std::memory_order_relaxed);
    team.barrier_round.store(round + 1, std::memory_order_release);
    return;
  }
  const ContentionMonitor::Nanoseconds began = t_leads_region ? monotonic_nanoseconds() : 0;
  spin_until([&] { return team.barrier_round.load(std::memory_order_acquire) != round; });
  if (t_leads_region) t_barrier_wait += monotonic_nanoseconds() - began;
}

bool in_team_region() { return t_region_size > 0; }

int team_workers() { return g_team.load()->started.load(); }

}  // namespace densekit

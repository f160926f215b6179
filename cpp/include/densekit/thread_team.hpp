// densekit's own threads: one process-wide team of std::thread workers that runs a parallel
// region, body(thread, team_size) on team_size threads with the calling thread as thread 0.
//
// Why not OpenMP: libgomp's team does not survive fork() (a child that computes can hang in it)
// and it ends the process when it cannot create a thread; its spin policy is an environment
// variable read for the whole process. This team:
// - lets its workers spin briefly after a region and then sleep on a condition variable, since
//   waking a sleeping thread costs ~100 µs, more than splitting a batch-32 product gains, while
//   a training step runs its regions microseconds apart;
// - allocates nothing per region once its workers are started;
// - is replaced in a forked child (pthread_atfork), which starts fresh workers when it first
//   needs them;
// - reports a thread the system refuses to create as a ThreadStartError (a RuntimeError in
//   Python) instead of ending the process.
#pragma once

#include <stdexcept>

namespace densekit {

class ThreadStartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

// A region's body by reference, so that dispatching one needs no allocation.
struct RegionBody {
  const void* body;
  void (*call)(const void* body, int thread, int team_size);
};
void run_region(int threads, RegionBody body);

}  // namespace detail

// Starts the workers a region of `threads` threads needs (threads - 1; workers stay alive and are
// reused). Throws ThreadStartError when the system refuses a thread; the workers started so far
// stay usable.
void start_team(int threads);

// Runs body(thread, team_size) for thread in [0, team_size) and returns when every call has
// returned. team_size is `threads`, or 1 (body(0, 1) on the calling thread) when threads <= 1,
// when called from inside a region (a nested call runs inline), or when another thread's region
// holds the team. So a body must give the same result whatever team size it is called with: it
// takes parts thread, thread + team_size, ... of a partition cut independently of it. The body
// must not throw on a worker (it would end the process); thread 0's exception propagates after
// the workers have finished.
template <class Body>
void run_team(int threads, const Body& body) {
  detail::run_region(threads, detail::RegionBody{&body, [](const void* b, int thread, int size) {
                                                   (*static_cast<const Body*>(b))(thread, size);
                                                 }});
}

// Inside a region: returns once every thread of the region has called it. Outside a region or in
// a region of one thread it returns at once.
void team_barrier();

// Whether the calling thread is running a region's body.
bool in_team_region();

// Workers alive in this process (threads - 1 for the largest region run so far; 0 after a fork).
int team_workers();

}  // namespace densekit

// Subnormal floats (magnitudes below 1.2e-38) cost ~100 cycles an operation on x86. Training
// towards a near-zero loss fills gradients and Adam's second moments with them: an epoch of a
// model that learned its training set by heart ran 2.5x slower. So densekit's computations flush
// them to zero (flush-to-zero and denormals-are-zero), as TensorFlow's threads do. Elsewhere (on
// other CPUs) the mode is left as it is.
#pragma once

namespace densekit {

// Sets the mode on the calling thread for its lifetime and then restores the caller's: Python's
// and NumPy's arithmetic between two densekit calls is untouched.
class SubnormalsFlushed {
 public:
  SubnormalsFlushed();
  ~SubnormalsFlushed();
  SubnormalsFlushed(const SubnormalsFlushed&) = delete;
  SubnormalsFlushed& operator=(const SubnormalsFlushed&) = delete;

 private:
  unsigned saved_;
};

// For densekit's own worker threads, which run nothing else: sets the mode for good.
void flush_subnormals_on_this_thread();

}  // namespace densekit

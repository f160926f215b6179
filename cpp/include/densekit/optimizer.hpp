// SGD with Keras 3's gradient clipping, applied to a list of parameters in one call.
// The momentum slots live here, keyed by parameter, as in Keras where the optimizer owns them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "densekit/layers/layer.hpp"

namespace densekit {

// Keras's clipvalue / clipnorm / global_clipnorm; 0 means "not set" (Keras: None).
struct ClipSpec {
  Scalar clipvalue = 0;
  Scalar clipnorm = 0;
  Scalar global_clipnorm = 0;
};

class SGD {
 public:
  SGD(Scalar learning_rate, Scalar momentum, bool nesterov, const ClipSpec& clip);

  // Creates the momentum slots for these parameters (zeros). Called at compile time so that the
  // training step allocates nothing (after a set_num_threads that raises the count, the first
  // step does once); slots of parameters seen before are kept.
  void build(const std::vector<std::shared_ptr<Parameter>>& params);

  // Clips the gradients in place, then updates the values and increments iterations, unless a
  // gradient (before clipping) or an updated value is not finite: then no value, slot or
  // iteration count changes and it returns false (the gradients may be left clipped by value).
  // Three passes at most, each over all the parameters at once, each thread on the same rows of
  // every parameter: the norms (clipnorm, global_clipnorm), clip-and-check, update.
  // batch_rows: the rows of the batch whose gradients these are, when known (0: not known),
  // which tells what ran on which thread.
  bool apply(const std::vector<Parameter*>& params, Index batch_rows = 0);

  // The momentum slot of a parameter, or null when momentum is 0 or the slot does not exist.
  RowMatrix* momentum_slot(const Parameter* p);

  Scalar learning_rate;
  const Scalar momentum;  // fixed: the slots exist only when it is not 0
  bool nesterov;
  ClipSpec clip;
  std::int64_t iterations = 0;

 private:
  // A contiguous run of one parameter's elements (whole rows), taken by one thread.
  struct Chunk {
    Parameter* parameter;
    RowMatrix* slot;  // the momentum slot, or an empty matrix when momentum is 0
    size_t owner;     // index of the parameter in apply's list
    Index start, size;
    double squares;  // Σ g² over the chunk, for the norms
  };

  RowMatrix& slot_for_update(Parameter* p);
  void split_into_runs(const std::vector<Parameter*>& params, Index parts, Index batch_rows);
  void compute_clip_scales(size_t parameters);  // scales_ from the chunks' squares

  std::map<const Parameter*, RowMatrix> slots_;
  std::vector<std::shared_ptr<Parameter>> owners_;  // keeps slot keys alive
  // Reused every step; build reserves them for every parameter it saw, so apply allocates nothing.
  std::vector<Chunk> chunks_;
  std::vector<size_t> run_starts_;  // part t's chunks: [run_starts_[t], run_starts_[t + 1])
  std::vector<Scalar> scales_;      // per parameter: the factor clipnorm or global_clipnorm applies
  std::vector<double> squares_;     // per parameter: Σ g², summed over its chunks
  size_t parameter_count_ = 0;
};

}  // namespace densekit

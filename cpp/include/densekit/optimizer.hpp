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
  // training step allocates nothing; slots of parameters seen before are kept.
  void build(const std::vector<std::shared_ptr<Parameter>>& params);

  // Clips the gradients in place, then updates the values and increments iterations, unless an
  // updated value would not be finite: then nothing is updated and it returns false.
  bool apply(const std::vector<Parameter*>& params);

  // The momentum slot of a parameter, or null when momentum is 0 or the slot does not exist.
  RowMatrix* momentum_slot(const Parameter* p);

  Scalar learning_rate;
  const Scalar momentum;  // fixed: the slots exist only when it is not 0
  bool nesterov;
  ClipSpec clip;
  std::int64_t iterations = 0;

 private:
  RowMatrix& slot_for_update(Parameter* p);

  std::map<const Parameter*, RowMatrix> slots_;
  std::vector<std::shared_ptr<Parameter>> owners_;  // keeps slot keys alive
  std::vector<MatrixOut> grads_;                    // reused by global clipping, no allocation
  size_t parameter_count_ = 0;                      // parameters seen by build, for grads_
};

}  // namespace densekit

// The C++ layer interface. A layer owns its parameters, their gradients and its scratch buffers;
// the network hands it views of the activations between layers, sized to the current batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "densekit/kernels/activations.hpp"
#include "densekit/regularization.hpp"
#include "densekit/types.hpp"

namespace densekit {

// A variable of a layer. Vectors (bias, gamma, ...) are stored as (1, n) and exposed as 1-D.
struct Parameter {
  std::string name;  // Keras's variable name: "kernel", "bias", "gamma", "moving_mean", ...
  RowMatrix value;
  RowMatrix grad;         // empty for non-trainable variables (moving statistics)
  bool trainable = true;  // false for variables no gradient reaches (moving statistics)
  bool is_vector = false;
  WeightRules rules;  // Keras's regularizer and constraint of the variable

  Parameter(std::string name, Index rows, Index cols, bool trainable, bool is_vector);

  // Reads and writes from outside a computation (Python's Variable.assign, get_weights,
  // set_weights, loading a file). Both take the compute lock, so they wait for a training step
  // or epoch running in another thread instead of tearing its weights.
  // value = v: ShapeError naming the parameter when the shape differs, ValueError when v holds
  // NaN or Inf; value is unchanged then.
  void assign(MatrixIn v);
  RowMatrix copy() const;

  // Keras's regularizer and constraint (regularization.hpp), set under the compute lock: a spec
  // that does not fit the parameter raises ValueError and leaves the old one.
  void set_penalty(const PenaltySpec& spec);
  void set_constraint(const ConstraintSpec& spec);
  // The penalty of the current value (0 without a regularizer), read under the compute lock.
  double penalty();
};

// values[i] into parameters[i], all or nothing: every count, shape and value is checked before
// the first write, and the writes happen under one hold of the compute lock, so no computation
// sees a mix of old and new values.
void assign_parameters(const std::vector<std::shared_ptr<Parameter>>& parameters,
                       const std::vector<MatrixIn>& values);
// Copies of the values, taken under one hold of the compute lock: a consistent snapshot.
std::vector<RowMatrix> copy_parameters(const std::vector<std::shared_ptr<Parameter>>& parameters);

class Layer {
 public:
  virtual ~Layer() = default;

  // Keras's class name ("Dense", "ReLU", ...), for messages.
  virtual std::string kind() const = 0;

  Index input_units() const { return input_units_; }
  Index output_units() const { return output_units_; }

  // Sizes the scratch buffers for batches of up to max_batch rows. Called by the network before
  // the first step and whenever a larger batch arrives; never on the hot path otherwise.
  virtual void reserve(Index max_batch) { (void)max_batch; }

  // y = layer(x). training selects batch statistics (BatchNormalization) and random slopes (RReLU).
  virtual void forward(MatrixIn x, MatrixOut y, bool training) = 0;

  // Given x and y of the last forward and dy = ∂loss/∂y, writes dx = ∂loss/∂x when dx has rows
  // (the network passes an empty dx for the first layer) and, when update_weights is set, the
  // gradients of the trainable parameters. When dy_is_preactivation is set, dy is already the
  // gradient with respect to the layer's pre-activation (the fused softmax/sigmoid + loss path).
  virtual void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                        bool dy_is_preactivation) = 0;

  // Applies the state changes of the last training forward (BatchNormalization's moving
  // statistics). The network calls it only after a step whose loss and gradients are finite, so
  // a diverging step leaves every variable as it was.
  virtual void commit_forward() {}
  // Whether what commit_forward would write is finite.
  virtual bool pending_state_finite() const { return true; }

  // A standalone forward (layer(x) from Python): sizes the scratch buffers and runs under the
  // compute lock, so it is safe while a network sharing this layer trains in another thread.
  void run(MatrixIn x, MatrixOut y, bool training);

  // The activation applied last by the layer (Dense's or an activation layer's), or null. The
  // network fuses a softmax/sigmoid output with the loss, and the diagnostics read saturation.
  virtual const ActivationSpec* output_activation() const { return nullptr; }
  bool ends_in(ActivationKind kind) const {
    const ActivationSpec* spec = output_activation();
    return spec != nullptr && spec->kind == kind;
  }

  // Training forwards that drew random numbers so far (RReLU's slopes): with the layer's seed, it
  // fixes the draws to come, so a copy of the layer that carries it continues the same stream.
  virtual std::uint64_t random_step() const { return 0; }
  virtual void set_random_step(std::uint64_t step) { (void)step; }

  // Runs in inference mode even when training (a frozen BatchNormalization, Keras 3 behaviour).
  virtual bool inference_when_frozen() const { return false; }

  std::vector<std::shared_ptr<Parameter>>& parameters() { return parameters_; }

  // Keras's layer.trainable; a frozen layer gets no gradient and no update.
  bool trainable = true;
  // Keras's activity_regularizer: a penalty on the layer's output, frozen or not.
  ActivityPenalty activity;
  void set_activity_penalty(const PenaltySpec& spec);  // under the compute lock

 protected:
  Layer(Index input_units, Index output_units);
  std::shared_ptr<Parameter> add_parameter(std::string name, Index rows, Index cols, bool trainable,
                                           bool is_vector);

  Index input_units_;
  Index output_units_;
  std::vector<std::shared_ptr<Parameter>> parameters_;
};

}  // namespace densekit

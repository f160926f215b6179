// Loss kernels with their gradients, Keras 3 definitions, averaged over the batch
// ("sum_over_batch_size"). Each returns the mean loss and writes dpred = ∂loss/∂pred.
//
// Optional per-sample weights w (one per row; an empty vector means all ones) follow Keras 3's
// reduce_weighted_values: loss = Σ_r w_r l_r / n, divided by the batch size n, not by Σ w, so
// ∂loss/∂pred_r = w_r ∂l_r/∂pred_r / n. Weights of exactly 1 give the unweighted bits.
//
// Targets are float32 matrices: (n, 1) class indices for the sparse loss, (n, classes) otherwise.
#pragma once

#include <string>

#include "densekit/types.hpp"

namespace densekit {

enum class LossKind {
  sparse_categorical_crossentropy,
  categorical_crossentropy,
  binary_crossentropy,
  mean_squared_error,
};

struct LossSpec {
  LossKind kind = LossKind::mean_squared_error;
  bool from_logits = false;
};

LossKind loss_kind_from_name(const std::string& name);

// Keras's epsilon: probabilities are clipped to [eps, 1 - eps] before the log.
constexpr Scalar kLossEpsilon = 1e-7f;

// Mean loss only (evaluate).
Scalar loss_value(const LossSpec& spec, MatrixIn pred, MatrixIn target);
Scalar loss_value(const LossSpec& spec, MatrixIn pred, MatrixIn target, VectorIn weight);

// Mean loss and dpred (may be only partially written for rows the loss ignores: none do today).
Scalar loss_value_and_gradient(const LossSpec& spec, MatrixIn pred, MatrixIn target,
                               MatrixOut dpred);
Scalar loss_value_and_gradient(const LossSpec& spec, MatrixIn pred, MatrixIn target,
                               VectorIn weight, MatrixOut dpred);

// The fused gradient through the output activation for a probability loss:
// softmax + (sparse) categorical cross-entropy, and sigmoid + binary cross-entropy, both give
//   dz = (p - t) / n   (binary: / (n · classes), the mean over the last axis).
// It is exact where no clipping is active and stable where the unfused chain would divide by ~0.
// Returns the mean loss computed from the probabilities `prob` (clipped as Keras does).
Scalar fused_probability_loss_gradient(const LossSpec& spec, MatrixIn prob, MatrixIn target,
                                       MatrixOut dz);
Scalar fused_probability_loss_gradient(const LossSpec& spec, MatrixIn prob, MatrixIn target,
                                       VectorIn weight, MatrixOut dz);

// Keras's accuracy metrics:
//   binary              (pred > 0.5) == target, averaged over the last axis (0.5 even for logits)
//   sparse_categorical  argmax(pred) == label, target (n, 1)
//   categorical         argmax(pred) == argmax(target)
// For compile(metrics=["accuracy"]) Keras picks one from the shapes (see models/training.py).
enum class AccuracyKind { none, binary, sparse_categorical, categorical };

// The sum over rows of the per-row accuracy (0 for AccuracyKind::none).
double accuracy_sum(AccuracyKind kind, MatrixIn pred, MatrixIn target);

// The accuracy that fits a loss's targets (the bindings' accuracy_sum(LossSpec, ...)).
AccuracyKind accuracy_for_loss(const LossSpec& spec);

// Throws ValueError naming the first row whose sparse label is not an integer in [0, classes).
void check_sparse_labels(MatrixIn target, Index classes);

}  // namespace densekit

#include "densekit/kernels/losses.hpp"

#include <algorithm>
#include <cmath>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

constexpr Scalar kEps = kLossEpsilon;

bool is_sparse(const LossSpec& spec) {
  return spec.kind == LossKind::sparse_categorical_crossentropy;
}

void check_target(const char* where, const LossSpec& spec, MatrixIn pred, MatrixIn target) {
  require_shape(where, "target", target.rows(), target.cols(), pred.rows(),
                is_sparse(spec) ? 1 : pred.cols());
  if (pred.rows() == 0) throw ShapeError(std::string(where) + ": the batch is empty");
  if (pred.cols() == 0) throw ShapeError(std::string(where) + ": pred has no columns (classes)");
  // A label out of range would silently count as zero loss; NaN would be cast to an index.
  if (is_sparse(spec)) check_sparse_labels(target, pred.cols());
}

Index label_of(MatrixIn target, Index row) { return static_cast<Index>(target(row, 0)); }

// The target weight of class j in row r: one-hot for the sparse loss.
Scalar target_at(const LossSpec& spec, MatrixIn target, Index r, Index j) {
  if (is_sparse(spec)) return label_of(target, r) == j ? Scalar(1) : Scalar(0);
  return target(r, j);
}

// Keras's cross-entropy from probabilities, one row:
//   q = p / Σp,  c = clip(q, ε, 1-ε),  loss = -Σ_j t_j log c_j.
// Gradient (g_j = ∂loss/∂q_j = -t_j / c_j where q_j is inside the clip range, else 0):
//   ∂loss/∂p_k = (g_k - Σ_j g_j q_j) / Σp.
double crossentropy_row(const LossSpec& spec, MatrixIn pred, MatrixIn target, Index r,
                        MatrixOut* dpred, Scalar scale) {
  const Index classes = pred.cols();
  const double total = pred.row(r).cast<double>().sum();
  double loss = 0, g_dot_q = 0;
  for (Index j = 0; j < classes; ++j) {
    const Scalar t = target_at(spec, target, r, j);
    const double q = pred(r, j) / total;
    const double c = std::clamp(q, double(kEps), 1.0 - kEps);
    // A class the target gives no weight adds 0·log c: 0, or NaN when c is. Without the logarithm
    // of every class, the loss and gradient of 256 rows of 10 classes took 8.5 instead of 26 µs.
    loss -= t != 0 ? t * std::log(c) : 0 * c;
    if (dpred) {
      const double g = (q > kEps && q < 1 - kEps) ? -t / c : 0.0;
      (*dpred)(r, j) = static_cast<Scalar>(g);
      g_dot_q += g * q;
    }
  }
  if (dpred) {
    for (Index j = 0; j < classes; ++j)
      (*dpred)(r, j) = static_cast<Scalar>(((*dpred)(r, j) - g_dot_q) / total * scale);
  }
  return loss;
}

// From logits: loss = logsumexp(z) Σt - Σ t_j z_j;  ∂loss/∂z = softmax(z) Σt - t.
double crossentropy_logits_row(const LossSpec& spec, MatrixIn z, MatrixIn target, Index r,
                               MatrixOut* dz, Scalar scale) {
  const Index classes = z.cols();
  const double zmax = z.row(r).maxCoeff();
  double sum_exp = 0, t_sum = 0, t_dot_z = 0;
  for (Index j = 0; j < classes; ++j) {
    const Scalar t = target_at(spec, target, r, j);
    sum_exp += std::exp(z(r, j) - zmax);
    t_sum += t;
    t_dot_z += t * z(r, j);
  }
  const double log_sum = zmax + std::log(sum_exp);
  if (dz) {
    for (Index j = 0; j < classes; ++j) {
      const double softmax = std::exp(z(r, j) - log_sum);
      (*dz)(r, j) = static_cast<Scalar>((softmax * t_sum - target_at(spec, target, r, j)) * scale);
    }
  }
  return log_sum * t_sum - t_dot_z;
}

// Binary cross-entropy, mean over the last axis.
//   probabilities: c = clip(p, ε, 1-ε), l = -(t log c + (1-t) log(1-c)), ∂l/∂p = (c-t)/(c(1-c))
//   inside the clip range logits (stable form): l = max(z,0) - z t + log(1 + e^{-|z|}), ∂l/∂z =
//   σ(z) - t
double binary_crossentropy_row(const LossSpec& spec, MatrixIn pred, MatrixIn target, Index r,
                               MatrixOut* dpred, Scalar scale) {
  const Index classes = pred.cols();
  double loss = 0;
  for (Index j = 0; j < classes; ++j) {
    const double t = target(r, j), p = pred(r, j);
    double g;
    if (spec.from_logits) {
      loss += std::max(p, 0.0) - p * t + std::log1p(std::exp(-std::abs(p)));
      g = 1.0 / (1.0 + std::exp(-p)) - t;
    } else {
      const double c = std::clamp(p, double(kEps), 1.0 - kEps);
      loss -= t * std::log(c) + (1 - t) * std::log(1 - c);
      g = (p > kEps && p < 1 - kEps) ? (c - t) / (c * (1 - c)) : 0.0;
    }
    if (dpred) (*dpred)(r, j) = static_cast<Scalar>(g * scale / classes);
  }
  return loss / classes;
}

// Mean squared error, mean over the last axis: l = Σ_j (p_j - t_j)² / C, ∂l/∂p = 2(p - t)/C.
double mean_squared_error_row(MatrixIn pred, MatrixIn target, Index r, MatrixOut* dpred,
                              Scalar scale) {
  const Index classes = pred.cols();
  double loss = 0;
  for (Index j = 0; j < classes; ++j) {
    const double d = double(pred(r, j)) - target(r, j);
    loss += d * d;
    if (dpred) (*dpred)(r, j) = static_cast<Scalar>(2 * d * scale / classes);
  }
  return loss / classes;
}

double loss_row(const LossSpec& spec, MatrixIn pred, MatrixIn target, Index r, MatrixOut* dpred,
                Scalar scale) {
  switch (spec.kind) {
    case LossKind::sparse_categorical_crossentropy:
    case LossKind::categorical_crossentropy:
      return spec.from_logits ? crossentropy_logits_row(spec, pred, target, r, dpred, scale)
                              : crossentropy_row(spec, pred, target, r, dpred, scale);
    case LossKind::binary_crossentropy:
      return binary_crossentropy_row(spec, pred, target, r, dpred, scale);
    case LossKind::mean_squared_error:
      return mean_squared_error_row(pred, target, r, dpred, scale);
  }
  return 0;
}

// Weights: nullptr for all ones. Row r's gradient is scaled by w_r / n and its loss by w_r.
double mean_loss(const LossSpec& spec, MatrixIn pred, MatrixIn target, const Scalar* weight,
                 MatrixOut* dpred) {
  const Index rows = pred.rows();
  const Scalar scale = Scalar(1) / static_cast<Scalar>(rows);
  const double total = parallel_sum(rows, pred.size(), [&](Index r) {
    if (!weight) return loss_row(spec, pred, target, r, dpred, scale);
    return double(weight[r]) * loss_row(spec, pred, target, r, dpred, weight[r] * scale);
  });
  return total / static_cast<double>(rows);
}

const RowVector kNoWeights;

// The weights as a pointer (nullptr when empty), checked to hold one per row.
const Scalar* weights_of(const char* where, VectorIn weight, Index rows) {
  if (weight.size() == 0) return nullptr;
  if (weight.size() != rows)
    throw ShapeError(std::string(where) + ": weight has " + std::to_string(weight.size()) +
                     " values for " + std::to_string(rows) + " rows");
  return weight.data();
}

Index argmax_row(MatrixIn m, Index r) {
  Index best;
  m.row(r).maxCoeff(&best);
  return best;
}

}  // namespace

LossKind loss_kind_from_name(const std::string& name) {
  if (name == "sparse_categorical_crossentropy") return LossKind::sparse_categorical_crossentropy;
  if (name == "categorical_crossentropy") return LossKind::categorical_crossentropy;
  if (name == "binary_crossentropy") return LossKind::binary_crossentropy;
  if (name == "mean_squared_error" || name == "mse") return LossKind::mean_squared_error;
  throw ValueError("Unknown loss: '" + name +
                   "'. Valid names: sparse_categorical_crossentropy, categorical_crossentropy, "
                   "binary_crossentropy, mean_squared_error");
}

Scalar loss_value(const LossSpec& spec, MatrixIn pred, MatrixIn target) {
  return loss_value(spec, pred, target, kNoWeights);
}

Scalar loss_value(const LossSpec& spec, MatrixIn pred, MatrixIn target, VectorIn weight) {
  check_target("loss_value", spec, pred, target);
  const Scalar* w = weights_of("loss_value", weight, pred.rows());
  return static_cast<Scalar>(mean_loss(spec, pred, target, w, nullptr));
}

Scalar loss_value_and_gradient(const LossSpec& spec, MatrixIn pred, MatrixIn target,
                               MatrixOut dpred) {
  return loss_value_and_gradient(spec, pred, target, kNoWeights, dpred);
}

Scalar loss_value_and_gradient(const LossSpec& spec, MatrixIn pred, MatrixIn target,
                               VectorIn weight, MatrixOut dpred) {
  const char* where = "loss_value_and_gradient";
  check_target(where, spec, pred, target);
  require_shape(where, "dpred", dpred.rows(), dpred.cols(), pred.rows(), pred.cols());
  const Scalar* w = weights_of(where, weight, pred.rows());
  return static_cast<Scalar>(mean_loss(spec, pred, target, w, &dpred));
}

Scalar fused_probability_loss_gradient(const LossSpec& spec, MatrixIn prob, MatrixIn target,
                                       MatrixOut dz) {
  return fused_probability_loss_gradient(spec, prob, target, kNoWeights, dz);
}

// softmax/sigmoid then the loss on probabilities: ∂loss/∂z = w (p Σt - t) / n for categorical
// (Σt = 1 for one-hot targets), and w (p - t) / (n C) for binary.
Scalar fused_probability_loss_gradient(const LossSpec& spec, MatrixIn prob, MatrixIn target,
                                       VectorIn weight, MatrixOut dz) {
  const char* where = "fused_probability_loss_gradient";
  check_target(where, spec, prob, target);
  require_shape(where, "dz", dz.rows(), dz.cols(), prob.rows(), prob.cols());
  if (spec.from_logits || spec.kind == LossKind::mean_squared_error)
    throw ValueError(std::string(where) + ": needs a probability cross-entropy loss");
  const Scalar* w = weights_of(where, weight, prob.rows());
  const Index rows = prob.rows(), classes = prob.cols();
  const bool binary = spec.kind == LossKind::binary_crossentropy;
  const Scalar base = Scalar(1) / static_cast<Scalar>(binary ? rows * classes : rows);
  parallel_for(rows, prob.size(), [&](Index r) {
    const Scalar scale = w ? w[r] * base : base;
    Scalar t_sum = 1;
    if (!binary && !is_sparse(spec)) t_sum = target.row(r).sum();
    for (Index j = 0; j < classes; ++j) {
      const Scalar t = binary ? target(r, j) : target_at(spec, target, r, j);
      dz(r, j) = (binary ? prob(r, j) - t : prob(r, j) * t_sum - t) * scale;
    }
  });
  return static_cast<Scalar>(mean_loss(spec, prob, target, w, nullptr));
}

AccuracyKind accuracy_for_loss(const LossSpec& spec) {
  switch (spec.kind) {
    case LossKind::sparse_categorical_crossentropy:
      return AccuracyKind::sparse_categorical;
    case LossKind::categorical_crossentropy:
      return AccuracyKind::categorical;
    default:
      return AccuracyKind::binary;
  }
}

double accuracy_sum(AccuracyKind kind, MatrixIn pred, MatrixIn target) {
  const char* where = "accuracy_sum";
  if (kind == AccuracyKind::none) return 0;
  if (pred.rows() == 0 || pred.cols() == 0) throw ShapeError("accuracy_sum: pred is empty");
  const bool sparse = kind == AccuracyKind::sparse_categorical;
  require_shape(where, "target", target.rows(), target.cols(), pred.rows(),
                sparse ? 1 : pred.cols());
  if (sparse) check_sparse_labels(target, pred.cols());
  const Index rows = pred.rows(), classes = pred.cols();
  double correct = 0;
  for (Index r = 0; r < rows; ++r) {
    switch (kind) {
      case AccuracyKind::sparse_categorical:
        correct += argmax_row(pred, r) == label_of(target, r);
        break;
      case AccuracyKind::categorical:
        correct += argmax_row(pred, r) == argmax_row(target, r);
        break;
      case AccuracyKind::binary: {
        Index hits = 0;
        for (Index j = 0; j < classes; ++j) hits += Scalar(pred(r, j) > 0.5f) == target(r, j);
        correct += double(hits) / double(classes);
        break;
      }
      case AccuracyKind::none:
        break;
    }
  }
  return correct;
}

void check_sparse_labels(MatrixIn target, Index classes) {
  for (Index r = 0; r < target.rows(); ++r) {
    const Scalar label = target(r, 0);
    if (!(label >= 0 && label < classes && label == std::floor(label)))
      throw ValueError("sparse labels must be integers in [0, " + std::to_string(classes) +
                       "); row " + std::to_string(r) + " has " + std::to_string(label));
  }
}

}  // namespace densekit

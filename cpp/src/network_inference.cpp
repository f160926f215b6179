// The network in inference mode: evaluate and predict.
#include <algorithm>

#include "densekit/error.hpp"
#include "densekit/network.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

namespace {

// In inference mode a sample's output does not depend on the others in its batch, so evaluate
// and predict compute in blocks of at least this many rows whatever the batch size: a product
// over 256 rows runs ~1.5x faster per sample than over Keras's default 32, and packs the weights
// once per block instead of once per batch.
constexpr Index kInferenceBlock = 256;
// ...unless that would make the widest layer's buffer larger than this many floats (16 MiB): a
// small batch_size may be how a user of a very wide model keeps memory down.
constexpr Index kInferenceBlockFloats = Index(1) << 22;

Index inference_block(Index batch_size, Index rows, Index widest) {
  const Index block = std::max<Index>(1, std::min(kInferenceBlock, kInferenceBlockFloats / widest));
  return std::min(std::max(batch_size, block), std::max<Index>(rows, 1));
}

}  // namespace

StepTotals Network::evaluate(MatrixIn x, MatrixIn y, Index batch_size) {
  return evaluate(x, y, RowVector(), batch_size);
}

StepTotals Network::evaluate(MatrixIn x, MatrixIn y, VectorIn sample_weight, Index batch_size) {
  ComputeLock lock(compute_mutex());
  start_threads();
  require_compiled("evaluate");
  require_shape("evaluate", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("evaluate", "y", y.rows(), y.cols(), x.rows(), target_columns());
  if (sample_weight.size() != 0)
    require_shape("evaluate", "sample_weight", 1, sample_weight.size(), 1, x.rows());
  if (batch_size < 1) throw ValueError("evaluate: batch_size must be >= 1");
  const Index batches = x.rows() / batch_size + (x.rows() % batch_size != 0);  // as Keras counts
  batch_size = inference_block(batch_size, x.rows(), widest_units());
  reserve(batch_size);
  StepTotals totals;
  const size_t last = layers_.size();
  // Keras adds the trained weights' penalties to each batch's loss, and each batch's activity
  // penalty divided by its size: weighted by the batch sizes, the activity sums add up over rows
  // however the rows are blocked.
  collect_trainable();
  const double weight_penalty = weight_penalties();
  for (Index start = 0; start < x.rows(); start += batch_size) {
    const Index n = std::min(batch_size, x.rows() - start);
    acts_[0].topRows(n) = x.middleRows(start, n);
    forward(n, false);
    auto pred = acts_[last].topRows(n);
    auto target = y.middleRows(start, n);
    const VectorIn w = sample_weight.size() != 0 ? VectorIn(sample_weight.segment(start, n))
                                                 : VectorIn(sample_weight);
    // The weighted mean over the block times n is Σ w l over it, however the rows are blocked.
    totals.loss_sum += (double(loss_value(loss_, pred, target, w)) + weight_penalty) * n +
                       activity_penalty_sums(n);
    totals.correct_sum += accuracy_sum(accuracy_, pred, target);
    totals.samples += n;
  }
  totals.steps = batches;
  return totals;
}

void Network::predict(MatrixIn x, MatrixOut out, Index batch_size, bool training) {
  ComputeLock lock(compute_mutex());
  start_threads();
  require_shape("predict", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("predict", "out", out.rows(), out.cols(), x.rows(), output_units());
  if (batch_size < 1) throw ValueError("predict: batch_size must be >= 1");
  // Training-mode outputs (batch statistics) depend on the batch: those keep batch_size.
  batch_size = training ? std::min(batch_size, std::max<Index>(x.rows(), 1))
                        : inference_block(batch_size, x.rows(), widest_units());
  reserve(batch_size);
  const size_t last = layers_.size();
  for (Index start = 0; start < x.rows(); start += batch_size) {
    const Index n = std::min(batch_size, x.rows() - start);
    acts_[0].topRows(n) = x.middleRows(start, n);
    forward(n, training);
    if (training)
      for (auto& layer : layers_) layer->commit_forward();
    out.middleRows(start, n) = acts_[last].topRows(n);
  }
}

}  // namespace densekit

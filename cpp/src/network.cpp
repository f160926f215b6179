#include "densekit/network.hpp"

#include <chrono>
#include <cmath>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

Network::Network(std::vector<std::shared_ptr<Layer>> layers, Index input_units)
    : layers_(std::move(layers)), input_units_(input_units) {
  if (input_units < 1)
    throw ValueError("Network: input_units must be >= 1; got " + std::to_string(input_units));
  Index units = input_units;
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!layers_[i]) throw ValueError("Network: layer " + std::to_string(i) + " is null");
    if (layers_[i]->input_units() != units)
      throw ShapeError("Network: layer " + std::to_string(i) + " (" + layers_[i]->kind() +
                       ") expects " + std::to_string(layers_[i]->input_units()) +
                       " input units but receives " + std::to_string(units));
    units = layers_[i]->output_units();
  }
  acts_.resize(layers_.size() + 1);
  grads_.resize(layers_.size() + 1);
}

void Network::compile(const LossSpec& loss, std::shared_ptr<SGD> optimizer, AccuracyKind accuracy) {
  ComputeLock lock(compute_mutex());
  if (!optimizer) throw ValueError("Network.compile: optimizer is null");
  loss_ = loss;
  optimizer_ = std::move(optimizer);
  accuracy_ = accuracy;
  size_t count = 0;
  for (auto& layer : layers_) {
    optimizer_->build(layer->parameters());
    count += layer->parameters().size();
  }
  trainable_.reserve(count);
}

// Before anything is computed, so that a thread the system refuses (ThreadStartError) leaves
// every variable as it was.
void Network::start_threads() { start_team(get_num_threads()); }

Index Network::target_columns() const {
  return loss_.kind == LossKind::sparse_categorical_crossentropy ? 1 : output_units();
}

void Network::require_compiled(const char* where) const {
  if (!optimizer_) throw ValueError(std::string(where) + ": the model must be compiled first");
}

Index Network::widest_units() const {
  Index widest = input_units_;
  for (const auto& layer : layers_) widest = std::max(widest, layer->output_units());
  return widest;
}

void Network::reserve(Index batch) {
  if (batch <= capacity_) return;
  acts_[0].resize(batch, input_units_);
  grads_[0].resize(batch, input_units_);  // only the diagnostics ask for the input gradient
  for (size_t i = 0; i < layers_.size(); ++i) {
    acts_[i + 1].resize(batch, layers_[i]->output_units());
    grads_[i + 1].resize(batch, layers_[i]->output_units());
    layers_[i]->reserve(batch);
  }
  target_.resize(batch, std::max<Index>(1, output_units()));
  capacity_ = batch;
}

void Network::forward(Index n, bool training) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    const bool layer_training = training && !(layer.inference_when_frozen() && !layer.trainable);
    layer.forward(acts_[i].topRows(n), acts_[i + 1].topRows(n), layer_training);
  }
}

// The layers whose parameters train this step, and how far down the backward pass must go.
void Network::collect_trainable() {
  trainable_.clear();
  lowest_trained_layer_ = static_cast<Index>(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!layers_[i]->trainable) continue;
    bool any = false;
    for (auto& p : layers_[i]->parameters()) {
      if (!p->trainable) continue;
      trainable_.push_back(p.get());
      any = true;
    }
    if (any && static_cast<Index>(i) < lowest_trained_layer_)
      lowest_trained_layer_ = static_cast<Index>(i);
  }
}

Scalar Network::forward_backward(MatrixIn y, Index n, Index lowest, bool all_input_grads,
                                 bool& fused) {
  forward(n, true);
  const size_t last = layers_.size();
  auto pred = acts_[last].topRows(n);
  auto dpred = grads_[last].topRows(n);
  const bool probability_loss = !loss_.from_logits && loss_.kind != LossKind::mean_squared_error;
  fused = !layers_.empty() && probability_loss &&
          layers_.back()->ends_in(loss_.kind == LossKind::binary_crossentropy
                                      ? ActivationKind::sigmoid
                                      : ActivationKind::softmax);
  const Scalar loss = fused ? fused_probability_loss_gradient(loss_, pred, y, dpred)
                            : loss_value_and_gradient(loss_, pred, y, dpred);
  for (Index i = static_cast<Index>(last) - 1; i >= lowest; --i) {
    Layer& layer = *layers_[i];
    const bool fused_here = fused && static_cast<size_t>(i) == last - 1;
    if (i == lowest + 1 && !all_input_grads) {
      // Below a trained lowest BatchNormalization, dx would serve only its γ and β gradients,
      // which the dense layer above can produce without that product.
      const auto below = layers_[lowest]->affine_output();
      if (below &&
          layer.backward_to_affine_input(*below, acts_[i + 1].topRows(n), grads_[i + 1].topRows(n),
                                         layer.trainable, fused_here))
        break;
    }
    // The lowest layer's input gradient feeds nothing, unless the diagnostics want it.
    const bool need_dx = i > lowest || all_input_grads;
    auto dx = need_dx ? grads_[i].topRows(n) : grads_[i].topRows(0);
    layer.backward(acts_[i].topRows(n), acts_[i + 1].topRows(n), grads_[i + 1].topRows(n), dx,
                   layer.trainable, fused_here);
  }
  return loss;
}

std::vector<LayerStats> Network::collect_stats(Index n) {
  std::vector<LayerStats> stats;
  stats.reserve(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i)
    stats.push_back(layer_stats(*layers_[i], acts_[i + 1].topRows(n), grads_[i].topRows(n)));
  return stats;
}

StepTotals Network::step_on_buffers(MatrixIn y, Index n) {
  StepTotals totals;
  totals.samples = n;
  totals.steps = 1;
  collect_trainable();
  const bool monitor = monitor_every_ > 0 && steps_done_ % monitor_every_ == 0;
  bool fused = false;
  const Scalar loss = forward_backward(y, n, monitor ? 0 : lowest_trained_layer_, monitor, fused);
  totals.loss_sum = double(loss) * n;
  totals.correct_sum = accuracy_sum(accuracy_, acts_.back().topRows(n), y);
  if (monitor) records_.push_back(MonitorRecord{steps_done_, collect_stats(n)});
  ++steps_done_;
  // The optimizer refuses a non-finite gradient or result itself.
  bool finite = std::isfinite(loss);
  for (auto& layer : layers_) finite = finite && layer->pending_state_finite();
  if (!finite || !optimizer_->apply(trainable_, n)) {
    totals.finite = false;
    return totals;
  }
  for (auto& layer : layers_) layer->commit_forward();
  return totals;
}

void Network::set_monitor_every(Index every) {
  ComputeLock lock(compute_mutex());
  if (every < 0) throw ValueError("set_monitor_every: every must be >= 0");
  monitor_every_ = every;
}

std::vector<MonitorRecord> Network::take_monitor_records() {
  ComputeLock lock(compute_mutex());
  std::vector<MonitorRecord> taken;
  taken.swap(records_);
  return taken;
}

std::vector<LayerStats> Network::gradient_flow(MatrixIn x, MatrixIn y) {
  ComputeLock lock(compute_mutex());
  start_threads();
  require_compiled("gradient_flow");
  require_shape("gradient_flow", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("gradient_flow", "y", y.rows(), y.cols(), x.rows(), target_columns());
  const Index n = x.rows();
  reserve(n);
  acts_[0].topRows(n) = x;
  // The training-mode forward leaves BatchNormalization's statistics pending; without a commit
  // they are dropped by the next forward, so no variable changes.
  bool fused = false;
  collect_trainable();
  forward_backward(y, n, 0, true, fused);
  return collect_stats(n);
}

StepTotals Network::train_step(MatrixIn x, MatrixIn y) {
  ComputeLock lock(compute_mutex());
  start_threads();
  require_compiled("train_step");
  require_shape("train_step", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("train_step", "y", y.rows(), y.cols(), x.rows(), target_columns());
  const Index n = x.rows();
  reserve(n);
  acts_[0].topRows(n) = x;
  return step_on_buffers(y, n);
}

// The batch's rows of x into acts_[0], each part of the copy's Partition taking the columns that
// the first layer deals to the same thread, so they land in the cache of the core that uses them;
// the targets too.
void Network::gather_batch(MatrixIn x, MatrixIn y, const std::vector<std::int64_t>& order,
                           Index start, Index n) {
  const Partition plan = Partition::loop(n * x.cols());
  plan.for_each_part([&](Index p) {
    const auto [c0, columns] = plan.share(x.cols(), p);
    for (Index r = 0; r < n; ++r)
      acts_[0].row(r).segment(c0, columns) = x.row(order[start + r]).segment(c0, columns);
  });
  for (Index r = 0; r < n; ++r) target_.row(r).head(y.cols()) = y.row(order[start + r]);
}

StepTotals Network::train_epoch(MatrixIn x, MatrixIn y, const std::vector<std::int64_t>& order,
                                Index batch_size, const ProgressFn& progress,
                                double progress_seconds) {
  ComputeLock lock(compute_mutex());
  start_threads();
  require_compiled("train_epoch");
  require_shape("train_epoch", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("train_epoch", "y", y.rows(), y.cols(), x.rows(), -1);
  if (batch_size < 1) throw ValueError("train_epoch: batch_size must be >= 1");
  require_shape("train_epoch", "y", y.rows(), y.cols(), x.rows(), target_columns());
  const Index total = static_cast<Index>(order.size());
  for (std::int64_t row : order)
    if (row < 0 || row >= x.rows())
      throw ValueError("train_epoch: order has a row index out of range");
  reserve(std::min(batch_size, std::max<Index>(total, 1)));
  using Clock = std::chrono::steady_clock;
  auto last_report = Clock::now();
  StepTotals epoch;
  const Index target_cols = y.cols();
  for (Index start = 0; start < total; start += batch_size) {
    const Index n = std::min(batch_size, total - start);
    const auto step_start = Clock::now();
    StepTotals step;
    {
      const ThreadCap cap(thread_tuner_.next(get_num_threads()));
      gather_batch(x, y, order, start, n);
      step = step_on_buffers(target_.topRows(n).leftCols(target_cols), n);
    }
    thread_tuner_.record(std::chrono::duration<double>(Clock::now() - step_start).count());
    epoch.finite = step.finite;
    if (!step.finite) break;
    epoch.loss_sum += step.loss_sum;
    epoch.correct_sum += step.correct_sum;
    epoch.samples += n;
    epoch.steps += 1;
    const bool done = start + n >= total;
    if (progress && !done &&
        std::chrono::duration<double>(Clock::now() - last_report).count() >= progress_seconds) {
      last_report = Clock::now();
      if (!progress(epoch)) break;
    }
  }
  return epoch;
}

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
  ComputeLock lock(compute_mutex());
  start_threads();
  require_compiled("evaluate");
  require_shape("evaluate", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("evaluate", "y", y.rows(), y.cols(), x.rows(), target_columns());
  if (batch_size < 1) throw ValueError("evaluate: batch_size must be >= 1");
  const Index batches = x.rows() / batch_size + (x.rows() % batch_size != 0);  // as Keras counts
  batch_size = inference_block(batch_size, x.rows(), widest_units());
  reserve(batch_size);
  StepTotals totals;
  const size_t last = layers_.size();
  for (Index start = 0; start < x.rows(); start += batch_size) {
    const Index n = std::min(batch_size, x.rows() - start);
    acts_[0].topRows(n) = x.middleRows(start, n);
    forward(n, false);
    auto pred = acts_[last].topRows(n);
    auto target = y.middleRows(start, n);
    totals.loss_sum += double(loss_value(loss_, pred, target)) * n;
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

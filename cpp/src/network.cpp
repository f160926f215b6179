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

void Network::compile(const LossSpec& loss, std::shared_ptr<Optimizer> optimizer,
                      AccuracyKind accuracy) {
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
  planned_for_.reserve(count);
  collect_trainable();
  plan();
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
  weight_.resize(batch);
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

// Plans the backward pass for the parameters in trainable_: at compile, and again only when a
// layer was frozen or unfrozen since.
void Network::plan() {
  if (planned_ && planned_for_ == trainable_) return;
  step_plan_ = plan_backward(layers_, lowest_trained_layer_, false);
  diagnostic_plan_ = plan_backward(layers_, 0, true);
  planned_for_ = trainable_;
  planned_ = true;
}

double Network::add_weight_penalties() {
  double total = 0;
  for (Parameter* p : trainable_) total += p->rules.add_penalty_gradient(p->value, p->grad);
  return total;
}

double Network::weight_penalties() {
  double total = 0;
  for (Parameter* p : trainable_) total += p->rules.penalty_value(p->value);
  return total;
}

double Network::activity_penalty_sums(Index n) {
  double total = 0;
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i]->activity.active()) total += layers_[i]->activity.sum(acts_[i + 1].topRows(n));
  return total;
}

double Network::forward_backward(MatrixIn y, VectorIn w, Index n,
                                 const std::vector<BackwardStage>& stages) {
  forward(n, true);
  const size_t last = layers_.size();
  auto pred = acts_[last].topRows(n);
  auto dpred = grads_[last].topRows(n);
  const bool probability_loss = !loss_.from_logits && loss_.kind != LossKind::mean_squared_error;
  // Softmax/sigmoid with its cross-entropy: the loss gradient goes straight to the last layer's
  // pre-activation; not when an activity penalty needs the gradient of the output itself.
  const bool fused_loss = !layers_.empty() && probability_loss &&
                          !layers_.back()->activity.active() &&
                          layers_.back()->ends_in(loss_.kind == LossKind::binary_crossentropy
                                                      ? ActivationKind::sigmoid
                                                      : ActivationKind::softmax);
  const Scalar loss = fused_loss ? fused_probability_loss_gradient(loss_, pred, y, w, dpred)
                                 : loss_value_and_gradient(loss_, pred, y, w, dpred);
  const double activity = activity_penalty_sums(n) / double(std::max<Index>(n, 1));
  for (const BackwardStage& stage : stages) {
    const Index i = stage.top;
    // With the loss fused, the top layer's dy is already its pre-activation gradient.
    const bool preactivation = fused_loss && size_t(i) == last - 1;
    auto y_i = acts_[i + 1].topRows(n);
    auto dy = grads_[i + 1].topRows(n);
    // The stage's dy is complete here (the loss's, or the layer above's dx): a fusion reads only
    // its top layer's dy, so an activity penalty's gradient always lands where it is read.
    layers_[size_t(i)]->activity.add_gradient(y_i, dy, n);
    if (stage.fused) {
      stage.fused(y_i, dy, preactivation);
      continue;
    }
    Layer& layer = *layers_[i];
    auto dx = grads_[i].topRows(stage.need_dx ? n : 0);
    layer.backward(acts_[i].topRows(n), y_i, dy, dx, layer.trainable, preactivation);
  }
  return double(loss) + activity + add_weight_penalties();
}

std::vector<LayerStats> Network::collect_stats(Index n) {
  std::vector<LayerStats> stats;
  stats.reserve(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i)
    stats.push_back(layer_stats(*layers_[i], acts_[i + 1].topRows(n), grads_[i].topRows(n)));
  return stats;
}

StepTotals Network::step_on_buffers(MatrixIn y, VectorIn w, Index n) {
  StepTotals totals;
  totals.samples = n;
  totals.steps = 1;
  collect_trainable();
  const bool monitor = monitor_every_ > 0 && steps_done_ % monitor_every_ == 0;
  plan();
  const double loss = forward_backward(y, w, n, monitor ? diagnostic_plan_ : step_plan_);
  totals.loss_sum = loss * double(n);
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
  // they are dropped by the next forward, so no variable changes. The random layers' draw counts
  // go back too, so training after the look draws what it would have drawn without it.
  collect_trainable();
  plan();
  std::vector<std::uint64_t> draws;
  draws.reserve(layers_.size());
  for (const auto& layer : layers_) draws.push_back(layer->random_step());
  forward_backward(y, RowVector(), n, diagnostic_plan_);
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i]->set_random_step(draws[i]);
  return collect_stats(n);
}

StepTotals Network::train_step(MatrixIn x, MatrixIn y) { return train_step(x, y, RowVector()); }

StepTotals Network::train_step(MatrixIn x, MatrixIn y, VectorIn sample_weight) {
  ComputeLock lock(compute_mutex());
  start_threads();
  require_compiled("train_step");
  require_shape("train_step", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("train_step", "y", y.rows(), y.cols(), x.rows(), target_columns());
  if (sample_weight.size() != 0)
    require_shape("train_step", "sample_weight", 1, sample_weight.size(), 1, x.rows());
  const Index n = x.rows();
  reserve(n);
  acts_[0].topRows(n) = x;
  return step_on_buffers(y, sample_weight, n);
}

// The batch's rows of x into acts_[0], each part of the copy's Partition taking the columns that
// the first layer deals to the same thread, so they land in the cache of the core that uses them;
// the targets too.
void Network::gather_batch(MatrixIn x, MatrixIn y, VectorIn w,
                           const std::vector<std::int64_t>& order, Index start, Index n) {
  const Partition plan = Partition::loop(n * x.cols());
  plan.for_each_part([&](Index p) {
    const auto [c0, columns] = plan.share(x.cols(), p);
    for (Index r = 0; r < n; ++r)
      acts_[0].topRows(n).row(r).segment(c0, columns) =
          x.row(order[start + r]).segment(c0, columns);
  });
  for (Index r = 0; r < n; ++r) target_.row(r).head(y.cols()) = y.row(order[start + r]);
  if (w.size() != 0)
    for (Index r = 0; r < n; ++r) weight_[r] = w[order[start + r]];
}

StepTotals Network::train_epoch(MatrixIn x, MatrixIn y, const std::vector<std::int64_t>& order,
                                Index batch_size, const ProgressFn& progress,
                                double progress_seconds) {
  return train_epoch(x, y, RowVector(), order, batch_size, progress, progress_seconds);
}

StepTotals Network::train_epoch(MatrixIn x, MatrixIn y, VectorIn sample_weight,
                                const std::vector<std::int64_t>& order, Index batch_size,
                                const ProgressFn& progress, double progress_seconds) {
  ComputeLock lock(compute_mutex());
  start_threads();
  require_compiled("train_epoch");
  require_shape("train_epoch", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("train_epoch", "y", y.rows(), y.cols(), x.rows(), -1);
  if (batch_size < 1) throw ValueError("train_epoch: batch_size must be >= 1");
  require_shape("train_epoch", "y", y.rows(), y.cols(), x.rows(), target_columns());
  if (sample_weight.size() != 0)
    require_shape("train_epoch", "sample_weight", 1, sample_weight.size(), 1, x.rows());
  const bool weighted = sample_weight.size() != 0;
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
    gather_batch(x, y, sample_weight, order, start, n);
    const StepTotals step = step_on_buffers(target_.topRows(n).leftCols(target_cols),
                                            weight_.head(weighted ? n : 0), n);
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

}  // namespace densekit

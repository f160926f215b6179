// A sequential network that runs a whole training step — forward, loss, backward, clipping,
// update — in one call, on activation buffers sized once for the largest batch seen.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "densekit/backward_plan.hpp"
#include "densekit/batch_buffer.hpp"
#include "densekit/diagnostics.hpp"
#include "densekit/kernels/losses.hpp"
#include "densekit/layers/layer.hpp"
#include "densekit/optimizer.hpp"

namespace densekit {

// Sums over the samples of a step or an epoch; divide by `samples` for Keras's averages.
struct StepTotals {
  double loss_sum = 0;     // Σ over samples of the per-sample loss
  double correct_sum = 0;  // Σ over samples of the accuracy
  Index samples = 0;
  Index steps = 0;
  bool finite = true;  // false: a step produced a non-finite loss or gradient; not applied
};

// Called during train_epoch with the totals so far; returns false to stop the epoch.
using ProgressFn = std::function<bool(StepTotals)>;  // by value: Python may keep it

class Network {
 public:
  Network(std::vector<std::shared_ptr<Layer>> layers, Index input_units);

  // Sets the loss and optimizer and sizes the optimizer's slots for the trainable parameters.
  // accuracy: the accuracy metric the steps also count (none: only the loss).
  void compile(const LossSpec& loss, std::shared_ptr<Optimizer> optimizer, AccuracyKind accuracy);

  // One step on a batch; the update is skipped when the loss or a gradient is not finite.
  // sample_weight: one weight per row weighting the loss as Keras does (kernels/losses.hpp), or
  // empty for none; the accuracy is not weighted (Keras weights only `weighted_metrics`).
  StepTotals train_step(MatrixIn x, MatrixIn y);
  StepTotals train_step(MatrixIn x, MatrixIn y, VectorIn sample_weight);

  // Shuffled epoch: batch i takes rows order[i*batch_size : ...] of x, y and sample_weight
  // (gathered, no copy of the data set). progress is called about every progress_seconds and at
  // the end.
  StepTotals train_epoch(MatrixIn x, MatrixIn y, const std::vector<std::int64_t>& order,
                         Index batch_size, const ProgressFn& progress, double progress_seconds);
  StepTotals train_epoch(MatrixIn x, MatrixIn y, VectorIn sample_weight,
                         const std::vector<std::int64_t>& order, Index batch_size,
                         const ProgressFn& progress, double progress_seconds);

  // Loss and accuracy totals in inference mode; steps counts batches of batch_size, though the
  // rows are computed in blocks of at least 256 (an output does not depend on its batch).
  StepTotals evaluate(MatrixIn x, MatrixIn y, Index batch_size);
  StepTotals evaluate(MatrixIn x, MatrixIn y, VectorIn sample_weight, Index batch_size);

  // out = network(x); training selects batch statistics and random slopes, computed per batch
  // of batch_size. In inference mode the rows go in blocks of at least 256, as in evaluate.
  void predict(MatrixIn x, MatrixOut out, Index batch_size, bool training);

  // Gradient monitoring: every `every` training steps (0: off), the step records per-layer
  // figures before its update. take_monitor_records hands them over and clears them.
  void set_monitor_every(Index every);
  std::vector<MonitorRecord> take_monitor_records();

  // The per-layer figures of one batch in training mode, without any update (moving statistics
  // are restored): for inspecting a model at initialization.
  std::vector<LayerStats> gradient_flow(MatrixIn x, MatrixIn y);

  std::int64_t steps_done() const { return steps_done_; }
  Index input_units() const { return input_units_; }
  Index output_units() const {
    return layers_.empty() ? input_units_ : layers_.back()->output_units();
  }
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }
  std::shared_ptr<Optimizer> optimizer() const { return optimizer_; }

 private:
  void reserve(Index batch);
  void start_threads();        // the configured count's workers; ThreadStartError when refused
  Index widest_units() const;  // the most units of any activation buffer, the input's included
  void forward(Index n, bool training);  // on acts_[0].topRows(n)
  // Rows order[start, start + n) of x, y and w (unless empty) into acts_[0], target_, weight_.
  void gather_batch(MatrixIn x, MatrixIn y, VectorIn w, const std::vector<std::int64_t>& order,
                    Index start, Index n);
  // The backward pass and the update, for the batch in acts_[0].topRows(n), target y, weights w.
  StepTotals step_on_buffers(MatrixIn y, VectorIn w, Index n);
  // Forward, loss (penalties included) and the backward stages, without the update.
  double forward_backward(MatrixIn y, VectorIn w, Index n,
                          const std::vector<BackwardStage>& stages);
  // The regularizers of the trained parameters: Σ of their penalties, each one's gradient added
  // to the parameter's (after the backward pass wrote it).
  double add_weight_penalties();
  double weight_penalties();  // the same sum, without gradients
  // Σ over the layers of their activity penalty on the batch's outputs in acts_, not divided by
  // the batch size.
  double activity_penalty_sums(Index n);
  void plan();  // the backward stages for trainable_, unless planned for them already
  std::vector<LayerStats> collect_stats(Index n);
  void collect_trainable();
  void require_compiled(const char* where) const;
  Index target_columns() const;  // 1 for sparse labels, else the output units

  std::vector<std::shared_ptr<Layer>> layers_;
  Index input_units_;
  LossSpec loss_;
  std::shared_ptr<Optimizer> optimizer_;
  AccuracyKind accuracy_ = AccuracyKind::none;

  Index capacity_ = 0;                    // rows the buffers hold
  std::vector<BatchBuffer> acts_;         // acts_[0]: input batch; acts_[i + 1]: output of layer i
  std::vector<BatchBuffer> grads_;        // grads_[i]: ∂loss/∂acts_[i]
  RowMatrix target_;                      // gathered targets of the batch
  RowVector weight_;                      // gathered sample weights of the batch
  std::vector<Parameter*> trainable_;     // parameters the optimizer updates
  Index lowest_trained_layer_ = 0;        // layers below it need no backward at all
  std::vector<BackwardStage> step_plan_;  // a training step's backward, fusions included
  std::vector<BackwardStage> diagnostic_plan_;  // every layer, every input gradient, no fusion
  std::vector<Parameter*> planned_for_;         // the trainable_ the plans were made for
  bool planned_ = false;
  Index monitor_every_ = 0;
  std::int64_t steps_done_ = 0;
  std::vector<MonitorRecord> records_;
};

}  // namespace densekit

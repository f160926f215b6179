// The network's training step against a float64 forward / backward / update written out in the
// test, train_epoch against train_step on gathered batches, frozen layers, evaluate / predict,
// non-finite steps and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/layers/activation.hpp"
#include "densekit/layers/batch_norm.hpp"
#include "densekit/layers/dense.hpp"
#include "densekit/network.hpp"
#include "densekit/optimizer.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close;
using test::MatD;
using test::numeric_gradient;
using test::random_labels;
using test::random_matrix;
using test::to_double;

ActivationSpec activation(ActivationKind kind) {
  ActivationSpec s;
  s.kind = kind;
  return s;
}

// Dense(4 → 5, tanh) → Dense(5 → 3, softmax), sparse categorical cross-entropy, SGD.
struct Model {
  std::shared_ptr<DenseLayer> hidden, out;
  std::shared_ptr<Network> net;
  std::shared_ptr<Optimizer> opt;
};

Model make_model(unsigned seed, float lr, float momentum, bool nesterov = false) {
  std::mt19937 rng(seed);
  Model m;
  m.hidden = std::make_shared<DenseLayer>(4, 5, activation(ActivationKind::tanh), true);
  m.out = std::make_shared<DenseLayer>(5, 3, activation(ActivationKind::softmax), true);
  m.hidden->kernel().value = random_matrix(4, 5, rng, -0.8, 0.8);
  m.hidden->bias()->value = random_matrix(1, 5, rng, -0.3, 0.3);
  m.out->kernel().value = random_matrix(5, 3, rng, -0.8, 0.8);
  m.out->bias()->value = random_matrix(1, 3, rng, -0.3, 0.3);
  m.net = std::make_shared<Network>(std::vector<std::shared_ptr<Layer>>{m.hidden, m.out}, 4);
  m.opt = std::make_shared<Optimizer>(sgd_settings(momentum, nesterov, ClipSpec{}), lr);
  m.net->compile(LossSpec{LossKind::sparse_categorical_crossentropy, false}, m.opt,
                 AccuracyKind::sparse_categorical);
  return m;
}

// The model's variables in float64, and the same four as gradients.
struct Weights {
  MatD w1, b1, w2, b2;
};

Weights weights_of(Model& m) {
  return {to_double(m.hidden->kernel().value), to_double(m.hidden->bias()->value),
          to_double(m.out->kernel().value), to_double(m.out->bias()->value)};
}

MatD add_bias(MatD z, const MatD& b) {
  for (Index i = 0; i < z.rows(); ++i)
    for (Index j = 0; j < z.cols(); ++j) z(i, j) += b(0, j);
  return z;
}

MatD column_sums(const MatD& m) {
  MatD s = MatD::Zero(1, m.cols());
  for (Index i = 0; i < m.rows(); ++i)
    for (Index j = 0; j < m.cols(); ++j) s(0, j) += m(i, j);
  return s;
}

// h = tanh(x w1 + b1), p = softmax(h w2 + b2).
struct Forward {
  MatD h, p;
};

Forward reference_forward(const Weights& w, const MatD& x) {
  Forward f;
  f.h = add_bias(x * w.w1, w.b1).array().tanh().matrix();
  const MatD z = add_bias(f.h * w.w2, w.b2);
  f.p.resize(z.rows(), z.cols());
  for (Index i = 0; i < z.rows(); ++i) {
    const double top = z.row(i).maxCoeff();
    double sum = 0;
    for (Index j = 0; j < z.cols(); ++j) sum += (f.p(i, j) = std::exp(z(i, j) - top));
    for (Index j = 0; j < z.cols(); ++j) f.p(i, j) /= sum;
  }
  return f;
}

// Mean of -log p[label] (no probability here is near the 1e-7 clip).
double reference_loss(const Weights& w, const MatD& x, const MatD& labels) {
  const MatD p = reference_forward(w, x).p;
  double total = 0;
  for (Index i = 0; i < x.rows(); ++i) total -= std::log(p(i, Index(labels(i, 0))));
  return total / x.rows();
}

double reference_correct(const Weights& w, const MatD& x, const MatD& labels) {
  const MatD p = reference_forward(w, x).p;
  double correct = 0;
  for (Index i = 0; i < x.rows(); ++i) {
    Index best;
    p.row(i).maxCoeff(&best);
    correct += best == Index(labels(i, 0));
  }
  return correct;
}

// Backward, shapes in brackets:
//   dz2 = (p - onehot) / n [n, 3];  dw2 = hᵀ dz2;  db2 = Σ_rows dz2
//   dh = dz2 w2ᵀ [n, 5];  dz1 = dh ⊙ (1 - h²);  dw1 = xᵀ dz1;  db1 = Σ_rows dz1
Weights reference_gradients(const Weights& w, const MatD& x, const MatD& labels) {
  const Forward f = reference_forward(w, x);
  const Index n = x.rows();
  MatD dz2 = f.p;
  for (Index i = 0; i < n; ++i) dz2(i, Index(labels(i, 0))) -= 1;
  dz2 /= double(n);
  const MatD dh = dz2 * w.w2.transpose();
  const MatD dz1 = (dh.array() * (1 - f.h.array().square())).matrix();
  return {x.transpose() * dz1, column_sums(dz1), f.h.transpose() * dz2, column_sums(dz2)};
}

// The oracle's gradients are themselves checked against finite differences of its loss.
TEST(NetworkOracle, GradientsMatchFiniteDifferences) {
  Model m = make_model(1, 0.1f, 0);
  std::mt19937 rng(2);
  const MatD x = to_double(random_matrix(6, 4, rng, -1, 1)),
             labels = to_double(random_labels(6, 3, rng));
  Weights w = weights_of(m);
  const Weights g = reference_gradients(w, x, labels);
  auto loss = [&] { return reference_loss(w, x, labels); };
  expect_close(g.w1, numeric_gradient(w.w1, loss), 1e-7, "dw1");
  expect_close(g.b1, numeric_gradient(w.b1, loss), 1e-7, "db1");
  expect_close(g.w2, numeric_gradient(w.w2, loss), 1e-7, "dw2");
  expect_close(g.b2, numeric_gradient(w.b2, loss), 1e-7, "db2");
}

void expect_weights_close(Model& m, const Weights& expected, double tol, const std::string& what) {
  expect_close(m.hidden->kernel().value, expected.w1, tol, what + " w1");
  expect_close(m.hidden->bias()->value, expected.b1, tol, what + " b1");
  expect_close(m.out->kernel().value, expected.w2, tol, what + " w2");
  expect_close(m.out->bias()->value, expected.b2, tol, what + " b2");
}

// Two steps with momentum 0.9 and lr 0.5, Keras's rule m ← 0.9 m − 0.5 g, w ← w + m, each
// step's g from the oracle at the weights before it.
TEST(Network, TrainStepMatchesDoublePrecisionForwardBackwardUpdate) {
  const double lr = 0.5, momentum = 0.9;
  Model m = make_model(3, float(lr), float(momentum));
  std::mt19937 rng(4);
  const RowMatrix x = random_matrix(6, 4, rng, -1, 1), y = random_labels(6, 3, rng);
  const MatD xd = to_double(x), yd = to_double(y);
  Weights w = weights_of(m);
  Weights v{MatD::Zero(4, 5), MatD::Zero(1, 5), MatD::Zero(5, 3), MatD::Zero(1, 3)};
  for (int step = 1; step <= 2; ++step) {
    const double loss = reference_loss(w, xd, yd), correct = reference_correct(w, xd, yd);
    const Weights g = reference_gradients(w, xd, yd);
    const StepTotals totals = m.net->train_step(x, y);
    const std::string what = "step " + std::to_string(step);
    EXPECT_TRUE(totals.finite) << what;
    EXPECT_EQ(totals.samples, 6) << what;
    EXPECT_EQ(totals.steps, 1) << what;
    EXPECT_NEAR(totals.loss_sum, 6 * loss, 1e-5 * 6 * loss) << what;
    EXPECT_EQ(totals.correct_sum, correct) << what;
    // The gradients stay in the parameters (no clipping here).
    expect_close(m.hidden->kernel().grad, g.w1, 1e-5, what + " dw1");
    expect_close(m.out->kernel().grad, g.w2, 1e-5, what + " dw2");
    v = {momentum * v.w1 - lr * g.w1, momentum * v.b1 - lr * g.b1, momentum * v.w2 - lr * g.w2,
         momentum * v.b2 - lr * g.b2};
    w = {w.w1 + v.w1, w.b1 + v.b1, w.w2 + v.w2, w.b2 + v.b2};
    expect_weights_close(m, w, 1e-5, what);
    expect_close(*m.opt->slot(&m.hidden->kernel(), 0), v.w1, 1e-5, what + " m1");
  }
  EXPECT_EQ(m.opt->iterations(), 2);
}

// Batches of 4, 4 and 2 rows (the last one partial) taken through `order`.
TEST(Network, TrainEpochEqualsTrainStepsOnGatheredBatches) {
  Model epoch = make_model(5, 0.3f, 0.9f, true), steps = make_model(5, 0.3f, 0.9f, true);
  std::mt19937 rng(6);
  const RowMatrix x = random_matrix(10, 4, rng, -1, 1), y = random_labels(10, 3, rng);
  const std::vector<std::int64_t> order = {3, 7, 1, 9, 0, 5, 2, 8, 6, 4};
  const Index batch = 4;
  const StepTotals totals = epoch.net->train_epoch(x, y, order, batch, ProgressFn(), 1e9);

  StepTotals expected;
  for (Index start = 0; start < 10; start += batch) {
    const Index n = std::min<Index>(batch, 10 - start);
    RowMatrix xb(n, 4), yb(n, 1);
    for (Index r = 0; r < n; ++r) {
      xb.row(r) = x.row(order[start + r]);
      yb.row(r) = y.row(order[start + r]);
    }
    const StepTotals s = steps.net->train_step(xb, yb);
    expected.loss_sum += s.loss_sum;
    expected.correct_sum += s.correct_sum;
    expected.samples += s.samples;
    expected.steps += 1;
  }
  EXPECT_TRUE(totals.finite);
  EXPECT_EQ(totals.samples, 10);
  EXPECT_EQ(totals.steps, 3);
  EXPECT_DOUBLE_EQ(totals.loss_sum, expected.loss_sum);
  EXPECT_EQ(totals.correct_sum, expected.correct_sum);
  // The same kernels on the same rows: bit for bit.
  EXPECT_EQ(epoch.hidden->kernel().value, steps.hidden->kernel().value);
  EXPECT_EQ(epoch.hidden->bias()->value, steps.hidden->bias()->value);
  EXPECT_EQ(epoch.out->kernel().value, steps.out->kernel().value);
  EXPECT_EQ(epoch.out->bias()->value, steps.out->bias()->value);
  EXPECT_EQ(epoch.opt->iterations(), 3);
}

// With sample weights gathered through `order` beside x and y: the same as weighted train_steps
// on the gathered batches, bit for bit; and weights of 1 give the unweighted epoch's bits.
TEST(Network, WeightedTrainEpochEqualsWeightedTrainStepsOnGatheredBatches) {
  Model epoch = make_model(5, 0.3f, 0.9f, true), steps = make_model(5, 0.3f, 0.9f, true);
  Model ones = make_model(5, 0.3f, 0.9f, true), plain = make_model(5, 0.3f, 0.9f, true);
  std::mt19937 rng(16);
  const RowMatrix x = random_matrix(10, 4, rng, -1, 1), y = random_labels(10, 3, rng);
  const RowVector w = random_matrix(1, 10, rng, 0, 3).row(0);
  const std::vector<std::int64_t> order = {3, 7, 1, 9, 0, 5, 2, 8, 6, 4};
  const StepTotals totals = epoch.net->train_epoch(x, y, w, order, 4, ProgressFn(), 1e9);
  double expected_loss = 0;
  for (Index start = 0; start < 10; start += 4) {
    const Index n = std::min<Index>(4, 10 - start);
    RowMatrix xb(n, 4), yb(n, 1);
    RowVector wb(n);
    for (Index r = 0; r < n; ++r) {
      xb.row(r) = x.row(order[start + r]);
      yb.row(r) = y.row(order[start + r]);
      wb[r] = w[order[start + r]];
    }
    expected_loss += steps.net->train_step(xb, yb, wb).loss_sum;
  }
  EXPECT_TRUE(totals.finite);
  EXPECT_DOUBLE_EQ(totals.loss_sum, expected_loss);
  EXPECT_EQ(epoch.hidden->kernel().value, steps.hidden->kernel().value);
  EXPECT_EQ(epoch.out->kernel().value, steps.out->kernel().value);

  const StepTotals with_ones =
      ones.net->train_epoch(x, y, RowVector::Ones(10), order, 4, ProgressFn(), 1e9);
  const StepTotals without = plain.net->train_epoch(x, y, order, 4, ProgressFn(), 1e9);
  EXPECT_EQ(with_ones.loss_sum, without.loss_sum);
  EXPECT_EQ(ones.hidden->kernel().value, plain.hidden->kernel().value);
  EXPECT_EQ(ones.out->bias()->value, plain.out->bias()->value);
  EXPECT_THROW(plain.net->train_epoch(x, y, RowVector::Ones(9), order, 4, ProgressFn(), 1),
               ShapeError);
  EXPECT_THROW(plain.net->train_step(x, y, RowVector::Ones(3)), ShapeError);
}

// progress_seconds = 0: called after every batch but the last; returning false stops the epoch.
TEST(Network, TrainEpochProgressCanStopTheEpoch) {
  Model m = make_model(7, 0.1f, 0);
  std::mt19937 rng(8);
  const RowMatrix x = random_matrix(10, 4, rng, -1, 1), y = random_labels(10, 3, rng);
  std::vector<std::int64_t> order(10);
  for (int i = 0; i < 10; ++i) order[i] = i;
  std::vector<Index> seen;
  const ProgressFn stop_after_two = [&](const StepTotals& t) {
    seen.push_back(t.samples);
    return t.steps < 2;
  };
  const StepTotals totals = m.net->train_epoch(x, y, order, 3, stop_after_two, 0);
  EXPECT_EQ(seen, (std::vector<Index>{3, 6}));
  EXPECT_EQ(totals.steps, 2);
  EXPECT_EQ(totals.samples, 6);
}

// Frozen hidden layer: its weights stay bit for bit, the output layer trains. Frozen output
// layer: it still passes the gradient down, so the hidden layer takes exactly the oracle's step.
TEST(Network, FrozenLayerKeepsItsWeightsWhileOthersTrain) {
  std::mt19937 rng(9);
  const RowMatrix x = random_matrix(6, 4, rng, -1, 1), y = random_labels(6, 3, rng);
  {
    Model m = make_model(10, 0.5f, 0.9f);
    m.hidden->trainable = false;
    const RowMatrix w1 = m.hidden->kernel().value, b1 = m.hidden->bias()->value;
    const RowMatrix w2 = m.out->kernel().value;
    for (int step = 0; step < 2; ++step) EXPECT_TRUE(m.net->train_step(x, y).finite);
    EXPECT_EQ(m.hidden->kernel().value, w1);
    EXPECT_EQ(m.hidden->bias()->value, b1);
    EXPECT_EQ(*m.opt->slot(&m.hidden->kernel(), 0), RowMatrix::Zero(4, 5));
    EXPECT_NE(m.out->kernel().value, w2);
  }
  {
    const double lr = 0.5;
    Model m = make_model(11, float(lr), 0);
    m.out->trainable = false;
    const Weights before = weights_of(m);
    const Weights g = reference_gradients(before, to_double(x), to_double(y));
    EXPECT_TRUE(m.net->train_step(x, y).finite);
    EXPECT_EQ(m.out->kernel().value, RowMatrix(before.w2.cast<Scalar>()));
    EXPECT_EQ(m.out->bias()->value, RowMatrix(before.b2.cast<Scalar>()));
    expect_weights_close(m, {before.w1 - lr * g.w1, before.b1 - lr * g.b1, before.w2, before.b2},
                         1e-5, "frozen output");
  }
}

// 7 rows in batches of 3, 3 and 1.
TEST(Network, PredictAndEvaluateMatchManualForward) {
  Model m = make_model(12, 0.1f, 0);
  std::mt19937 rng(13);
  const RowMatrix x = random_matrix(7, 4, rng, -1, 1), y = random_labels(7, 3, rng);
  const Weights w = weights_of(m);
  const MatD xd = to_double(x), yd = to_double(y);
  RowMatrix out(7, 3);
  m.net->predict(x, out, 3, false);
  expect_close(out, reference_forward(w, xd).p, 1e-6, "predict");
  const StepTotals totals = m.net->evaluate(x, y, 3);
  const double loss = reference_loss(w, xd, yd);
  EXPECT_NEAR(totals.loss_sum, 7 * loss, 1e-5 * 7 * loss);
  EXPECT_EQ(totals.correct_sum, reference_correct(w, xd, yd));
  EXPECT_EQ(totals.samples, 7);
  EXPECT_EQ(totals.steps, 3);
  EXPECT_EQ(m.opt->iterations(), 0);
  EXPECT_EQ(m.hidden->kernel().value, RowMatrix(w.w1.cast<Scalar>()));  // inference changes nothing
  // predict needs no compile. One batch of 7 instead of 3, 3, 1: the products may round
  // differently with the batch size, so equal within float precision only.
  Model fresh = make_model(12, 0.1f, 0);
  auto uncompiled =
      std::make_shared<Network>(std::vector<std::shared_ptr<Layer>>{fresh.hidden, fresh.out}, 4);
  RowMatrix out2(7, 3);
  uncompiled->predict(x, out2, 100, false);
  expect_close(out2, out, 1e-6, "predict in one batch");
}

struct Snapshot {
  std::vector<RowMatrix> values, slots;
  std::int64_t iterations;
};

Snapshot snapshot(Model& m) {
  Snapshot s;
  for (auto* layer : {static_cast<Layer*>(m.hidden.get()), static_cast<Layer*>(m.out.get())})
    for (auto& p : layer->parameters()) {
      s.values.push_back(p->value);
      const RowMatrix* slot = m.opt->slot(p.get(), 0);
      s.slots.push_back(slot ? *slot : RowMatrix());
    }
  s.iterations = m.opt->iterations();
  return s;
}

void expect_unchanged(Model& m, const Snapshot& before) {
  const Snapshot after = snapshot(m);
  for (size_t i = 0; i < before.values.size(); ++i) {
    EXPECT_EQ(after.values[i], before.values[i]) << "parameter " << i;
    EXPECT_EQ(after.slots[i], before.slots[i]) << "momentum slot " << i;
  }
  EXPECT_EQ(after.iterations, before.iterations);
}

// An input with inf: its row of tanh(x w1 + b1) saturates to ±1, so dz1 = 0 there and
// dw1 = xᵀ dz1 meets inf·0 = NaN. The step reports finite = false and leaves the weights and
// momentum slots as the good step before it left them.
TEST(Network, NonFiniteInputSkipsTheUpdate) {
  Model m = make_model(14, 0.5f, 0.9f);
  std::mt19937 rng(15);
  RowMatrix x = random_matrix(6, 4, rng, -1, 1);
  const RowMatrix y = random_labels(6, 3, rng);
  ASSERT_TRUE(m.net->train_step(x, y).finite);
  const Snapshot before = snapshot(m);
  x(2, 1) = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(m.net->train_step(x, y).finite);
  expect_unchanged(m, before);
}

// The same with a BatchNormalization layer: its moving statistics are variables of the model too
// (Keras's model.weights), so a step that is not applied must not fold the batch's inf/NaN
// statistics into them either.
TEST(Network, NonFiniteInputLeavesBatchNormMovingStatisticsUnchanged) {
  std::mt19937 rng(21);
  auto dense = std::make_shared<DenseLayer>(4, 5, activation(ActivationKind::linear), true);
  auto bn = std::make_shared<BatchNormLayer>(5, 0.99f, 1e-3f, true, true);
  auto out = std::make_shared<DenseLayer>(5, 3, activation(ActivationKind::softmax), true);
  dense->kernel().value = random_matrix(4, 5, rng, -1, 1);
  out->kernel().value = random_matrix(5, 3, rng, -1, 1);
  Network net({dense, bn, out}, 4);
  net.compile(LossSpec{LossKind::sparse_categorical_crossentropy, false},
              std::make_shared<Optimizer>(sgd_settings(0.9f, false, ClipSpec{}), 0.1f),
              AccuracyKind::none);
  RowMatrix x = random_matrix(6, 4, rng, -1, 1);
  const RowMatrix y = random_labels(6, 3, rng);
  ASSERT_TRUE(net.train_step(x, y).finite);
  std::vector<RowMatrix> before;
  for (auto& layer : net.layers())
    for (auto& p : layer->parameters()) before.push_back(p->value);
  x(2, 1) = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(net.train_step(x, y).finite);
  size_t i = 0;
  for (auto& layer : net.layers())
    for (auto& p : layer->parameters()) {
      EXPECT_EQ(p->value, before[i]) << layer->kind() << " " << p->name;
      ++i;
    }
}

// A huge learning rate: the first step is finite but moves the weights to ~1e35; the second
// step's predictions overflow float in the squared error, so it is not applied.
TEST(Network, OverflowFromHugeLearningRateSkipsTheUpdate) {
  std::mt19937 rng(16);
  auto dense = std::make_shared<DenseLayer>(4, 3, activation(ActivationKind::linear), true);
  dense->kernel().value = random_matrix(4, 3, rng, -1, 1);
  Network net({dense}, 4);
  auto opt = std::make_shared<Optimizer>(sgd_settings(0.0f, false, ClipSpec{}), 1e35f);
  net.compile(LossSpec{LossKind::mean_squared_error, false}, opt, AccuracyKind::none);
  const RowMatrix x = random_matrix(5, 4, rng, -1, 1), y = random_matrix(5, 3, rng, -1, 1);
  ASSERT_TRUE(net.train_step(x, y).finite);
  ASSERT_TRUE(dense->kernel().value.allFinite());
  const RowMatrix w = dense->kernel().value, b = dense->bias()->value;
  const StepTotals second = net.train_step(x, y);
  EXPECT_FALSE(second.finite);
  EXPECT_EQ(dense->kernel().value, w);
  EXPECT_EQ(dense->bias()->value, b);
  EXPECT_EQ(opt->iterations(), 1);
}

// Rows 0..5 in batches of 2, row 4 holds a NaN: batches [0, 1] and [2, 3] train, the third is
// skipped and ends the epoch; the weights equal two train_steps on the first two batches.
TEST(Network, TrainEpochStopsAtTheFirstNonFiniteBatch) {
  Model epoch = make_model(17, 0.5f, 0.9f), steps = make_model(17, 0.5f, 0.9f);
  std::mt19937 rng(18);
  RowMatrix x = random_matrix(6, 4, rng, -1, 1);
  const RowMatrix y = random_labels(6, 3, rng);
  x(4, 0) = std::numeric_limits<float>::quiet_NaN();
  const StepTotals totals = epoch.net->train_epoch(x, y, {0, 1, 2, 3, 4, 5}, 2, ProgressFn(), 1e9);
  EXPECT_FALSE(totals.finite);
  EXPECT_EQ(totals.steps, 2);
  EXPECT_EQ(totals.samples, 4);
  steps.net->train_step(x.topRows(2), y.topRows(2));
  steps.net->train_step(x.middleRows(2, 2), y.middleRows(2, 2));
  const Snapshot expected = snapshot(steps);
  expect_unchanged(epoch, expected);
}

TEST(Network, BadShapesThrowShapeError) {
  auto hidden = std::make_shared<DenseLayer>(4, 5, activation(ActivationKind::tanh), true);
  auto wrong = std::make_shared<DenseLayer>(4, 3, activation(ActivationKind::softmax), true);
  EXPECT_THROW(Network({hidden, wrong}, 4), ShapeError);  // layer 1 expects 4 inputs, receives 5
  EXPECT_THROW(Network({hidden}, 3), ShapeError);         // layer 0 expects 4 inputs, receives 3
  EXPECT_THROW(Network({hidden, nullptr}, 4), ValueError);

  Model m = make_model(19, 0.1f, 0);
  const Snapshot before = snapshot(m);
  const RowMatrix x = RowMatrix::Zero(6, 4), labels = RowMatrix::Zero(6, 1);
  EXPECT_THROW(m.net->train_step(RowMatrix::Zero(6, 3), labels), ShapeError);  // x cols != 4
  EXPECT_THROW(m.net->train_step(x, RowMatrix::Zero(5, 1)), ShapeError);       // y rows != x rows
  EXPECT_THROW(m.net->train_step(x, RowMatrix::Zero(6, 2)), ShapeError);  // sparse y not (n, 1)
  EXPECT_THROW(m.net->evaluate(x, RowMatrix::Zero(6, 3), 4), ShapeError);
  EXPECT_THROW(m.net->evaluate(RowMatrix::Zero(6, 5), labels, 4), ShapeError);
  RowMatrix narrow_out(6, 2), short_out(5, 3);
  EXPECT_THROW(m.net->predict(x, narrow_out, 4, false), ShapeError);
  EXPECT_THROW(m.net->predict(x, short_out, 4, false), ShapeError);
  const std::vector<std::int64_t> order = {0, 1, 2, 3, 4, 5};
  EXPECT_THROW(m.net->train_epoch(RowMatrix::Zero(6, 3), labels, order, 2, ProgressFn(), 1),
               ShapeError);
  EXPECT_THROW(m.net->train_epoch(x, RowMatrix::Zero(6, 2), order, 2, ProgressFn(), 1), ShapeError);
  EXPECT_THROW(m.net->train_epoch(x, labels, {0, 6}, 2, ProgressFn(), 1), ValueError);
  EXPECT_THROW(m.net->train_epoch(x, labels, order, 0, ProgressFn(), 1), ValueError);
  expect_unchanged(m, before);

  auto uncompiled =
      std::make_shared<Network>(std::vector<std::shared_ptr<Layer>>{m.hidden, m.out}, 4);
  EXPECT_THROW(uncompiled->train_step(x, labels), ValueError);
}

// train_epoch gathers the targets into a buffer as wide as the output (3 here) before the loss
// checks their shape; targets wider than that must be refused, not written past the buffer.
// A 4-wide y overruns the (4, 3) buffer by one float: ShapeError in a plain build, but
// AddressSanitizer reports the heap-buffer-overflow that precedes it.
TEST(Network, TrainEpochRejectsTargetsWiderThanTheOutput) {
  auto dense = std::make_shared<DenseLayer>(4, 3, activation(ActivationKind::linear), true);
  Network net({dense}, 4);
  net.compile(LossSpec{LossKind::mean_squared_error, false},
              std::make_shared<Optimizer>(sgd_settings(0.0f, false, ClipSpec{}), 0.1f),
              AccuracyKind::none);
  const RowMatrix x = RowMatrix::Zero(4, 4), y = RowMatrix::Zero(4, 4);
  EXPECT_THROW(net.train_epoch(x, y, {0, 1, 2, 3}, 4, ProgressFn(), 1), ShapeError);
}

// Dense(4 → 3, linear) → Activation(sigmoid) with binary cross-entropy takes the fused path
// (dz = (σ(z) - t) / (n·3) handed to the dense layer); its gradients equal finite differences of
// the float64 loss, and the same model with from_logits and no Activation layer.
TEST(Network, SigmoidActivationLayerWithBinaryCrossentropyMatchesFiniteDifferences) {
  std::mt19937 rng(20);
  const RowMatrix w0 = random_matrix(4, 3, rng, -1, 1), b0 = random_matrix(1, 3, rng, -0.5, 0.5);
  const RowMatrix x = random_matrix(5, 4, rng, -1, 1);
  RowMatrix t(5, 3);
  for (Index i = 0; i < t.size(); ++i) t.data()[i] = Scalar(rng() % 2);

  auto dense = std::make_shared<DenseLayer>(4, 3, activation(ActivationKind::linear), true);
  auto sigmoid =
      std::make_shared<ActivationLayer>(3, activation(ActivationKind::sigmoid), "Activation");
  dense->kernel().value = w0;
  dense->bias()->value = b0;
  Network net({dense, sigmoid}, 4);
  net.compile(LossSpec{LossKind::binary_crossentropy, false},
              std::make_shared<Optimizer>(sgd_settings(0.0f, false, ClipSpec{}), 1.0f),
              AccuracyKind::binary);
  const StepTotals totals = net.train_step(x, t);
  ASSERT_TRUE(totals.finite);

  // L = mean_{i,j} -(t log σ(z) + (1 - t) log(1 - σ(z))), z = x w + b.
  MatD wd = to_double(w0), bd = to_double(b0);
  const MatD xd = to_double(x), td = to_double(t);
  auto loss = [&] {
    const MatD z = add_bias(xd * wd, bd);
    double total = 0;
    for (Index i = 0; i < z.size(); ++i) {
      const double p = 1 / (1 + std::exp(-z.data()[i])), y = td.data()[i];
      total -= y * std::log(p) + (1 - y) * std::log(1 - p);
    }
    return total / z.size();
  };
  EXPECT_NEAR(totals.loss_sum, 5 * loss(), 1e-5 * 5 * loss());
  const MatD dw = numeric_gradient(wd, loss), db = numeric_gradient(bd, loss);
  expect_close(dense->kernel().grad, dw, 1e-5, "dw");
  expect_close(dense->bias()->grad, db, 1e-5, "db");
  expect_close(dense->kernel().value, MatD(to_double(w0) - dw), 1e-5, "w after lr 1");

  auto logits_dense = std::make_shared<DenseLayer>(4, 3, activation(ActivationKind::linear), true);
  logits_dense->kernel().value = w0;
  logits_dense->bias()->value = b0;
  Network logits_net({logits_dense}, 4);
  logits_net.compile(LossSpec{LossKind::binary_crossentropy, true},
                     std::make_shared<Optimizer>(sgd_settings(0.0f, false, ClipSpec{}), 1.0f),
                     AccuracyKind::none);
  logits_net.train_step(x, t);
  expect_close(logits_dense->kernel().grad, to_double(dense->kernel().grad), 1e-6,
               "fused vs logits dw");
}

// BatchNormalization → Dense(relu) → Dense(softmax) with the BN layer trained lowest: the dense
// layer above produces γ's and β's gradients without the input-gradient product
// (the batch-norm-first stage of plan_backward). Every variable after two steps must match the same
// network trained with the monitor on, which takes the plain path (every input gradient, BN's own
// backward). A frozen middle layer cannot take that path and falls back to the plain one.
TEST(Network, BatchNormFirstLayerGradientsWithoutInputProductMatchThePlainPath) {
  struct Case {
    bool use_bias, center, scale, freeze_dense;
  };
  for (const Case c : {Case{false, true, true, false}, Case{true, true, true, false},
                       Case{false, false, true, false}, Case{true, true, false, false},
                       Case{false, true, true, true}}) {
    const std::string what =
        "bias=" + std::to_string(c.use_bias) + " center=" + std::to_string(c.center) +
        " scale=" + std::to_string(c.scale) + " frozen=" + std::to_string(c.freeze_dense);
    auto build = [&](bool monitor) {
      std::mt19937 rng(21);
      auto bn = std::make_shared<BatchNormLayer>(6, 0.9f, 1e-3f, c.center, c.scale);
      auto hidden =
          std::make_shared<DenseLayer>(6, 5, activation(ActivationKind::relu), c.use_bias);
      auto out = std::make_shared<DenseLayer>(5, 3, activation(ActivationKind::softmax), true);
      for (auto& layer : std::vector<std::shared_ptr<Layer>>{bn, hidden, out})
        for (auto& p : layer->parameters())
          if (p->trainable)
            p->value = random_matrix(p->value.rows(), p->value.cols(), rng, 0.2, 1.5) -
                       RowMatrix::Constant(p->value.rows(), p->value.cols(), 0.6f);
      hidden->trainable = !c.freeze_dense;
      auto net = std::make_shared<Network>(std::vector<std::shared_ptr<Layer>>{bn, hidden, out}, 6);
      net->compile(LossSpec{LossKind::sparse_categorical_crossentropy, false},
                   std::make_shared<Optimizer>(sgd_settings(0.0f, false, ClipSpec{}), 0.5f),
                   AccuracyKind::none);
      if (monitor) net->set_monitor_every(1);
      return net;
    };
    std::mt19937 rng(22);
    const RowMatrix x = random_matrix(8, 6, rng, -3, 3), y = random_labels(8, 3, rng);
    auto fast = build(false), plain = build(true);
    for (int step = 0; step < 2; ++step) {
      EXPECT_TRUE(fast->train_step(x, y).finite) << what;
      EXPECT_TRUE(plain->train_step(x, y).finite) << what;
    }
    for (size_t l = 0; l < fast->layers().size(); ++l)
      for (size_t i = 0; i < fast->layers()[l]->parameters().size(); ++i) {
        const Parameter& a = *fast->layers()[l]->parameters()[i];
        const Parameter& b = *plain->layers()[l]->parameters()[i];
        expect_close(a.value, to_double(b.value), 1e-5,
                     what + " layer " + std::to_string(l) + " " + a.name);
      }
    // The path under test moved γ and β (the step is not a no-op for them).
    auto& bn = static_cast<BatchNormLayer&>(*fast->layers()[0]);
    if (c.scale) {
      EXPECT_GT(bn.gamma()->grad.array().abs().maxCoeff(), 1e-4) << what;
    }
    if (c.center) {
      EXPECT_GT(bn.beta()->grad.array().abs().maxCoeff(), 1e-4) << what;
    }
  }
}

}  // namespace
}  // namespace densekit

// The SGD update of Keras 3 (keras/src/optimizers/sgd.py) on hand-computed two-step sequences,
// and the SGD optimizer's clipping and slots.
//   m ← momentum·m − lr·g;  plain w ← w + m;  nesterov w ← w + momentum·m − lr·g;  no momentum w ←
//   w − lr·g
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/sgd.hpp"
#include "densekit/optimizer.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close;
using test::MatD;

RowMatrix row(std::initializer_list<float> values) {
  RowMatrix m(1, static_cast<Index>(values.size()));
  Index i = 0;
  for (float v : values) m(0, i++) = v;
  return m;
}

// lr 0.1, w = [1, 2], g1 = [0.5, -1], g2 = [1, 1].
constexpr float kLr = 0.1f, kMomentum = 0.9f;

// No momentum: w1 = [1 - 0.05, 2 + 0.1] = [0.95, 2.1]; w2 = [0.95 - 0.1, 2.1 - 0.1] = [0.85, 2.0].
TEST(SgdKernel, PlainTwoSteps) {
  RowMatrix w = row({1, 2}), none;
  sgd_update(w, row({0.5f, -1}), none, kLr, 0, false);
  expect_close(w, row({0.95f, 2.1f}), 1e-7, "w1");
  sgd_update(w, row({1, 1}), none, kLr, 0, false);
  expect_close(w, row({0.85f, 2.0f}), 1e-7, "w2");
}

// Momentum 0.9:
//   step 1: m = 0.9·0 - 0.1·[0.5, -1] = [-0.05, 0.1];  w = [1, 2] + m = [0.95, 2.1]
//   step 2: m = 0.9·[-0.05, 0.1] - 0.1·[1, 1] = [-0.145, -0.01];  w = [0.805, 2.09]
TEST(SgdKernel, MomentumTwoSteps) {
  RowMatrix w = row({1, 2}), m = RowMatrix::Zero(1, 2);
  sgd_update(w, row({0.5f, -1}), m, kLr, kMomentum, false);
  expect_close(m, row({-0.05f, 0.1f}), 1e-7, "m1");
  expect_close(w, row({0.95f, 2.1f}), 1e-7, "w1");
  sgd_update(w, row({1, 1}), m, kLr, kMomentum, false);
  expect_close(m, row({-0.145f, -0.01f}), 1e-7, "m2");
  expect_close(w, row({0.805f, 2.09f}), 1e-7, "w2");
}

// Nesterov, momentum 0.9:
//   step 1: m = [-0.05, 0.1];  w = [1, 2] + 0.9·m - 0.1·g1 = [1 - 0.045 - 0.05, 2 + 0.09 + 0.1] =
//   [0.905, 2.19] step 2: m = [-0.145, -0.01];  w = [0.905 - 0.1305 - 0.1, 2.19 - 0.009 - 0.1] =
//   [0.6745, 2.081]
TEST(SgdKernel, NesterovTwoSteps) {
  RowMatrix w = row({1, 2}), m = RowMatrix::Zero(1, 2);
  sgd_update(w, row({0.5f, -1}), m, kLr, kMomentum, true);
  expect_close(m, row({-0.05f, 0.1f}), 1e-7, "m1");
  expect_close(w, row({0.905f, 2.19f}), 1e-7, "w1");
  sgd_update(w, row({1, 1}), m, kLr, kMomentum, true);
  expect_close(m, row({-0.145f, -0.01f}), 1e-7, "m2");
  expect_close(w, row({0.6745f, 2.081f}), 1e-7, "w2");
}

// Above the OpenMP threshold, rows split among threads: the same result on 1 and 2 threads, and
// the same as the double-precision rule.
TEST(SgdKernel, LargeMatrixMatchesDoubleRuleOnAnyThreadCount) {
  test::ThreadsGuard guard;
  std::mt19937 rng(1);
  const RowMatrix w0 = test::random_matrix(784, 300, rng, -1, 1),
                  m0 = test::random_matrix(784, 300, rng, -1, 1);
  const RowMatrix g = test::random_matrix(784, 300, rng, -1, 1);
  for (bool nesterov : {false, true}) {
    MatD m_ref = double(kMomentum) * test::to_double(m0) - double(kLr) * test::to_double(g);
    MatD w_ref =
        test::to_double(w0) +
        (nesterov ? MatD(double(kMomentum) * m_ref - double(kLr) * test::to_double(g)) : m_ref);
    RowMatrix w1 = w0, m1 = m0, w2 = w0, m2 = m0;
    set_num_threads(1);
    sgd_update(w1, g, m1, kLr, kMomentum, nesterov);
    set_num_threads(2);
    sgd_update(w2, g, m2, kLr, kMomentum, nesterov);
    EXPECT_EQ(w1, w2);
    EXPECT_EQ(m1, m2);
    expect_close(w1, w_ref, 1e-6, "w");
    expect_close(m1, m_ref, 1e-6, "m");
  }
}

TEST(SgdKernel, BadShapesThrowShapeError) {
  RowMatrix w = RowMatrix::Zero(2, 3), m = RowMatrix::Zero(2, 3), none;
  EXPECT_THROW(sgd_update(w, RowMatrix::Zero(3, 2), m, kLr, kMomentum, false), ShapeError);
  EXPECT_THROW(sgd_update(w, RowMatrix::Zero(2, 3), none, kLr, kMomentum, false), ShapeError);
  EXPECT_NO_THROW(sgd_update(w, RowMatrix::Zero(2, 3), none, kLr, 0, false));  // m unused
}

ClipSpec clip_spec(float clipvalue, float clipnorm, float global_clipnorm) {
  ClipSpec c;
  c.clipvalue = clipvalue;
  c.clipnorm = clipnorm;
  c.global_clipnorm = global_clipnorm;
  return c;
}

std::shared_ptr<Parameter> parameter(const RowMatrix& value, const RowMatrix& grad) {
  auto p = std::make_shared<Parameter>("kernel", value.rows(), value.cols(), true, false);
  p->value = value;
  p->grad = grad;
  return p;
}

TEST(SgdOptimizer, ConstructorRejectsTwoClipsAndBadMomentum) {
  EXPECT_THROW(Optimizer(sgd_settings(0, false, clip_spec(1, 1, 0)), kLr), ValueError);
  EXPECT_THROW(Optimizer(sgd_settings(0, false, clip_spec(1, 0, 1)), kLr), ValueError);
  EXPECT_THROW(Optimizer(sgd_settings(0, false, clip_spec(0, 1, 1)), kLr), ValueError);
  EXPECT_THROW(Optimizer(sgd_settings(0, false, clip_spec(1, 1, 1)), kLr), ValueError);
  EXPECT_NO_THROW(Optimizer(sgd_settings(0, false, clip_spec(0, 0, 1)), kLr));
  EXPECT_THROW(Optimizer(sgd_settings(-0.1f, false, ClipSpec{}), kLr), ValueError);
  EXPECT_THROW(Optimizer(sgd_settings(1.5f, false, ClipSpec{}), kLr), ValueError);
}

// clipnorm 1, grad [3, 4] → [0.6, 0.8] (norm 5), momentum 0.9, lr 0.1, w = [1, 2]:
//   step 1: m = -0.1·[0.6, 0.8] = [-0.06, -0.08];  w = [0.94, 1.92]
//   step 2: m = 0.9·[-0.06, -0.08] - [0.06, 0.08] = [-0.114, -0.152];  w = [0.826, 1.768]
TEST(SgdOptimizer, ApplyClipsByNormThenUpdatesWithMomentum) {
  Optimizer opt(sgd_settings(kMomentum, false, clip_spec(0, 1, 0)), kLr);
  auto p = parameter(row({1, 2}), row({3, 4}));
  opt.build({p});
  opt.apply({p.get()});
  expect_close(p->grad, row({0.6f, 0.8f}), 1e-7, "clipped grad");
  expect_close(p->value, row({0.94f, 1.92f}), 1e-7, "w1");
  p->grad = row({3, 4});
  opt.apply({p.get()});
  ASSERT_NE(opt.slot(p.get(), 0), nullptr);
  expect_close(*opt.slot(p.get(), 0), row({-0.114f, -0.152f}), 1e-7, "m2");
  expect_close(p->value, row({0.826f, 1.768f}), 1e-7, "w2");
  EXPECT_EQ(opt.iterations(), 2);
}

// clipvalue 1: [-3, 0.5] → [-1, 0.5]; lr 0.1, no momentum: w = [1, 2] - [-0.1, 0.05] = [1.1, 1.95].
TEST(SgdOptimizer, ApplyClipsByValue) {
  Optimizer opt(sgd_settings(0, false, clip_spec(1, 0, 0)), kLr);
  auto p = parameter(row({1, 2}), row({-3, 0.5f}));
  opt.build({p});
  opt.apply({p.get()});
  expect_close(p->value, row({1.1f, 1.95f}), 1e-7, "w");
}

// global_clipnorm 6.5 over g1 = [3, 4], g2 = [12]: joint norm 13, both halved → [1.5, 2], [6];
// lr 1 from w = 0: w1 = [-1.5, -2], w2 = [-6]. clipnorm 6.5 instead clips each alone:
// g1 unchanged (5 ≤ 6.5), g2 → [6.5]: w1 = [-3, -4], w2 = [-6.5].
TEST(SgdOptimizer, ApplyClipsByGlobalNormAcrossParameters) {
  for (bool global : {true, false}) {
    Optimizer opt(sgd_settings(0, false, global ? clip_spec(0, 0, 6.5f) : clip_spec(0, 6.5f, 0)),
                  1);
    auto p1 = parameter(RowMatrix::Zero(1, 2), row({3, 4})),
         p2 = parameter(RowMatrix::Zero(1, 1), row({12}));
    opt.build({p1, p2});
    opt.apply({p1.get(), p2.get()});
    expect_close(p1->value, global ? row({-1.5f, -2}) : row({-3, -4}), 1e-6, "w1");
    expect_close(p2->value, global ? row({-6}) : row({-6.5f}), 1e-6, "w2");
  }
}

TEST(SgdOptimizer, ApplyWithMomentumNeedsBuild) {
  Optimizer opt(sgd_settings(kMomentum, false, ClipSpec{}), kLr);
  auto p = parameter(row({1, 2}), row({3, 4}));
  EXPECT_THROW(opt.apply({p.get()}), ValueError);
  EXPECT_EQ(p->value, row({1, 2}));  // nothing half-applied
}

// build creates a zero slot for every trainable parameter it sees when momentum is set; a
// parameter never built, a non-trainable one, or any parameter of an SGD without momentum has
// none (optimizer.hpp: "null when momentum is 0 or the slot does not exist"; Keras's SGD has no
// momentum variables when momentum = 0).
TEST(SgdOptimizer, MomentumSlotsExistOnlyForBuiltTrainableParametersWithMomentum) {
  Optimizer with(sgd_settings(kMomentum, false, ClipSpec{}), kLr),
      without(sgd_settings(0, false, ClipSpec{}), kLr);
  auto p = parameter(row({1, 2}), row({3, 4})), unseen = parameter(row({1}), row({1}));
  auto frozen = std::make_shared<Parameter>("moving_mean", 1, 2, false, true);
  with.build({p, frozen});
  without.build({p, frozen});
  ASSERT_NE(with.slot(p.get(), 0), nullptr);
  EXPECT_EQ(*with.slot(p.get(), 0), RowMatrix::Zero(1, 2));
  EXPECT_EQ(with.slot(unseen.get(), 0), nullptr);
  EXPECT_EQ(with.slot(frozen.get(), 0), nullptr);
  EXPECT_EQ(without.slot(p.get(), 0), nullptr);
  // A second build keeps the existing slot and its values.
  with.apply({p.get()});
  const RowMatrix m = *with.slot(p.get(), 0);
  ASSERT_NE(m, RowMatrix::Zero(1, 2));
  with.build({p});
  EXPECT_EQ(*with.slot(p.get(), 0), m);
}

// Parameters dealt out by rows across threads, or kept whole on the calling thread when their
// gradient's product over batch_rows rows was too small to split (batch_rows 1: both; 32: the
// 1x300 one; 0, unknown: neither): the norms summed over the chunks, the clipped gradients and the
// updates equal the whole-matrix rule in double, on one and two threads, for each kind of
// clipping and with momentum.
TEST(SgdOptimizer, ApplySplitAcrossThreadRunsMatchesTheDoubleRule) {
  test::ThreadsGuard guard;
  std::mt19937 rng(3);
  const RowMatrix w1 = test::random_matrix(784, 300, rng, -1, 1),
                  g1 = test::random_matrix(784, 300, rng, -0.02, 0.02);
  const RowMatrix w2 = test::random_matrix(1, 300, rng, -1, 1),
                  g2 = test::random_matrix(1, 300, rng, -2, 2);
  for (const ClipSpec clip : {clip_spec(0.01f, 0, 0), clip_spec(0, 1.5f, 0), clip_spec(0, 0, 2.0f)})
    for (const auto& [threads, momentum] :
         {std::pair{1, kMomentum}, {2, kMomentum}, {1, 0.0f}, {2, 0.0f}})
      for (const Index batch_rows : {0, 1, 32}) {
        set_num_threads(threads);
        Optimizer opt(sgd_settings(momentum, false, clip), kLr);
        auto p1 = parameter(w1, g1), p2 = parameter(w2, g2);
        opt.build({p1, p2});
        ASSERT_TRUE(opt.apply({p1.get(), p2.get()}, batch_rows));
        MatD c1 = test::to_double(g1), c2 = test::to_double(g2);
        if (clip.clipvalue > 0) {
          c1 = c1.cwiseMax(-0.01).cwiseMin(0.01);
          c2 = c2.cwiseMax(-0.01).cwiseMin(0.01);
        }
        const double n1 = c1.norm(), n2 = c2.norm(), joint = std::sqrt(n1 * n1 + n2 * n2);
        ASSERT_GT(clip.clipnorm > 0 ? std::min(n1, n2) : joint, 2.0);  // every clip is active
        if (clip.clipnorm > 0) c1 *= 1.5 / n1, c2 *= 1.5 / n2;
        if (clip.global_clipnorm > 0) c1 *= 2.0 / joint, c2 *= 2.0 / joint;
        const std::string what = "threads " + std::to_string(threads) + " momentum " +
                                 std::to_string(momentum) + " batch_rows " +
                                 std::to_string(batch_rows);
        expect_close(p1->grad, c1, 1e-5, "clipped g1 " + what);
        expect_close(p2->grad, c2, 1e-5, "clipped g2 " + what);
        // First momentum step from zero slots: w ← w - lr·g.
        expect_close(p1->value, MatD(test::to_double(w1) - double(kLr) * c1), 1e-6, "w1 " + what);
        expect_close(p2->value, MatD(test::to_double(w2) - double(kLr) * c2), 1e-6, "w2 " + what);
        if (momentum != 0)
          expect_close(*opt.slot(p1.get(), 0), MatD(-double(kLr) * c1), 1e-6, "m1 " + what);
      }
}

// A non-finite gradient anywhere refuses the whole step, even where clipping would have made it
// finite (clipvalue turns Inf into the bound, clipnorm scales everything else to 0): no value,
// slot or iteration count changes.
TEST(SgdOptimizer, ApplyRefusesANonFiniteGradientBeforeAnyWrite) {
  const float inf = std::numeric_limits<float>::infinity(),
              nan = std::numeric_limits<float>::quiet_NaN();
  for (const ClipSpec clip :
       {ClipSpec{}, clip_spec(1, 0, 0), clip_spec(0, 1, 0), clip_spec(0, 0, 1)})
    for (float bad : {inf, -inf, nan})
      for (float momentum : {kMomentum, 0.0f}) {
        Optimizer opt(sgd_settings(momentum, false, clip), kLr);
        auto good = parameter(row({1, 2}), row({0.5f, 0.5f}));
        auto big = parameter(RowMatrix::Ones(200, 100), RowMatrix::Constant(200, 100, 0.1f));
        big->grad(199, 99) = bad;  // in the last thread's run
        opt.build({good, big});
        EXPECT_FALSE(opt.apply({good.get(), big.get()}));
        EXPECT_EQ(good->value, row({1, 2}));
        EXPECT_EQ(big->value, RowMatrix::Ones(200, 100));
        if (momentum != 0) {
          EXPECT_EQ(*opt.slot(good.get(), 0), RowMatrix::Zero(1, 2));
          EXPECT_EQ(*opt.slot(big.get(), 0), RowMatrix::Zero(200, 100));
        }
        EXPECT_EQ(opt.iterations(), 0);
        // Gradients as they came, except what clipping by value bounded before the check.
        EXPECT_EQ(good->grad, row({0.5f, 0.5f}));
        if (clip.clipvalue == 0) {
          EXPECT_EQ(big->grad(0, 0), 0.1f);
          EXPECT_TRUE(std::isnan(bad) ? std::isnan(big->grad(199, 99)) : big->grad(199, 99) == bad);
        }
      }
}

// A finite gradient whose step overflows float (lr·g beyond 3.4e38), in the partial last lane of
// the plain (momentum 0) path: refused, nothing written but the clipped gradient.
TEST(SgdOptimizer, ApplyRefusesAnOverflowingStepInTheLastElements) {
  Optimizer opt(sgd_settings(0, false, ClipSpec{}), 1e30f);
  auto p = parameter(RowMatrix::Ones(1, 37), RowMatrix::Constant(1, 37, 1.0f));
  p->grad(0, 36) = -1e10f;  // 1e40 > FLT_MAX
  opt.build({p});
  EXPECT_FALSE(opt.apply({p.get()}));
  EXPECT_EQ(p->value, RowMatrix::Ones(1, 37));
  p->grad(0, 36) = 1e-10f;
  EXPECT_TRUE(opt.apply({p.get()}));
}

}  // namespace
}  // namespace densekit

// The update rules of kernels/update_rules.hpp on hand-computed steps, and the optimizer's
// accumulation, moving averages and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "densekit/kernels/update_rules.hpp"
#include "densekit/optimizer.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close;

std::shared_ptr<Parameter> parameter(std::initializer_list<float> w) {
  auto p = std::make_shared<Parameter>("kernel", 1, Index(w.size()), true, true);
  Index i = 0;
  for (float v : w) p->value(0, i++) = v;
  p->grad.setZero();
  return p;
}

void set_grad(Parameter& p, std::initializer_list<float> g) {
  Index i = 0;
  for (float v : g) p.grad(0, i++) = v;
}

RowMatrix row(std::initializer_list<float> values) {
  RowMatrix m(1, Index(values.size()));
  Index i = 0;
  for (float v : values) m(0, i++) = v;
  return m;
}

OptimizerSettings adam() {
  OptimizerSettings s;
  s.rule.rule = UpdateRule::adam;
  return s;
}

// Adam's first step, g = [0.5, -2], lr 0.01, β₁ 0.9, β₂ 0.999, ε 1e-7:
//   m = 0.1·g = [0.05, -0.2];  v = 0.001·g² = [0.00025, 0.004]
//   α = 0.01·√(1 − 0.999)/(1 − 0.9) = 0.01·0.0316228/0.1 = 0.00316228
//   w −= α·m/(√v + ε) = α·[0.05/0.0158114, -0.2/0.0632456] = α·[3.16228, -3.16228] ≈ ±0.01
TEST(UpdateRules, AdamFirstStepMovesEachWeightByTheRate) {
  auto p = parameter({1, 2});
  Optimizer opt(adam(), 0.01f);
  opt.build({p});
  set_grad(*p, {0.5f, -2});
  ASSERT_TRUE(opt.apply({p.get()}));
  expect_close(p->value, row({0.99f, 2.01f}), 1e-6, "w");
  expect_close(*opt.slot(p.get(), 0), row({0.05f, -0.2f}), 1e-7, "m");
  // (1 − β₂)·g², with 1 − β₂ as float32 has it (0.00099999)
  const RowMatrix v = row({0.25f, 4.0f}) * (1 - 0.999f);
  expect_close(*opt.slot(p.get(), 1), v, 1e-9, "v");
  EXPECT_EQ(opt.slot(p.get(), 2), nullptr);  // amsgrad off: no v̂
  EXPECT_EQ(opt.iterations(), 1);
}

// Adagrad, initial accumulator 0.1, ε 1e-7, lr 0.1, g = [1, -3]:
//   a = 0.1 + g² = [1.1, 9.1];  w −= 0.1·g/√a = [0.1/1.04881, -0.3/3.01662] = [0.0953463,
//   -0.0994490]
TEST(UpdateRules, AdagradStartsItsAccumulatorAtTheInitialValue) {
  auto p = parameter({0, 0});
  OptimizerSettings s;
  s.rule.rule = UpdateRule::adagrad;
  Optimizer opt(s, 0.1f);
  opt.build({p});
  EXPECT_EQ(*opt.slot(p.get(), 0), row({0.1f, 0.1f}));
  set_grad(*p, {1, -3});
  ASSERT_TRUE(opt.apply({p.get()}));
  expect_close(p->value, row({-0.0953463f, 0.0994490f}), 1e-6, "w");
}

// Lion, lr 0.1, β₁ 0.9, β₂ 0.99, m = 0, g = [0.3, -0.0, -5]: w −= 0.1·sign(0.1·g) = [-0.1, 0, 0.1]
// and m = 0.01·g.
TEST(UpdateRules, LionStepsBySignAndKeepsZeroStill) {
  auto p = parameter({0, 0, 0});
  OptimizerSettings s;
  s.rule.rule = UpdateRule::lion;
  s.rule.beta_2 = 0.99f;
  Optimizer opt(s, 0.1f);
  opt.build({p});
  set_grad(*p, {0.3f, 0, -5});
  ASSERT_TRUE(opt.apply({p.get()}));
  expect_close(p->value, row({-0.1f, 0, 0.1f}), 1e-7, "w");
  expect_close(*opt.slot(p.get(), 0), row({0.003f, 0, -0.05f}), 1e-7, "m");
}

// Accumulation over 2 steps, SGD lr 1: step 1 only adds g1 = [2, 4] to the accumulator; step 2
// updates by the mean (g1 + g2)/2 = ([2, 4] + [4, 0])/2 = [3, 2] and empties the accumulator.
TEST(UpdateRules, AccumulationUpdatesByTheMeanEveryKSteps) {
  auto p = parameter({10, 10});
  OptimizerSettings s;
  s.gradient_accumulation_steps = 2;
  Optimizer opt(s, 1.0f);
  opt.build({p});
  set_grad(*p, {2, 4});
  ASSERT_TRUE(opt.apply({p.get()}));
  EXPECT_EQ(p->value, row({10, 10}));
  EXPECT_EQ(opt.state(p.get())->accumulator, row({2, 4}));
  EXPECT_EQ(opt.iterations(), 0);
  set_grad(*p, {4, 0});
  ASSERT_TRUE(opt.apply({p.get()}));
  expect_close(p->value, row({7, 8}), 1e-7, "w");
  EXPECT_EQ(opt.state(p.get())->accumulator, row({0, 0}));
  EXPECT_EQ(opt.iterations(), 1);
  EXPECT_EQ(opt.steps, 2);
}

// EMA with momentum 0.5, SGD lr 1: the first step's average is the new weight (η is 0 before the
// first update counts): w = 10 − 2 = 8, a = 8; the second: w = 8 − 2 = 6, a = 0.5·8 + 0.5·6 = 7.
// Finalizing sets w = a. Weight decay 0.1 first scales w by 1 − 0.1·1 = 0.9 in a third optimizer.
TEST(UpdateRules, MovingAveragesAndWeightDecay) {
  auto p = parameter({10});
  OptimizerSettings s;
  s.use_ema = true;
  s.ema_momentum = 0.5f;
  Optimizer opt(s, 1.0f);
  opt.build({p});
  set_grad(*p, {2});
  ASSERT_TRUE(opt.apply({p.get()}));
  EXPECT_FLOAT_EQ(opt.state(p.get())->average(0, 0), 8);
  set_grad(*p, {2});
  ASSERT_TRUE(opt.apply({p.get()}));
  EXPECT_FLOAT_EQ(p->value(0, 0), 6);
  EXPECT_FLOAT_EQ(opt.state(p.get())->average(0, 0), 7);
  opt.finalize_variable_values({p});
  EXPECT_FLOAT_EQ(p->value(0, 0), 7);

  auto q = parameter({10});
  OptimizerSettings decaying;
  decaying.weight_decay = 0.1f;
  Optimizer sgd(decaying, 1.0f);
  sgd.build({q});
  set_grad(*q, {2});
  ASSERT_TRUE(sgd.apply({q.get()}));
  EXPECT_FLOAT_EQ(q->value(0, 0), 10 * 0.9f - 2);  // 7
  sgd.set_decays(q.get(), false);
  set_grad(*q, {2});
  ASSERT_TRUE(sgd.apply({q.get()}));
  EXPECT_FLOAT_EQ(q->value(0, 0), 5);
}

// A NaN gradient, or a finite one whose square overflows Adam's v, changes nothing.
TEST(UpdateRules, NonFiniteStepsChangeNothing) {
  for (const float g : {std::numeric_limits<float>::quiet_NaN(), 1e30f}) {
    auto p = parameter({1, 2});
    Optimizer opt(adam(), 0.01f);
    opt.build({p});
    set_grad(*p, {0.5f, g});
    EXPECT_FALSE(opt.apply({p.get()}));
    EXPECT_EQ(p->value, row({1, 2}));
    EXPECT_EQ(*opt.slot(p.get(), 0), row({0, 0}));
    EXPECT_EQ(*opt.slot(p.get(), 1), row({0, 0}));
    EXPECT_EQ(opt.iterations(), 0);
  }
}

// The schedule gives the rate of each step from the count before it.
class Halving : public LearningRateSchedule {
 public:
  double learning_rate(std::int64_t step) const override { return std::ldexp(1.0, -int(step)); }
};

TEST(UpdateRules, AScheduleSetsTheRateOfEachStep) {
  auto p = parameter({0});
  OptimizerSettings s;
  Optimizer opt(s, 123.0f);  // ignored while a schedule is set
  opt.schedule = std::make_shared<Halving>();
  opt.build({p});
  for (int i = 0; i < 3; ++i) {
    set_grad(*p, {1});
    ASSERT_TRUE(opt.apply({p.get()}));
  }
  EXPECT_FLOAT_EQ(p->value(0, 0), -(1 + 0.5f + 0.25f));
  EXPECT_DOUBLE_EQ(opt.current_learning_rate(), 0.125);
}

}  // namespace
}  // namespace densekit

namespace densekit {
namespace {

// The bounds tell a step that cannot overflow (the update then runs once) from one that may.
TEST(UpdateRules, BoundsRuleOutOverflowOnlyWhenTheyCan) {
  RuleSettings adam_rule;
  adam_rule.rule = UpdateRule::adam;
  const StepScalars usual = step_scalars(adam_rule, 1e-3, 0.9, 0, 1.0);
  StateBounds state;
  state.slots = {1.0f, 1.0f, 0.0f};
  EXPECT_TRUE(update_cannot_overflow(usual, state, 10.0, 1.0, false));
  // α·|m|/ε = 3.2e-4 · 1e30 / 1e-7: beyond float32
  EXPECT_FALSE(update_cannot_overflow(usual, state, 10.0, 1e30, false));
  const StepScalars huge = step_scalars(adam_rule, 1e36, 0.9, 0, 1.0);
  EXPECT_FALSE(update_cannot_overflow(huge, state, 10.0, 1.0, false));
  state.negative[1] = true;  // a velocity below 0 may take a square root below 0
  EXPECT_FALSE(update_cannot_overflow(usual, state, 10.0, 1.0, false));
}

// A velocity loaded below 0 (from a crafted file) makes the step NaN: refused, as the bounds
// cannot vouch for it once measured again.
TEST(UpdateRules, AStateLoadedBelowZeroIsCheckedElementByElement) {
  auto p = std::make_shared<Parameter>("kernel", 1, 2, true, true);
  p->value.setOnes();
  p->grad.setZero();
  OptimizerSettings s;
  s.rule.rule = UpdateRule::adam;
  Optimizer opt(s, 0.01f);
  opt.build({p});
  (*opt.slot(p.get(), 1))(0, 1) = -1;  // √(0.999·(−1)) is NaN
  opt.refresh_bounds();
  EXPECT_FALSE(opt.apply({p.get()}));
  EXPECT_EQ(p->value, RowMatrix::Ones(1, 2));
}

}  // namespace
}  // namespace densekit

// The backward plan: one stage per layer from the top down to the lowest trained layer, with the
// batch-norm-first fusion only where it gives the same gradients (test_network.cpp checks them).
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "densekit/backward_plan.hpp"
#include "densekit/layers/activation.hpp"
#include "densekit/layers/batch_norm.hpp"
#include "densekit/layers/dense.hpp"

namespace densekit {
namespace {

ActivationSpec relu() {
  ActivationSpec s;
  s.kind = ActivationKind::relu;
  return s;
}

// BatchNormalization(8) → Dense(8 → 6, relu) → Dense(6 → 3).
std::vector<std::shared_ptr<Layer>> batch_norm_first_layers() {
  return {std::make_shared<BatchNormLayer>(8, Scalar(0.99), Scalar(1e-3), true, true),
          std::make_shared<DenseLayer>(8, 6, relu(), true),
          std::make_shared<DenseLayer>(6, 3, ActivationSpec{}, true)};
}

TEST(BackwardPlan, ADenseAboveTheLowestTrainedBatchNormIsFusedWithIt) {
  const auto stages = plan_backward(batch_norm_first_layers(), 0, false);
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[0].top, 2);
  EXPECT_FALSE(stages[0].fused);
  EXPECT_TRUE(stages[0].need_dx);
  EXPECT_EQ(stages[1].top, 1);
  EXPECT_EQ(stages[1].lowest, 0);
  EXPECT_TRUE(stages[1].fused);
  EXPECT_FALSE(stages[1].need_dx);
}

TEST(BackwardPlan, TheDiagnosticsGetEveryLayerAndEveryInputGradient) {
  const auto stages = plan_backward(batch_norm_first_layers(), 0, true);
  ASSERT_EQ(stages.size(), 3u);
  for (size_t s = 0; s < stages.size(); ++s) {
    EXPECT_EQ(stages[s].top, Index(2 - s));
    EXPECT_EQ(stages[s].lowest, stages[s].top);
    EXPECT_FALSE(stages[s].fused);
    EXPECT_TRUE(stages[s].need_dx);
  }
}

TEST(BackwardPlan, AFrozenDenseOrADeeperStartIsNotFused) {
  auto layers = batch_norm_first_layers();
  layers[1]->trainable = false;  // its kernel gradient buffer must not receive the product
  auto stages = plan_backward(layers, 0, false);
  ASSERT_EQ(stages.size(), 3u);
  for (const auto& stage : stages) EXPECT_FALSE(stage.fused);
  EXPECT_FALSE(stages[2].need_dx);  // the lowest layer's input gradient feeds nothing

  stages = plan_backward(batch_norm_first_layers(), 1, false);  // the batch norm does not train
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[1].top, 1);
  EXPECT_FALSE(stages[1].fused);
  EXPECT_FALSE(stages[1].need_dx);
}

}  // namespace
}  // namespace densekit

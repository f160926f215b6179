// Parameter::assign / copy and assign_parameters / copy_parameters: the checked, locked access
// to a layer's variables from outside a computation.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/layers/dense.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

ActivationSpec linear() { return ActivationSpec{}; }

TEST(Parameter, AssignCopiesInAndCopyCopiesOut) {
  DenseLayer layer(2, 3, linear(), true);
  Parameter& kernel = layer.kernel();
  const RowMatrix value = (RowMatrix(2, 3) << 1, 2, 3, 4, 5, 6).finished();
  kernel.assign(value);
  EXPECT_EQ(kernel.value, value);
  RowMatrix out = kernel.copy();
  EXPECT_EQ(out, value);
  out(0, 0) = 42;  // a copy: the parameter keeps its value
  EXPECT_EQ(kernel.value(0, 0), 1);
}

TEST(Parameter, AssignRejectsAWrongShapeNamingTheParameterAndLeavesTheValue) {
  DenseLayer layer(2, 3, linear(), true);
  Parameter& bias = *layer.bias();
  bias.value.setConstant(7);
  try {
    bias.assign(RowMatrix::Ones(1, 4));
    FAIL() << "no ShapeError";
  } catch (const ShapeError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("Parameter.assign: bias must have shape (1, 3); got (1, 4)"),
              std::string::npos)
        << message;
  }
  EXPECT_TRUE((bias.value.array() == 7).all());
}

TEST(Parameter, AssignRejectsNaNAndInfAndLeavesTheValue) {
  DenseLayer layer(2, 3, linear(), true);
  Parameter& kernel = layer.kernel();
  kernel.value.setConstant(7);
  RowMatrix bad = RowMatrix::Ones(2, 3);
  bad(1, 2) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(kernel.assign(bad), ValueError);
  bad(1, 2) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(kernel.assign(bad), ValueError);
  EXPECT_TRUE((kernel.value.array() == 7).all());
}

TEST(Parameter, AssignParametersIsAllOrNothing) {
  DenseLayer layer(2, 3, linear(), true);
  std::vector<std::shared_ptr<Parameter>>& params = layer.parameters();
  params[0]->value.setConstant(7);
  params[1]->value.setConstant(8);
  const RowMatrix kernel = RowMatrix::Ones(2, 3), bias = RowMatrix::Constant(1, 3, 2);
  const RowMatrix wrong_bias = RowMatrix::Ones(1, 4);
  EXPECT_THROW(assign_parameters(params, {kernel, wrong_bias}), ShapeError);
  EXPECT_THROW(assign_parameters(params, {kernel}), ValueError);  // one value for two parameters
  EXPECT_THROW(assign_parameters({params[0], nullptr}, {kernel, bias}), ValueError);
  EXPECT_TRUE((params[0]->value.array() == 7).all());  // the good kernel was not written either
  assign_parameters(params, {kernel, bias});
  EXPECT_EQ(params[0]->value, kernel);
  EXPECT_EQ(params[1]->value, bias);
  const std::vector<RowMatrix> copies = copy_parameters(params);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0], kernel);
  EXPECT_EQ(copies[1], bias);
}

// A write from another thread waits while a computation holds the compute lock.
TEST(Parameter, AssignWaitsForTheComputeLock) {
  DenseLayer layer(2, 3, linear(), true);
  Parameter& kernel = layer.kernel();
  const RowMatrix value = RowMatrix::Ones(2, 3);
  std::atomic<bool> done{false};
  std::thread writer;
  {
    ComputeLock lock(compute_mutex());
    writer = std::thread([&] {
      kernel.assign(value);
      done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(done);
    EXPECT_TRUE(kernel.value.isZero());
  }
  writer.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(kernel.value, value);
}

}  // namespace
}  // namespace densekit

// Micro-benchmarks of the kernels at the shapes of the benchmark workloads, and of whole training
// steps: a plain timing harness (median of repeated runs), not part of the tests.
//
//   cmake -S . -B build/bench -DDENSEKIT_BUILD_BENCHMARKS=ON && cmake --build build/bench -j2
//   build/bench/densekit_bench_kernels [threads]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "densekit/kernels/activations.hpp"
#include "densekit/kernels/batch_norm.hpp"
#include "densekit/kernels/clipping.hpp"
#include "densekit/kernels/dense.hpp"
#include "densekit/kernels/noise.hpp"
#include "densekit/layers/batch_norm.hpp"
#include "densekit/layers/dense.hpp"
#include "densekit/layers/noise.hpp"
#include "densekit/network.hpp"
#include "densekit/parallel.hpp"

using namespace densekit;

namespace {

double median_microseconds(const std::function<void()>& run, int repeats) {
  run();  // warm-up
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

void report(const std::string& name, double us, double flops = 0) {
  if (flops > 0) {
    std::printf("| %-44s | %10.1f | %8.1f |\n", name.c_str(), us, flops / us / 1e3);
  } else {
    std::printf("| %-44s | %10.1f | %8s |\n", name.c_str(), us, "");
  }
}

void bench_dense(Index n, Index in, Index out) {
  RowMatrix x = RowMatrix::Random(n, in), w = RowMatrix::Random(in, out), y(n, out),
            dy = RowMatrix::Random(n, out);
  RowMatrix dx(n, in), dw(in, out);
  RowVector b = RowVector::Random(out), db(out);
  const double flops = 2.0 * n * in * out;
  const std::string shape =
      std::to_string(n) + "x" + std::to_string(in) + "x" + std::to_string(out);
  report("dense_forward " + shape, median_microseconds([&] { dense_forward(x, w, b, y); }, 200),
         flops);
  report("dense_backward_data " + shape,
         median_microseconds([&] { dense_backward_data(dy, w, dx); }, 200), flops);
  report("dense_backward_weights " + shape,
         median_microseconds([&] { dense_backward_weights(x, dy, dw, db); }, 200), flops);
  ActivationSpec relu{ActivationKind::relu};
  RowMatrix z(n, out);
  report("dense_activation_forward (relu) " + shape,
         median_microseconds([&] { dense_activation_forward(x, w, b, relu, z, y); }, 200), flops);
  RowVector gamma = RowVector::Ones(in), beta = RowVector::Zero(in), dgamma(in), dbeta(in),
            dy_sum(out);
  report("dense_backward_normalized_input " + shape,
         median_microseconds(
             [&] {
               dense_backward_normalized_input(x, gamma, beta, dy, w, dw, dy_sum, dgamma, dbeta);
             },
             200),
         flops);
}

void bench_elementwise(Index n, Index units) {
  RowMatrix x = RowMatrix::Random(n, units), y(n, units), dy = RowMatrix::Random(n, units),
            dx(n, units);
  const std::string shape = std::to_string(n) + "x" + std::to_string(units);
  for (const char* name : {"relu", "elu", "sigmoid", "softmax"}) {
    ActivationSpec spec;
    spec.kind = activation_kind_from_name(name);
    report(std::string(name) + " forward+backward " + shape, median_microseconds(
                                                                 [&] {
                                                                   activation_forward(spec, x, y);
                                                                   activation_backward(spec, x, y,
                                                                                       dy, dx);
                                                                 },
                                                                 500));
  }
  RowVector gamma = RowVector::Ones(units), beta = RowVector::Zero(units), mean(units), var(units),
            inv_std(units);
  RowVector dgamma(units), dbeta(units);
  RowMatrix x_hat(n, units);
  report("batch_norm train forward+backward " + shape,
         median_microseconds(
             [&] {
               batch_norm_forward_training(x, gamma, beta, 1e-3f, mean, var, inv_std, x_hat, y);
               batch_norm_backward_training(x_hat, dy, gamma, inv_std, dx, dgamma, dbeta);
             },
             500));
  const NoisePattern pattern(units);
  std::uint64_t step = 0;
  report("dropout forward+backward " + shape, median_microseconds(
                                                  [&] {
                                                    dropout_forward(x, 0.2, pattern, ++step, y, dy);
                                                    dropout_backward(y, 0.2, dy, dx);
                                                  },
                                                  500));
  report("clip_by_value " + shape, median_microseconds([&] { clip_by_value(dx, 1.0f); }, 500));
  report("clip_by_norm " + shape, median_microseconds([&] { clip_by_norm(dx, 1.0f); }, 500));
}

// dropout: Dropout(0.2) after each hidden layer, as the benchmark's bn-dropout model.
// adam: Adam's defaults in place of SGD, clipvalue kept.
std::shared_ptr<Network> bn_network(Index batch, bool dropout = false, bool adam = false) {
  ActivationSpec relu{ActivationKind::relu}, linear{}, softmax{ActivationKind::softmax};
  std::vector<std::shared_ptr<Layer>> layers = {
      std::make_shared<BatchNormLayer>(784, 0.99f, 1e-3f, true, true),
      std::make_shared<DenseLayer>(784, 300, relu, false),
      std::make_shared<BatchNormLayer>(300, 0.99f, 1e-3f, true, true),
      std::make_shared<DenseLayer>(300, 100, linear, false),
      std::make_shared<BatchNormLayer>(100, 0.99f, 1e-3f, true, true),
      std::make_shared<DenseLayer>(100, 10, softmax, true)};
  if (dropout) {
    layers.insert(layers.begin() + 5,
                  std::make_shared<NoiseLayer>(NoiseKind::dropout, 0.2, 1, NoisePattern(100)));
    layers.insert(layers.begin() + 2,
                  std::make_shared<NoiseLayer>(NoiseKind::dropout, 0.2, 2, NoisePattern(300)));
  }
  for (auto& layer : layers)
    for (auto& p : layer->parameters()) p->value.setRandom(), p->value *= 0.05f;
  (void)batch;
  auto net = std::make_shared<Network>(layers, 784);
  ClipSpec clip;
  clip.clipvalue = 1.0f;
  OptimizerSettings settings = sgd_settings(0.0f, false, clip);
  if (adam) settings.rule.rule = UpdateRule::adam;
  net->compile(LossSpec{LossKind::sparse_categorical_crossentropy, false},
               std::make_shared<Optimizer>(settings, adam ? 0.001f : 0.01f),
               AccuracyKind::sparse_categorical);
  return net;
}

std::shared_ptr<Network> deep_network() {
  ActivationSpec elu{ActivationKind::elu}, softmax{ActivationKind::softmax};
  std::vector<std::shared_ptr<Layer>> layers;
  Index units = 784;
  for (int i = 0; i < 20; ++i, units = 100)
    layers.push_back(std::make_shared<DenseLayer>(units, 100, elu, true));
  layers.push_back(std::make_shared<DenseLayer>(100, 10, softmax, true));
  for (auto& layer : layers)
    for (auto& p : layer->parameters()) p->value.setRandom(), p->value *= 0.1f;
  auto net = std::make_shared<Network>(layers, 784);
  ClipSpec clip;
  clip.clipnorm = 1.0f;
  net->compile(LossSpec{LossKind::sparse_categorical_crossentropy, false},
               std::make_shared<Optimizer>(sgd_settings(0.0f, false, clip), 0.01f),
               AccuracyKind::sparse_categorical);
  return net;
}

// One apply (SGD or Adam) over the bn model's trainable parameters (270k), with clipvalue as its
// workload.
void bench_optimizer(bool adam) {
  auto net = bn_network(32, false, adam);
  std::vector<Parameter*> trainable;
  for (auto& layer : net->layers())
    for (auto& p : layer->parameters())
      if (p->trainable) p->grad.setRandom(), p->grad *= 1e-3f, trainable.push_back(p.get());
  report(std::string(adam ? "Adam" : "SGD") + " apply, bn parameters, clipvalue",
         median_microseconds([&] { net->optimizer()->apply(trainable); }, 500));
}

void bench_predict_one(const std::shared_ptr<Network>& net) {
  RowMatrix x = RowMatrix::Random(1, 784), out(1, 10);
  report("bn predict, 1 sample",
         median_microseconds([&] { net->predict(x, out, 1, false); }, 2000));
}

void bench_step(const std::string& name, const std::shared_ptr<Network>& net, Index batch) {
  RowMatrix x = RowMatrix::Random(batch, 784);
  RowMatrix y(batch, 1);
  for (Index r = 0; r < batch; ++r) y(r, 0) = static_cast<Scalar>(r % 10);
  const double flops = 0;
  report(name + " train_step batch " + std::to_string(batch),
         median_microseconds([&] { net->train_step(x, y); }, batch < 100 ? 400 : 100), flops);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) set_num_threads(std::atoi(argv[1]));
  std::printf("threads: %d, SIMD: %s\n\n", get_num_threads(), Eigen::SimdInstructionSetsInUse());
  std::printf("| %-44s | %10s | %8s |\n|---|---:|---:|\n", "kernel", "median us", "GFLOP/s");
  for (Index n : {32, 256}) {
    bench_dense(n, 784, 300);
    bench_dense(n, 300, 100);
    bench_dense(n, 100, 100);
  }
  bench_elementwise(32, 300);
  bench_elementwise(32, 784);
  bench_elementwise(256, 784);
  bench_elementwise(256, 100);
  bench_optimizer(false);
  bench_optimizer(true);
  bench_predict_one(bn_network(1));
  for (Index batch : {32, 256}) {
    bench_step("bn", bn_network(batch), batch);
    bench_step("bn with dropout", bn_network(batch, true), batch);
    bench_step("bn Adam", bn_network(batch, false, true), batch);
    bench_step("deep", deep_network(), batch);
  }
  return 0;
}

#include "densekit/layers/layer.hpp"

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

Parameter::Parameter(std::string name_, Index rows, Index cols, bool trainable_, bool is_vector_)
    : name(std::move(name_)),
      value(RowMatrix::Zero(rows, cols)),
      grad(trainable_ ? RowMatrix::Zero(rows, cols) : RowMatrix()),
      trainable(trainable_),
      is_vector(is_vector_) {}

Layer::Layer(Index input_units, Index output_units)
    : input_units_(input_units), output_units_(output_units) {
  if (input_units < 1 || output_units < 1)
    throw ValueError("Layer: units must be >= 1; got input " + std::to_string(input_units) +
                     ", output " + std::to_string(output_units));
}

void Layer::run(MatrixIn x, MatrixOut y, bool training) {
  ComputeLock lock(compute_mutex());
  reserve(x.rows());
  forward(x, y, training);
  commit_forward();
}

std::shared_ptr<Parameter> Layer::add_parameter(std::string name, Index rows, Index cols,
                                                bool trainable, bool is_vector) {
  auto p = std::make_shared<Parameter>(std::move(name), rows, cols, trainable, is_vector);
  parameters_.push_back(p);
  return p;
}

}  // namespace densekit

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

namespace {

// The checks of Parameter::assign, without the write. They need no lock: they read the new value
// and the parameter's shape, which never changes.
void check_assignable(const char* where, const Parameter* p, MatrixIn v) {
  if (p == nullptr) throw ValueError(std::string(where) + ": got no parameter (None)");
  require_shape(where, p->name.c_str(), v.rows(), v.cols(), p->value.rows(), p->value.cols());
  if (!v.allFinite())
    throw ValueError(std::string(where) + ": the value for " + p->name + " contains NaN or Inf");
}

}  // namespace

void Parameter::assign(MatrixIn v) {
  check_assignable("Parameter.assign", this, v);
  ComputeLock lock(compute_mutex());
  value = v;
}

RowMatrix Parameter::copy() const {
  ComputeLock lock(compute_mutex());
  return value;
}

void Parameter::set_penalty(const PenaltySpec& spec) {
  ComputeLock lock(compute_mutex());
  rules.set_penalty(spec, value.rows(), value.cols(), ("regularizer of " + name).c_str());
}

void Parameter::set_constraint(const ConstraintSpec& spec) {
  ComputeLock lock(compute_mutex());
  rules.set_constraint(spec, value.rows(), value.cols(), ("constraint of " + name).c_str());
}

double Parameter::penalty() {
  ComputeLock lock(compute_mutex());
  return rules.penalty_value(value);
}

void assign_parameters(const std::vector<std::shared_ptr<Parameter>>& parameters,
                       const std::vector<MatrixIn>& values) {
  if (parameters.size() != values.size())
    throw ValueError("assign_parameters: got " + std::to_string(values.size()) + " values for " +
                     std::to_string(parameters.size()) + " parameters");
  for (size_t i = 0; i < parameters.size(); ++i)
    check_assignable("assign_parameters", parameters[i].get(), values[i]);
  ComputeLock lock(compute_mutex());
  for (size_t i = 0; i < parameters.size(); ++i) parameters[i]->value = values[i];
}

std::vector<RowMatrix> copy_parameters(const std::vector<std::shared_ptr<Parameter>>& parameters) {
  for (const auto& p : parameters)
    if (p == nullptr) throw ValueError("copy_parameters: got no parameter (None)");
  ComputeLock lock(compute_mutex());
  std::vector<RowMatrix> copies;
  copies.reserve(parameters.size());
  for (const auto& p : parameters) copies.push_back(p->value);
  return copies;
}

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

void Layer::set_activity_penalty(const PenaltySpec& spec) {
  ComputeLock lock(compute_mutex());
  activity.set(spec, (kind() + " activity_regularizer").c_str());
}

std::shared_ptr<Parameter> Layer::add_parameter(std::string name, Index rows, Index cols,
                                                bool trainable, bool is_vector) {
  auto p = std::make_shared<Parameter>(std::move(name), rows, cols, trainable, is_vector);
  parameters_.push_back(p);
  return p;
}

}  // namespace densekit

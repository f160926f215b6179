// Exceptions raised by the core. The bindings translate them to Python exceptions:
// ShapeError and ValueError -> ValueError, everything else derived from std::exception ->
// RuntimeError.
#pragma once

#include <stdexcept>
#include <string>

namespace densekit {

// A bad argument value (unknown name, negative size, out-of-range label, ...).
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// An argument whose shape does not fit: the message names the kernel, the argument and both shapes.
class ShapeError : public ValueError {
 public:
  using ValueError::ValueError;
};

// "(3, 4)" for messages.
std::string shape_string(long long rows, long long cols);

// Throws ShapeError "<where>: <name> must have shape (r, c); got (r', c')" when the shape differs.
// A negative expected size means "any".
void require_shape(const char* where, const char* name, long long rows, long long cols,
                   long long expected_rows, long long expected_cols);

}  // namespace densekit

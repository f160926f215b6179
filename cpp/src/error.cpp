#include "densekit/error.hpp"

namespace densekit {

std::string shape_string(long long rows, long long cols) {
  auto dim = [](long long d) { return d < 0 ? std::string("any") : std::to_string(d); };
  return "(" + dim(rows) + ", " + dim(cols) + ")";
}

void require_shape(const char* where, const char* name, long long rows, long long cols,
                   long long expected_rows, long long expected_cols) {
  bool rows_ok = expected_rows < 0 || rows == expected_rows;
  bool cols_ok = expected_cols < 0 || cols == expected_cols;
  if (rows_ok && cols_ok) return;
  throw ShapeError(std::string(where) + ": " + name + " must have shape " +
                   shape_string(expected_rows, expected_cols) + "; got " +
                   shape_string(rows, cols));
}

}  // namespace densekit

// The batch buffers' layout: the requested shape, every row on a whole number of cache lines.
#include <gtest/gtest.h>

#include <cstdint>

#include "densekit/batch_buffer.hpp"

namespace densekit {
namespace {

TEST(BatchBuffer, RowsStartOnWholeCacheLines) {
  for (Index cols : {1, 10, 15, 16, 17, 100, 300, 784}) {
    BatchBuffer buffer;
    buffer.resize(8, cols);
    EXPECT_EQ(buffer.rows(), 8);
    EXPECT_EQ(buffer.cols(), cols);
    const auto rows = buffer.topRows(5);
    EXPECT_EQ(rows.rows(), 5);
    EXPECT_EQ(rows.cols(), cols);
    EXPECT_EQ(rows.outerStride() % 16, 0) << cols;
    EXPECT_LT(rows.outerStride() - cols, 16) << cols;
    for (Index r = 0; r < rows.rows(); ++r) {
      const auto address = reinterpret_cast<std::uintptr_t>(rows.row(r).data());
      EXPECT_EQ(address % EIGEN_DEFAULT_ALIGN_BYTES, 0u) << cols << " row " << r;
    }
  }
}

TEST(BatchBuffer, ABlockOfItsRowsPassesAsAKernelArgumentWithoutACopy) {
  BatchBuffer buffer;
  buffer.resize(4, 300);
  MatrixOut out = buffer.topRows(3);
  MatrixIn in = buffer.topRows(3);
  EXPECT_EQ(out.data(), buffer.topRows(3).data());
  EXPECT_EQ(in.data(), out.data());
  EXPECT_EQ(in.outerStride(), 304);
}

}  // namespace
}  // namespace densekit

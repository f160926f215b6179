// The buffers a network and its layers keep for a batch's activations and gradients: room for
// (max_batch, units), used a batch of n rows at a time through topRows(n).
//
// Every row starts on a 64-byte boundary, a cache line: the row stride is the width rounded up to
// 16 floats. Threads split these matrices by columns in runs of 16 (share_of, parallel.hpp), so
// no cache line then holds columns of two threads. At a 300-wide layer's own stride (1200 bytes)
// nearly every row had one such line, written by both cores in turn: batch norm's training
// forward over (256, 300) on two threads took 40 µs with its buffers in cache, 22 µs with the
// rows padded.
#pragma once

#include "densekit/types.hpp"

namespace densekit {

class BatchBuffer {
 public:
  using Rows = Eigen::Block<RowMatrix>;
  using ConstRows = Eigen::Block<const RowMatrix>;

  // Room for `rows` rows of `cols` columns; what it held is lost.
  void resize(Index rows, Index cols) {
    storage_.resize(rows, stride_for(cols));
    cols_ = cols;
  }

  Index rows() const { return storage_.rows(); }
  Index cols() const { return cols_; }
  // The first n rows, as a (n, cols) block whose rows are storage rows.
  Rows topRows(Index n) { return storage_.topLeftCorner(n, cols_); }
  ConstRows topRows(Index n) const { return storage_.topLeftCorner(n, cols_); }

  // The row stride for a width: a whole number of 64-byte lines.
  static Index stride_for(Index cols) { return (cols + 15) / 16 * 16; }

 private:
  RowMatrix storage_;  // Eigen aligns it to its largest packet: 64 bytes with AVX-512
  Index cols_ = 0;
};

}  // namespace densekit

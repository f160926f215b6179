// The matrix-product engine: its Eigen path gives the very bits of a plain Eigen product for every
// kind of view dense.cpp hands it; loading a library that is not OpenBLAS fails cleanly; and, when
// DENSEKIT_TEST_OPENBLAS names OpenBLAS's library (scripts/test.sh sets it from the installed
// scipy-openblas32), OpenBLAS's products agree with Eigen's.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "densekit/kernels/dense.hpp"
#include "densekit/kernels/gemm.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close_to_scale;
using test::random_matrix;

// Every test starts and ends on Eigen: the engine is process-wide.
// Two threads, whatever the machine: with many, the parts of these products would fall below
// OpenBLAS's threshold and Eigen would compute them all.
class Gemm : public ::testing::Test {
 protected:
  void SetUp() override {
    gemm_use_eigen();
    configured_ = get_num_threads();
    set_num_threads(2);
  }
  void TearDown() override {
    gemm_use_eigen();
    set_num_threads(configured_);
  }

 private:
  int configured_ = 1;
};

void expect_same_bits(const RowMatrix& actual, const RowMatrix& expected, const std::string& what) {
  ASSERT_EQ(actual.rows(), expected.rows()) << what;
  ASSERT_EQ(actual.cols(), expected.cols()) << what;
  EXPECT_TRUE(actual == expected) << what << ": max difference "
                                  << (actual - expected).cwiseAbs().maxCoeff();
}

// a (m, k) and b (k, n) as blocks at an offset of larger matrices (so each has a stride other
// than its width), in memory as themselves or as the transposes of row-major matrices.
struct Operands {
  RowMatrix a_store, b_store;
  Index m, n, k;
  bool a_transposed, b_transposed;

  Operands(Index m_, Index n_, Index k_, bool ta, bool tb, unsigned seed)
      : m(m_), n(n_), k(k_), a_transposed(ta), b_transposed(tb) {
    a_store = ta ? random_matrix(k + 3, m + 5, -1.0f, 1.0f, seed)
                 : random_matrix(m + 3, k + 5, -1.0f, 1.0f, seed);
    b_store = tb ? random_matrix(n + 2, k + 7, -1.0f, 2.0f, seed + 1)
                 : random_matrix(k + 2, n + 7, -1.0f, 2.0f, seed + 1);
  }
  // The plain Eigen product of the same views, as dense.cpp wrote it before the engine existed.
  RowMatrix eigen_product() const {
    // Into the same place of the same output as engine_product: the small products Eigen
    // computes coefficient by coefficient round by the destination's alignment.
    RowMatrix big(m + 4, n + 6);
    MatrixOut out(big.block(2, 1, m, n));
    const MatrixIn a_in(a_store), b_in(b_store);
    const auto a_rows = a_in.block(1, 2, m, k);
    const auto a_cols = a_in.block(1, 2, k, m);
    const auto b_rows = b_in.block(1, 3, k, n);
    const auto b_cols = b_in.block(1, 3, n, k);
    if (!a_transposed && !b_transposed) out.noalias() = a_rows * b_rows;
    if (!a_transposed && b_transposed) out.noalias() = a_rows * b_cols.transpose();
    if (a_transposed && !b_transposed) out.noalias() = a_cols.transpose() * b_rows;
    if (a_transposed && b_transposed) out.noalias() = a_cols.transpose() * b_cols.transpose();
    return out;
  }
  // The engine's product, written into a block of a larger output.
  RowMatrix engine_product() const {
    RowMatrix big = RowMatrix::Constant(m + 4, n + 6, 7.0f);
    auto out = big.block(2, 1, m, n);
    const GemmOperand a = a_transposed ? gemm_operand(a_store.block(1, 2, k, m).transpose())
                                       : gemm_operand(a_store.block(1, 2, m, k));
    const GemmOperand b = b_transposed ? gemm_operand(b_store.block(1, 3, n, k).transpose())
                                       : gemm_operand(b_store.block(1, 3, k, n));
    gemm(a, b, out);
    // The rest of the output is untouched.
    EXPECT_TRUE((big.topRows(2).array() == 7.0f).all());
    EXPECT_TRUE((big.bottomRows(2).array() == 7.0f).all());
    EXPECT_TRUE((big.leftCols(1).array() == 7.0f).all());
    EXPECT_TRUE((big.rightCols(5).array() == 7.0f).all());
    return out;
  }
};

std::string name(Index m, Index n, Index k, bool ta, bool tb) {
  return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + (ta ? " aT" : "") +
         (tb ? " bT" : "");
}

TEST_F(Gemm, EigenPathGivesTheBitsOfAPlainEigenProductForEveryView) {
  // Small (Eigen's coefficient-wise product), thin, and blocked sizes.
  const Index shapes[][3] = {{3, 4, 5}, {1, 37, 64}, {33, 1, 17}, {64, 100, 300}, {300, 260, 270}};
  unsigned seed = 1;
  for (const auto& s : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Operands ops(s[0], s[1], s[2], ta, tb, seed += 2);
        expect_same_bits(ops.engine_product(), ops.eigen_product(), name(s[0], s[1], s[2], ta, tb));
      }
}

TEST_F(Gemm, EigenPathMatchesADoublePrecisionProduct) {
  const Operands ops(40, 24, 56, true, false, 5);
  const RowMatrix out = ops.engine_product();
  const test::MatD a = ops.a_store.block(1, 2, 56, 40).transpose().cast<double>();
  const test::MatD b = ops.b_store.block(1, 3, 56, 24).cast<double>();
  expect_close_to_scale(out, test::MatD(a * b), 1e-6, "xᵀ dy");
}

TEST_F(Gemm, TakesOperandsFromTheViewsDenseUses) {
  const RowMatrix x = random_matrix(6, 10, -1.0f, 1.0f, 3),
                  w = random_matrix(10, 4, -1.0f, 1.0f, 4);
  const MatrixIn xr(x), wr(w);
  const GemmOperand xt = gemm_operand(xr.transpose());
  EXPECT_EQ(xt.data, x.data());
  EXPECT_EQ(xt.rows, 10);
  EXPECT_EQ(xt.cols, 6);
  EXPECT_EQ(xt.stride, 10);
  EXPECT_TRUE(xt.transposed);
  const GemmOperand wb = gemm_operand(wr.transpose().middleCols(2, 5));
  EXPECT_EQ(wb.data, w.data() + 2 * 4);
  EXPECT_EQ(wb.rows, 4);
  EXPECT_EQ(wb.cols, 5);
  EXPECT_EQ(wb.stride, 4);
  EXPECT_TRUE(wb.transposed);
  const GemmOperand xc = gemm_operand(xr.middleCols(3, 4));
  EXPECT_EQ(xc.data, x.data() + 3);
  EXPECT_EQ(xc.stride, 10);
  EXPECT_FALSE(xc.transposed);
}

TEST_F(Gemm, LoadingAMissingFileFailsAndKeepsEigen) {
  const std::string path = "/nonexistent/libscipy_openblas.so";
  try {
    gemm_use_openblas(path);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(gemm_engine().name, "eigen");
  EXPECT_EQ(gemm_engine().library, "");
  EXPECT_FALSE(gemm_uses_openblas(4096, 4096, 4096));
}

TEST_F(Gemm, LoadingALibraryWithoutSgemmFailsAndKeepsEigen) {
  try {
    gemm_use_openblas("libm.so.6");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("scipy_cblas_sgemm"), std::string::npos) << e.what();
  }
  EXPECT_EQ(gemm_engine().name, "eigen");
}

// The library DENSEKIT_TEST_OPENBLAS names, loaded; the test is skipped without it.
std::string openblas_or_skip() {
  const char* path = std::getenv("DENSEKIT_TEST_OPENBLAS");
  return path != nullptr ? std::string(path) : std::string();
}

TEST_F(Gemm, OpenBlasAgreesWithEigenAboveItsThresholdAndIsNotUsedBelow) {
  const std::string path = openblas_or_skip();
  if (path.empty()) GTEST_SKIP() << "DENSEKIT_TEST_OPENBLAS is not set";
  gemm_use_openblas(path);
  EXPECT_EQ(gemm_engine().name, "openblas");
  EXPECT_EQ(gemm_engine().library, path);
  // Above: a forward block of a wide layer, its weight gradient's, its data gradient's, and both
  // transposed. Below: batch-32 blocks and a 256³ one.
  const Index above[][3] = {{260, 520, 1030}, {520, 1030, 260}, {1030, 260, 520}};
  const Index below[][3] = {{32, 392, 300}, {392, 300, 32}, {256, 256, 256}};
  unsigned seed = 11;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      for (const auto& s : above) {
        ASSERT_TRUE(gemm_uses_openblas(s[0], s[1], s[2]));
        const Operands ops(s[0], s[1], s[2], ta, tb, seed += 2);
        const RowMatrix openblas = ops.engine_product();
        expect_close_to_scale(openblas, ops.eigen_product(), 1e-5,
                              "OpenBLAS " + name(s[0], s[1], s[2], ta, tb));
      }
      for (const auto& s : below) {
        ASSERT_FALSE(gemm_uses_openblas(s[0], s[1], s[2]));
        const Operands ops(s[0], s[1], s[2], ta, tb, seed += 2);
        expect_same_bits(ops.engine_product(), ops.eigen_product(),
                         "Eigen " + name(s[0], s[1], s[2], ta, tb));
      }
    }
  // A failed load leaves OpenBLAS in use; gemm_use_eigen switches back.
  EXPECT_THROW(gemm_use_openblas("/nonexistent/lib.so"), std::runtime_error);
  EXPECT_EQ(gemm_engine().name, "openblas");
  gemm_use_eigen();
  EXPECT_EQ(gemm_engine().name, "eigen");
  EXPECT_FALSE(gemm_uses_openblas(1024, 1024, 1024));
}

// A wide layer's gradient with OpenBLAS: the same bits on one thread as on all (the parts and
// their order do not depend on the threads running, and OpenBLAS runs single-threaded).
TEST_F(Gemm, OpenBlasDenseProductsHaveTheSameBitsOnOneThreadAsOnAll) {
  const std::string path = openblas_or_skip();
  if (path.empty()) GTEST_SKIP() << "DENSEKIT_TEST_OPENBLAS is not set";
  gemm_use_openblas(path);
  const RowMatrix x = random_matrix(512, 1024, -1.0f, 1.0f, 21);
  const RowMatrix w = random_matrix(1024, 1024, -0.1f, 0.1f, 22);
  const RowMatrix dy = random_matrix(512, 1024, -1.0f, 1.0f, 23);
  const RowVector no_bias;
  RowMatrix y_all(512, 1024), dw_all(1024, 1024), dx_all(512, 1024);
  RowMatrix y_one(512, 1024), dw_one(1024, 1024), dx_one(512, 1024);
  RowVector db(0);
  dense_forward(x, w, no_bias, y_all);
  dense_backward_weights(x, dy, dw_all, db);
  dense_backward_data(dy, w, dx_all);
  {
    ThreadCap one(1);
    dense_forward(x, w, no_bias, y_one);
    dense_backward_weights(x, dy, dw_one, db);
    dense_backward_data(dy, w, dx_one);
  }
  expect_same_bits(y_one, y_all, "y");
  expect_same_bits(dw_one, dw_all, "dw");
  expect_same_bits(dx_one, dx_all, "dx");
  gemm_use_eigen();
  RowMatrix y_eigen(512, 1024);
  dense_forward(x, w, no_bias, y_eigen);
  expect_close_to_scale(y_all, y_eigen, 1e-5, "y, OpenBLAS against Eigen");
}

}  // namespace
}  // namespace densekit

// Build facts, the thread knob and the matrix-product engine.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/contention.hpp"
#include "densekit/kernels/gemm.hpp"
#include "densekit/thread_policy.hpp"
#include "densekit/thread_team.hpp"

namespace densekit::bindings {

void register_runtime(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Threads for the matrix products and element-wise loops (process-wide); they start when "
        "first needed, and a count the system cannot provide raises RuntimeError then.");
  m.def("get_num_threads", &get_num_threads,
        "The configured thread count (by default OMP_NUM_THREADS, else the CPUs available).");
  m.def(
      "build_info",
      [] {
        py::dict info;
        info["version"] = DENSEKIT_VERSION;
        info["eigen_version"] = std::to_string(EIGEN_WORLD_VERSION) + "." +
                                std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                std::to_string(EIGEN_MINOR_VERSION);
        info["openmp"] = false;  // densekit runs its own thread team (thread_team.hpp)
        info["thread_team_workers"] = team_workers();
        info["simd"] = std::string(Eigen::SimdInstructionSetsInUse());
        info["num_threads"] = get_num_threads();
        info["contention_back_offs"] = contention_monitor().back_offs();
        const GemmEngine gemm = gemm_engine();
        info["gemm"] = gemm.name;
        info["gemm_library"] = gemm.library;
        info["gemm_config"] = gemm.config;
        return info;
      },
      "version, eigen_version, openmp (False: densekit runs its own threads), "
      "thread_team_workers (worker threads started so far), simd, num_threads, "
      "contention_back_offs (times regions fell back to one thread because other processes "
      "held the workers' cores), gemm (the engine of large matrix products: 'eigen' or "
      "'openblas'), gemm_library (OpenBLAS's path, else ''), gemm_config (OpenBLAS's "
      "description of its build, else '').");
  m.def("gemm_use_openblas", &gemm_use_openblas, py::arg("path"),
        py::call_guard<py::gil_scoped_release>(),
        "Loads OpenBLAS (scipy-openblas32's build) from path, single-threaded, for the large "
        "matrix products; RuntimeError naming the path and the reason if it cannot, and the engine "
        "stays as it was.");
  m.def("gemm_use_eigen", &gemm_use_eigen, "Computes every matrix product with Eigen again.");
}

}  // namespace densekit::bindings

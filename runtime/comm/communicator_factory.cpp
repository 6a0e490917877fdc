// make_communicator: resolves --comm (auto | single | mpi | nccl) against the build, the device and
// the world; select_local_gpu: one GPU per rank of a node.
#include "runtime/comm/communicator_factory.h"

#include "runtime/comm/world.h"
#include "runtime/device_memory.h"
#include "runtime/logger.h"
#ifdef TEMPER_WITH_CUDA
#include "runtime/cuda/cuda_check.h"
#endif
#ifdef TEMPER_WITH_MPI
#include "runtime/comm/mpi_util.h"
#endif

namespace temper {
namespace {

constexpr const char* kFlag = "--comm";

std::string resolve_auto(Device device, int world_size) {
  if (device == Device::Cuda) {
    if (nccl_built()) return "nccl";
    TEMPER_INPUT_CHECK(
        world_size == 1, kFlag, "auto",
        "{} ranks on CUDA need NCCL, which this build lacks (rebuild with NCCL found, e.g. NCCL_ROOT=...)", world_size);
    return "single";
  }
  return world_size > 1 ? "mpi" : "single";
}

bool mpi_running() {
#ifdef TEMPER_WITH_MPI
  return mpi_is_up();
#else
  return false;
#endif
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(const std::string& backend, Device device) {
  const int world_size = world().world_size;
  if (device == Device::Cuda && cuda_available()) select_local_gpu();
  if (backend == "auto") return make_communicator(resolve_auto(device, world_size), device);
  if (backend == "single") {
    TEMPER_INPUT_CHECK(world_size == 1, kFlag, backend,
                       "the world has {} ranks; the single-process backend only runs alone", world_size);
    return make_single_process_communicator();
  }
  if (backend == "mpi") {
    TEMPER_INPUT_CHECK(mpi_built(), kFlag, backend, "this build has no MPI; rebuild with -DTEMPER_MPI=ON");
    TEMPER_INPUT_CHECK(device == Device::Cpu, kFlag, backend,
                       "the MPI backend reduces CPU tensors; use --device cpu, or nccl for CUDA");
    TEMPER_INPUT_CHECK(mpi_running(), kFlag, backend,
                       "MPI is not initialised: launch with mpirun or srun (or set TEMPER_FORCE_MPI=1 to run one "
                       "rank over MPI)");
    return make_mpi_communicator();
  }
  if (backend == "nccl") {
    TEMPER_INPUT_CHECK(nccl_built(), kFlag, backend, "this build has no NCCL (CUDA build with NCCL found)");
    TEMPER_INPUT_CHECK(device == Device::Cuda, kFlag, backend, "NCCL reduces CUDA tensors; use --device cuda");
    return make_nccl_communicator();
  }
  throw InputError(kFlag, backend, "unknown backend; expected auto, single, mpi or nccl");
}

int select_local_gpu() {
#ifdef TEMPER_WITH_CUDA
  const WorldInfo& w = world();
  int count = 0;
  TEMPER_CUDA_CHECK(cudaGetDeviceCount(&count));
  TEMPER_CHECK(count > 0, "no CUDA device is visible to rank {}", w.rank);
  if (w.local_size > count)
    log_warn("{} ranks on this node share {} visible GPUs; NCCL needs one GPU per rank", w.local_size, count);
  const int device = w.local_rank % count;
  TEMPER_CUDA_CHECK(cudaSetDevice(device));
  return device;
#else
  TEMPER_CHECK(false, "select_local_gpu: this build has no CUDA");
  return -1;
#endif
}

}  // namespace temper

// World setup: reads the launcher's environment, initialises MPI when the job has several ranks,
// and ends the job (MPI_Abort) when a rank must stop every other one.
#include "runtime/comm/world.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/error.h"
#include "runtime/logger.h"
#ifdef TEMPER_WITH_MPI
#include "runtime/comm/mpi_util.h"
#endif

namespace temper {
namespace {

WorldInfo g_world;
bool g_initialised = false;
std::thread::id g_main_thread;

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = env(name);
  if (v == nullptr) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  TEMPER_INPUT_CHECK(end != v && *end == '\0' && x >= 0, name, v, "the launcher set a non-integer value");
  return static_cast<int>(x);
}

// What the launcher says before MPI is up. OpenMPI's mpirun first (it may run inside a Slurm
// allocation, whose variables it inherits), then srun (only a step launched by srun has
// SLURM_STEP_NUM_TASKS: a batch script's SLURM_NTASKS is the allocation, not the processes
// started), then MPICH/Hydra's PMI variables.
WorldInfo detect_launcher() {
  WorldInfo w;
  if (env("OMPI_COMM_WORLD_SIZE")) {
    w.launcher = "mpirun";
    w.world_size = env_int("OMPI_COMM_WORLD_SIZE", 1);
    w.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    w.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    w.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (env("SLURM_STEP_NUM_TASKS") && env("SLURM_PROCID")) {
    w.launcher = "srun";
    w.world_size = env_int("SLURM_STEP_NUM_TASKS", 1);
    w.rank = env_int("SLURM_PROCID", 0);
    w.local_rank = env_int("SLURM_LOCALID", 0);
  } else if (env("PMI_SIZE") && env("PMI_RANK")) {
    w.launcher = "mpirun";
    w.world_size = env_int("PMI_SIZE", 1);
    w.rank = env_int("PMI_RANK", 0);
  }
  return w;
}

bool force_mpi() {
  const char* v = env("TEMPER_FORCE_MPI");
  return v != nullptr && std::strcmp(v, "0") != 0;
}

#ifdef TEMPER_WITH_MPI
// MPI_Init_thread (unless someone already did), errors returned rather than fatal, and the
// rank/size/node-local rank from MPI, which wins over the environment.
void init_mpi(WorldInfo& w, int* argc, char*** argv) {
  int initialised = 0, provided = MPI_THREAD_SINGLE;
  MPI_Initialized(&initialised);
  if (!initialised) {
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
      throw Error("MPI_Init_thread failed (is the MPI runtime that launched us the one temper was built with?)");
    w.mpi = true;
  } else {
    MPI_Query_thread(&provided);
  }
  TEMPER_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  TEMPER_CHECK(provided >= MPI_THREAD_FUNNELED, "MPI provides thread level {}; temper needs MPI_THREAD_FUNNELED",
               provided);
  w.mpi_thread_multiple = provided >= MPI_THREAD_MULTIPLE;
  const int launched = w.world_size;
  TEMPER_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank));
  TEMPER_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &w.world_size));
  TEMPER_CHECK(!(launched > 1 && w.world_size == 1),
               "{} started {} processes but each one sees an MPI world of 1: the launcher and the MPI library "
               "do not talk (with srun pass --mpi=pmix or --mpi=pmi2; with mpirun use the one of the MPI "
               "temper was built with)",
               w.launcher, launched);
  MPI_Comm node = MPI_COMM_NULL;
  TEMPER_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &node));
  TEMPER_MPI_CHECK(MPI_Comm_rank(node, &w.local_rank));
  TEMPER_MPI_CHECK(MPI_Comm_size(node, &w.local_size));
  TEMPER_MPI_CHECK(MPI_Comm_free(&node));
}
#endif

}  // namespace

const WorldInfo& init_world(int* argc, char*** argv) {
  if (g_initialised) return g_world;
  g_main_thread = std::this_thread::get_id();
  WorldInfo w = detect_launcher();
  if (w.world_size > 1 || force_mpi()) {
#ifdef TEMPER_WITH_MPI
    init_mpi(w, argc, argv);
#else
    (void)argc;
    (void)argv;
    throw Error(
        fmt::format("{} started {} processes (or TEMPER_FORCE_MPI is set) but this build has no MPI; "
                    "rebuild with -DTEMPER_MPI=ON",
                    w.launcher, w.world_size));
#endif
  }
  g_world = w;
  g_initialised = true;
  if (w.world_size > 1) set_error_rank(w.rank);
  set_log_rank(w.rank, w.world_size);
  return g_world;
}

const WorldInfo& world() { return g_world; }

void finalize_world() {
#ifdef TEMPER_WITH_MPI
  if (g_world.mpi && mpi_is_up()) MPI_Finalize();
#endif
  g_world.mpi = false;
}

void abort_world(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
#ifdef TEMPER_WITH_MPI
  // MPI may be called from another thread (the NCCL watchdog) only at MPI_THREAD_MULTIPLE; otherwise
  // that thread exits the process and the launcher (mpirun, srun) ends the other ranks.
  const bool may_call_mpi = g_world.mpi_thread_multiple || std::this_thread::get_id() == g_main_thread;
  if (may_call_mpi && mpi_is_up()) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

}  // namespace temper

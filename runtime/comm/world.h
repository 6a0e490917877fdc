// The process's place in the job: rank, world size, node-local rank, and how it was launched
// (mpirun / srun / alone). MPI is initialised only when a launcher started us with more than one
// process or MPI is explicitly requested, so a plain `temper ...` needs no MPI runtime.
#pragma once
#include <string>

namespace temper {

struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // rank within the node (picks the GPU)
  int local_size = 1;
  std::string launcher = "none";     // "mpirun" | "srun" | "none"
  bool mpi = false;                  // MPI initialised by us
  bool mpi_thread_multiple = false;  // MPI granted MPI_THREAD_MULTIPLE (else FUNNELED or SERIALIZED)
};

// Reads the launcher's environment (OpenMPI, Slurm srun, MPICH/PMI); initialises MPI when the launcher
// started more than one process or TEMPER_FORCE_MPI=1 (thread level MULTIPLE requested, FUNNELED
// required), with MPI_ERRORS_RETURN on MPI_COMM_WORLD; sets the rank used by errors and the logger.
// Throws when the launcher asks for several ranks and this build has no MPI. Idempotent.
const WorldInfo& init_world(int* argc, char*** argv);
const WorldInfo& world();
// Tears MPI down on a clean exit.
void finalize_world();
// Ends every rank of the job now with `code` (MPI_Abort when MPI is up, else exit).
[[noreturn]] void abort_world(int code);

}  // namespace temper

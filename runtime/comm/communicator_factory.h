// Choosing and creating a Communicator for the run (the trainer's and `temper bench comm`'s
// --comm flag), and the GPU each rank uses.
#pragma once
#include <memory>
#include <string>

#include "runtime/comm/communicator.h"

namespace temper {

// backend: auto | single | mpi | nccl. auto = nccl when `device` is cuda and NCCL is built (even at
// world size 1), else mpi when the world has more than one rank, else single. A backend this build
// or this launch cannot provide is an InputError on "--comm". Collective: every rank calls it.
// With a cuda device it selects this rank's GPU first (select_local_gpu), so call it before any
// CUDA allocation.
std::unique_ptr<Communicator> make_communicator(const std::string& backend, Device device);

// The backends themselves (collective; every rank calls them in the same order). Each throws
// temper::Error in a build without its library.
std::unique_ptr<Communicator> make_mpi_communicator();   // CPU tensors, over a dup of MPI_COMM_WORLD
std::unique_ptr<Communicator> make_nccl_communicator();  // CUDA tensors; selects the local GPU
bool mpi_built();
bool nccl_built();

// cudaSetDevice(local_rank % device count) and returns that device; warns when ranks on this node
// outnumber its GPUs. Must run before the process touches CUDA (the compute stream is created on the
// device current at its first use). Called by make_communicator / make_nccl_communicator.
int select_local_gpu();

}  // namespace temper

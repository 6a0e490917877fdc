// MPI helpers for the comm layer (only in builds with MPI): error checks that throw temper::Error
// with MPI's error string, the failing call, file:line and rank, and a bounded request wait.
#pragma once
#ifdef TEMPER_WITH_MPI
#include <mpi.h>

#include <string>

#include "runtime/error.h"

namespace temper {

std::string mpi_error_message(int code);  // "MPI error <class>: <MPI's error string>"
bool mpi_is_up();                         // initialised and not yet finalised

// Waits for `req` with MPI_Test polling (comm_wait.h). Returns false on timeout, leaving the request
// active: MPI may still write its buffers, so the caller must keep them alive. MPI errors throw.
bool mpi_wait(MPI_Request* req, const char* op, double timeout_s);

}  // namespace temper

#define TEMPER_MPI_CHECK(call)                                                                 \
  do {                                                                                         \
    const int mpi_rc_ = (call);                                                                \
    if (mpi_rc_ != MPI_SUCCESS)                                                                \
      ::temper::detail::fail(#call, __FILE__, __LINE__, ::temper::mpi_error_message(mpi_rc_)); \
  } while (0)

#endif  // TEMPER_WITH_MPI

// MPI error strings and the bounded request wait.
#include "runtime/comm/mpi_util.h"

#ifdef TEMPER_WITH_MPI
#include "runtime/comm/comm_wait.h"

namespace temper {

std::string mpi_error_message(int code) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  int cls = code;
  MPI_Error_class(code, &cls);
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return fmt::format("MPI error {}: {}", cls, std::string(text, static_cast<size_t>(len)));
}

bool mpi_is_up() {
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  return initialised && !finalised;
}

bool mpi_wait(MPI_Request* req, const char* op, double timeout_s) {
  int rc = MPI_SUCCESS;
  const bool done = poll_until(
      [&] {
        int flag = 0;
        rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
        return rc != MPI_SUCCESS || flag != 0;
      },
      timeout_s);
  if (rc != MPI_SUCCESS)
    detail::fail("MPI_Test", __FILE__, __LINE__, fmt::format("{} failed: {}", op, mpi_error_message(rc)));
  return done;
}

}  // namespace temper
#endif  // TEMPER_WITH_MPI

// main() for multi-rank GoogleTest executables (ctest label `mpi`, run under mpirun -np 2):
// initialises the world, runs the tests on every rank, and fails the job if any rank failed.
#include <gtest/gtest.h>

#include "runtime/comm/world.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  temper::init_world(&argc, &argv);
  const int rc = RUN_ALL_TESTS();
  temper::finalize_world();
  return rc;
}

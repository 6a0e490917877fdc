// World size 1: the single-process communicator, make_communicator's choices and errors, the
// collective timeout setting and the bounded poll loop.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "runtime/comm/comm_wait.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/comm/world.h"

using namespace temper;

namespace {

Tensor iota_f32(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i) + 0.5f;
  return Tensor::from_f32(v, {n});
}

// The field an InputError names, or "" when `f` throws something else or nothing.
template <class F>
std::string input_error_field(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.file() + " " + e.field();
  } catch (...) {
  }
  return "";
}

}  // namespace

TEST(CommSingle, WorldWithoutLauncherIsOneProcess) {
  int argc = 1;
  char name[] = "test_comm_single";
  char* args[] = {name, nullptr};
  char** argv = args;
  const WorldInfo& w = init_world(&argc, &argv);
  EXPECT_EQ(w.rank, 0);
  EXPECT_EQ(w.world_size, 1);
  EXPECT_EQ(w.local_rank, 0);
  EXPECT_EQ(w.launcher, "none");
  EXPECT_FALSE(w.mpi);
  EXPECT_EQ(&world(), &w);
  finalize_world();  // nothing to tear down
}

TEST(CommSingle, CollectivesAreIdentities) {
  std::unique_ptr<Communicator> c = make_single_process_communicator();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->world_size(), 1);
  EXPECT_EQ(c->backend(), "single");
  Tensor t = iota_f32(7);
  const std::vector<float> before = t.to_vector();
  c->all_reduce(t, ReduceOp::Sum);
  c->all_reduce(t, ReduceOp::Avg);
  c->all_reduce_async(t, ReduceOp::Sum)->wait();
  c->broadcast(t, 0);
  c->barrier();
  EXPECT_EQ(t.to_vector(), before);
  Tensor out = Tensor::zeros({7}, DType::F32);
  c->reduce_scatter(out, t, ReduceOp::Avg);
  EXPECT_EQ(out.to_vector(), before);
  Tensor gathered = Tensor::zeros({7}, DType::F32);
  c->all_gather(gathered, t);
  EXPECT_EQ(gathered.to_vector(), before);
  c->reduce_scatter(t, t, ReduceOp::Sum);  // in place
  c->all_gather(t, t);
  EXPECT_EQ(t.to_vector(), before);
  EXPECT_EQ(c->all_reduce_scalar(2.5, ReduceOp::Sum), 2.5);
  EXPECT_EQ(c->all_reduce_scalar(2.5, ReduceOp::Avg), 2.5);
}

TEST(CommSingle, ChecksArgumentsLikeTheMultiRankBackends) {
  std::unique_ptr<Communicator> c = make_single_process_communicator();
  EXPECT_THROW(c->reduce_scatter(Tensor::zeros({3}, DType::F32), iota_f32(7), ReduceOp::Sum), Error);
  EXPECT_THROW(c->all_gather(Tensor::zeros({8}, DType::F32), iota_f32(7)), Error);
  EXPECT_THROW(c->all_gather(Tensor::zeros({7}, DType::I32), iota_f32(7)), Error);
  EXPECT_THROW(c->all_reduce(Tensor::zeros({3}, DType::I32), ReduceOp::Avg), Error);
  EXPECT_THROW(c->broadcast(iota_f32(3), 1), Error);
  Tensor big = iota_f32(8);
  EXPECT_THROW(c->reduce_scatter(big.slice_flat(1, {7}), big.slice_flat(0, {7}), ReduceOp::Sum), Error);  // overlap
}

TEST(CommSingle, MakeCommunicatorAutoOnCpuIsSingle) {
  EXPECT_EQ(make_communicator("auto", Device::Cpu)->backend(), "single");
  EXPECT_EQ(make_communicator("single", Device::Cpu)->backend(), "single");
}

TEST(CommSingle, UnavailableBackendsAreInputErrorsOnComm) {
  EXPECT_EQ(input_error_field([] { make_communicator("nccl", Device::Cpu); }), "--comm nccl");
  EXPECT_EQ(input_error_field([] { make_communicator("mpi", Device::Cpu); }), "--comm mpi");  // no MPI running
  EXPECT_EQ(input_error_field([] { make_communicator("gloo", Device::Cpu); }), "--comm gloo");
  EXPECT_EQ(input_error_field([] { make_communicator("mpi", Device::Cuda); }), "--comm mpi");
}

TEST(CommSingle, CollectiveTimeoutDefaultEnvAndSetter) {
  unsetenv("TEMPER_COMM_TIMEOUT");
  EXPECT_EQ(default_collective_timeout(), 60.0);
  setenv("TEMPER_COMM_TIMEOUT", "2.5", 1);
  EXPECT_EQ(default_collective_timeout(), 2.5);
  std::unique_ptr<Communicator> c = make_single_process_communicator();
  EXPECT_EQ(c->collective_timeout(), 2.5);
  c->set_collective_timeout(7);
  EXPECT_EQ(c->collective_timeout(), 7.0);
  setenv("TEMPER_COMM_TIMEOUT", "soon", 1);
  EXPECT_EQ(input_error_field([] { default_collective_timeout(); }), "TEMPER_COMM_TIMEOUT soon");
  setenv("TEMPER_COMM_TIMEOUT", "0", 1);
  EXPECT_EQ(default_collective_timeout(), 0.0);  // wait forever
  unsetenv("TEMPER_COMM_TIMEOUT");
}

TEST(CommSingle, PollUntilFinishesOrTimesOut) {
  int polls = 0;
  EXPECT_TRUE(poll_until([&] { return ++polls == 100; }, 5.0));
  EXPECT_EQ(polls, 100);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(poll_until([] { return false; }, 0.05));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(waited, 0.05);
  EXPECT_LT(waited, 1.0);
  EXPECT_NE(timeout_message("barrier", 3, 1).find("collective barrier timed out after 3 s on rank 1"),
            std::string::npos);
}

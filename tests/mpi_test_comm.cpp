// MPI communicator under `mpirun -np 2`: every collective with known per-rank values (f32, i32,
// bf16; odd sizes), in-place variants, Avg, broadcast from rank 1, async all-reduce overlapping
// host work, the world info, and the collective timeout. The DISABLED_ tests end the job on
// purpose (a rank SIGKILLs itself, or stalls); ctests in tests/CMakeLists.txt run them one at a
// time and check that the whole job exits non-zero within the bound.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <numeric>
#include <thread>

#include "runtime/comm/communicator_factory.h"
#include "runtime/comm/mpi_util.h"
#include "runtime/comm/world.h"

using namespace temper;

namespace {

Communicator& comm() {
  static std::unique_ptr<Communicator> c = make_communicator("mpi", Device::Cpu);
  return *c;
}

int rank() { return comm().rank(); }

// Rank r's value at index i: small integers times 0.5, so sums and averages are exact in f32/bf16.
float value(int r, int64_t i) { return static_cast<float>((r + 1) * (i % 13 + 1)) * 0.5f; }

Tensor values_f32(int r, int64_t n, int64_t offset = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = value(r, i + offset);
  return Tensor::from_f32(v, {n});
}

Tensor values_i32(int r, int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = r * 1000 + static_cast<int32_t>(i);
  return Tensor::from_i32(v, {n});
}

Tensor to_bf16(const Tensor& f) {
  Tensor b = Tensor::empty(f.shape(), DType::BF16);
  for (int64_t i = 0; i < f.numel(); ++i) b.data<uint16_t>()[i] = f32_to_bf16(f.data<float>()[i]);
  return b;
}

float sum_over_ranks(int64_t i) { return value(0, i) + value(1, i); }

}  // namespace

TEST(MpiComm, WorldInfo) {
  const WorldInfo& w = world();
  EXPECT_EQ(w.world_size, 2);
  EXPECT_EQ(w.rank, rank());
  EXPECT_EQ(w.local_size, 2);  // one node
  EXPECT_EQ(w.local_rank, w.rank);
  EXPECT_EQ(w.launcher, "mpirun");
  EXPECT_TRUE(w.mpi);
  EXPECT_EQ(comm().world_size(), 2);
  EXPECT_EQ(comm().backend(), "mpi");
  EXPECT_EQ(make_communicator("auto", Device::Cpu)->backend(), "mpi");
}

TEST(MpiComm, AllReduceF32SumAndAvg) {
  for (int64_t n : {1, 7, 1001, 4099}) {
    Tensor t = values_f32(rank(), n);
    comm().all_reduce(t, ReduceOp::Sum);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(t.data<float>()[i], sum_over_ranks(i)) << "n=" << n << " i=" << i;
    Tensor a = values_f32(rank(), n);
    comm().all_reduce(a, ReduceOp::Avg);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(a.data<float>()[i], sum_over_ranks(i) / 2) << "n=" << n;
  }
}

TEST(MpiComm, AllReduceI32) {
  Tensor t = values_i32(rank(), 1001);
  comm().all_reduce(t, ReduceOp::Sum);
  for (int64_t i = 0; i < 1001; ++i) ASSERT_EQ(t.data<int32_t>()[i], 1000 + 2 * i);
}

TEST(MpiComm, AllReduceBf16ThroughF32) {
  Tensor t = to_bf16(values_f32(rank(), 7));
  comm().all_reduce(t, ReduceOp::Avg);
  for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(bf16_to_f32(t.data<uint16_t>()[i]), sum_over_ranks(i) / 2);
}

TEST(MpiComm, ReduceScatterF32) {
  for (int64_t n : {1, 7, 501}) {
    Tensor in = values_f32(rank(), 2 * n);
    Tensor out = Tensor::empty({n}, DType::F32);
    comm().reduce_scatter(out, in, ReduceOp::Sum);
    for (int64_t k = 0; k < n; ++k) ASSERT_EQ(out.data<float>()[k], sum_over_ranks(rank() * n + k)) << "n=" << n;
  }
}

TEST(MpiComm, ReduceScatterInPlaceAvgAndI32) {
  const int64_t n = 7;
  Tensor in = values_f32(rank(), 2 * n);
  const int other = 1 - rank();
  const std::vector<float> before = in.to_vector();
  comm().reduce_scatter(in.slice_flat(rank() * n, {n}), in, ReduceOp::Avg);
  for (int64_t k = 0; k < n; ++k) EXPECT_EQ(in.data<float>()[rank() * n + k], sum_over_ranks(rank() * n + k) / 2);
  for (int64_t k = 0; k < n; ++k) EXPECT_EQ(in.data<float>()[other * n + k], before[other * n + k]);  // untouched

  Tensor ii = values_i32(rank(), 2 * n);
  Tensor io = Tensor::empty({n}, DType::I32);
  comm().reduce_scatter(io, ii, ReduceOp::Sum);
  for (int64_t k = 0; k < n; ++k) EXPECT_EQ(io.data<int32_t>()[k], 1000 + 2 * (rank() * n + k));
}

TEST(MpiComm, ReduceScatterBf16) {
  const int64_t n = 5;
  Tensor in = to_bf16(values_f32(rank(), 2 * n));
  Tensor out = Tensor::empty({n}, DType::BF16);
  comm().reduce_scatter(out, in, ReduceOp::Sum);
  for (int64_t k = 0; k < n; ++k) EXPECT_EQ(bf16_to_f32(out.data<uint16_t>()[k]), sum_over_ranks(rank() * n + k));
}

TEST(MpiComm, ReduceScatterRejectsIndivisibleInput) {
  Tensor in = values_f32(rank(), 7);
  Tensor out = Tensor::empty({3}, DType::F32);
  try {
    comm().reduce_scatter(out, in, ReduceOp::Sum);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not divisible by the world size 2"), std::string::npos) << e.what();
  }
  comm().barrier();  // the check runs before any message: both ranks are still in step
}

TEST(MpiComm, AllGatherAndInPlace) {
  for (int64_t n : {1, 7, 1001}) {
    Tensor out = Tensor::empty({2 * n}, DType::F32);
    comm().all_gather(out, values_f32(rank(), n, rank() * n));
    for (int64_t j = 0; j < 2 * n; ++j) ASSERT_EQ(out.data<float>()[j], value(static_cast<int>(j / n), j));
  }
  Tensor out = Tensor::zeros({14}, DType::I32);
  out.slice_flat(rank() * 7, {7}).copy_from(values_i32(rank(), 7));
  comm().all_gather(out, out.slice_flat(rank() * 7, {7}));
  for (int64_t j = 0; j < 14; ++j) EXPECT_EQ(out.data<int32_t>()[j], (j / 7) * 1000 + j % 7);
}

TEST(MpiComm, ReduceScatterThenAllGatherEqualsAllReduce) {
  const int64_t n = 501;
  Tensor grads = values_f32(rank(), 2 * n);
  Tensor expected = grads.clone();
  comm().all_reduce(expected, ReduceOp::Avg);
  Tensor shard = grads.slice_flat(rank() * n, {n});
  comm().reduce_scatter(shard, grads, ReduceOp::Avg);  // ZeRO-1's pattern, in place
  comm().all_gather(grads, shard);
  EXPECT_EQ(grads.to_vector(), expected.to_vector());
}

TEST(MpiComm, BroadcastFromRank1) {
  Tensor f = values_f32(rank(), 1001);
  comm().broadcast(f, 1);
  for (int64_t i = 0; i < 1001; ++i) ASSERT_EQ(f.data<float>()[i], value(1, i));
  Tensor b = to_bf16(values_f32(rank(), 3));
  comm().broadcast(b, 1);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(bf16_to_f32(b.data<uint16_t>()[i]), value(1, i));
  Tensor i32 = values_i32(rank(), 9);
  comm().broadcast(i32, 0);
  for (int64_t i = 0; i < 9; ++i) EXPECT_EQ(i32.data<int32_t>()[i], i);
}

TEST(MpiComm, AllReduceScalar) {
  EXPECT_EQ(comm().all_reduce_scalar(rank() + 1.0, ReduceOp::Sum), 3.0);
  EXPECT_EQ(comm().all_reduce_scalar(rank() + 1.0, ReduceOp::Avg), 1.5);
}

// The grad reducer's pattern: several buckets in flight, host work meanwhile, waits in order.
TEST(MpiComm, AsyncAllReduceOverlapsHostWork) {
  const int64_t n = 1 << 18;
  std::vector<Tensor> buckets;
  std::vector<std::unique_ptr<CommWork>> work;
  for (int b = 0; b < 3; ++b) {
    buckets.push_back(values_f32(rank(), n + b));
    work.push_back(comm().all_reduce_async(buckets.back(), b == 1 ? ReduceOp::Avg : ReduceOp::Sum));
  }
  std::vector<double> host(1 << 20);
  std::iota(host.begin(), host.end(), 0.0);
  const double s = std::accumulate(host.begin(), host.end(), 0.0);  // the "computation" overlapped
  EXPECT_GT(s, 0);
  for (auto& w : work) w->wait();
  work[0]->wait();  // a second wait is a no-op
  for (int b = 0; b < 3; ++b)
    for (int64_t i = 0; i < n + b; i += 997)
      ASSERT_EQ(buckets[b].data<float>()[i], b == 1 ? sum_over_ranks(i) / 2 : sum_over_ranks(i));
}

TEST(MpiComm, RejectsBadArgumentsOnEveryRank) {
  float x = 0;
  Tensor on_gpu = Tensor::wrap(&x, {1}, DType::F32, Device::Cuda);  // never dereferenced
  EXPECT_THROW(comm().all_reduce(on_gpu, ReduceOp::Sum), Error);
  EXPECT_THROW(comm().all_reduce(values_i32(rank(), 3), ReduceOp::Avg), Error);
  EXPECT_THROW(comm().broadcast(values_f32(rank(), 3), 2), Error);
  Tensor out = Tensor::empty({4}, DType::F32);
  EXPECT_THROW(comm().all_gather(out, values_f32(rank(), 3)), Error);
  EXPECT_THROW(make_communicator("nccl", Device::Cpu), InputError);
  EXPECT_THROW(make_communicator("single", Device::Cpu), InputError);
  comm().barrier();
}

TEST(MpiComm, MpiErrorsBecomeTemperErrorsNamingCallAndRank) {
  int x = 0;
  try {
    TEMPER_MPI_CHECK(MPI_Send(&x, 1, MPI_INT, 5, 0, MPI_COMM_WORLD));  // no rank 5: MPI_ERR_RANK, returned
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[rank " + std::to_string(rank()) + "] MPI error"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MPI_Send"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mpi_test_comm.cpp"), std::string::npos) << msg;  // file:line of the call
  }
}

// Rank 1 does not join a barrier; rank 0 (2 s timeout) must throw instead of hanging. Both ranks
// then resynchronise on a second communicator, and rank 1 completes the abandoned barrier so no
// request stays open.
TEST(MpiComm, CollectiveTimesOutWhenAPeerDoesNotArrive) {
  std::unique_ptr<Communicator> late = make_mpi_communicator();
  std::unique_ptr<Communicator> sync = make_mpi_communicator();
  if (rank() == 0) {
    late->set_collective_timeout(2.0);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      late->barrier();
      ADD_FAILURE() << "barrier returned without rank 1";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("collective barrier timed out after 2 s on rank 0"), std::string::npos) << msg;
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(waited, 2.0);
    EXPECT_LT(waited, 10.0);
    EXPECT_THROW(late->all_reduce_scalar(1.0, ReduceOp::Sum), Error);  // unusable after a timeout
    sync->barrier();
  } else {
    sync->barrier();  // rank 0 has given up by now
    late->barrier();  // matches rank 0's abandoned barrier
  }
  sync->barrier();
}

// Run only by the failure ctests (mpi_comm_kill_rank, mpi_comm_stalled_peer).
TEST(MpiCommFailure, DISABLED_KillRank1MidRun) {
  Tensor t = values_f32(rank(), 4096);
  for (int i = 0; i < 1000000; ++i) {
    if (rank() == 1 && i == 100) std::raise(SIGKILL);
    comm().all_reduce(t, ReduceOp::Avg);
  }
  FAIL() << "rank " << rank() << " survived its peer's death";
}

TEST(MpiCommFailure, DISABLED_StalledPeerAbortsJob) {
  if (rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(600));  // alive but gone
  try {
    comm().barrier();  // TEMPER_COMM_TIMEOUT bounds the wait
  } catch (const Error& e) {
    std::fprintf(stderr, "temper: error: %s\n", e.what());  // what launch/main.cpp does
    abort_world(1);
  }
  FAIL() << "barrier returned without rank 1";
}

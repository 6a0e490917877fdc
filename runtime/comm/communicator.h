// Communicator: the collectives data parallelism needs, over Tensors (element counts always come
// from the tensors). Implementations: SingleProcessCommunicator (world size 1), MpiCommunicator
// (CPU tensors; how CI exercises multi-rank training) and NcclCommunicator (CUDA tensors, NCCL on
// its own stream). Every rank must call the same collectives in the same order.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "runtime/tensor.h"

namespace temper {

enum class ReduceOp { Sum, Avg };

// Seconds a collective waits for its peers before it throws: TEMPER_COMM_TIMEOUT when set
// (0 = wait forever), else 60.
double default_collective_timeout();

// A collective in flight. wait() completes it: on the host for MPI; for NCCL it makes the compute
// stream wait for the communication stream (no host block).
class CommWork {
 public:
  virtual ~CommWork() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;  // "single" | "mpi" | "nccl"

  // t (f32, bf16, f16 or i32) reduced across ranks in place. MPI reduces bf16/f16 through an f32
  // copy; Avg needs a floating-point dtype.
  virtual void all_reduce(const Tensor& t, ReduceOp op) = 0;
  virtual std::unique_ptr<CommWork> all_reduce_async(const Tensor& t, ReduceOp op) = 0;
  // in[world * n] -> out[n]: rank r receives the reduction of every rank's chunk r.
  // In place (NCCL's convention): out may be in's chunk `rank`; in's other chunks are then unspecified.
  virtual void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) = 0;
  // in[n] -> out[world * n]: chunk r of out is rank r's in. In place: in may be out's chunk `rank`.
  virtual void all_gather(const Tensor& out, const Tensor& in) = 0;
  virtual void broadcast(const Tensor& t, int root) = 0;
  virtual void barrier() = 0;

  // Host scalars (losses, counts, norms): reduced in f64.
  virtual double all_reduce_scalar(double v, ReduceOp op) = 0;

  // Failure detection: a collective whose peers do not all arrive within this many seconds throws
  // temper::Error instead of hanging (NCCL: host waits throw; a background watchdog aborts the job
  // when the host is blocked elsewhere); <= 0 waits forever.
  void set_collective_timeout(double seconds) { timeout_s_.store(seconds); }
  double collective_timeout() const { return timeout_s_.load(); }

 private:
  std::atomic<double> timeout_s_{default_collective_timeout()};
};

std::unique_ptr<Communicator> make_single_process_communicator();

}  // namespace temper

// NCCL communicator: collectives on CUDA tensors, on a communication stream of their own. Each
// collective records an event on the compute stream, the comm stream waits for it, NCCL runs on the
// comm stream and records a completion event; sync variants make the compute stream wait for that
// event (no host block), all_reduce_async hands it to CommWork::wait(). The unique id comes from
// rank 0 over MPI (world size 1: no MPI needed).
//
// Failure detection. Host waits (barrier, all_reduce_scalar, destruction) poll the completion event
// and ncclCommGetAsyncError within the collective timeout, then ncclCommAbort and throw. Because the
// host usually blocks elsewhere (a cudaStreamSynchronize behind a collective that never ends), a
// watchdog thread also polls every in-flight collective; one overdue by the timeout plus a grace
// period, or an async NCCL error, makes it abort the communicator, log the error and end the job
// (abort_world), as no exception can reach a host thread stuck inside CUDA.
#include "runtime/comm/communicator_factory.h"

#ifdef TEMPER_WITH_NCCL
#include <nccl.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "runtime/comm/collective_checks.h"
#include "runtime/comm/comm_wait.h"
#include "runtime/comm/world.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/stream.h"
#include "runtime/logger.h"
#ifdef TEMPER_WITH_MPI
#include "runtime/comm/mpi_util.h"
#endif

#define TEMPER_NCCL_CHECK(call, comm)                                                                    \
  do {                                                                                                   \
    const ncclResult_t nccl_rc_ = (call);                                                                \
    if (nccl_rc_ != ncclSuccess)                                                                         \
      ::temper::detail::fail(#call, __FILE__, __LINE__, ::temper::nccl_error_message(nccl_rc_, (comm))); \
  } while (0)
#endif

namespace temper {

#ifdef TEMPER_WITH_NCCL
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kWatchdogGraceSeconds = 10;  // host waits time out first; the watchdog is the backstop
constexpr auto kWatchdogPeriod = std::chrono::milliseconds(100);

std::string nccl_error_message(ncclResult_t rc, ncclComm_t comm) {
  const char* last = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  return fmt::format("NCCL error: {}{}{}", ncclGetErrorString(rc), last && *last ? ": " : "", last ? last : "");
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32:
      return ncclFloat;
    case DType::BF16:
      return ncclBfloat16;
    case DType::F16:
      return ncclFloat16;
    case DType::I32:
      return ncclInt32;
    case DType::U8:
      return ncclUint8;
  }
  return ncclFloat;
}

void check_cuda_tensor(const Tensor& t, const char* op, const char* name) {
  TEMPER_CHECK(t.defined(), "{}: {} is undefined", op, name);
  TEMPER_CHECK(t.is_cuda(), "{}: {} is a CPU tensor but the NCCL communicator takes CUDA tensors", op, name);
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::Avg ? ncclAvg : ncclSum; }

// The rank-0 id reaches every rank over MPI. On timeout the buffer is leaked on purpose: MPI may
// still write it.
ncclUniqueId share_unique_id(ncclUniqueId id, int world_size, double timeout_s) {
  if (world_size == 1) return id;
#ifdef TEMPER_WITH_MPI
  TEMPER_CHECK(mpi_is_up(), "NCCL with {} ranks needs MPI initialised (init_world) to share its unique id", world_size);
  auto buf = std::make_unique<ncclUniqueId>(id);
  MPI_Request req = MPI_REQUEST_NULL;
  TEMPER_MPI_CHECK(MPI_Ibcast(buf.get(), sizeof(ncclUniqueId), MPI_BYTE, 0, MPI_COMM_WORLD, &req));
  if (!mpi_wait(&req, "broadcast of the NCCL unique id", timeout_s)) {
    buf.release();
    throw Error(timeout_message("broadcast of the NCCL unique id", timeout_s, world().rank));
  }
  return *buf;
#else
  (void)timeout_s;
  TEMPER_CHECK(false, "NCCL with {} ranks needs MPI to share its unique id; this build has no MPI", world_size);
  return id;
#endif
}

// A collective whose completion event has not yet been seen.
struct InFlight {
  std::shared_ptr<cuda::Event> done;
  std::string op;
  Clock::time_point issued;
};

enum class Order { AfterCompute, CommStreamOnly };

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator();
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  void all_reduce(const Tensor& t, ReduceOp op) override;
  std::unique_ptr<CommWork> all_reduce_async(const Tensor& t, ReduceOp op) override;
  void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) override;
  void all_gather(const Tensor& out, const Tensor& in) override;
  void broadcast(const Tensor& t, int root) override;
  void barrier() override;
  double all_reduce_scalar(double v, ReduceOp op) override;

  // Makes the compute stream wait for `done` (a collective's completion).
  void compute_waits(const cuda::Event& done);

 private:
  template <class Enqueue>
  std::shared_ptr<cuda::Event> launch(const char* op, Order order, Enqueue&& enqueue);
  void wait_on_host(const cuda::Event& done, const char* op);
  std::string async_error();
  std::string health(double overdue_after_s);  // "" when fine; pops completed collectives
  void fail(const std::string& why);
  void watchdog_loop();

  int rank_ = 0, size_ = 1, device_ = 0;
  ncclComm_t comm_ = nullptr;
  std::unique_ptr<cuda::Stream> stream_;
  double* host_scalar_ = nullptr;    // pinned, so the D2H copy is asynchronous and the wait bounded
  double* device_scalar_ = nullptr;  // all_reduce_scalar / barrier payload

  std::mutex mu_;  // guards in_flight_, failure_ and stop_ (shared with the watchdog)
  std::deque<InFlight> in_flight_;
  std::string failure_;
  bool aborted_ = false;
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread watchdog_;
};

// all_reduce_async's handle: wait() orders the compute stream after the collective.
class NcclWork final : public CommWork {
 public:
  NcclWork(NcclCommunicator* comm, std::shared_ptr<cuda::Event> done, Tensor keep)
      : comm_(comm), done_(std::move(done)), keep_(std::move(keep)) {}
  ~NcclWork() override {
    if (!done_) return;
    try {
      wait();
    } catch (const std::exception& e) {
      log_line(LogLevel::Error, true, fmt::format("all_reduce_async dropped unfinished: {}", e.what()));
    }
  }
  void wait() override {
    if (!done_) return;
    comm_->compute_waits(*done_);
    done_.reset();
    keep_ = Tensor();  // later compute-stream work is ordered after the collective now
  }

 private:
  NcclCommunicator* comm_;
  std::shared_ptr<cuda::Event> done_;
  Tensor keep_;
};

NcclCommunicator::NcclCommunicator() : rank_(world().rank), size_(world().world_size) {
  device_ = select_local_gpu();
  int count = 0;
  TEMPER_CUDA_CHECK(cudaGetDeviceCount(&count));
  TEMPER_CHECK(world().local_size <= count,
               "{} ranks on this node but {} visible GPUs: NCCL needs one GPU per rank (use fewer ranks per node "
               "or the MPI backend on CPU)",
               world().local_size, count);
  ncclUniqueId id{};
  if (rank_ == 0) TEMPER_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
  id = share_unique_id(id, size_, collective_timeout());
  TEMPER_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_), nullptr);
  stream_ = std::make_unique<cuda::Stream>();
  TEMPER_CUDA_CHECK(cudaMallocHost(&host_scalar_, sizeof(double)));
  TEMPER_CUDA_CHECK(cudaMalloc(&device_scalar_, sizeof(double)));
  watchdog_ = std::thread([this] { watchdog_loop(); });
}

NcclCommunicator::~NcclCommunicator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (!aborted_) {
    try {  // let in-flight collectives finish (bounded) before freeing their communicator
      cuda::Event last;
      last.record(stream_->get());
      wait_on_host(last, "shutdown");
      ncclCommDestroy(comm_);
    } catch (const std::exception& e) {
      log_line(LogLevel::Error, true, e.what());  // wait_on_host aborted the communicator
    }
  }
  cudaFree(device_scalar_);
  cudaFreeHost(host_scalar_);
}

template <class Enqueue>
std::shared_ptr<cuda::Event> NcclCommunicator::launch(const char* op, Order order, Enqueue&& enqueue) {
  const std::string problem = health(collective_timeout());
  if (!problem.empty()) fail(problem);
  {
    std::lock_guard<std::mutex> lock(mu_);
    TEMPER_CHECK(!aborted_, "{}: the NCCL communicator is unusable after an earlier failure: {}", op, failure_);
  }
  if (order == Order::AfterCompute) {
    cuda::Event ready;
    ready.record(cuda::compute_stream());
    stream_->wait(ready.get());
  }
  enqueue(stream_->get());
  auto done = std::make_shared<cuda::Event>();
  done->record(stream_->get());
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.push_back({done, op, Clock::now()});
  return done;
}

void NcclCommunicator::compute_waits(const cuda::Event& done) {
  TEMPER_CUDA_CHECK(cudaStreamWaitEvent(cuda::compute_stream(), done.get(), 0));
}

void NcclCommunicator::wait_on_host(const cuda::Event& done, const char* op) {
  cudaError_t status = cudaSuccess;
  std::string problem;
  const bool finished = poll_until(
      [&] {
        status = cudaEventQuery(done.get());
        if (status != cudaErrorNotReady) return true;
        std::lock_guard<std::mutex> lock(mu_);  // the watchdog may abort (free) comm_ meanwhile
        problem = aborted_ ? failure_ : async_error();
        return !problem.empty();
      },
      collective_timeout());
  if (!finished) problem = timeout_message(op, collective_timeout(), rank_);
  if (problem.empty()) {  // an abort by the watchdog ends the kernels too: the event completes
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_) problem = failure_;
  }
  if (problem.empty() && status != cudaSuccess)
    problem = fmt::format("{}: CUDA error {}: {}", op, cudaGetErrorName(status), cudaGetErrorString(status));
  if (problem.empty()) return;
  fail(problem);
  throw Error(problem);
}

std::string NcclCommunicator::async_error() {
  ncclResult_t rc = ncclSuccess;
  if (ncclCommGetAsyncError(comm_, &rc) != ncclSuccess) return "ncclCommGetAsyncError failed";
  if (rc == ncclSuccess || rc == ncclInProgress) return "";
  return fmt::format("rank {}: asynchronous {}", rank_, nccl_error_message(rc, comm_));
}

std::string NcclCommunicator::health(double overdue_after_s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (aborted_) return "";
  while (!in_flight_.empty()) {  // one stream: collectives complete in issue order
    const cudaError_t st = cudaEventQuery(in_flight_.front().done->get());
    if (st == cudaErrorNotReady) break;
    if (st != cudaSuccess)
      return fmt::format("rank {}: {} failed: CUDA error {}", rank_, in_flight_.front().op, cudaGetErrorString(st));
    in_flight_.pop_front();
  }
  std::string err = async_error();
  if (!err.empty()) return err;
  if (overdue_after_s > 0 && !in_flight_.empty()) {
    const double age = std::chrono::duration<double>(Clock::now() - in_flight_.front().issued).count();
    if (age > overdue_after_s) return timeout_message(in_flight_.front().op, std::round(age), rank_);
  }
  return "";
}

void NcclCommunicator::fail(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (aborted_) return;
  aborted_ = true;
  failure_ = why;
  ncclCommAbort(comm_);  // ends this rank's NCCL kernels, so the streams waiting on them move on
}

void NcclCommunicator::watchdog_loop() {
  cudaSetDevice(device_);  // the current device is per thread
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, kWatchdogPeriod);
    if (stop_ || aborted_) continue;
    lock.unlock();
    const double timeout = collective_timeout();
    const std::string problem = health(timeout > 0 ? timeout + kWatchdogGraceSeconds : 0);
    if (!problem.empty()) {
      fail(problem);
      log_line(LogLevel::Error, true, fmt::format("NCCL watchdog: {}; ending the job", problem));
      abort_world(1);
    }
    lock.lock();
  }
}

void NcclCommunicator::all_reduce(const Tensor& t, ReduceOp op) { all_reduce_async(t, op)->wait(); }

std::unique_ptr<CommWork> NcclCommunicator::all_reduce_async(const Tensor& t, ReduceOp op) {
  check_cuda_tensor(t, "all_reduce", "t");
  check_reduce_op(t.dtype(), op, "all_reduce");
  auto done = launch("all_reduce", Order::AfterCompute, [&](cudaStream_t s) {
    TEMPER_NCCL_CHECK(
        ncclAllReduce(t.raw(), t.raw(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), nccl_op(op), comm_, s),
        comm_);
  });
  return std::make_unique<NcclWork>(this, std::move(done), t);
}

void NcclCommunicator::reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) {
  check_cuda_tensor(out, "reduce_scatter", "out");
  check_cuda_tensor(in, "reduce_scatter", "in");
  check_reduce_op(in.dtype(), op, "reduce_scatter");
  check_reduce_scatter(out, in, size_, rank_);  // in place is NCCL's own convention
  auto done = launch("reduce_scatter", Order::AfterCompute, [&](cudaStream_t s) {
    TEMPER_NCCL_CHECK(ncclReduceScatter(in.raw(), out.raw(), static_cast<size_t>(out.numel()), nccl_type(in.dtype()),
                                        nccl_op(op), comm_, s),
                      comm_);
  });
  compute_waits(*done);
}

void NcclCommunicator::all_gather(const Tensor& out, const Tensor& in) {
  check_cuda_tensor(out, "all_gather", "out");
  check_cuda_tensor(in, "all_gather", "in");
  check_all_gather(out, in, size_, rank_);
  auto done = launch("all_gather", Order::AfterCompute, [&](cudaStream_t s) {
    TEMPER_NCCL_CHECK(
        ncclAllGather(in.raw(), out.raw(), static_cast<size_t>(in.numel()), nccl_type(in.dtype()), comm_, s), comm_);
  });
  compute_waits(*done);
}

void NcclCommunicator::broadcast(const Tensor& t, int root) {
  check_cuda_tensor(t, "broadcast", "t");
  TEMPER_CHECK(root >= 0 && root < size_, "broadcast: root {} is not a rank of a world of {}", root, size_);
  auto done = launch("broadcast", Order::AfterCompute, [&](cudaStream_t s) {
    TEMPER_NCCL_CHECK(
        ncclBroadcast(t.raw(), t.raw(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), root, comm_, s), comm_);
  });
  compute_waits(*done);
}

// A one-element all-reduce on the comm stream, waited on the host; it also drains earlier collectives.
void NcclCommunicator::barrier() {
  auto done = launch("barrier", Order::CommStreamOnly, [&](cudaStream_t s) {
    TEMPER_NCCL_CHECK(ncclAllReduce(device_scalar_, device_scalar_, 1, ncclDouble, ncclSum, comm_, s), comm_);
  });
  wait_on_host(*done, "barrier");
}

double NcclCommunicator::all_reduce_scalar(double v, ReduceOp op) {
  *host_scalar_ = v;
  auto done = launch("all_reduce_scalar", Order::CommStreamOnly, [&](cudaStream_t s) {
    TEMPER_CUDA_CHECK(cudaMemcpyAsync(device_scalar_, host_scalar_, sizeof(double), cudaMemcpyHostToDevice, s));
    TEMPER_NCCL_CHECK(ncclAllReduce(device_scalar_, device_scalar_, 1, ncclDouble, ncclSum, comm_, s), comm_);
    TEMPER_CUDA_CHECK(cudaMemcpyAsync(host_scalar_, device_scalar_, sizeof(double), cudaMemcpyDeviceToHost, s));
  });
  wait_on_host(*done, "all_reduce_scalar");
  return op == ReduceOp::Avg ? *host_scalar_ / size_ : *host_scalar_;
}

}  // namespace

bool nccl_built() { return true; }
std::unique_ptr<Communicator> make_nccl_communicator() { return std::make_unique<NcclCommunicator>(); }

#else  // no NCCL in this build

bool nccl_built() { return false; }
std::unique_ptr<Communicator> make_nccl_communicator() {
  throw Error("the NCCL communicator is not available: this build has no NCCL (a CUDA build with NCCL found)");
}

#endif  // TEMPER_WITH_NCCL

}  // namespace temper

// MPI communicator: collectives on CPU tensors over a private duplicate of MPI_COMM_WORLD.
// Every collective is issued non-blocking (MPI_Iallreduce, MPI_Ireduce_scatter_block, ...) and
// waited with a bounded MPI_Test loop (comm_wait.h), so a peer that died or stalls makes this rank
// throw temper::Error instead of hanging. bf16/f16 reductions go through an f32 copy (summed in f32,
// rounded once); all_gather/broadcast move their 16-bit values unchanged. Avg is the sum scaled on
// the host. Without an MPI progress thread, a non-blocking collective advances only while some rank
// is inside MPI, so all_reduce_async overlaps little on this backend: it is for correctness tests.
#include "runtime/comm/communicator_factory.h"

#ifdef TEMPER_WITH_MPI
#include <climits>
#include <cstring>
#include <vector>

#include "runtime/comm/collective_checks.h"
#include "runtime/comm/comm_wait.h"
#include "runtime/comm/mpi_util.h"
#include "runtime/logger.h"
#endif

namespace temper {

#ifdef TEMPER_WITH_MPI
namespace {

// One collective in flight. Heap-allocated so its buffers keep their addresses: after a timeout MPI
// may still write them, so a timed-out op is parked (never freed while the request may be active).
struct PendingOp {
  std::string name;
  MPI_Request req = MPI_REQUEST_NULL;
  ReduceOp op = ReduceOp::Sum;
  Tensor target;            // where the result lands (also keeps the user's buffer alive)
  std::vector<float> send;  // f32 copy of a bf16/f16 reduce_scatter input
  std::vector<float> recv;  // result staged here (f32, or raw 32-bit values), then stored to target
  double scalar = 0;        // all_reduce_scalar's value
};

bool is_half(DType t) { return t == DType::BF16 || t == DType::F16; }

// Element type for moving values unchanged (gather, broadcast).
MPI_Datatype raw_type(DType t) {
  switch (t) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::I32:
      return MPI_INT;
    case DType::U8:
      return MPI_UINT8_T;
    case DType::BF16:
    case DType::F16:
      return MPI_UINT16_T;
  }
  return MPI_DATATYPE_NULL;
}

// Element type of the reduction buffer: halves are reduced as f32 copies.
MPI_Datatype reduce_type(DType t) { return t == DType::I32 ? MPI_INT : MPI_FLOAT; }

int mpi_count(int64_t n, const char* op) {
  TEMPER_CHECK(n <= INT_MAX, "{}: {} elements exceed MPI's int count; reduce in smaller buckets", op, n);
  return static_cast<int>(n);
}

void check_cpu(const Tensor& t, const char* op, const char* name) {
  TEMPER_CHECK(t.defined(), "{}: {} is undefined", op, name);
  TEMPER_CHECK(!t.is_cuda(),
               "{}: {} is a cuda tensor but the MPI communicator takes CPU tensors (GPU tensors need --comm nccl)", op,
               name);
}

std::vector<float> to_f32(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  const uint16_t* h = static_cast<const uint16_t*>(t.raw());
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.dtype() == DType::BF16 ? bf16_to_f32(h[i]) : f16_to_f32(h[i]);
  return v;
}

// recv (f32 values, or raw 32-bit values for f32/i32 targets) -> target's dtype.
void store(const Tensor& target, const std::vector<float>& recv) {
  if (!is_half(target.dtype())) {
    std::memcpy(target.raw(), recv.data(), target.nbytes());
    return;
  }
  uint16_t* h = static_cast<uint16_t*>(target.raw());
  for (size_t i = 0; i < recv.size(); ++i)
    h[i] = target.dtype() == DType::BF16 ? f32_to_bf16(recv[i]) : f32_to_f16(recv[i]);
}

void scale(float* p, size_t n, float s) {
  for (size_t i = 0; i < n; ++i) p[i] *= s;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    TEMPER_CHECK(mpi_is_up(), "the MPI communicator needs MPI initialised (init_world under mpirun/srun)");
    TEMPER_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    TEMPER_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    TEMPER_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    TEMPER_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce(const Tensor& t, ReduceOp op) override { complete(start_all_reduce(t, op)); }
  std::unique_ptr<CommWork> all_reduce_async(const Tensor& t, ReduceOp op) override;
  void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) override;
  void all_gather(const Tensor& out, const Tensor& in) override;
  void broadcast(const Tensor& t, int root) override;
  void barrier() override;
  double all_reduce_scalar(double v, ReduceOp op) override;

  // Waits for `op` within the collective timeout, then moves its result into place and returns it.
  // On timeout the op is parked, this communicator refuses further collectives, and it throws.
  std::unique_ptr<PendingOp> complete(std::unique_ptr<PendingOp> op);
  // After a failure: keeps `op` (MPI may still write its buffers) without waiting for it again.
  bool broken() const { return !broken_.empty(); }
  void park(std::unique_ptr<PendingOp> op) { parked_.push_back(std::move(op)); }

 private:
  std::unique_ptr<PendingOp> begin(const char* name, ReduceOp op = ReduceOp::Sum);
  std::unique_ptr<PendingOp> start_all_reduce(const Tensor& t, ReduceOp op);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::string broken_;                              // why this communicator is unusable ("" = fine)
  std::vector<std::unique_ptr<PendingOp>> parked_;  // timed-out ops MPI may still write
};

// all_reduce_async's handle: wait() completes the request on the host.
class MpiWork final : public CommWork {
 public:
  MpiWork(MpiCommunicator* comm, std::unique_ptr<PendingOp> op) : comm_(comm), op_(std::move(op)) {}
  ~MpiWork() override {
    if (!op_) return;
    if (comm_->broken()) {  // that failure was thrown already: park without a second wait
      comm_->park(std::move(op_));
      return;
    }
    try {
      wait();
    } catch (const std::exception& e) {
      log_line(LogLevel::Error, true, fmt::format("all_reduce_async dropped unfinished: {}", e.what()));
    }
  }
  void wait() override {
    if (op_) comm_->complete(std::move(op_));
  }

 private:
  MpiCommunicator* comm_;
  std::unique_ptr<PendingOp> op_;
};

MpiCommunicator::~MpiCommunicator() {
  if (!mpi_is_up()) return;  // finalised already: MPI has released everything
  for (std::unique_ptr<PendingOp>& op : parked_) {
    int flag = 0;
    MPI_Test(&op->req, &flag, MPI_STATUS_IGNORE);
    if (!flag) op.release();  // still active: MPI may write its buffers later, so never free them
  }
  MPI_Comm_free(&comm_);  // pending operations keep the communicator until they finish
}

std::unique_ptr<PendingOp> MpiCommunicator::begin(const char* name, ReduceOp op) {
  TEMPER_CHECK(broken_.empty(), "{}: the MPI communicator is unusable after an earlier failure: {}", name, broken_);
  auto p = std::make_unique<PendingOp>();
  p->name = name;
  p->op = op;
  return p;
}

std::unique_ptr<PendingOp> MpiCommunicator::complete(std::unique_ptr<PendingOp> op) {
  if (!broken_.empty()) {  // started before the failure (buckets in flight): no second timeout each
    const std::string name = op->name;
    park(std::move(op));
    throw Error(fmt::format("{}: the MPI communicator is unusable after an earlier failure: {}", name, broken_));
  }
  bool done = false;
  try {
    done = mpi_wait(&op->req, op->name.c_str(), collective_timeout());
  } catch (const Error& e) {
    broken_ = e.what();
    parked_.push_back(std::move(op));
    throw;
  }
  if (!done) {
    broken_ = timeout_message(op->name, collective_timeout(), rank_);
    parked_.push_back(std::move(op));
    throw Error(broken_);
  }
  const float inv = 1.0f / static_cast<float>(size_);
  if (!op->recv.empty()) {
    if (op->op == ReduceOp::Avg) scale(op->recv.data(), op->recv.size(), inv);
    store(op->target, op->recv);
  } else if (op->op == ReduceOp::Avg && op->target.defined()) {
    scale(op->target.data<float>(), static_cast<size_t>(op->target.numel()), inv);
  }
  return op;
}

std::unique_ptr<PendingOp> MpiCommunicator::start_all_reduce(const Tensor& t, ReduceOp op) {
  check_cpu(t, "all_reduce", "t");
  check_reduce_op(t.dtype(), op, "all_reduce");
  auto p = begin("all_reduce", op);
  p->target = t;
  if (t.numel() == 0) return p;  // every rank holds the same empty tensor: nothing to exchange
  const int n = mpi_count(t.numel(), "all_reduce");
  void* buf = t.raw();
  if (is_half(t.dtype())) {
    p->recv = to_f32(t);
    buf = p->recv.data();
  }
  TEMPER_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf, n, reduce_type(t.dtype()), MPI_SUM, comm_, &p->req));
  return p;
}

std::unique_ptr<CommWork> MpiCommunicator::all_reduce_async(const Tensor& t, ReduceOp op) {
  return std::make_unique<MpiWork>(this, start_all_reduce(t, op));
}

void MpiCommunicator::reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) {
  check_cpu(out, "reduce_scatter", "out");
  check_cpu(in, "reduce_scatter", "in");
  check_reduce_op(in.dtype(), op, "reduce_scatter");
  const Overlap ov = check_reduce_scatter(out, in, size_, rank_);
  auto p = begin("reduce_scatter", op);
  p->target = out;
  if (out.numel() == 0) return;
  const int n = mpi_count(out.numel(), "reduce_scatter");
  const void* send = in.raw();
  void* recv = out.raw();
  if (is_half(in.dtype())) {
    p->send = to_f32(in);
    send = p->send.data();
  }
  // MPI's in-place convention (result at the start of the buffer) differs from ours (chunk `rank`),
  // so halves and aliased outputs receive into a staging buffer stored to out on completion.
  if (is_half(in.dtype()) || ov == Overlap::OwnChunk) {
    p->recv.resize(static_cast<size_t>(n));
    recv = p->recv.data();
  }
  TEMPER_MPI_CHECK(MPI_Ireduce_scatter_block(send, recv, n, reduce_type(in.dtype()), MPI_SUM, comm_, &p->req));
  complete(std::move(p));
}

void MpiCommunicator::all_gather(const Tensor& out, const Tensor& in) {
  check_cpu(out, "all_gather", "out");
  check_cpu(in, "all_gather", "in");
  const Overlap ov = check_all_gather(out, in, size_, rank_);
  auto p = begin("all_gather");
  p->target = out;
  if (in.numel() == 0) return;
  const int n = mpi_count(in.numel(), "all_gather");
  const MPI_Datatype type = raw_type(in.dtype());
  const void* send = ov == Overlap::OwnChunk ? MPI_IN_PLACE : in.raw();  // MPI's convention is ours here
  TEMPER_MPI_CHECK(MPI_Iallgather(send, n, type, out.raw(), n, type, comm_, &p->req));
  complete(std::move(p));
}

void MpiCommunicator::broadcast(const Tensor& t, int root) {
  check_cpu(t, "broadcast", "t");
  TEMPER_CHECK(root >= 0 && root < size_, "broadcast: root {} is not a rank of a world of {}", root, size_);
  auto p = begin("broadcast");
  p->target = t;
  if (t.numel() == 0) return;
  TEMPER_MPI_CHECK(MPI_Ibcast(t.raw(), mpi_count(t.numel(), "broadcast"), raw_type(t.dtype()), root, comm_, &p->req));
  complete(std::move(p));
}

void MpiCommunicator::barrier() {
  auto p = begin("barrier");
  TEMPER_MPI_CHECK(MPI_Ibarrier(comm_, &p->req));
  complete(std::move(p));
}

double MpiCommunicator::all_reduce_scalar(double v, ReduceOp op) {
  auto p = begin("all_reduce_scalar");
  p->scalar = v;
  TEMPER_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, &p->scalar, 1, MPI_DOUBLE, MPI_SUM, comm_, &p->req));
  p = complete(std::move(p));
  return op == ReduceOp::Avg ? p->scalar / size_ : p->scalar;
}

}  // namespace

bool mpi_built() { return true; }
std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

#else  // no MPI in this build

bool mpi_built() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator() {
  throw Error("the MPI communicator is not available: this build has no MPI; rebuild with -DTEMPER_MPI=ON");
}

#endif  // TEMPER_WITH_MPI

}  // namespace temper

// World size 1: every collective is the identity (reduce_scatter/all_gather copy). Arguments are
// checked as the multi-rank backends check them, so a misuse shows up already at world size 1.
#include "runtime/comm/collective_checks.h"
#include "runtime/comm/communicator.h"

namespace temper {
namespace {

class DoneWork : public CommWork {
 public:
  void wait() override {}
};

class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce(const Tensor& t, ReduceOp op) override { check_reduce_op(t.dtype(), op, "all_reduce"); }
  std::unique_ptr<CommWork> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_reduce_op(t.dtype(), op, "all_reduce");
    return std::make_unique<DoneWork>();
  }
  void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) override {
    check_reduce_op(in.dtype(), op, "reduce_scatter");
    check_reduce_scatter(out, in, 1, 0);
    copy(out, in);
  }
  void all_gather(const Tensor& out, const Tensor& in) override {
    check_all_gather(out, in, 1, 0);
    copy(out, in);
  }
  void broadcast(const Tensor&, int root) override {
    TEMPER_CHECK(root == 0, "broadcast: root {} is not a rank of a world of 1", root);
  }
  void barrier() override {}
  double all_reduce_scalar(double v, ReduceOp) override { return v; }

 private:
  static void copy(const Tensor& out, const Tensor& in) {
    if (out.raw() != in.raw()) out.copy_from(in);
  }
};

}  // namespace

std::unique_ptr<Communicator> make_single_process_communicator() {
  return std::make_unique<SingleProcessCommunicator>();
}

}  // namespace temper

// GradReducer: sums gradients across data-parallel ranks in buckets of the flat gradient buffer.
// Buckets are contiguous offset ranges built in reverse parameter order (the order backward
// produces gradients). On the last micro-step of an accumulation, each bucket's collective starts
// as soon as backward reports all its parameters ready, so communication overlaps the rest of
// backward; finish() waits for the rest. Gradients are summed (not averaged): the trainer scales
// the loss by 1 / (targets across all ranks), so the sum is the global mean gradient, identical to
// one process running the whole batch.
//
// With ZeRO-1 (ShardMode::Zero1) there are no buckets: finish() reduce-scatters the whole buffer so
// each rank receives the summed gradients of its own shard.
#pragma once
#include <memory>
#include <vector>

#include "runtime/comm/communicator.h"
#include "runtime/train/parameter_store.h"

namespace temper {

enum class ShardMode { None, Zero1 };

class GradReducer {
 public:
  GradReducer(const ParameterStore& store, Communicator& comm, ShardMode mode, size_t bucket_bytes);
  // Call before each micro-step's backward; communication happens only when `last_micro_step`.
  void begin_backward(bool last_micro_step);
  // Backward's hook: parameter `id` has its final gradient for this micro-step.
  void on_grad_ready(int id);
  // Completes all reduction of the step. Returns the seconds spent waiting (exposed communication).
  double finish();
  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  ShardRange shard() const { return shard_; }
  // ZeRO-1: this rank's summed gradients [shard size] after finish(); otherwise the whole buffer.
  Tensor reduced_grads() const;

 private:
  struct Bucket {
    int64_t begin = 0, end = 0;  // element range of the flat gradient buffer
    std::vector<int> params;
    int pending = 0;
    std::unique_ptr<CommWork> work;
  };
  void build_buckets(size_t bucket_bytes);
  void launch(Bucket& b);

  const ParameterStore* store_;
  Communicator* comm_;
  ShardMode mode_;
  ShardRange shard_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_param_;
  std::vector<char> reported_;  // this backward: parameter already reported ready
  Tensor shard_grads_;          // ZeRO-1 reduce-scatter target
  bool active_ = false;
};

}  // namespace temper

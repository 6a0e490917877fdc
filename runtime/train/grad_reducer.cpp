// GradReducer implementation.
#include "runtime/train/grad_reducer.h"

#include <chrono>

#include "runtime/nvtx.h"

namespace temper {

GradReducer::GradReducer(const ParameterStore& store, Communicator& comm, ShardMode mode, size_t bucket_bytes)
    : store_(&store), comm_(&comm), mode_(mode) {
  // Only ZeRO-1 cuts the buffer into shards (padded to the world size for it); plain data
  // parallelism reduces the whole buffer, whatever its length.
  shard_ = mode_ == ShardMode::Zero1 ? shard_range(store.padded_numel(), comm.rank(), comm.world_size())
                                     : ShardRange{0, store.padded_numel()};
  // A real backend reduces even at world size 1 (how the NCCL path is exercised on one GPU).
  if (mode_ == ShardMode::None && comm.backend() != "single") build_buckets(bucket_bytes);
  if (mode_ == ShardMode::Zero1) shard_grads_ = Tensor::zeros({shard_.size()}, DType::F32, store.device());
}

Tensor GradReducer::reduced_grads() const {
  return mode_ == ShardMode::Zero1 ? shard_grads_ : store_->grads_flat_padded();
}

void GradReducer::build_buckets(size_t bucket_bytes) {
  bucket_of_param_.assign(static_cast<size_t>(store_->size()), -1);
  const int64_t limit = std::max<int64_t>(1, static_cast<int64_t>(bucket_bytes / sizeof(float)));
  for (int id = store_->size() - 1; id >= 0; --id) {
    const ParamInfo& p = store_->info(id);
    const int64_t n = shape_numel(p.shape);
    if (buckets_.empty() || buckets_.back().end - buckets_.back().begin >= limit) {
      buckets_.emplace_back();
      buckets_.back().end = p.offset + n;
    }
    Bucket& b = buckets_.back();
    b.begin = p.offset;  // reverse order: each parameter extends the bucket downwards
    b.params.push_back(id);
    bucket_of_param_[static_cast<size_t>(id)] = static_cast<int>(buckets_.size()) - 1;
  }
}

void GradReducer::begin_backward(bool last_micro_step) {
  active_ = last_micro_step && (comm_->backend() != "single" || mode_ == ShardMode::Zero1);
  reported_.assign(bucket_of_param_.size(), 0);
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.params.size());
    b.work.reset();
  }
}

void GradReducer::on_grad_ready(int id) {
  if (!active_ || buckets_.empty()) return;
  const auto i = static_cast<size_t>(id);
  TEMPER_CHECK(!reported_[i], "parameter {} reported ready twice", store_->info(id).name);
  reported_[i] = 1;
  Bucket& b = buckets_[static_cast<size_t>(bucket_of_param_[i])];
  if (--b.pending == 0) launch(b);
}

void GradReducer::launch(Bucket& b) {
  TEMPER_NVTX("grad_bucket_allreduce");
  b.work = comm_->all_reduce_async(store_->grads_flat().slice_flat(b.begin, {b.end - b.begin}), ReduceOp::Sum);
}

double GradReducer::finish() {
  if (!active_) return 0.0;
  TEMPER_NVTX("grad_reduce_finish");
  const auto t0 = std::chrono::steady_clock::now();
  if (mode_ == ShardMode::Zero1) {
    comm_->reduce_scatter(shard_grads_, store_->grads_flat_padded(), ReduceOp::Sum);
  } else {
    for (Bucket& b : buckets_) {
      if (b.pending > 0) launch(b);  // a parameter backward never reported (unused): reduce anyway
      b.work->wait();
    }
  }
  active_ = false;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace temper

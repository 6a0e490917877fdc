// ParameterStore implementation: registration, flat allocation, views.
#include "runtime/train/parameter_store.h"

#include <algorithm>

#include "kernels/elementwise.h"

namespace temper {

ShardRange shard_range(int64_t padded, int rank, int world_size) {
  TEMPER_CHECK(world_size > 0 && padded % world_size == 0, "flat buffer of {} elements is not padded to {} ranks",
               padded, world_size);
  const int64_t per = padded / world_size;
  return {rank * per, (rank + 1) * per};
}

int ParameterStore::add(const std::string& name, const Shape& shape, WeightDecay decay) {
  TEMPER_CHECK(!master_.defined(), "ParameterStore::add({}) after allocate()", name);
  TEMPER_CHECK(find(name) < 0, "duplicate parameter {}", name);
  ParamInfo p{name, shape, total_, decay};
  total_ += shape_numel(shape);
  params_.push_back(p);
  return static_cast<int>(params_.size()) - 1;
}

void ParameterStore::allocate(Device device, DType compute_dtype, int64_t pad_to, MasterCopy master_copy,
                              Grads grads) {
  TEMPER_CHECK(pad_to >= 1, "pad_to must be positive");
  device_ = device;
  compute_dtype_ = compute_dtype;
  padded_ = (total_ + pad_to - 1) / pad_to * pad_to;
  master_range_ = {0, padded_};
  master_aliases_compute_ = compute_dtype == DType::F32 && master_copy == MasterCopy::AliasWhenF32;
  const bool frozen_copy = grads == Grads::No && !master_aliases_compute_;
  master_ = Tensor::zeros({padded_}, DType::F32, frozen_copy ? Device::Cpu : device);
  if (grads == Grads::Yes) grads_ = Tensor::zeros({padded_}, DType::F32, device);
  compute_ = master_aliases_compute_ ? master_ : Tensor::zeros({padded_}, compute_dtype, device);
}

void ParameterStore::release_master() {
  TEMPER_CHECK(!trainable(), "release_master: the master weights of a trained store are needed");
  if (!master_aliases_compute_) master_ = Tensor();
}

Tensor ParameterStore::master_flat() const { return master_flat_padded().slice_flat(0, {total_}); }

const Tensor& ParameterStore::master_flat_padded() const {
  TEMPER_CHECK(master_.defined(), "the f32 master weights of this frozen store were released after loading");
  TEMPER_CHECK(!master_is_sharded(), "the master weights are sharded (ZeRO-1): gather them first");
  return master_;
}

Tensor ParameterStore::master_slice(int64_t begin, int64_t n) const {
  TEMPER_CHECK(master_.defined(), "the f32 master weights of this frozen store were released after loading");
  TEMPER_CHECK(begin >= master_range_.begin && begin + n <= master_range_.end,
               "master elements [{}, {}) outside this rank's [{}, {})", begin, begin + n, master_range_.begin,
               master_range_.end);
  return master_.slice_flat(begin - master_range_.begin, {n});
}

void ParameterStore::shard_master(ShardRange range) {
  TEMPER_CHECK(!master_aliases_compute_, "the master weights are the compute weights; they cannot be sharded");
  TEMPER_CHECK(!master_is_sharded(), "the master weights are already sharded");
  Tensor shard = Tensor::empty({range.size()}, DType::F32, device_);
  shard.copy_from(master_.slice_flat(range.begin, {range.size()}));
  master_ = shard;
  master_range_ = range;
}

void ParameterStore::set_whole_master(const Tensor& whole) {
  TEMPER_CHECK(!master_aliases_compute_ && whole.numel() == padded_ && whole.dtype() == DType::F32,
               "set_whole_master: expected a separate f32 master of {} elements", padded_);
  master_ = whole;
  master_range_ = {0, padded_};
}

int ParameterStore::find(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}

Tensor ParameterStore::param(int id) const { return compute_.slice_flat(info(id).offset, info(id).shape); }
Tensor ParameterStore::master(int id) const { return master_flat_padded().slice_flat(info(id).offset, info(id).shape); }
Tensor ParameterStore::grad(int id) const {
  TEMPER_CHECK(grads_.defined(), "gradient of frozen parameter {}", info(id).name);
  return grads_.slice_flat(info(id).offset, info(id).shape);
}

void ParameterStore::sync_compute_from_master() const {
  if (master_aliases_compute_) return;
  TEMPER_CHECK(master_.defined(), "sync_compute_from_master: the master weights were released");
  if (master_.device() == device_) {
    ops::cast(compute_.slice_flat(master_range_.begin, {master_range_.size()}), master_);
    return;
  }
  // A frozen store's host master: through the device in chunks (a bounded f32 staging buffer).
  constexpr int64_t kChunk = int64_t(1) << 24;
  for (int64_t done = 0; done < master_range_.size(); done += kChunk) {
    const int64_t n = std::min(kChunk, master_range_.size() - done);
    const Tensor staged = master_.slice_flat(done, {n}).to(device_);
    ops::cast(compute_.slice_flat(master_range_.begin + done, {n}), staged);
  }
}

}  // namespace temper

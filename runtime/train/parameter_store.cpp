// ParameterStore implementation: registration, flat allocation, views.
#include "runtime/train/parameter_store.h"

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

void ParameterStore::allocate(Device device, DType compute_dtype, int64_t pad_to) {
  TEMPER_CHECK(pad_to >= 1, "pad_to must be positive");
  device_ = device;
  compute_dtype_ = compute_dtype;
  padded_ = (total_ + pad_to - 1) / pad_to * pad_to;
  master_ = Tensor::zeros({padded_}, DType::F32, device);
  grads_ = Tensor::zeros({padded_}, DType::F32, device);
  compute_ = compute_dtype == DType::F32 ? master_ : Tensor::zeros({padded_}, compute_dtype, device);
}

int ParameterStore::find(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}

Tensor ParameterStore::param(int id) const { return compute_.slice_flat(info(id).offset, info(id).shape); }
Tensor ParameterStore::master(int id) const { return master_.slice_flat(info(id).offset, info(id).shape); }
Tensor ParameterStore::grad(int id) const { return grads_.slice_flat(info(id).offset, info(id).shape); }

void ParameterStore::sync_compute_from_master() const {
  if (compute_dtype_ != DType::F32) ops::cast(compute_, master_);
}

}  // namespace temper

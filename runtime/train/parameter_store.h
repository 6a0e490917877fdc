// ParameterStore: every trainable parameter lives in flat buffers, so a gradient bucket, an
// all-reduce or a ZeRO shard is just an offset range. Three buffers:
//   master  f32 [P]  the weights the optimizer updates (fp32 master weights)
//   compute     [P]  what forward/backward read: bf16 under mixed precision, else the master itself
//   grads   f32 [P]  accumulated gradients
// Parameters are registered in forward order; the DDP reducer walks them in reverse.
// Under ZeRO-1 with a separate compute copy the master buffer can be cut down to one rank's shard
// (shard_master): then only master_slice() inside that shard is valid until the whole master is
// put back (set_whole_master) for a save.
#pragma once
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace temper {

enum class WeightDecay { Apply, Skip };  // HF convention: no decay on biases and norm weights

// Whether the f32 master weights are the compute weights (fp32 compute) or a separate buffer.
// Separate is what mixed precision needs; with f32 compute it exists for tests of that path on CPU.
enum class MasterCopy { AliasWhenF32, Separate };

// Frozen parameters (a LoRA base) get no gradient buffer; blocks skip their weight gradients.
enum class Grads { Yes, No };

// A contiguous element range of the (padded) flat buffers: the whole model, or one rank's
// ZeRO-1 shard.
struct ShardRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

// Rank `rank`'s equal share of a flat buffer of `padded` elements (a multiple of world_size).
ShardRange shard_range(int64_t padded, int rank, int world_size);

struct ParamInfo {
  std::string name;  // checkpoint (HF) name
  Shape shape;
  int64_t offset = 0;  // elements into the flat buffers
  WeightDecay decay = WeightDecay::Apply;
};

class ParameterStore {
 public:
  // Register before allocate(); returns the parameter's id.
  int add(const std::string& name, const Shape& shape, WeightDecay decay);
  // Allocate the flat buffers on `device`; compute_dtype F32 makes compute alias master. The
  // buffers are padded with zeros to a multiple of `pad_to` elements (ZeRO-1 shards them evenly).
  void allocate(Device device, DType compute_dtype, int64_t pad_to = 1,
                MasterCopy master_copy = MasterCopy::AliasWhenF32, Grads grads = Grads::Yes);
  bool trainable() const { return grads_.defined(); }

  int size() const { return static_cast<int>(params_.size()); }
  int64_t numel() const { return total_; }
  int64_t padded_numel() const { return padded_; }
  const ParamInfo& info(int id) const { return params_.at(id); }
  int find(const std::string& name) const;  // -1 when absent
  Device device() const { return device_; }
  DType compute_dtype() const { return compute_dtype_; }

  Tensor param(int id) const;   // compute view
  Tensor master(int id) const;  // f32 master view (the master must be whole)
  Tensor grad(int id) const;    // f32 gradient view
  Tensor master_flat() const;   // [numel] (whole master only)
  Tensor compute_flat() const { return compute_.slice_flat(0, {total_}); }
  Tensor grads_flat() const { return grads_.slice_flat(0, {total_}); }
  const Tensor& master_flat_padded() const;  // whole master only
  const Tensor& compute_flat_padded() const { return compute_; }
  const Tensor& grads_flat_padded() const { return grads_; }
  // Elements [begin, begin + n) of the padded master, whole or sharded (must lie in the shard).
  Tensor master_slice(int64_t begin, int64_t n) const;

  bool master_aliases_compute() const { return master_aliases_compute_; }
  // A frozen store (Grads::No) with a separate compute copy keeps its f32 master on the host, for
  // loading only; release_master() then frees it (master() is an error afterwards).
  void release_master();
  bool master_is_sharded() const { return master_range_.size() != padded_; }
  ShardRange master_range() const { return master_range_; }
  // Keep only `range` of the master (a separate master only); frees the rest.
  void shard_master(ShardRange range);
  // Install a whole master buffer [padded] again (e.g. gathered from the shards for a save).
  void set_whole_master(const Tensor& whole);
  // Bytes of a separate master on the store's device (0 when aliased, on the host or released).
  size_t master_bytes() const {
    return master_aliases_compute_ || !master_.defined() || master_.device() != device_ ? 0 : master_.nbytes();
  }

  void zero_grads() const {
    if (grads_.defined()) grads_.zero_();
  }
  // Compute copy of the master's range, after loading or an update done elsewhere.
  void sync_compute_from_master() const;

 private:
  std::vector<ParamInfo> params_;
  int64_t total_ = 0, padded_ = 0;
  Device device_ = Device::Cpu;
  DType compute_dtype_ = DType::F32;
  Tensor master_, compute_, grads_;
  bool master_aliases_compute_ = true;
  ShardRange master_range_;  // the elements master_ holds
};

}  // namespace temper

// AdamW over a range of a ParameterStore's flat buffers (the whole model, or this rank's ZeRO-1
// shard): fp32 moment buffers for that range, decay only where the parameter asks for it (not
// biases and norms), gradients scaled first (global-norm clipping).
#pragma once
#include "kernels/adamw.h"
#include "runtime/train/parameter_store.h"

namespace temper {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

class AdamWOptimizer {
 public:
  // Whole model.
  AdamWOptimizer(ParameterStore& store, const AdamWConfig& cfg);
  // Elements [range.begin, range.end) of the padded flat buffers.
  AdamWOptimizer(ParameterStore& store, const AdamWConfig& cfg, ShardRange range);

  // Global L2 norm of the store's gradients (as torch.nn.utils.clip_grad_norm_ computes it).
  double grad_norm() const;
  // One update at learning rate lr from the store's gradients of the range.
  void step(float lr, float grad_scale);
  // The same from `grads` [range size] f32 (ZeRO-1: the reduce-scattered shard).
  void step(float lr, float grad_scale, const Tensor& grads);

  int steps_taken() const { return steps_; }
  void set_steps_taken(int s) { steps_ = s; }
  ShardRange range() const { return range_; }
  const Tensor& m() const { return m_; }
  const Tensor& v() const { return v_; }
  size_t state_bytes() const { return m_.nbytes() + v_.nbytes(); }

 private:
  void update_param_slice(int64_t begin, int64_t end, const ops::AdamWStep& s, const Tensor& grads);

  ParameterStore* store_;
  AdamWConfig cfg_;
  ShardRange range_;
  Tensor m_, v_;
  int steps_ = 0;
};

// torch's clip coefficient: min(1, max_norm / (norm + 1e-6)); max_norm <= 0 disables clipping.
float clip_scale(double grad_norm, float max_norm);

}  // namespace temper

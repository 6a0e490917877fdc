// AdamW over a ParameterStore: fp32 moment buffers laid out like the flat parameters,
// decay only where the parameter asks for it (not biases and norms), global-norm clipping.
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
  AdamWOptimizer(ParameterStore& store, const AdamWConfig& cfg);
  // Global L2 norm of the gradients (as torch.nn.utils.clip_grad_norm_ computes it).
  double grad_norm() const;
  // One update at learning rate lr; gradients are first scaled by grad_scale (clipping).
  void step(float lr, float grad_scale);
  int steps_taken() const { return steps_; }
  void set_steps_taken(int s) { steps_ = s; }
  const Tensor& m() const { return m_; }
  const Tensor& v() const { return v_; }
  size_t state_bytes() const { return m_.nbytes() + v_.nbytes(); }

 private:
  ParameterStore* store_;
  AdamWConfig cfg_;
  Tensor m_, v_;
  int steps_ = 0;
};

// torch's clip coefficient: min(1, max_norm / (norm + 1e-6)); max_norm <= 0 disables clipping.
float clip_scale(double grad_norm, float max_norm);

}  // namespace temper

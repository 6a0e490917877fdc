// AdamW with fp32 state and decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW).
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

struct AdamWStep {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  int step = 1;             // 1-based, for bias correction
  float grad_scale = 1.f;   // multiplies grads first (gradient clipping)
};

// param, m, v, grad: f32 [N]. When param_copy (bf16 or f32, [N]) is defined it receives the
// updated parameters (the low-precision compute copy under mixed precision).
void adamw_update(const Tensor& param, const Tensor& m, const Tensor& v, const Tensor& grad,
                  const AdamWStep& s, const Tensor& param_copy);

}  // namespace temper::ops

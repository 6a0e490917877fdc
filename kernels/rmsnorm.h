// RMSNorm over the last dimension (Llama): out = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps),
// statistics in f32 (as transformers' LlamaRMSNorm computes them in fp32).
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

// out[N,C], rstd[N] (f32, saved for backward), x[N,C], weight[C].
void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight, float eps);
// dx[N,C] overwritten; dweight[C] (f32) accumulated.
void rmsnorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dy, const Tensor& x,
                      const Tensor& weight, const Tensor& rstd);

}  // namespace temper::ops

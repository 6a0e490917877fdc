// LayerNorm over the last dimension (C), statistics in f32.
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

// out[N,C] = (x - mean) * rstd * weight + bias; mean[N], rstd[N] (f32) saved for backward.
void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& weight, const Tensor& bias, float eps);

// dx[N,C] is overwritten; dweight[C], dbias[C] (f32) are accumulated into.
void layernorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                        const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd);

}  // namespace temper::ops

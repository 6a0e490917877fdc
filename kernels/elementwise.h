// Elementwise helpers: residual add, in-place add/scale, dtype cast, tanh (BERT's pooler).
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

void add(const Tensor& out, const Tensor& a, const Tensor& b);  // out = a + b (same shape and dtype)
void add_inplace(const Tensor& a, const Tensor& b);             // a += b
void scale_inplace(const Tensor& x, float s);                   // x *= s
void cast(const Tensor& out, const Tensor& in);                 // f32 <-> bf16/f16 conversion, same numel
void tanh_forward(const Tensor& out, const Tensor& x);          // out = tanh(x) (may alias x)
void scale_rows(const Tensor& x, const Tensor& s);              // x[N,C] row i *= s[i] (s f32 [N])
// dx = dout * (1 - y^2) from the forward's output y (dx may alias dout).
void tanh_backward(const Tensor& dx, const Tensor& dout, const Tensor& y);

}  // namespace temper::ops

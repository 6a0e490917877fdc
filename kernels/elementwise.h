// Elementwise helpers: residual add, in-place add/scale, dtype cast.
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

void add(const Tensor& out, const Tensor& a, const Tensor& b);  // out = a + b (same shape and dtype)
void add_inplace(const Tensor& a, const Tensor& b);             // a += b
void scale_inplace(const Tensor& x, float s);                   // x *= s
void cast(const Tensor& out, const Tensor& in);                 // f32 <-> bf16/f16 conversion, same numel

}  // namespace temper::ops

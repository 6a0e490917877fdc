// Rotary position embedding, transformers' "rotate_half" convention: within each head of size HS,
// the first half pairs with the second: (x1, x2) -> (x1*cos - x2*sin, x2*cos + x1*sin), with
// angle(t, i) = position t times inv_freq[i], i < HS/2. The cos/sin tables come from the model
// (rope_theta and rope_scaling are applied when they are built: see rope_tables).
#pragma once
#include <vector>

#include "runtime/tensor.h"

namespace temper::ops {

// x[B,T,H,HS] rotated in place for positions 0..T-1; cos, sin: [T, HS/2] f32 on x's device.
void rope_forward(const Tensor& x, const Tensor& cos, const Tensor& sin);
// The inverse rotation, applied in place to the gradient d[B,T,H,HS].
void rope_backward(const Tensor& d, const Tensor& cos, const Tensor& sin);

}  // namespace temper::ops

// Global gradient norm (for clipping): sum of squares over a flat f32 buffer, returned to the host.
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

// f32, any shape. CPU: f32 sums over fixed 4096-element chunks, f64 across chunks (independent of
// the thread count); CUDA: f64 accumulation.
double sum_squares(const Tensor& x);

}  // namespace temper::ops

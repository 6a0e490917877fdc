// Global gradient norm (for clipping): sum of squares over a flat f32 buffer, returned to the host.
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

double sum_squares(const Tensor& x);  // f32, any shape; f64 accumulation on CPU

}  // namespace temper::ops

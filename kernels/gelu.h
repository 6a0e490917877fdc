// GELU, tanh approximation (GPT-2's "gelu_new").
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

void gelu_forward(const Tensor& out, const Tensor& x);                    // any shape
void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x);  // dx overwritten

}  // namespace temper::ops

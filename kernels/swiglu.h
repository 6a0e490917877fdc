// SwiGLU gating (Llama MLP): out = silu(gate) * up, silu(g) = g * sigmoid(g).
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up);  // all [N,H]
// dgate, dup overwritten from dout.
void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up);

}  // namespace temper::ops

// GELU: the tanh approximation (GPT-2's "gelu_new") or the exact erf form (BERT's "gelu").
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

enum class GeluKind { Tanh, Erf };

void gelu_forward(const Tensor& out, const Tensor& x, GeluKind kind = GeluKind::Tanh);  // any shape
// dx overwritten (may alias dout).
void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, GeluKind kind = GeluKind::Tanh);

}  // namespace temper::ops

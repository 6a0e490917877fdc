// Token (+ position) embedding: out[b,t,:] = wte[tokens[b,t],:] (+ wpe[t,:]).
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

// out[B,T,C]; tokens[B,T] i32 (each in [0,V)); wte[V,C]; wpe[P,C] with P >= T, or undefined for a
// token-only lookup (Llama, BERT's token types).
void embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe);

// dwte[V,C], dwpe[P,C] (f32; undefined when there is no position table) accumulated from dout[B,T,C].
void embedding_backward(const Tensor& dwte, const Tensor& dwpe, const Tensor& dout, const Tensor& tokens);

}  // namespace temper::ops

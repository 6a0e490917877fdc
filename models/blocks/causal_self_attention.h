// GPT-2 causal self-attention block: c_attn (fused q|k|v projection), causal flash attention read
// straight from the packed q|k|v, c_proj.
#pragma once
#include <string>

#include "models/blocks/linear.h"

namespace temper {

class CausalSelfAttention {
 public:
  struct Ctx {
    Tensor x, qkv, lse, y;  // x[B,T,C], qkv[B,T,3C], lse f32 [B,NH,T], y[B,T,C]
  };
  CausalSelfAttention(ParameterStore& store, const std::string& prefix, int64_t c, int n_head);
  Tensor forward(const Tensor& x, Ctx& ctx) const;                       // returns [B,T,C]
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;  // dx overwritten

 private:
  Linear c_attn_, c_proj_;
  int n_head_;
};

}  // namespace temper

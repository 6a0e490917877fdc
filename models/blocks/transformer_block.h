// Pre-LN transformer block (GPT-2): x + attn(ln_1(x)), then + mlp(ln_2(.)).
#pragma once
#include <string>

#include "models/blocks/causal_self_attention.h"
#include "models/blocks/layer_norm.h"
#include "models/blocks/mlp.h"

namespace temper {

struct TransformerBlockConfig {
  int64_t n_embd = 0;
  int n_head = 0;
  int64_t n_inner = 0;  // MLP hidden size
  float layer_norm_eps = 1e-5f;
};

class TransformerBlock {
 public:
  struct Ctx {
    LayerNorm::Ctx ln_1, ln_2;
    CausalSelfAttention::Ctx attn;
    Mlp::Ctx mlp;
    Tensor residual;  // x + attn(ln_1(x))
  };
  TransformerBlock(ParameterStore& store, const std::string& prefix, const TransformerBlockConfig& cfg);
  Tensor forward(const Tensor& x, Ctx& ctx) const;  // x, out: [B,T,C]
  // dx overwritten from dout; gradients of the block's parameters accumulated.
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;

 private:
  LayerNorm ln_1_;
  CausalSelfAttention attn_;
  LayerNorm ln_2_;
  Mlp mlp_;
};

}  // namespace temper

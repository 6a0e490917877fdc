// Llama decoder layer: x + attn(input_layernorm(x)), then + mlp(post_attention_layernorm(.)).
#pragma once
#include <string>

#include "models/blocks/gqa_attention.h"
#include "models/blocks/rms_norm.h"
#include "models/blocks/swiglu_mlp.h"

namespace temper {

struct LlamaBlockConfig {
  GqaConfig attn;
  int64_t intermediate = 0;
  Bias mlp_bias = Bias::Without;
  float rms_eps = 1e-6f;
};

class LlamaBlock {
 public:
  struct Ctx {
    RmsNorm::Ctx ln_1, ln_2;
    GqaAttention::Ctx attn;
    SwiGluMlp::Ctx mlp;
    Tensor residual;
  };
  LlamaBlock(ParameterStore& store, const std::string& prefix, const LlamaBlockConfig& cfg);
  Tensor forward(const Tensor& x, Ctx& ctx) const;
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;  // dx overwritten

 private:
  RmsNorm input_norm_;
  GqaAttention attn_;
  RmsNorm post_norm_;
  SwiGluMlp mlp_;
};

}  // namespace temper

// Llama-family self-attention: q/k/v projections (grouped-query: NKV <= NH key/value heads),
// rotary position embedding on q and k, exact causal attention, o_proj.
#pragma once
#include <string>
#include <vector>

#include "models/blocks/torch_linear.h"

namespace temper {

struct GqaConfig {
  int64_t hidden = 0;
  int n_head = 0, n_kv_head = 0;
  int64_t head_dim = 0;
  Bias qkv_bias = Bias::Without;  // Qwen2: q/k/v have biases
  Bias o_bias = Bias::Without;
  std::vector<float> inv_freq;  // [head_dim / 2], rope_theta and rope scaling applied
  LoraTargets lora;             // adapters on q/k/v/o_proj when targeted
};

class GqaAttention {
 public:
  struct Ctx {
    Tensor x, q, k, v, att, y;  // q, k after rotation; att[B,NH,T,T]; y[B,T,NH*HD]
    Tensor cos, sin;            // [T, HD/2] f32
  };
  GqaAttention(ParameterStore& store, const std::string& prefix, const GqaConfig& cfg);
  Tensor forward(const Tensor& x, Ctx& ctx) const;                            // x, out: [B,T,C]
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;  // dx overwritten

 private:
  void rope_tables(int64_t t, Device device, Ctx& ctx) const;
  GqaConfig cfg_;
  TorchLinear q_, k_, v_, o_;
};

}  // namespace temper

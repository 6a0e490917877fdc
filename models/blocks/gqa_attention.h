// Llama-family self-attention: q/k/v projections (grouped-query: NKV <= NH key/value heads),
// rotary position embedding on q and k, causal flash attention, o_proj.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/blocks/torch_linear.h"

namespace temper {

// cos/sin tables [T, HD/2] f32 per (sequence length, device), built once and shared by every layer
// (they depend only on inv_freq).
class RopeCache {
 public:
  explicit RopeCache(std::vector<float> inv_freq) : inv_freq_(std::move(inv_freq)) {}
  const std::pair<Tensor, Tensor>& get(int64_t t, Device device);
  int64_t half_dim() const { return static_cast<int64_t>(inv_freq_.size()); }

 private:
  std::vector<float> inv_freq_;
  std::map<std::pair<int64_t, Device>, std::pair<Tensor, Tensor>> tables_;
};

struct GqaConfig {
  int64_t hidden = 0;
  int n_head = 0, n_kv_head = 0;
  int64_t head_dim = 0;
  Bias qkv_bias = Bias::Without;  // Qwen2: q/k/v have biases
  Bias o_bias = Bias::Without;
  std::shared_ptr<RopeCache> rope;  // inv_freq [head_dim / 2] with rope_theta and scaling applied
  LoraTargets lora;             // adapters on q/k/v/o_proj when targeted
};

class GqaAttention {
 public:
  struct Ctx {
    Tensor x, q, k, v, lse, y;  // q, k after rotation; lse f32 [B,NH,T]; y[B,T,NH*HD]
    Tensor cos, sin;            // [T, HD/2] f32
  };
  GqaAttention(ParameterStore& store, const std::string& prefix, const GqaConfig& cfg);
  Tensor forward(const Tensor& x, Ctx& ctx) const;                            // x, out: [B,T,C]
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;  // dx overwritten

 private:
  GqaConfig cfg_;
  TorchLinear q_, k_, v_, o_;
};

}  // namespace temper

// Linear layer in torch.nn.Linear layout (Llama family): weight [out, in], y = x W^T (+ b), with an
// optional LoRA adapter (PEFT's): y += (alpha / r) * (x A^T) B^T, A [r, in], B [out, r] living in a
// separate trainable store. A frozen base store gets no weight gradients.
#pragma once
#include <set>
#include <string>

#include "runtime/train/parameter_store.h"

namespace temper {

enum class Bias { With, Without };

struct LoraSpec {
  int64_t r = 0;  // 0 = no adapter
  float alpha = 0.f;
  ParameterStore* store = nullptr;  // where lora_A / lora_B are registered
  float scale() const { return r > 0 ? alpha / static_cast<float>(r) : 0.f; }
};

// Which projections of a model get adapters (PEFT's target_modules: q_proj, k_proj, v_proj, o_proj,
// gate_proj, up_proj, down_proj).
struct LoraTargets {
  int64_t r = 0;
  float alpha = 16.f;
  std::set<std::string> modules;
  ParameterStore* store = nullptr;
  LoraSpec for_module(const std::string& module) const {
    return modules.count(module) ? LoraSpec{r, alpha, store} : LoraSpec();
  }
};

class TorchLinear {
 public:
  TorchLinear(ParameterStore& store, const std::string& prefix, int64_t in, int64_t out, Bias bias,
              const LoraSpec& lora = LoraSpec());
  void forward(const Tensor& y, const Tensor& x) const;  // y[N,out] from x[N,in]
  // Base: dW += dy^T x (db += sum dy) unless frozen; adapter: dA, dB accumulated; dx[N,in] overwritten
  // when defined.
  void backward(const Tensor& dx, const Tensor& dy, const Tensor& x) const;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  Tensor lora_hidden(const Tensor& x) const;  // (x A^T) * scale, [N, r]

  const ParameterStore* store_;
  int weight_, bias_ = -1;
  int64_t in_, out_;
  LoraSpec lora_;
  int lora_a_ = -1, lora_b_ = -1;
};

}  // namespace temper

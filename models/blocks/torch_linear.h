// Linear layer in torch.nn.Linear layout (Llama family): weight [out, in], y = x W^T (+ b), with an
// optional LoRA adapter (PEFT's): y += (alpha / r) * (x A^T) B^T, A [r, in], B [out, r] living in a
// separate trainable store. A frozen base store gets no weight gradients. Under QLoRA the weight
// lives in a QuantizedStore instead and the matmuls dequantize it on the fly.
#pragma once
#include <set>
#include <string>

#include "runtime/train/parameter_store.h"
#include "runtime/train/quantized_store.h"

namespace temper {

enum class Bias { With, Without };

// LoRA dropout (PEFT's lora_dropout, on the adapter's input). The model owns it: it sets `stream`
// before each training forward and `active` only while training. A layer's masks are drawn from
// (seed, stream, layer name), so backward and recomputed forwards redraw the same ones.
struct LoraDropout {
  float p = 0.f;
  uint64_t seed = 0;
  uint64_t stream = 0;
  bool active = false;
};

struct LoraSpec {
  int64_t r = 0;  // 0 = no adapter
  float alpha = 0.f;
  ParameterStore* store = nullptr;      // where lora_A / lora_B are registered
  QuantizedStore* quantized = nullptr;  // QLoRA: where the frozen base weight is registered
  const LoraDropout* dropout = nullptr;  // none when null
  float scale() const { return r > 0 ? alpha / static_cast<float>(r) : 0.f; }
};

// Which projections of a model get adapters (PEFT's target_modules: q_proj, k_proj, v_proj, o_proj,
// gate_proj, up_proj, down_proj).
struct LoraTargets {
  int64_t r = 0;
  float alpha = 16.f;
  std::set<std::string> modules;
  ParameterStore* store = nullptr;
  QuantizedStore* quantized = nullptr;  // QLoRA: every projection's base weight, adapted or not
  const LoraDropout* dropout = nullptr;
  LoraSpec for_module(const std::string& module) const {
    LoraSpec spec;
    spec.quantized = quantized;
    if (modules.count(module)) {
      spec.r = r;
      spec.alpha = alpha;
      spec.store = store;
      spec.dropout = dropout;
    }
    return spec;
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
  Tensor lora_input(const Tensor& x) const;   // x, or dropout(x) while training with dropout
  Tensor lora_hidden(const Tensor& xa) const;  // (xa A^T) * scale, [N, r] from the adapter's input
  bool dropping() const { return lora_.dropout && lora_.dropout->active && lora_.dropout->p > 0.f; }
  uint64_t dropout_seed() const;

  const ParameterStore* store_;
  int weight_ = -1, bias_ = -1;
  int quantized_weight_ = -1;  // id in lora_.quantized under QLoRA (then weight_ = -1)
  int64_t in_, out_;
  LoraSpec lora_;
  int lora_a_ = -1, lora_b_ = -1;
  uint64_t name_hash_ = 0;  // tells layers' dropout masks apart
};

}  // namespace temper

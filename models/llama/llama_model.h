// Llama-family causal LM (Llama, Mistral, Qwen2): token embedding, N decoder layers (RMSNorm,
// grouped-query attention with rotary embeddings, SwiGLU MLP), final RMSNorm, lm_head (tied to the
// embedding or not). Hand-written forward/backward over flat parameter buffers, like GPT-2.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "models/blocks/block_stack.h"
#include "models/blocks/llama_block.h"
#include "models/llama/llama_config.h"
#include "runtime/train/causal_lm.h"

namespace temper {

// QLoRA: the base projections stay quantized on the device. KeepFileTypes = a GGUF file's own
// block types (an HF checkpoint has none); Quantize = quantized to `base_quant_type` at load.
enum class BaseQuant { Off, KeepFileTypes, Quantize };

// LoRA: r > 0 freezes the base (no gradients) and trains adapters on the named projections.
struct LoraOptions {
  int64_t r = 0;
  float alpha = 16.f;
  std::set<std::string> modules = {"q_proj", "v_proj"};  // PEFT's default for Llama
  uint64_t seed = 0;
  float dropout = 0.f;  // PEFT's lora_dropout: on the adapters' inputs, while training only
  BaseQuant base_quant = BaseQuant::Off;
  GgmlType base_quant_type = GgmlType::Q4_0;
  float scale() const { return r > 0 ? alpha / static_cast<float>(r) : 0.f; }
};

class LlamaModel : public CausalLm {
 public:
  LlamaModel(const LlamaConfig& cfg, Device device, DType compute_dtype, int64_t pad_to = 1,
             MasterCopy master_copy = MasterCopy::AliasWhenF32, const LoraOptions& lora = LoraOptions());
  const LlamaConfig& config() const { return cfg_; }
  const LoraOptions& lora() const { return lora_; }
  bool uses_lora() const { return lora_.r > 0; }
  // Where the base weights came from (recorded in a LoRA adapter's config).
  void set_source(const std::string& path) { source_ = path; }

  // The trainable parameters: the adapters under LoRA, else the whole model.
  ParameterStore& params() override { return uses_lora() ? adapters_ : store_; }
  const ParameterStore& params() const override { return uses_lora() ? adapters_ : store_; }
  // The base model's weights (what checkpoints load into and full checkpoints save).
  ParameterStore& base_params() { return store_; }
  const ParameterStore& base_params() const { return store_; }
  // QLoRA's quantized projection weights (nullptr unless LoraOptions::base_quant is on).
  QuantizedStore* quantized_base() { return quantized_.get(); }
  // Loaders call this once every base weight is in: fills the compute copy, frees a frozen base's
  // f32 master (kept on the host while loading) and logs the weights' device memory.
  void finish_base_load();
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t max_positions() const override { return cfg_.max_positions; }
  std::string model_type() const override { return cfg_.model_type; }
  double train_flops_per_token(int64_t seq_len) const override;

  Tensor forward(const Tensor& tokens) override;
  LossSum backward(const Tensor& targets, int ignore_index, float dloss) override;
  LossSum evaluate(const Tensor& tokens, const Tensor& targets, int ignore_index) override;
  // Full model in HF layout; under LoRA only the adapters, in PEFT's format.
  void save_pretrained(const std::string& dir) const override;
  void set_recompute(bool on) override { recompute_ = on ? Recompute::On : Recompute::Off; }
  nlohmann::json training_settings() const override;
  // Arms LoRA dropout for the next forward (and its backward): only the trainer's forwards drop.
  void set_rng_stream(uint64_t stream) override {
    dropout_.stream = stream;
    dropout_armed_ = true;
  }

 private:
  struct Ctx {
    Tensor tokens, x0, logits;
    RmsNorm::Ctx norm;
  };
  LossSum cross_entropy(const Tensor& targets, int ignore_index, float dloss, bool want_grad);
  void backward_from_dlogits();
  int head_id() const { return lm_head_ >= 0 ? lm_head_ : embed_; }

  void init_adapters();

  LlamaConfig cfg_;
  LoraOptions lora_;
  std::string source_;
  ParameterStore store_, adapters_;
  std::unique_ptr<QuantizedStore> quantized_;
  LoraDropout dropout_;  // read by every adapter; active during training forwards only
  bool dropout_armed_ = false;
  int embed_ = -1, lm_head_ = -1, norm_first_ = -1;
  std::vector<LlamaBlock> blocks_;
  std::vector<std::pair<int, int>> block_param_ids_;
  std::unique_ptr<RmsNorm> norm_;
  BlockStack<LlamaBlock> stack_;
  Recompute recompute_ = Recompute::Off;
  Ctx ctx_;
};

}  // namespace temper

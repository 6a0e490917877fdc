// Llama-family causal LM (Llama, Mistral, Qwen2): token embedding, N decoder layers (RMSNorm,
// grouped-query attention with rotary embeddings, SwiGLU MLP), final RMSNorm, lm_head (tied to the
// embedding or not). Hand-written forward/backward over flat parameter buffers, like GPT-2.
#pragma once
#include <memory>
#include <vector>

#include "models/blocks/block_stack.h"
#include "models/blocks/llama_block.h"
#include "models/llama/llama_config.h"
#include "runtime/train/causal_lm.h"

namespace temper {

class LlamaModel : public CausalLm {
 public:
  LlamaModel(const LlamaConfig& cfg, Device device, DType compute_dtype, int64_t pad_to = 1,
             MasterCopy master_copy = MasterCopy::AliasWhenF32);
  const LlamaConfig& config() const { return cfg_; }

  ParameterStore& params() override { return store_; }
  const ParameterStore& params() const override { return store_; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t max_positions() const override { return cfg_.max_positions; }
  std::string model_type() const override { return cfg_.model_type; }
  double train_flops_per_token(int64_t seq_len) const override;

  Tensor forward(const Tensor& tokens) override;
  LossSum backward(const Tensor& targets, int ignore_index, float dloss) override;
  LossSum evaluate(const Tensor& tokens, const Tensor& targets, int ignore_index) override;
  void save_pretrained(const std::string& dir) const override;
  void set_recompute(bool on) override { recompute_ = on ? Recompute::On : Recompute::Off; }

 private:
  struct Ctx {
    Tensor tokens, x0, logits;
    RmsNorm::Ctx norm;
  };
  LossSum cross_entropy(const Tensor& targets, int ignore_index, float dloss, bool want_grad);
  void backward_from_dlogits();
  int head_id() const { return lm_head_ >= 0 ? lm_head_ : embed_; }

  LlamaConfig cfg_;
  ParameterStore store_;
  int embed_ = -1, lm_head_ = -1, norm_first_ = -1;
  std::vector<LlamaBlock> blocks_;
  std::vector<std::pair<int, int>> block_param_ids_;
  std::unique_ptr<RmsNorm> norm_;
  BlockStack<LlamaBlock> stack_;
  Recompute recompute_ = Recompute::Off;
  Ctx ctx_;
};

}  // namespace temper

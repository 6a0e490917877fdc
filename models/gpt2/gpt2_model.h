// GPT-2 language model: token + position embeddings, N pre-LN transformer blocks, final
// LayerNorm, lm_head tied to the token embedding. Hand-written forward/backward over flat
// parameter buffers (models/blocks), fp32 on CPU, bf16 activations + fp32 master on CUDA.
#pragma once
#include <memory>
#include <vector>

#include "models/blocks/block_stack.h"
#include "models/blocks/transformer_block.h"
#include "runtime/train/causal_lm.h"
#include "models/gpt2/gpt2_config.h"

namespace temper {

enum class InitMode { Zeros, Gpt2Random };

class Gpt2Model : public CausalLm {
 public:
  // pad_to: flat buffers padded to a multiple of this many elements (the world size for ZeRO-1).
  Gpt2Model(const Gpt2Config& cfg, Device device, DType compute_dtype, int64_t pad_to = 1,
            MasterCopy master_copy = MasterCopy::AliasWhenF32);
  const Gpt2Config& config() const { return cfg_; }

  ParameterStore& params() override { return store_; }
  const ParameterStore& params() const override { return store_; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t max_positions() const override { return cfg_.n_positions; }
  std::string model_type() const override { return "gpt2"; }
  double train_flops_per_token(int64_t seq_len) const override;

  Tensor forward(const Tensor& tokens) override;
  LossSum backward(const Tensor& targets, int ignore_index, float dloss) override;
  LossSum evaluate(const Tensor& tokens, const Tensor& targets, int ignore_index) override;
  void save_pretrained(const std::string& dir) const override;
  void set_recompute(bool on) override { recompute_ = on ? Recompute::On : Recompute::Off; }

  // GPT-2 initialisation (normal 0.02, residual projections scaled by 1/sqrt(2 n_layer)).
  void init_random(uint64_t seed);

 private:
  struct Ctx {
    Tensor tokens, x0, logits;
    LayerNorm::Ctx ln_f;
  };
  LossSum cross_entropy(const Tensor& targets, int ignore_index, float dloss, bool want_grad);
  void backward_from_dlogits();

  Gpt2Config cfg_;
  ParameterStore store_;
  int wte_ = -1, wpe_ = -1;
  std::vector<TransformerBlock> blocks_;
  std::vector<std::pair<int, int>> block_param_ids_;  // [first, end) parameter ids of each block
  std::unique_ptr<LayerNorm> ln_f_;
  BlockStack<TransformerBlock> stack_;
  Recompute recompute_ = Recompute::Off;
  Ctx ctx_;
};

}  // namespace temper

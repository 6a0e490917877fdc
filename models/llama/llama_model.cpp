// Llama-family forward/backward composition.
#include "models/llama/llama_model.h"

#include <cmath>
#include <random>

#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "models/blocks/lm_loss.h"
#include "runtime/logger.h"
#include "runtime/nvtx.h"

namespace temper {

LlamaModel::LlamaModel(const LlamaConfig& cfg, Device device, DType compute_dtype, int64_t pad_to,
                       MasterCopy master_copy, const LoraOptions& lora)
    : cfg_(cfg), lora_(lora) {
  TEMPER_CHECK(lora.base_quant == BaseQuant::Off || lora.r > 0, "a quantized base (QLoRA) needs LoRA adapters (r > 0)");
  TEMPER_CHECK(lora.dropout >= 0.f && lora.dropout < 1.f, "LoRA dropout {} is not in [0, 1)", lora.dropout);
  dropout_.p = lora.dropout;
  dropout_.seed = lora.seed * 0x9E3779B97F4A7C15ull + 0x5EEDull;
  if (lora.base_quant != BaseQuant::Off)  // keep: the file's own block sizes are checked when stored
    quantized_ = std::make_unique<QuantizedStore>(
        lora.base_quant == BaseQuant::Quantize ? lora.base_quant_type : GgmlType::F32, device);
  embed_ = store_.add("model.embed_tokens.weight", {cfg.vocab_size, cfg.hidden}, WeightDecay::Apply);
  LlamaBlockConfig bc;
  bc.attn = GqaConfig{cfg.hidden,
                      cfg.n_head,
                      cfg.n_kv_head,
                      cfg.head_dim,
                      cfg.qkv_bias ? Bias::With : Bias::Without,
                      cfg.o_bias ? Bias::With : Bias::Without,
                      std::make_shared<RopeCache>(llama_inv_freq(cfg)),
                      LoraTargets{lora.r, lora.alpha, lora.modules, &adapters_, quantized_.get(), &dropout_}};
  bc.intermediate = cfg.intermediate;
  bc.mlp_bias = cfg.mlp_bias ? Bias::With : Bias::Without;
  bc.rms_eps = cfg.rms_eps;
  blocks_.reserve(static_cast<size_t>(cfg.n_layer));
  const ParameterStore& trained = params();  // grad-ready ids refer to the trainable store
  for (int l = 0; l < cfg.n_layer; ++l) {
    const int first = trained.size();
    blocks_.emplace_back(store_, "model.layers." + std::to_string(l), bc);
    block_param_ids_.emplace_back(first, trained.size());
  }
  norm_first_ = store_.size();
  norm_ = std::make_unique<RmsNorm>(store_, "model.norm", cfg.hidden, cfg.rms_eps);
  if (!cfg.tie_embeddings)
    lm_head_ = store_.add("lm_head.weight", {cfg.vocab_size, cfg.hidden}, WeightDecay::Apply);
  if (!uses_lora()) {
    store_.allocate(device, compute_dtype, pad_to, master_copy);
    return;
  }
  TEMPER_CHECK(adapters_.size() > 0, "LoRA targets {} match no projection", lora.modules.size());
  store_.allocate(device, compute_dtype, 1, MasterCopy::AliasWhenF32, Grads::No);
  adapters_.allocate(device, compute_dtype, pad_to, master_copy);
  init_adapters();
}

void LlamaModel::finish_base_load() {
  store_.sync_compute_from_master();
  if (uses_lora()) store_.release_master();
  const double mib = 1.0 / (1 << 20);
  const double base = static_cast<double>(store_.compute_flat_padded().nbytes() + store_.master_bytes()) * mib;
  if (!quantized_) {
    log_info("base weights: {:.1f} MiB on {}", base, device_name(store_.device()));
    return;
  }
  const double q = static_cast<double>(quantized_->nbytes()) * mib;
  log_info("base weights: {:.1f} MiB on {} ({} quantized projections {:.1f} MiB, the rest {:.1f} MiB)", base + q,
           device_name(store_.device()), quantized_->size(), q, base);
}

// PEFT's initialisation: A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0, so the
// adapted model starts equal to the base.
void LlamaModel::init_adapters() {
  std::mt19937_64 rng(lora_.seed);
  for (int id = 0; id < adapters_.size(); ++id) {
    const ParamInfo& p = adapters_.info(id);
    Tensor host = Tensor::zeros(p.shape, DType::F32);
    if (p.name.find("lora_A") != std::string::npos) {
      const float bound = 1.f / std::sqrt(static_cast<float>(p.shape[1]));
      std::uniform_real_distribution<float> u(-bound, bound);
      for (int64_t i = 0; i < host.numel(); ++i) host.data<float>()[i] = u(rng);
    }
    adapters_.master(id).copy_from(host);
  }
  adapters_.sync_compute_from_master();
}

nlohmann::json LlamaModel::training_settings() const {
  if (!uses_lora()) return nlohmann::json::object();
  const char* quant[] = {"off", "keep", ggml_type_name(lora_.base_quant_type)};
  return {{"lora_dropout", lora_.dropout}, {"qlora", quant[static_cast<int>(lora_.base_quant)]}};
}

double LlamaModel::train_flops_per_token(int64_t seq_len) const {
  return 6.0 * static_cast<double>(cfg_.num_parameters()) +
         6.0 * cfg_.n_layer * seq_len * cfg_.n_head * cfg_.head_dim;
}

Tensor LlamaModel::forward(const Tensor& tokens) {
  TEMPER_NVTX("llama.forward");
  TEMPER_CHECK(tokens.ndim() == 2 && tokens.dtype() == DType::I32, "llama forward: tokens must be i32 [B,T], got {}",
               shape_str(tokens.shape()));
  const int64_t b = tokens.dim(0), t = tokens.dim(1), c = cfg_.hidden;
  TEMPER_CHECK(t <= cfg_.max_positions, "sequence length {} exceeds max_position_embeddings {}", t, cfg_.max_positions);
  const Device dev = store_.device();
  const DType dt = store_.compute_dtype();
  ctx_ = Ctx();
  dropout_.active = dropout_armed_;  // a training forward; backward and recomputation keep it
  dropout_armed_ = false;
  ctx_.tokens = tokens.device() == dev ? tokens : tokens.to(dev);
  ctx_.x0 = Tensor::empty({b, t, c}, dt, dev);
  ops::embedding_forward(ctx_.x0, ctx_.tokens, store_.param(embed_), Tensor());  // no position table
  const Tensor x = stack_.forward(blocks_, ctx_.x0, recompute_);
  Tensor h = norm_->forward(x, ctx_.norm);
  ctx_.logits = Tensor::empty({b, t, cfg_.vocab_size}, dt, dev);
  ops::matmul(ctx_.logits, h, ops::Trans::No, store_.param(head_id()), ops::Trans::Yes);
  return ctx_.logits;
}

LossSum LlamaModel::cross_entropy(const Tensor& targets, int ignore_index, float dloss, bool want_grad) {
  TEMPER_CHECK(ctx_.logits.defined(), "llama: backward/evaluate without a forward");
  return lm_cross_entropy(ctx_.logits, targets, ignore_index, dloss, want_grad ? LossGrad::Yes : LossGrad::No);
}

LossSum LlamaModel::backward(const Tensor& targets, int ignore_index, float dloss) {
  TEMPER_NVTX("llama.backward");
  const LossSum r = cross_entropy(targets, ignore_index, dloss, true);
  backward_from_dlogits();
  dropout_.active = false;
  ctx_ = Ctx();
  stack_.clear();
  return r;
}

void LlamaModel::backward_from_dlogits() {
  const Tensor& dlogits = ctx_.logits;
  const Tensor& h = ctx_.norm.out;
  Tensor dh = Tensor::empty(h.shape(), h.dtype(), h.device());
  ops::matmul(dh, dlogits, ops::Trans::No, store_.param(head_id()), ops::Trans::No);
  const bool full = store_.trainable();  // false under LoRA: the base is frozen
  if (full) ops::matmul(store_.grad(head_id()), dlogits, ops::Trans::Yes, h, ops::Trans::No, nullptr, 1.f);
  if (full && lm_head_ >= 0) notify_grad_ready(lm_head_, lm_head_ + 1);
  Tensor dx = Tensor::empty(h.shape(), h.dtype(), h.device());
  norm_->backward(dx, dh, ctx_.norm);
  if (full) notify_grad_ready(norm_first_, norm_first_ + 1);
  const Tensor dx0 = stack_.backward(blocks_, dx, [this](size_t l) {
    notify_grad_ready(block_param_ids_[l].first, block_param_ids_[l].second);
  });
  if (!full) return;
  ops::embedding_backward(store_.grad(embed_), Tensor(), dx0, ctx_.tokens);
  notify_grad_ready(embed_, embed_ + 1);
}

LossSum LlamaModel::evaluate(const Tensor& tokens, const Tensor& targets, int ignore_index) {
  dropout_armed_ = false;  // no dropout
  forward(tokens);
  const LossSum r = cross_entropy(targets, ignore_index, 0.f, false);
  ctx_ = Ctx();
  stack_.clear();
  return r;
}

}  // namespace temper

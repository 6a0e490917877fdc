// GPT-2 forward/backward composition and random initialisation.
#include "models/gpt2/gpt2_model.h"

#include <cmath>
#include <random>

#include "models/blocks/lm_loss.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "runtime/nvtx.h"

namespace temper {

Gpt2Model::Gpt2Model(const Gpt2Config& cfg, Device device, DType compute_dtype, int64_t pad_to,
                     MasterCopy master_copy)
    : cfg_(cfg) {
  wte_ = store_.add("transformer.wte.weight", {cfg.vocab_size, cfg.n_embd}, WeightDecay::Apply);
  wpe_ = store_.add("transformer.wpe.weight", {cfg.n_positions, cfg.n_embd}, WeightDecay::Apply);
  const TransformerBlockConfig bc{cfg.n_embd, cfg.n_head, cfg.mlp_hidden(), cfg.layer_norm_epsilon};
  blocks_.reserve(static_cast<size_t>(cfg.n_layer));
  for (int l = 0; l < cfg.n_layer; ++l) {
    const int first = store_.size();
    blocks_.emplace_back(store_, "transformer.h." + std::to_string(l), bc);
    block_param_ids_.emplace_back(first, store_.size());
  }
  ln_f_ = std::make_unique<LayerNorm>(store_, "transformer.ln_f", cfg.n_embd, cfg.layer_norm_epsilon);
  store_.allocate(device, compute_dtype, pad_to, master_copy);
}

double Gpt2Model::train_flops_per_token(int64_t seq_len) const {
  // 6 FLOPs per parameter per token for the matmuls (wpe and LN excluded, lm_head included via wte),
  // plus attention scores and values: 6 * n_layer * 2 * T * C (forward 2*2*T*C, backward twice that),
  // halved for the causal mask.
  const double n = static_cast<double>(cfg_.num_parameters() - cfg_.n_positions * cfg_.n_embd);
  return 6.0 * n + 6.0 * cfg_.n_layer * seq_len * cfg_.n_embd;
}

Tensor Gpt2Model::forward(const Tensor& tokens) {
  TEMPER_NVTX("gpt2.forward");
  TEMPER_CHECK(tokens.ndim() == 2 && tokens.dtype() == DType::I32, "gpt2 forward: tokens must be i32 [B,T], got {}",
               shape_str(tokens.shape()));
  const int64_t b = tokens.dim(0), t = tokens.dim(1), c = cfg_.n_embd;
  TEMPER_CHECK(t <= cfg_.n_positions, "sequence length {} exceeds n_positions {}", t, cfg_.n_positions);
  const Device dev = store_.device();
  ctx_ = Ctx();
  ctx_.tokens = tokens.device() == dev ? tokens : tokens.to(dev);
  ctx_.x0 = Tensor::empty({b, t, c}, store_.compute_dtype(), dev);
  ops::embedding_forward(ctx_.x0, ctx_.tokens, store_.param(wte_), store_.param(wpe_));
  const Tensor x = stack_.forward(blocks_, ctx_.x0, recompute_);
  Tensor h = ln_f_->forward(x, ctx_.ln_f);
  ctx_.logits = Tensor::empty({b, t, cfg_.vocab_size}, store_.compute_dtype(), dev);
  ops::matmul(ctx_.logits, h, ops::Trans::No, store_.param(wte_), ops::Trans::Yes);
  return ctx_.logits;
}

LossSum Gpt2Model::cross_entropy(const Tensor& targets, int ignore_index, float dloss, bool want_grad) {
  TEMPER_CHECK(ctx_.logits.defined(), "gpt2: backward/evaluate without a forward");
  return lm_cross_entropy(ctx_.logits, targets, ignore_index, dloss, want_grad ? LossGrad::Yes : LossGrad::No);
}

LossSum Gpt2Model::backward(const Tensor& targets, int ignore_index, float dloss) {
  TEMPER_NVTX("gpt2.backward");
  const LossSum r = cross_entropy(targets, ignore_index, dloss, true);  // logits now hold dlogits
  backward_from_dlogits();
  ctx_ = Ctx();
  stack_.clear();
  return r;
}

void Gpt2Model::backward_from_dlogits() {
  const Tensor& dlogits = ctx_.logits;
  const Tensor& h = ctx_.ln_f.out;
  Tensor dh = Tensor::empty(h.shape(), h.dtype(), h.device());
  ops::matmul(dh, dlogits, ops::Trans::No, store_.param(wte_), ops::Trans::No);
  ops::matmul(store_.grad(wte_), dlogits, ops::Trans::Yes, h, ops::Trans::No, nullptr, 1.f);
  Tensor dx = Tensor::empty(h.shape(), h.dtype(), h.device());
  ln_f_->backward(dx, dh, ctx_.ln_f);
  notify_grad_ready(block_param_ids_.empty() ? wpe_ + 1 : block_param_ids_.back().second, store_.size());  // ln_f
  const Tensor dx0 = stack_.backward(blocks_, dx, [this](size_t l) {
    notify_grad_ready(block_param_ids_[l].first, block_param_ids_[l].second);
  });
  ops::embedding_backward(store_.grad(wte_), store_.grad(wpe_), dx0, ctx_.tokens);
  notify_grad_ready(wte_, wpe_ + 1);
}

LossSum Gpt2Model::evaluate(const Tensor& tokens, const Tensor& targets, int ignore_index) {
  forward(tokens);
  const LossSum r = cross_entropy(targets, ignore_index, 0.f, false);
  ctx_ = Ctx();
  stack_.clear();
  return r;
}

void Gpt2Model::init_random(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const float proj_std = 0.02f / std::sqrt(2.f * static_cast<float>(cfg_.n_layer));
  for (int id = 0; id < store_.size(); ++id) {
    const ParamInfo& p = store_.info(id);
    Tensor host = Tensor::empty(p.shape, DType::F32);
    float* v = host.data<float>();
    const bool is_ln = p.name.find(".ln_") != std::string::npos;
    const bool is_bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    const bool is_proj = p.name.find("c_proj.weight") != std::string::npos;
    std::normal_distribution<float> normal(0.f, is_proj ? proj_std : 0.02f);
    for (int64_t i = 0; i < host.numel(); ++i) v[i] = is_bias ? 0.f : is_ln ? 1.f : normal(rng);
    store_.master(id).copy_from(host);
  }
  store_.sync_compute_from_master();
}

}  // namespace temper

// BertClassifier forward/backward composition.
#include "models/bert/bert_model.h"

#include <algorithm>
#include <random>

#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "models/blocks/classifier_loss.h"
#include "models/blocks/linear.h"
#include "runtime/nvtx.h"

namespace temper {
namespace {

Tensor to_device_i32(const Tensor& t, Device d, const char* what, const Shape& shape) {
  TEMPER_CHECK(t.dtype() == DType::I32 && t.shape() == shape, "bert: {} must be i32 {}, got {} {}", what,
               shape_str(shape), dtype_name(t.dtype()), shape_str(t.shape()));
  return t.device() == d ? t : t.to(d);
}

// rows[b] = x[b, 0, :] (the [CLS] position) and its adjoint.
void gather_first(const Tensor& rows, const Tensor& x) {
  const int64_t b = x.dim(0), t = x.dim(1), c = x.dim(2);
  for (int64_t i = 0; i < b; ++i) rows.slice_flat(i * c, {c}).copy_from(x.slice_flat(i * t * c, {c}));
}
void scatter_first(const Tensor& dx, const Tensor& drows) {
  const int64_t b = dx.dim(0), t = dx.dim(1), c = dx.dim(2);
  dx.zero_();
  for (int64_t i = 0; i < b; ++i) dx.slice_flat(i * t * c, {c}).copy_from(drows.slice_flat(i * c, {c}));
}

}  // namespace

BertClassifier::BertClassifier(const BertConfig& cfg, Device device, DType compute_dtype, int64_t pad_to,
                               MasterCopy master_copy)
    : cfg_(cfg) {
  TEMPER_CHECK(cfg.num_labels() > 0, "a BERT classifier needs at least one label");
  const int64_t c = cfg.hidden;
  word_ = store_.add("bert.embeddings.word_embeddings.weight", {cfg.vocab_size, c}, WeightDecay::Apply);
  position_ = store_.add("bert.embeddings.position_embeddings.weight", {cfg.max_positions, c}, WeightDecay::Apply);
  token_type_ = store_.add("bert.embeddings.token_type_embeddings.weight", {cfg.type_vocab_size, c}, WeightDecay::Apply);
  emb_ln_ = std::make_unique<LayerNorm>(store_, "bert.embeddings.LayerNorm", c, cfg.layer_norm_eps);
  const BertLayerConfig lc{c, cfg.intermediate, cfg.n_head, cfg.layer_norm_eps, cfg.act};
  layers_.reserve(static_cast<size_t>(cfg.n_layer));
  for (int l = 0; l < cfg.n_layer; ++l) {
    const int first = store_.size();
    layers_.emplace_back(store_, "bert.encoder.layer." + std::to_string(l), lc);
    layer_param_ids_.emplace_back(first, store_.size());
  }
  pooler_first_ = store_.size();
  pooler_ = std::make_unique<TorchLinear>(store_, "bert.pooler.dense", c, c, Bias::With);
  classifier_weight_ = store_.size();
  classifier_ = std::make_unique<TorchLinear>(store_, "classifier", c, cfg.num_labels(), Bias::With);
  classifier_bias_ = classifier_weight_ + 1;
  store_.allocate(device, compute_dtype, pad_to, master_copy);
}

void BertClassifier::init_classifier(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, cfg_.initializer_range);
  Tensor w = Tensor::empty(store_.info(classifier_weight_).shape, DType::F32);
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = n(rng);
  store_.master(classifier_weight_).copy_from(w);
  store_.master(classifier_bias_).zero_();
  store_.sync_compute_from_master();
}

void BertClassifier::init_random(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, cfg_.initializer_range);
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  for (int id = 0; id < store_.size(); ++id) {
    const ParamInfo& p = store_.info(id);
    Tensor w = Tensor::zeros(p.shape, DType::F32);
    if (ends_with(p.name, "LayerNorm.weight")) {
      for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = 1.f;
    } else if (!ends_with(p.name, ".bias")) {
      for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = n(rng);
    }
    if (id == word_ && cfg_.pad_token_id >= 0 && cfg_.pad_token_id < cfg_.vocab_size)
      for (int64_t j = 0; j < cfg_.hidden; ++j) w.data<float>()[cfg_.pad_token_id * cfg_.hidden + j] = 0.f;
    store_.master(id).copy_from(w);
  }
  store_.sync_compute_from_master();
}

Tensor BertClassifier::embed(const ClassifierInput& in) {
  TEMPER_CHECK(in.tokens.ndim() == 2, "bert: tokens must be [B,T], got {}", shape_str(in.tokens.shape()));
  const int64_t b = in.tokens.dim(0), t = in.tokens.dim(1), c = cfg_.hidden;
  TEMPER_CHECK(t <= cfg_.max_positions, "sequence length {} exceeds max_position_embeddings {}", t, cfg_.max_positions);
  const Device dev = store_.device();
  const DType dt = store_.compute_dtype();
  ctx_.tokens = to_device_i32(in.tokens, dev, "tokens", {b, t});
  ctx_.types = in.token_types.defined() ? to_device_i32(in.token_types, dev, "token_types", {b, t})
                                        : Tensor::zeros({b, t}, DType::I32, dev);
  ctx_.lengths = to_device_i32(in.lengths, dev, "lengths", {b});
  Tensor e = Tensor::empty({b, t, c}, dt, dev), types = Tensor::empty({b, t, c}, dt, dev);
  ops::embedding_forward(e, ctx_.tokens, store_.param(word_), store_.param(position_));
  ops::embedding_forward(types, ctx_.types, store_.param(token_type_), Tensor());
  ops::add_inplace(e, types);
  return emb_ln_->forward(e, ctx_.emb_ln);
}

Tensor BertClassifier::forward(const ClassifierInput& in) {
  TEMPER_NVTX("bert.forward");
  ctx_ = Ctx();
  Tensor h = embed(in);
  ctx_.layers.resize(layers_.size());
  for (size_t l = 0; l < layers_.size(); ++l) h = layers_[l].forward(h, ctx_.lengths, ctx_.layers[l]);
  ctx_.pooled = pool(h);
  ctx_.logits = new_activation({h.dim(0), cfg_.num_labels()}, h);
  classifier_->forward(ctx_.logits, ctx_.pooled);
  return ctx_.logits;
}

// Mean pooling is a matmul with a [B, B*T] weight matrix (1/len_b on sequence b's real tokens), so
// it runs on any backend and its backward is the transposed product.
Tensor BertClassifier::pool(const Tensor& h) {
  const int64_t b = h.dim(0), t = h.dim(1), c = cfg_.hidden;
  const Tensor pooled = new_activation({b, c}, h);
  if (cfg_.pooling == BertPooling::Mean) {
    const Tensor lengths = ctx_.lengths.device() == Device::Cpu ? ctx_.lengths : ctx_.lengths.to(Device::Cpu);
    Tensor w = Tensor::zeros({b, b * t}, DType::F32);
    for (int64_t i = 0; i < b; ++i) {
      const int64_t n = std::min<int64_t>(t, lengths.data<int32_t>()[i]);
      for (int64_t j = 0; j < n; ++j) w.data<float>()[i * b * t + i * t + j] = 1.f / static_cast<float>(n);
    }
    ctx_.mean_weights = new_activation({b, b * t}, h);
    ops::cast(ctx_.mean_weights, w.to(h.device()));
    ops::matmul(pooled, ctx_.mean_weights, ops::Trans::No, h.reshape({b * t, c}), ops::Trans::No);
    return pooled;
  }
  ctx_.cls = new_activation({b, c}, h);
  gather_first(ctx_.cls, h);
  pooler_->forward(pooled, ctx_.cls);
  ops::tanh_forward(pooled, pooled);
  return pooled;
}

Tensor BertClassifier::pool_backward(const Tensor& dpooled) {
  const BertLayer::Ctx& last = ctx_.layers.back();
  const Tensor dh = new_activation(last.ln2.out.shape(), dpooled);
  const int64_t b = dh.dim(0), t = dh.dim(1), c = cfg_.hidden;
  if (cfg_.pooling == BertPooling::Mean) {
    ops::matmul(dh.reshape({b * t, c}), ctx_.mean_weights, ops::Trans::Yes, dpooled, ops::Trans::No);
    notify_grad_ready(pooler_first_, store_.size());  // the pooler is unused: zero gradients
    return dh;
  }
  ops::tanh_backward(dpooled, dpooled, ctx_.pooled);
  Tensor dcls = new_activation(ctx_.cls.shape(), dpooled);
  pooler_->backward(dcls, dpooled, ctx_.cls);
  notify_grad_ready(pooler_first_, store_.size());  // pooler + classifier
  scatter_first(dh, dcls);
  return dh;
}

LossSum BertClassifier::loss(const Tensor& labels, float dloss, bool want_grad) {
  TEMPER_CHECK(ctx_.logits.defined(), "bert: backward/evaluate without a forward");
  return classifier_loss(ctx_.logits, labels, class_weights(), dloss, want_grad);
}

void BertClassifier::embed_backward(const Tensor& dh) {
  Tensor de = new_activation(dh.shape(), dh);
  emb_ln_->backward(de, dh, ctx_.emb_ln);
  ops::embedding_backward(store_.grad(word_), store_.grad(position_), de, ctx_.tokens);
  ops::embedding_backward(store_.grad(token_type_), Tensor(), de, ctx_.types);
}

LossSum BertClassifier::backward(const Tensor& labels, float dloss) {
  TEMPER_NVTX("bert.backward");
  const LossSum r = loss(labels, dloss, true);
  const Tensor& dlogits = ctx_.logits;
  Tensor dpooled = new_activation(ctx_.pooled.shape(), dlogits);
  classifier_->backward(dpooled, dlogits, ctx_.pooled);
  Tensor dh = pool_backward(dpooled);
  for (size_t l = layers_.size(); l-- > 0;) {
    Tensor dx = new_activation(dh.shape(), dh);
    layers_[l].backward(dx, dh, ctx_.layers[l]);
    notify_grad_ready(layer_param_ids_[l].first, layer_param_ids_[l].second);
    dh = dx;
  }
  embed_backward(dh);
  notify_grad_ready(0, layer_param_ids_.front().first);  // embeddings
  ctx_ = Ctx();
  return r;
}

LossSum BertClassifier::evaluate(const ClassifierInput& in, const Tensor& labels, Tensor* logits) {
  forward(in);
  const LossSum r = loss(labels, 0.f, false);
  if (logits) *logits = ctx_.logits.to_host_f32();
  ctx_ = Ctx();
  return r;
}

}  // namespace temper

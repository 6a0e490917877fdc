// CnnClassifier: construction (stores per stage, freezing), forward/backward composition, initialisation.
#include "models/vision/cnn_classifier.h"

#include <cmath>
#include <random>

#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "models/blocks/classifier_loss.h"
#include "models/blocks/linear.h"
#include "runtime/nvtx.h"

namespace temper {
namespace {

// Stages [0, result) are frozen; "backbone" freezes every stage.
int frozen_stage_count(const CnnLayout& layout, const std::string& freeze) {
  if (freeze.empty() || freeze == "none") return 0;
  if (freeze == "backbone") return static_cast<int>(layout.stage_names.size());
  for (size_t i = 0; i < layout.stage_names.size(); ++i)
    if (layout.stage_names[i] == freeze) return static_cast<int>(i) + 1;
  TEMPER_INPUT_CHECK(false, "--freeze", freeze, "not a stage of this network (none, {}, backbone)",
                     fmt::join(layout.stage_names, ", "));
  return 0;
}

// [K,R,S,C] (here) -> [K,C,R,S] (torch).
Shape torch_filter_shape(const Shape& krsc) { return {krsc[0], krsc[3], krsc[1], krsc[2]}; }

}  // namespace

CnnClassifier::CnnClassifier(const VisionConfig& cfg, Device device, DType compute_dtype, int64_t pad_to,
                             const std::string& freeze)
    : cfg_(cfg), layout_(cnn_layout(cfg.architecture)) {
  TEMPER_CHECK(cfg.num_classes() > 0, "a CNN classifier needs at least one class");
  frozen_stages_ = frozen_stage_count(layout_, freeze);
  build_cnn_blocks(cfg_, *this);
  fc_first_ = trained_.size();
  fc_ = std::make_unique<TorchLinear>(trained_, layout_.classifier, layout_.features, cfg.num_classes(), Bias::With);
  for (int id = fc_first_; id < trained_.size(); ++id)
    order_.push_back({trained_.info(id).name, trained_.info(id).shape, &trained_, id});
  trained_.allocate(device, compute_dtype, pad_to);
  frozen_.allocate(device, compute_dtype, 1, MasterCopy::AliasWhenF32, Grads::No);
  buffers_.allocate(device, DType::F32, 1, MasterCopy::AliasWhenF32, Grads::No);
}

LayerStores CnnClassifier::stores_for(int stage) {
  return {stage < frozen_stages_ ? &frozen_ : &trained_, &buffers_};
}

void CnnClassifier::add_block(int stage, ChainBlock block) {
  blocks_.push_back(std::move(block));
  block_stage_.push_back(stage);
  block_ids_.emplace_back(trained_seen_, trained_.size());
  // Checkpoint order: the block's weights (trained or frozen), then its running statistics.
  for (ParameterStore* s : {&trained_, &frozen_, &buffers_}) {
    int& seen = s == &trained_ ? trained_seen_ : s == &frozen_ ? frozen_seen_ : buffers_seen_;
    for (; seen < s->size(); ++seen) {
      const ParamInfo& p = s->info(seen);
      order_.push_back({p.name, p.shape.size() == 4 ? torch_filter_shape(p.shape) : p.shape, s, seen});
    }
  }
}

std::vector<CnnTensorRef> CnnClassifier::checkpoint_tensors() const { return order_; }

std::vector<CnnTensorRef> CnnClassifier::classifier_tensors() const {
  return {order_.end() - 2, order_.end()};  // fc weight, bias: registered last
}

nlohmann::json CnnClassifier::training_settings() const {
  return {{"frozen_stages", frozen_stages_}, {"dropout", cfg_.dropout}};
}

uint64_t CnnClassifier::dropout_seed() const { return 0x5EEDC1A55ull ^ (dropout_stream_ * 0xD1B54A32D192ED03ull); }

void CnnClassifier::sync_compute() {
  trained_.sync_compute_from_master();
  frozen_.sync_compute_from_master();
  buffers_.sync_compute_from_master();
}

void CnnClassifier::init_classifier(uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0xC1A551F1E5ull);
  const float bound = 1.f / std::sqrt(static_cast<float>(layout_.features));
  std::uniform_real_distribution<float> u(-bound, bound);
  for (const CnnTensorRef& t : classifier_tensors()) {
    Tensor m = t.store->master(t.id);
    for (int64_t i = 0; i < m.numel(); ++i) m.data<float>()[i] = u(rng);
  }
  sync_compute();
}

void CnnClassifier::init_random(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (const CnnTensorRef& t : order_) {
    Tensor m = t.store->master(t.id);
    float* p = m.data<float>();
    const std::string& n = t.name;
    const auto ends_with = [&](const char* suffix) {
      const std::string s(suffix);
      return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
    };
    if (t.conv_filter()) {
      const Shape& s = t.torch_shape;  // fan_out = K * R * S
      std::normal_distribution<float> normal(0.f, std::sqrt(2.f / static_cast<float>(s[0] * s[2] * s[3])));
      for (int64_t i = 0; i < m.numel(); ++i) p[i] = normal(rng);
    } else {
      const float v = ends_with(".running_var") || ends_with(".weight") ? 1.f : 0.f;  // BN weight / var 1
      for (int64_t i = 0; i < m.numel(); ++i) p[i] = v;
    }
  }
  init_classifier(seed + 1);  // also syncs the compute copies
}

double CnnClassifier::forward_macs(int64_t h, int64_t w) const {
  double macs = 0;
  Shape x = {1, h, w, 3};
  for (const ChainBlock& b : blocks_) x = b.count_macs(x, &macs);
  return macs + static_cast<double>(x[3] * cfg_.num_classes());
}

Tensor CnnClassifier::run(const Tensor& images, bool train) {
  TEMPER_CHECK(images.ndim() == 4 && images.dim(3) == 3 && images.dtype() == DType::F32,
               "{}: images must be f32 [B, H, W, 3], got {} {}", cfg_.architecture, dtype_name(images.dtype()),
               shape_str(images.shape()));
  const DType dt = trained_.compute_dtype();
  Tensor x = images.device() == trained_.device() ? images : images.to(trained_.device());
  if (dt != DType::F32) {
    Tensor c = Tensor::empty(x.shape(), dt, x.device());
    ops::cast(c, x);
    x = c;
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const bool keep = train && block_stage_[i] >= frozen_stages_;
    x = blocks_[i].forward(x, train, keep);
  }
  ctx_ = Ctx();
  ctx_.features = x.shape();
  Tensor pooled = Tensor::empty({x.dim(0), x.dim(3)}, x.dtype(), x.device());
  ops::global_avg_pool2d_forward(pooled, x);
  if (train && dropping()) ops::dropout(pooled, pooled, cfg_.dropout, dropout_seed());
  Tensor logits = Tensor::empty({x.dim(0), cfg_.num_classes()}, x.dtype(), x.device());
  fc_->forward(logits, pooled);
  ctx_.pooled = pooled;
  ctx_.logits = logits;
  return logits;
}

Tensor CnnClassifier::forward(const Tensor& images) {
  TEMPER_NVTX("cnn.forward");
  return run(images, true);
}

LossSum CnnClassifier::backward(const Tensor& labels, float dloss) {
  TEMPER_NVTX("cnn.backward");
  TEMPER_CHECK(ctx_.logits.defined(), "{}: backward without a forward", cfg_.architecture);
  const LossSum r = classifier_loss(ctx_.logits, labels, class_weights(), dloss, true);
  const Tensor& dlogits = ctx_.logits;  // overwritten by the loss
  const bool body = frozen_stages_ < static_cast<int>(layout_.stage_names.size());
  Tensor dpooled = body ? new_activation(ctx_.pooled.shape(), dlogits) : Tensor();
  fc_->backward(dpooled, dlogits, ctx_.pooled);
  notify_grad_ready(fc_first_, trained_.size());
  if (body) {
    if (dropping()) ops::dropout(dpooled, dpooled, cfg_.dropout, dropout_seed());
    Tensor dx = Tensor::empty(ctx_.features, dpooled.dtype(), dpooled.device());
    ops::global_avg_pool2d_backward(dx, dpooled);
    for (size_t i = blocks_.size(); i-- > 0 && block_stage_[i] >= frozen_stages_;) {
      const bool want_dx = i > 0 && block_stage_[i - 1] >= frozen_stages_;
      dx = blocks_[i].backward(dx, want_dx);
      notify_grad_ready(block_ids_[i].first, block_ids_[i].second);
    }
  }
  ctx_ = Ctx();
  return r;
}

LossSum CnnClassifier::evaluate(const Tensor& images, const Tensor& labels, Tensor* logits) {
  TEMPER_NVTX("cnn.evaluate");
  run(images, false);
  const LossSum r = classifier_loss(ctx_.logits, labels, {}, 0.f, false);
  if (logits) *logits = ctx_.logits.to_host_f32();
  ctx_ = Ctx();
  return r;
}

}  // namespace temper

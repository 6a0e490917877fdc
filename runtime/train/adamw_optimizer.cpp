// AdamW optimizer implementation over a range of the flat parameter buffers.
#include "runtime/train/adamw_optimizer.h"

#include <algorithm>
#include <cmath>

#include "kernels/grad_norm.h"

namespace temper {

AdamWOptimizer::AdamWOptimizer(ParameterStore& store, const AdamWConfig& cfg)
    : AdamWOptimizer(store, cfg, ShardRange{0, store.padded_numel()}) {}

AdamWOptimizer::AdamWOptimizer(ParameterStore& store, const AdamWConfig& cfg, ShardRange range)
    : store_(&store),
      cfg_(cfg),
      range_(range),
      m_(Tensor::zeros({range.size()}, DType::F32, store.device())),
      v_(Tensor::zeros({range.size()}, DType::F32, store.device())) {
  TEMPER_CHECK(range.begin >= 0 && range.end <= store.padded_numel() && range.begin <= range.end,
               "optimizer range [{}, {}) outside the {} parameters", range.begin, range.end, store.padded_numel());
}

double AdamWOptimizer::grad_norm() const { return std::sqrt(ops::sum_squares(store_->grads_flat())); }

void AdamWOptimizer::step(float lr, float grad_scale) {
  step(lr, grad_scale, store_->grads_flat_padded().slice_flat(range_.begin, {range_.size()}));
}

void AdamWOptimizer::step(float lr, float grad_scale, const Tensor& grads) {
  TEMPER_CHECK(grads.numel() == range_.size(), "optimizer step: {} gradients for a range of {}", grads.numel(),
               range_.size());
  ++steps_;
  ops::AdamWStep s;
  s.lr = lr;
  s.beta1 = cfg_.beta1;
  s.beta2 = cfg_.beta2;
  s.eps = cfg_.eps;
  s.step = steps_;
  s.grad_scale = grad_scale;
  for (int id = 0; id < store_->size(); ++id) {
    const ParamInfo& p = store_->info(id);
    const int64_t begin = std::max(p.offset, range_.begin);
    const int64_t end = std::min(p.offset + shape_numel(p.shape), range_.end);
    if (begin >= end) continue;
    s.weight_decay = p.decay == WeightDecay::Apply ? cfg_.weight_decay : 0.f;
    update_param_slice(begin, end, s, grads);
  }
}

// Elements [begin, end) of the flat buffers, all within one parameter and the range.
void AdamWOptimizer::update_param_slice(int64_t begin, int64_t end, const ops::AdamWStep& s,
                                        const Tensor& grads) {
  const Shape n = {end - begin};
  const int64_t local = begin - range_.begin;
  const bool has_copy = !store_->master_aliases_compute();
  ops::adamw_update(store_->master_slice(begin, end - begin), m_.slice_flat(local, n),
                    v_.slice_flat(local, n), grads.slice_flat(local, n), s,
                    has_copy ? store_->compute_flat_padded().slice_flat(begin, n) : Tensor());
}

float clip_scale(double grad_norm, float max_norm) {
  if (max_norm <= 0.f) return 1.f;
  const double coef = max_norm / (grad_norm + 1e-6);
  return coef < 1.0 ? static_cast<float>(coef) : 1.f;
}

}  // namespace temper

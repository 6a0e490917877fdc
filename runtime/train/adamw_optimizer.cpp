// AdamW optimizer implementation over the flat parameter buffers.
#include "runtime/train/adamw_optimizer.h"

#include <cmath>

#include "kernels/grad_norm.h"

namespace temper {

AdamWOptimizer::AdamWOptimizer(ParameterStore& store, const AdamWConfig& cfg)
    : store_(&store),
      cfg_(cfg),
      m_(Tensor::zeros({store.numel()}, DType::F32, store.device())),
      v_(Tensor::zeros({store.numel()}, DType::F32, store.device())) {}

double AdamWOptimizer::grad_norm() const { return std::sqrt(ops::sum_squares(store_->grads_flat())); }

void AdamWOptimizer::step(float lr, float grad_scale) {
  ++steps_;
  const bool has_copy = store_->compute_dtype() != DType::F32;
  for (int id = 0; id < store_->size(); ++id) {
    const ParamInfo& p = store_->info(id);
    const int64_t n = shape_numel(p.shape);
    ops::AdamWStep s;
    s.lr = lr;
    s.beta1 = cfg_.beta1;
    s.beta2 = cfg_.beta2;
    s.eps = cfg_.eps;
    s.weight_decay = p.decay == WeightDecay::Apply ? cfg_.weight_decay : 0.f;
    s.step = steps_;
    s.grad_scale = grad_scale;
    ops::adamw_update(store_->master(id), m_.slice_flat(p.offset, {n}), v_.slice_flat(p.offset, {n}),
                      store_->grad(id), s, has_copy ? store_->param(id) : Tensor());
  }
}

float clip_scale(double grad_norm, float max_norm) {
  if (max_norm <= 0.f) return 1.f;
  const double coef = max_norm / (grad_norm + 1e-6);
  return coef < 1.0 ? static_cast<float>(coef) : 1.f;
}

}  // namespace temper

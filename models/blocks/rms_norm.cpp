// RMSNorm block implementation.
#include "models/blocks/rms_norm.h"

#include "kernels/rmsnorm.h"
#include "models/blocks/linear.h"

namespace temper {

RmsNorm::RmsNorm(ParameterStore& store, const std::string& prefix, int64_t c, float eps)
    : store_(&store), weight_(store.add(prefix + ".weight", {c}, WeightDecay::Skip)), eps_(eps) {}

Tensor RmsNorm::forward(const Tensor& x, Ctx& ctx) const {
  ctx.x = x;
  ctx.out = new_activation(x.shape(), x);
  ctx.rstd = Tensor::empty({x.numel() / x.dim(-1)}, DType::F32, x.device());
  ops::rmsnorm_forward(ctx.out, ctx.rstd, x, store_->param(weight_), eps_);
  return ctx.out;
}

void RmsNorm::backward(const Tensor& dx, const Tensor& dy, const Ctx& ctx) const {
  // A frozen weight's gradient goes to a scratch buffer (the op computes both together).
  const Tensor dweight = store_->trainable() ? store_->grad(weight_)
                                             : Tensor::zeros(store_->info(weight_).shape, DType::F32, dy.device());
  ops::rmsnorm_backward(dx, dweight, dy, ctx.x, store_->param(weight_), ctx.rstd);
}

}  // namespace temper

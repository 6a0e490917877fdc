// LayerNorm block implementation.
#include "models/blocks/layer_norm.h"

#include "kernels/layernorm.h"
#include "models/blocks/linear.h"

namespace temper {

LayerNorm::LayerNorm(ParameterStore& store, const std::string& prefix, int64_t c, float eps)
    : store_(&store),
      weight_(store.add(prefix + ".weight", {c}, WeightDecay::Skip)),
      bias_(store.add(prefix + ".bias", {c}, WeightDecay::Skip)),
      eps_(eps) {}

Tensor LayerNorm::forward(const Tensor& x, Ctx& ctx) const {
  const int64_t rows = x.numel() / x.dim(-1);
  ctx.x = x;
  ctx.out = new_activation(x.shape(), x);
  ctx.mean = Tensor::empty({rows}, DType::F32, x.device());
  ctx.rstd = Tensor::empty({rows}, DType::F32, x.device());
  ops::layernorm_forward(ctx.out, ctx.mean, ctx.rstd, x, store_->param(weight_), store_->param(bias_), eps_);
  return ctx.out;
}

void LayerNorm::backward(const Tensor& dx, const Tensor& dy, const Ctx& ctx) const {
  ops::layernorm_backward(dx, store_->grad(weight_), store_->grad(bias_), dy, ctx.x, store_->param(weight_),
                          ctx.mean, ctx.rstd);
}

}  // namespace temper

// Conv2dLayer, BatchNorm2dLayer and ConvBnAct forward/backward through the vision ops.
#include "models/vision/conv_layers.h"

#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"

namespace temper {

Conv2dLayer::Conv2dLayer(ParameterStore& store, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                         const ops::Conv2dParams& prm)
    : store_(&store), in_(in), out_(out), kernel_(kernel), prm_(prm) {
  TEMPER_CHECK(in % prm.groups == 0 && out % prm.groups == 0, "{}: {} -> {} channels are not divisible by {} groups",
               name, in, out, prm.groups);
  weight_ = store.add(name + ".weight", {out, kernel, kernel, in / prm.groups}, WeightDecay::Apply);
}

Shape Conv2dLayer::count_macs(const Shape& x, double* macs) const {
  const Shape y = ops::conv2d_output_shape(x, {out_, kernel_, kernel_, in_ / prm_.groups}, prm_);
  *macs += static_cast<double>(shape_numel(y)) * static_cast<double>(kernel_ * kernel_ * (in_ / prm_.groups));
  return y;
}

Tensor Conv2dLayer::forward(const Tensor& x) const {
  const Tensor& w = store_->param(weight_);
  Tensor y = Tensor::empty(ops::conv2d_output_shape(x.shape(), w.shape(), prm_), x.dtype(), x.device());
  ops::conv2d_forward(y, x, w, Tensor(), prm_);
  return y;
}

Tensor Conv2dLayer::backward(const Tensor& dy, const Tensor& x, bool want_dx) const {
  const Tensor& w = store_->param(weight_);
  if (store_->trainable()) {
    const Tensor& grad = store_->grad(weight_);
    Tensor dw = Tensor::empty(grad.shape(), grad.dtype(), grad.device());
    ops::conv2d_backward_filter(dw, Tensor(), dy, x, prm_);  // overwrites: accumulate by hand
    ops::add_inplace(grad, dw);
  }
  if (!want_dx) return Tensor();
  Tensor dx = Tensor::empty(x.shape(), dy.dtype(), dy.device());
  ops::conv2d_backward_data(dx, dy, w, prm_);
  return dx;
}

BatchNorm2dLayer::BatchNorm2dLayer(const LayerStores& stores, const std::string& name, int64_t channels,
                                   const BatchNormSettings& bn)
    : params_(stores.params), buffers_(stores.buffers), bn_(bn) {
  gamma_ = stores.params->add(name + ".weight", {channels}, WeightDecay::Skip);
  beta_ = stores.params->add(name + ".bias", {channels}, WeightDecay::Skip);
  mean_ = stores.buffers->add(name + ".running_mean", {channels}, WeightDecay::Skip);
  var_ = stores.buffers->add(name + ".running_var", {channels}, WeightDecay::Skip);
}

Tensor BatchNorm2dLayer::forward(const Tensor& x, bool train, Ctx* ctx) const {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Tensor &gamma = params_->param(gamma_), &beta = params_->param(beta_);
  const Tensor &mean = buffers_->param(mean_), &var = buffers_->param(var_);
  if (train && params_->trainable()) {
    const int64_t c = x.dim(x.ndim() - 1);
    Tensor save_mean = Tensor::empty({c}, DType::F32, x.device()), save_rstd = Tensor::empty({c}, DType::F32, x.device());
    ops::batchnorm2d_forward_train(out, save_mean, save_rstd, mean, var, x, gamma, beta, bn_.momentum, bn_.eps);
    if (ctx) *ctx = Ctx{x, save_mean, save_rstd};
  } else {
    ops::batchnorm2d_forward_eval(out, x, gamma, beta, mean, var, bn_.eps);
    if (ctx) *ctx = Ctx{x, Tensor(), Tensor()};
  }
  return out;
}

Tensor BatchNorm2dLayer::backward(const Tensor& dy, const Ctx& ctx) const {
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  const Tensor& gamma = params_->param(gamma_);
  const bool trained = params_->trainable();
  if (ctx.mean.defined()) {
    ops::batchnorm2d_backward_train(dx, params_->grad(gamma_), params_->grad(beta_), dy, ctx.x, gamma, ctx.mean,
                                    ctx.rstd);
  } else {
    ops::batchnorm2d_backward_eval(dx, trained ? params_->grad(gamma_) : Tensor(),
                                   trained ? params_->grad(beta_) : Tensor(), dy, ctx.x, gamma,
                                   buffers_->param(mean_), buffers_->param(var_), bn_.eps);
  }
  return dx;
}

ConvBnAct::ConvBnAct(const LayerStores& stores, const std::string& conv_name, const std::string& bn_name, int64_t in,
                     int64_t out, int64_t kernel, const ops::Conv2dParams& prm, const BatchNormSettings& bn,
                     std::optional<ops::Activation> act)
    : conv_(*stores.params, conv_name, in, out, kernel, prm), bn_(stores, bn_name, out, bn), act_(act) {
  TEMPER_CHECK(!act || *act != ops::Activation::Silu, "{}: SiLU's backward needs its input, which ConvBnAct does not keep",
               conv_name);
}

Tensor ConvBnAct::forward(const Tensor& x, bool train, Ctx* ctx) const {
  const Tensor c = conv_.forward(x);
  Tensor y = bn_.forward(c, train, ctx ? &ctx->bn : nullptr);
  if (act_) ops::activation_forward(y, y, *act_);
  if (ctx) {
    ctx->x = x;
    ctx->y = y;
  }
  return y;
}

Tensor ConvBnAct::backward(const Tensor& dy, Ctx& ctx, bool want_dx) const {
  Tensor d = dy;
  if (act_) {
    d = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
    ops::activation_backward(d, dy, ctx.y, *act_, ops::ActSaved::Output);
  }
  ctx.y = Tensor();
  const Tensor dc = bn_.backward(d, ctx.bn);
  ctx.bn = BatchNorm2dLayer::Ctx();
  const Tensor dx = conv_.backward(dc, ctx.x, want_dx);
  ctx.x = Tensor();
  return dx;
}

}  // namespace temper

// TorchLinear forward/backward through the matmul op.
#include "models/blocks/torch_linear.h"

#include "kernels/matmul.h"

namespace temper {

TorchLinear::TorchLinear(ParameterStore& store, const std::string& prefix, int64_t in, int64_t out, Bias bias)
    : store_(&store), weight_(store.add(prefix + ".weight", {out, in}, WeightDecay::Apply)), in_(in), out_(out) {
  if (bias == Bias::With) bias_ = store.add(prefix + ".bias", {out}, WeightDecay::Skip);
}

void TorchLinear::forward(const Tensor& y, const Tensor& x) const {
  const Tensor b = bias_ >= 0 ? store_->param(bias_) : Tensor();
  ops::matmul(y, x, ops::Trans::No, store_->param(weight_), ops::Trans::Yes, bias_ >= 0 ? &b : nullptr);
}

void TorchLinear::backward(const Tensor& dx, const Tensor& dy, const Tensor& x) const {
  ops::matmul(store_->grad(weight_), dy, ops::Trans::Yes, x, ops::Trans::No, nullptr, 1.f);
  if (bias_ >= 0) ops::bias_backward(store_->grad(bias_), dy);
  if (dx.defined()) ops::matmul(dx, dy, ops::Trans::No, store_->param(weight_), ops::Trans::No);
}

}  // namespace temper

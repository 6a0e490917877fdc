// Linear layer forward/backward through the matmul op.
#include "models/blocks/linear.h"

#include "kernels/matmul.h"

namespace temper {

Tensor new_activation(const Shape& shape, const Tensor& like) { return Tensor::empty(shape, like.dtype(), like.device()); }

Linear::Linear(ParameterStore& store, const std::string& prefix, int64_t in, int64_t out)
    : store_(&store),
      weight_(store.add(prefix + ".weight", {in, out}, WeightDecay::Apply)),
      bias_(store.add(prefix + ".bias", {out}, WeightDecay::Skip)),
      in_(in),
      out_(out) {}

void Linear::forward(const Tensor& y, const Tensor& x) const {
  const Tensor b = store_->param(bias_);
  ops::matmul(y, x, ops::Trans::No, store_->param(weight_), ops::Trans::No, &b);
}

void Linear::backward(const Tensor& dx, const Tensor& dy, const Tensor& x) const {
  ops::matmul(store_->grad(weight_), x, ops::Trans::Yes, dy, ops::Trans::No, nullptr, 1.f);
  ops::bias_backward(store_->grad(bias_), dy);
  if (dx.defined()) ops::matmul(dx, dy, ops::Trans::No, store_->param(weight_), ops::Trans::Yes);
}

}  // namespace temper

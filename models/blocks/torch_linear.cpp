// TorchLinear (+ LoRA) forward/backward through the matmul op. The adapter's hidden activation
// t = x A^T is recomputed in backward (r is small), so the layer keeps no context of its own.
#include "models/blocks/torch_linear.h"

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "models/blocks/linear.h"

namespace temper {

using ops::Trans;

TorchLinear::TorchLinear(ParameterStore& store, const std::string& prefix, int64_t in, int64_t out, Bias bias,
                         const LoraSpec& lora)
    : store_(&store),
      weight_(store.add(prefix + ".weight", {out, in}, WeightDecay::Apply)),
      in_(in),
      out_(out),
      lora_(lora) {
  if (bias == Bias::With) bias_ = store.add(prefix + ".bias", {out}, WeightDecay::Skip);
  if (lora_.r > 0) {
    lora_a_ = lora_.store->add(prefix + ".lora_A.weight", {lora_.r, in}, WeightDecay::Apply);
    lora_b_ = lora_.store->add(prefix + ".lora_B.weight", {out, lora_.r}, WeightDecay::Apply);
  }
}

Tensor TorchLinear::lora_hidden(const Tensor& x) const {
  Shape shape = x.shape();
  shape.back() = lora_.r;
  Tensor t = new_activation(shape, x);
  ops::matmul(t, x, Trans::No, lora_.store->param(lora_a_), Trans::Yes);
  ops::scale_inplace(t, lora_.scale());
  return t;
}

void TorchLinear::forward(const Tensor& y, const Tensor& x) const {
  const Tensor b = bias_ >= 0 ? store_->param(bias_) : Tensor();
  ops::matmul(y, x, Trans::No, store_->param(weight_), Trans::Yes, bias_ >= 0 ? &b : nullptr);
  if (lora_a_ >= 0) ops::matmul(y, lora_hidden(x), Trans::No, lora_.store->param(lora_b_), Trans::Yes, nullptr, 1.f);
}

void TorchLinear::backward(const Tensor& dx, const Tensor& dy, const Tensor& x) const {
  if (store_->trainable()) {
    ops::matmul(store_->grad(weight_), dy, Trans::Yes, x, Trans::No, nullptr, 1.f);
    if (bias_ >= 0) ops::bias_backward(store_->grad(bias_), dy);
  }
  if (dx.defined()) ops::matmul(dx, dy, Trans::No, store_->param(weight_), Trans::No);
  if (lora_a_ < 0) return;
  // dB += dy^T (s t);  d(s t) = dy B;  dA += (s dy B)^T x;  dx += (s dy B) A
  ops::matmul(lora_.store->grad(lora_b_), dy, Trans::Yes, lora_hidden(x), Trans::No, nullptr, 1.f);
  Shape shape = dy.shape();
  shape.back() = lora_.r;
  Tensor dt = new_activation(shape, dy);
  ops::matmul(dt, dy, Trans::No, lora_.store->param(lora_b_), Trans::No);
  ops::scale_inplace(dt, lora_.scale());
  ops::matmul(lora_.store->grad(lora_a_), dt, Trans::Yes, x, Trans::No, nullptr, 1.f);
  if (dx.defined()) ops::matmul(dx, dt, Trans::No, lora_.store->param(lora_a_), Trans::No, nullptr, 1.f);
}

}  // namespace temper

// TorchLinear (+ LoRA) forward/backward through the matmul op. The adapter's hidden activation
// t = x A^T is recomputed in backward (r is small), so the layer keeps no context of its own.
#include "models/blocks/torch_linear.h"

#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/quantized_matmul.h"
#include "models/blocks/linear.h"

namespace temper {

using ops::Trans;

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

TorchLinear::TorchLinear(ParameterStore& store, const std::string& prefix, int64_t in, int64_t out, Bias bias,
                         const LoraSpec& lora)
    : store_(&store), in_(in), out_(out), lora_(lora) {
  if (lora_.quantized)
    quantized_weight_ = lora_.quantized->add(prefix + ".weight", out, in);
  else
    weight_ = store.add(prefix + ".weight", {out, in}, WeightDecay::Apply);
  if (bias == Bias::With) bias_ = store.add(prefix + ".bias", {out}, WeightDecay::Skip);
  name_hash_ = fnv1a(prefix);
  if (lora_.r > 0) {
    lora_a_ = lora_.store->add(prefix + ".lora_A.weight", {lora_.r, in}, WeightDecay::Apply);
    lora_b_ = lora_.store->add(prefix + ".lora_B.weight", {out, lora_.r}, WeightDecay::Apply);
  }
}

uint64_t TorchLinear::dropout_seed() const {
  const LoraDropout& d = *lora_.dropout;
  return d.seed ^ (d.stream * 0xD1B54A32D192ED03ull) ^ name_hash_;
}

Tensor TorchLinear::lora_input(const Tensor& x) const {
  if (!dropping()) return x;
  Tensor xd = new_activation(x.shape(), x);
  ops::dropout(xd, x, lora_.dropout->p, dropout_seed());
  return xd;
}

Tensor TorchLinear::lora_hidden(const Tensor& xa) const {
  Shape shape = xa.shape();
  shape.back() = lora_.r;
  Tensor t = new_activation(shape, xa);
  ops::matmul(t, xa, Trans::No, lora_.store->param(lora_a_), Trans::Yes);
  ops::scale_inplace(t, lora_.scale());
  return t;
}

void TorchLinear::forward(const Tensor& y, const Tensor& x) const {
  const Tensor b = bias_ >= 0 ? store_->param(bias_) : Tensor();
  if (quantized_weight_ >= 0)
    ops::quantized_matmul(y, x, lora_.quantized->weight(quantized_weight_), bias_ >= 0 ? &b : nullptr);
  else
    ops::matmul(y, x, Trans::No, store_->param(weight_), Trans::Yes, bias_ >= 0 ? &b : nullptr);
  if (lora_a_ >= 0)
    ops::matmul(y, lora_hidden(lora_input(x)), Trans::No, lora_.store->param(lora_b_), Trans::Yes, nullptr, 1.f);
}

void TorchLinear::backward(const Tensor& dx, const Tensor& dy, const Tensor& x) const {
  if (store_->trainable()) {
    TEMPER_CHECK(quantized_weight_ < 0, "a quantized base weight cannot be trained (QLoRA freezes the base)");
    ops::matmul(store_->grad(weight_), dy, Trans::Yes, x, Trans::No, nullptr, 1.f);
    if (bias_ >= 0) ops::bias_backward(store_->grad(bias_), dy);
  }
  if (dx.defined() && quantized_weight_ >= 0)
    ops::quantized_matmul_dx(dx, dy, lora_.quantized->weight(quantized_weight_));
  else if (dx.defined())
    ops::matmul(dx, dy, Trans::No, store_->param(weight_), Trans::No);
  if (lora_a_ < 0) return;
  // With xa = dropout(x):  dB += dy^T (s t);  d(s t) = dy B;  dA += (s dy B)^T xa;
  // dx += dropout'((s dy B) A), the same mask again.
  const Tensor xa = lora_input(x);
  ops::matmul(lora_.store->grad(lora_b_), dy, Trans::Yes, lora_hidden(xa), Trans::No, nullptr, 1.f);
  Shape shape = dy.shape();
  shape.back() = lora_.r;
  Tensor dt = new_activation(shape, dy);
  ops::matmul(dt, dy, Trans::No, lora_.store->param(lora_b_), Trans::No);
  ops::scale_inplace(dt, lora_.scale());
  ops::matmul(lora_.store->grad(lora_a_), dt, Trans::Yes, xa, Trans::No, nullptr, 1.f);
  if (!dx.defined()) return;
  if (!dropping()) return ops::matmul(dx, dt, Trans::No, lora_.store->param(lora_a_), Trans::No, nullptr, 1.f);
  Tensor dxa = new_activation(dx.shape(), dx);
  ops::matmul(dxa, dt, Trans::No, lora_.store->param(lora_a_), Trans::No);
  ops::dropout(dxa, dxa, lora_.dropout->p, dropout_seed());
  ops::add_inplace(dx, dxa);
}

}  // namespace temper

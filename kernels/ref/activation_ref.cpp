// CPU activations, f32, one pass per element (aliasing out/x or dx/dy is safe: each element is
// read before it is written).
#include <algorithm>
#include <cmath>

#include "kernels/activation.h"
#include "kernels/ref/vision_ref_ops.h"

namespace temper::ref {
namespace {

using ops::Activation;
using ops::ActSaved;

float sigmoid(float v) { return 1.f / (1.f + std::exp(-v)); }

float apply(Activation act, float v) {
  switch (act) {
    case Activation::Relu:
      return v > 0.f ? v : 0.f;
    case Activation::Relu6:
      return std::min(std::max(v, 0.f), 6.f);
    case Activation::Silu:
      return v * sigmoid(v);
    case Activation::Sigmoid:
      return sigmoid(v);
  }
  return v;
}

// d act / d x at the point described by s (x, or y for kind == Output). ReLU and ReLU6 read the
// same mask from x and y: y > 0 iff x > 0, and 0 < y < 6 iff 0 < x < 6.
float derivative(Activation act, ActSaved kind, float s) {
  switch (act) {
    case Activation::Relu:
      return s > 0.f ? 1.f : 0.f;
    case Activation::Relu6:
      return s > 0.f && s < 6.f ? 1.f : 0.f;
    case Activation::Silu: {
      const float sg = sigmoid(s);
      return sg * (1.f + s * (1.f - sg));
    }
    case Activation::Sigmoid: {
      const float y = kind == ActSaved::Output ? s : sigmoid(s);
      return y * (1.f - y);
    }
  }
  return 0.f;
}

}  // namespace

void activation_forward(const Tensor& out, const Tensor& x, Activation act) {
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) o[i] = apply(act, xp[i]);
}

void activation_backward(const Tensor& dx, const Tensor& dy, const Tensor& saved, Activation act, ActSaved kind) {
  const float *g = dy.data<float>(), *s = saved.data<float>();
  float* d = dx.data<float>();
  const int64_t n = dy.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) d[i] = g[i] * derivative(act, kind, s[i]);
}

}  // namespace temper::ref

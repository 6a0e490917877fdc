// CPU GELU (tanh approximation) and its exact derivative.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {
namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
}  // namespace

void gelu_forward(const Tensor& out, const Tensor& x) {
  TEMPER_CHECK(out.numel() == x.numel(), "gelu_forward: sizes differ");
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float v = xp[i];
    o[i] = 0.5f * v * (1.f + std::tanh(kSqrt2OverPi * (v + kCubic * v * v * v)));
  }
}

void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  TEMPER_CHECK(dx.numel() == x.numel() && dout.numel() == x.numel(), "gelu_backward: sizes differ");
  const float *xp = x.data<float>(), *g = dout.data<float>();
  float* d = dx.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float v = xp[i];
    const float u = kSqrt2OverPi * (v + kCubic * v * v * v);
    const float t = std::tanh(u);
    const float du = kSqrt2OverPi * (1.f + 3.f * kCubic * v * v);
    d[i] = g[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du);
  }
}

}  // namespace temper::ref

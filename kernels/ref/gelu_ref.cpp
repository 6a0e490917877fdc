// CPU GELU (tanh approximation or exact erf form) and its exact derivative.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

float gelu(float v, GeluKind kind) {
  if (kind == GeluKind::Erf) return 0.5f * v * (1.f + std::erf(v * kInvSqrt2));
  return 0.5f * v * (1.f + std::tanh(kSqrt2OverPi * (v + kCubic * v * v * v)));
}

float gelu_grad(float v, GeluKind kind) {
  if (kind == GeluKind::Erf) return 0.5f * (1.f + std::erf(v * kInvSqrt2)) + v * kInvSqrt2Pi * std::exp(-0.5f * v * v);
  const float t = std::tanh(kSqrt2OverPi * (v + kCubic * v * v * v));
  const float du = kSqrt2OverPi * (1.f + 3.f * kCubic * v * v);
  return 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du;
}

}  // namespace

void gelu_forward(const Tensor& out, const Tensor& x, GeluKind kind) {
  TEMPER_CHECK(out.numel() == x.numel(), "gelu_forward: sizes differ");
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) o[i] = gelu(xp[i], kind);
}

void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, GeluKind kind) {
  TEMPER_CHECK(dx.numel() == x.numel() && dout.numel() == x.numel(), "gelu_backward: sizes differ");
  const float *xp = x.data<float>(), *g = dout.data<float>();
  float* d = dx.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) d[i] = g[i] * gelu_grad(xp[i], kind);
}

}  // namespace temper::ref

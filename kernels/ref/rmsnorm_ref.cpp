// CPU RMSNorm forward/backward (Llama): statistics in f32 as transformers' LlamaRMSNorm.
// y = x * r * w with r = (mean(x^2) + eps)^-1/2, so dx = r * (g*w - x * r^2 * mean(g*w*x)).
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {

void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight, float eps) {
  const int64_t c = x.dim(-1), n = c ? x.numel() / c : 0;
  check_shape(weight, {c}, "rmsnorm_forward", "weight");
  TEMPER_CHECK(rstd.numel() == n && out.numel() == x.numel(), "rmsnorm_forward: bad shapes");
  const float *xp = x.data<float>(), *w = weight.data<float>();
  float *o = out.data<float>(), *rs = rstd.data<float>();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float* row = xp + i * c;
    float ss = 0.f;
    for (int64_t j = 0; j < c; ++j) ss += row[j] * row[j];
    const float r = 1.f / std::sqrt(ss / static_cast<float>(c) + eps);
    for (int64_t j = 0; j < c; ++j) o[i * c + j] = row[j] * r * w[j];
    rs[i] = r;
  }
}

void rmsnorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dy, const Tensor& x, const Tensor& weight,
                      const Tensor& rstd) {
  const int64_t c = x.dim(-1), n = c ? x.numel() / c : 0;
  TEMPER_CHECK(dx.numel() == x.numel() && dy.numel() == x.numel() && dweight.numel() == c && weight.numel() == c &&
                   rstd.numel() == n,
               "rmsnorm_backward: bad shapes");
  const float *xp = x.data<float>(), *g = dy.data<float>(), *w = weight.data<float>(), *rs = rstd.data<float>();
  float *dxp = dx.data<float>(), *dw = dweight.data<float>();
  // dweight first: dx may alias dy.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) dw[j] += g[i * c + j] * xp[i * c + j] * rs[i];
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float *row = xp + i * c, *grow = g + i * c;
    const float r = rs[i];
    float dot = 0.f;
    for (int64_t j = 0; j < c; ++j) dot += grow[j] * w[j] * row[j];
    const float k = r * r * dot / static_cast<float>(c);
    for (int64_t j = 0; j < c; ++j) dxp[i * c + j] = r * (grow[j] * w[j] - row[j] * k);
  }
}

}  // namespace temper::ref

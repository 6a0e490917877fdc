// CPU AdamW (torch.optim.AdamW arithmetic order) and the sum of squares for gradient norms.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {

void adamw_update(const Tensor& param, const Tensor& m, const Tensor& v, const Tensor& grad, const AdamWStep& s,
                  const Tensor& param_copy) {
  const int64_t n = param.numel();
  TEMPER_CHECK(m.numel() == n && v.numel() == n && grad.numel() == n, "adamw_update: sizes differ");
  float *p = param.data<float>(), *mp = m.data<float>(), *vp = v.data<float>();
  const float* g = grad.data<float>();
  const float bc1 = 1.f - std::pow(s.beta1, static_cast<float>(s.step));
  const float bc2 = 1.f - std::pow(s.beta2, static_cast<float>(s.step));
  const float step_size = s.lr / bc1, bc2_sqrt = std::sqrt(bc2);
  const float decay = 1.f - s.lr * s.weight_decay;
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * s.grad_scale;
    p[i] *= decay;
    mp[i] = s.beta1 * mp[i] + (1.f - s.beta1) * gi;
    vp[i] = s.beta2 * vp[i] + (1.f - s.beta2) * gi * gi;
    p[i] -= step_size * mp[i] / (std::sqrt(vp[i]) / bc2_sqrt + s.eps);
  }
  if (param_copy.defined()) cast(param_copy, param);
}

double sum_squares(const Tensor& x) {
  // f32 partial sums over fixed 4096-element chunks (vectorisable), f64 across chunks: the
  // result does not depend on the thread count.
  constexpr int64_t kChunk = 4096;
  const float* p = x.data<float>();
  const int64_t n = x.numel(), chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks));
#pragma omp parallel for
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * kChunk);
    float acc = 0.f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = c * kChunk; i < end; ++i) acc += p[i] * p[i];
    part[static_cast<size_t>(c)] = acc;
  }
  double total = 0.0;
  for (double v : part) total += v;
  return total;
}

}  // namespace temper::ref

// CPU AdamW (torch.optim.AdamW arithmetic order) and the sum of squares for gradient norms.
#include <cmath>

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
  const float* p = x.data<float>();
  const int64_t n = x.numel();
  double acc = 0.0;
#pragma omp parallel for reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]) * p[i];
  return acc;
}

}  // namespace temper::ref

// CPU LayerNorm forward/backward (two-pass mean/variance in f32, as torch does).
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {

void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& weight, const Tensor& bias, float eps) {
  const int64_t c = x.dim(-1), n = x.numel() / c;
  check_shape(weight, {c}, "layernorm_forward", "weight");
  check_shape(bias, {c}, "layernorm_forward", "bias");
  TEMPER_CHECK(mean.numel() == n && rstd.numel() == n && out.numel() == x.numel(), "layernorm_forward: bad shapes");
  const float *xp = x.data<float>(), *w = weight.data<float>(), *b = bias.data<float>();
  float *o = out.data<float>(), *mu = mean.data<float>(), *rs = rstd.data<float>();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float* row = xp + i * c;
    float m = 0.f;
    for (int64_t j = 0; j < c; ++j) m += row[j];
    m /= static_cast<float>(c);
    float var = 0.f;
    for (int64_t j = 0; j < c; ++j) var += (row[j] - m) * (row[j] - m);
    var /= static_cast<float>(c);
    const float r = 1.f / std::sqrt(var + eps);
    for (int64_t j = 0; j < c; ++j) o[i * c + j] = (row[j] - m) * r * w[j] + b[j];
    mu[i] = m;
    rs[i] = r;
  }
}

void layernorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                        const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd) {
  const int64_t c = x.dim(-1), n = x.numel() / c;
  TEMPER_CHECK(dx.numel() == x.numel() && dy.numel() == x.numel() && dweight.numel() == c && dbias.numel() == c,
               "layernorm_backward: bad shapes");
  const float *xp = x.data<float>(), *g = dy.data<float>(), *w = weight.data<float>();
  const float *mu = mean.data<float>(), *rs = rstd.data<float>();
  float *dxp = dx.data<float>(), *dw = dweight.data<float>(), *db = dbias.data<float>();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float *row = xp + i * c, *grow = g + i * c;
    float mean_dn = 0.f, mean_dn_xhat = 0.f;
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (row[j] - mu[i]) * rs[i];
      mean_dn += grow[j] * w[j];
      mean_dn_xhat += grow[j] * w[j] * xhat;
    }
    mean_dn /= static_cast<float>(c);
    mean_dn_xhat /= static_cast<float>(c);
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (row[j] - mu[i]) * rs[i];
      dxp[i * c + j] = rs[i] * (grow[j] * w[j] - mean_dn - xhat * mean_dn_xhat);
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (xp[i * c + j] - mu[i]) * rs[i];
      dw[j] += g[i * c + j] * xhat;
      db[j] += g[i * c + j];
    }
}

}  // namespace temper::ref

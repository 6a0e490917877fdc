// CPU batch norm over NHWC (channel innermost): per-channel sums walk the rows in order with f64
// accumulators (a ResNet batch has millions of rows per channel), then a second pass writes the
// output. Backward passes first reduce the per-channel sums, then write dx, so dx may alias dy.
#include <cmath>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/ref/vision_ref_ops.h"

namespace temper::ref {
namespace {

struct Rows {
  int64_t rows = 0, c = 0;  // x viewed as [rows, C], rows = N*H*W
};
Rows rows_of(const Tensor& x) { return {x.numel() / x.dim(-1), x.dim(-1)}; }

// Per-channel mean and biased variance (two passes, as torch's CPU kernel).
void channel_moments(const float* x, Rows d, std::vector<double>& mean, std::vector<double>& var) {
  mean.assign(d.c, 0.0);
  var.assign(d.c, 0.0);
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.c; ++j) mean[j] += x[i * d.c + j];
  for (int64_t j = 0; j < d.c; ++j) mean[j] /= static_cast<double>(d.rows);
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.c; ++j) {
      const double v = x[i * d.c + j] - mean[j];
      var[j] += v * v;
    }
  for (int64_t j = 0; j < d.c; ++j) var[j] /= static_cast<double>(d.rows);
}

// out[i,j] = (x[i,j] - mean[j]) * rstd[j] * gamma[j] + beta[j], as scale/shift per channel.
void normalize(float* out, const float* x, Rows d, const float* mean, const float* rstd, const float* gamma,
               const float* beta) {
  std::vector<float> scale(d.c), shift(d.c);
  for (int64_t j = 0; j < d.c; ++j) {
    scale[j] = rstd[j] * gamma[j];
    shift[j] = beta[j] - mean[j] * scale[j];
  }
#pragma omp parallel for
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.c; ++j) out[i * d.c + j] = x[i * d.c + j] * scale[j] + shift[j];
}

// sum_i dy[i,j] and sum_i dy[i,j] * (x[i,j] - mean[j]) * rstd[j], per channel j.
void grad_sums(const float* dy, const float* x, Rows d, const float* mean, const float* rstd,
               std::vector<double>& sum_dy, std::vector<double>& sum_dy_xhat) {
  sum_dy.assign(d.c, 0.0);
  sum_dy_xhat.assign(d.c, 0.0);
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.c; ++j) {
      const double g = dy[i * d.c + j];
      sum_dy[j] += g;
      sum_dy_xhat[j] += g * (x[i * d.c + j] - mean[j]) * rstd[j];
    }
}

void accumulate(const Tensor& dst, const std::vector<double>& src) {
  if (!dst.defined()) return;
  float* p = dst.data<float>();
  for (size_t j = 0; j < src.size(); ++j) p[j] += static_cast<float>(src[j]);
}

}  // namespace

void batchnorm2d_forward_train(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                               const Tensor& running_mean, const Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float momentum, float eps) {
  const Rows d = rows_of(x);
  std::vector<double> mean, var;
  channel_moments(x.data<float>(), d, mean, var);
  float *mu = save_mean.data<float>(), *rs = save_rstd.data<float>();
  float *rm = running_mean.data<float>(), *rv = running_var.data<float>();
  const double unbias = static_cast<double>(d.rows) / static_cast<double>(d.rows - 1);
  for (int64_t j = 0; j < d.c; ++j) {
    mu[j] = static_cast<float>(mean[j]);
    rs[j] = static_cast<float>(1.0 / std::sqrt(var[j] + eps));
    rm[j] = static_cast<float>((1.0 - momentum) * rm[j] + momentum * mean[j]);
    rv[j] = static_cast<float>((1.0 - momentum) * rv[j] + momentum * var[j] * unbias);
  }
  normalize(out.data<float>(), x.data<float>(), d, mu, rs, gamma.data<float>(), beta.data<float>());
}

void batchnorm2d_forward_eval(const Tensor& out, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, float eps) {
  const Rows d = rows_of(x);
  const float* rv = running_var.data<float>();
  std::vector<float> rstd(d.c);
  for (int64_t j = 0; j < d.c; ++j) rstd[j] = static_cast<float>(1.0 / std::sqrt(double(rv[j]) + eps));
  normalize(out.data<float>(), x.data<float>(), d, running_mean.data<float>(), rstd.data(), gamma.data<float>(),
            beta.data<float>());
}

// dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), the batch statistics differentiated.
void batchnorm2d_backward_train(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                                const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                                const Tensor& save_rstd) {
  const Rows d = rows_of(x);
  const float *xp = x.data<float>(), *g = dy.data<float>(), *w = gamma.data<float>();
  const float *mu = save_mean.data<float>(), *rs = save_rstd.data<float>();
  std::vector<double> sum_dy, sum_dy_xhat;
  grad_sums(g, xp, d, mu, rs, sum_dy, sum_dy_xhat);
  std::vector<float> mean_dy(d.c), mean_dy_xhat(d.c);
  for (int64_t j = 0; j < d.c; ++j) {
    mean_dy[j] = static_cast<float>(sum_dy[j] / d.rows);
    mean_dy_xhat[j] = static_cast<float>(sum_dy_xhat[j] / d.rows);
  }
  float* dxp = dx.data<float>();
#pragma omp parallel for
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.c; ++j) {
      const int64_t k = i * d.c + j;
      const float xhat = (xp[k] - mu[j]) * rs[j];
      dxp[k] = w[j] * rs[j] * (g[k] - mean_dy[j] - xhat * mean_dy_xhat[j]);
    }
  accumulate(dgamma, sum_dy_xhat);
  accumulate(dbeta, sum_dy);
}

void batchnorm2d_backward_eval(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                               const Tensor& x, const Tensor& gamma, const Tensor& running_mean,
                               const Tensor& running_var, float eps) {
  const Rows d = rows_of(x);
  const float *rv = running_var.data<float>(), *w = gamma.data<float>(), *g = dy.data<float>();
  std::vector<float> rstd(d.c), scale(d.c);
  for (int64_t j = 0; j < d.c; ++j) {
    rstd[j] = static_cast<float>(1.0 / std::sqrt(double(rv[j]) + eps));
    scale[j] = w[j] * rstd[j];
  }
  if (dgamma.defined() || dbeta.defined()) {
    std::vector<double> sum_dy, sum_dy_xhat;
    grad_sums(g, x.data<float>(), d, running_mean.data<float>(), rstd.data(), sum_dy, sum_dy_xhat);
    accumulate(dgamma, sum_dy_xhat);
    accumulate(dbeta, sum_dy);
  }
  float* dxp = dx.data<float>();
#pragma omp parallel for
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.c; ++j) dxp[i * d.c + j] = g[i * d.c + j] * scale[j];
}

}  // namespace temper::ref

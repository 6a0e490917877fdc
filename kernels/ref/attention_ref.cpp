// CPU exact causal attention, one (batch, head) pair per task; probabilities saved for backward.
#include <cmath>
#include <vector>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {

void attention_forward(const Tensor& out, const Tensor& att, const Tensor& qkv, int n_head) {
  const int64_t b = qkv.dim(0), t = qkv.dim(1), c3 = qkv.dim(2), c = c3 / 3, hs = c / n_head;
  TEMPER_CHECK(c3 == 3 * c && hs * n_head == c, "attention: C={} not divisible by {} heads", c, n_head);
  check_shape(out, {b, t, c}, "attention_forward", "out");
  check_shape(att, {b, n_head, t, t}, "attention_forward", "att");
  const float* x = qkv.data<float>();
  float *o = out.data<float>(), *a = att.data<float>();
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for collapse(2)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t h = 0; h < n_head; ++h)
      for (int64_t i = 0; i < t; ++i) {
        const float* q = x + (bi * t + i) * c3 + h * hs;
        float* arow = a + ((bi * n_head + h) * t + i) * t;
        float mx = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          const float* k = x + (bi * t + j) * c3 + c + h * hs;
          float s = 0.f;
          for (int64_t d = 0; d < hs; ++d) s += q[d] * k[d];
          arow[j] = s * scale;
          mx = std::max(mx, arow[j]);
        }
        float sum = 0.f;
        for (int64_t j = 0; j <= i; ++j) sum += (arow[j] = std::exp(arow[j] - mx));
        for (int64_t j = 0; j < t; ++j) arow[j] = j <= i ? arow[j] / sum : 0.f;
        float* orow = o + (bi * t + i) * c + h * hs;
        for (int64_t d = 0; d < hs; ++d) orow[d] = 0.f;
        for (int64_t j = 0; j <= i; ++j) {
          const float* v = x + (bi * t + j) * c3 + 2 * c + h * hs;
          for (int64_t d = 0; d < hs; ++d) orow[d] += arow[j] * v[d];
        }
      }
}

void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& att, int n_head) {
  const int64_t b = qkv.dim(0), t = qkv.dim(1), c3 = qkv.dim(2), c = c3 / 3, hs = c / n_head;
  check_shape(dqkv, qkv.shape(), "attention_backward", "dqkv");
  check_shape(dout, {b, t, c}, "attention_backward", "dout");
  const float *x = qkv.data<float>(), *g = dout.data<float>(), *a = att.data<float>();
  float* dx = dqkv.data<float>();
  dqkv.zero_();
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for collapse(2)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t h = 0; h < n_head; ++h) {
      std::vector<float> datt(static_cast<size_t>(t));
      for (int64_t i = 0; i < t; ++i) {
        const float* arow = a + ((bi * n_head + h) * t + i) * t;
        const float* grow = g + (bi * t + i) * c + h * hs;
        float dot = 0.f;
        for (int64_t j = 0; j <= i; ++j) {
          const float* v = x + (bi * t + j) * c3 + 2 * c + h * hs;
          float* dv = dx + (bi * t + j) * c3 + 2 * c + h * hs;
          float s = 0.f;
          for (int64_t d = 0; d < hs; ++d) {
            s += grow[d] * v[d];
            dv[d] += arow[j] * grow[d];
          }
          datt[j] = s;
          dot += arow[j] * s;
        }
        const float* q = x + (bi * t + i) * c3 + h * hs;
        float* dq = dx + (bi * t + i) * c3 + h * hs;
        for (int64_t j = 0; j <= i; ++j) {
          const float dpre = arow[j] * (datt[j] - dot) * scale;
          const float* k = x + (bi * t + j) * c3 + c + h * hs;
          float* dk = dx + (bi * t + j) * c3 + c + h * hs;
          for (int64_t d = 0; d < hs; ++d) {
            dq[d] += dpre * k[d];
            dk[d] += dpre * q[d];
          }
        }
      }
    }
}

}  // namespace temper::ref

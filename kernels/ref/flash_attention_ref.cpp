// CPU flash attention (f32): exact softmax attention keeping only one row of scores per thread and
// the log-sum-exp per query (memory linear in T), the twin of kernels/cuda/flash_*.cu.
// Forward: one (batch, head) pair per task, one query row at a time: scores of the visible keys,
// max, exp, sum -> out row and lse = max + log(sum). Backward: one (batch, kv head) pair per task,
// looping over the query heads of its group, so the dk/dv sums over the group have a single writer;
// per query row it recomputes p_j = exp(s_j - lse), dp_j = dout . v_j and D = dout . out, then
// ds_j = p_j (dp_j - D) feeds dq, dk (times the scale) and p_j feeds dv.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {
namespace {

// Keys [0, n) that query i of sequence b sees.
int64_t visible_keys(const FlashAttnArgs& a, int64_t i, int64_t b) {
  int64_t n = a.causal ? i + 1 : a.t;
  if (a.key_lengths != nullptr) n = std::min<int64_t>(n, std::max<int32_t>(0, a.key_lengths[b]));
  return n;
}

float dot(const float* x, const float* y, int64_t n) {
  float s = 0.f;
  for (int64_t e = 0; e < n; ++e) s += x[e] * y[e];
  return s;
}

// Row accessors: head h of token t of sequence b in an operand with the given row stride.
struct Rows {
  const FlashAttnArgs& a;
  const float* at(const void* base, int64_t stride, int64_t b, int64_t t, int64_t h) const {
    return static_cast<const float*>(base) + (b * a.t + t) * stride + h * a.hs;
  }
  float* at_mut(void* base, int64_t stride, int64_t b, int64_t t, int64_t h) const {
    return static_cast<float*>(base) + (b * a.t + t) * stride + h * a.hs;
  }
};

void check_f32(const FlashAttnArgs& a, const char* op) {
  TEMPER_CHECK(a.dtype == DType::F32, "{} (cpu): f32 tensors only, got {}", op, dtype_name(a.dtype));
}

// One query row: out row and its lse from the scores of keys [0, n).
void forward_row(const FlashAttnArgs& a, const Rows& r, int64_t b, int64_t h, int64_t i, std::vector<float>& s) {
  const int64_t n = visible_keys(a, i, b), kvh = h / a.group();
  const float* q = r.at(a.q, a.q_stride, b, i, h);
  float* o = r.at_mut(a.out, a.o_stride, b, i, h);
  std::fill(o, o + a.hs, 0.f);
  float& lse = a.lse[(b * a.nh + h) * a.t + i];
  if (n == 0) {
    lse = INFINITY;
    return;
  }
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, s[j] = a.scale * dot(q, r.at(a.k, a.kv_stride, b, j, kvh), a.hs));
  float sum = 0.f;
  for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
  for (int64_t j = 0; j < n; ++j) {
    const float* v = r.at(a.v, a.kv_stride, b, j, kvh);
    const float p = s[j] / sum;
    for (int64_t e = 0; e < a.hs; ++e) o[e] += p * v[e];
  }
  lse = mx + std::log(sum);
}

// One query row's contributions to dq (its own row), dk and dv (rows of its kv head).
void backward_row(const FlashAttnArgs& a, const Rows& r, int64_t b, int64_t h, int64_t i) {
  const int64_t n = visible_keys(a, i, b), kvh = h / a.group();
  const float lse = a.lse[(b * a.nh + h) * a.t + i];
  if (n == 0 || !std::isfinite(lse)) return;
  const float* q = r.at(a.q, a.q_stride, b, i, h);
  const float* g = r.at(a.dout, a.o_stride, b, i, h);
  const float d = dot(g, r.at(a.o, a.o_stride, b, i, h), a.hs);
  float* dq = r.at_mut(a.dq, a.dq_stride, b, i, h);
  for (int64_t j = 0; j < n; ++j) {
    const float* k = r.at(a.k, a.kv_stride, b, j, kvh);
    const float* v = r.at(a.v, a.kv_stride, b, j, kvh);
    float* dk = r.at_mut(a.dk, a.dkv_stride, b, j, kvh);
    float* dv = r.at_mut(a.dv, a.dkv_stride, b, j, kvh);
    const float p = std::exp(a.scale * dot(q, k, a.hs) - lse);
    const float ds = p * (dot(g, v, a.hs) - d) * a.scale;
    for (int64_t e = 0; e < a.hs; ++e) {
      dv[e] += p * g[e];
      dq[e] += ds * k[e];
      dk[e] += ds * q[e];
    }
  }
}

// Zeroes rows [0, T) of heads [h0, h0 + heads) of sequence b in an operand with the given stride.
void zero_rows(const FlashAttnArgs& a, void* base, int64_t stride, int64_t b, int64_t h0, int64_t heads) {
  const Rows r{a};
  for (int64_t t = 0; t < a.t; ++t) {
    float* row = r.at_mut(base, stride, b, t, h0);
    std::fill(row, row + heads * a.hs, 0.f);
  }
}

}  // namespace

void flash_attention_forward(const FlashAttnArgs& a) {
  check_f32(a, "flash_attention_forward");
  const Rows r{a};
#pragma omp parallel
  {
    std::vector<float> s(static_cast<size_t>(a.t));
#pragma omp for collapse(2)
    for (int64_t b = 0; b < a.b; ++b)
      for (int64_t h = 0; h < a.nh; ++h)
        for (int64_t i = 0; i < a.t; ++i) forward_row(a, r, b, h, i, s);
  }
}

void flash_attention_backward(const FlashAttnArgs& a) {
  check_f32(a, "flash_attention_backward");
  const Rows r{a};
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < a.b; ++b)
    for (int64_t kvh = 0; kvh < a.nkv; ++kvh) {
      const int64_t h0 = kvh * a.group();
      zero_rows(a, a.dq, a.dq_stride, b, h0, a.group());
      zero_rows(a, a.dk, a.dkv_stride, b, kvh, 1);
      zero_rows(a, a.dv, a.dkv_stride, b, kvh, 1);
      for (int64_t h = h0; h < h0 + a.group(); ++h)
        for (int64_t i = 0; i < a.t; ++i) backward_row(a, r, b, h, i);
    }
}

}  // namespace temper::ref

// CPU grouped-query attention (Llama, Mistral, Qwen2: causal; BERT: bidirectional with padding), as
// transformers' eager attention with repeat_kv: query head h reads key/value head h / (NH/NKV).
// Query i of sequence b sees keys j < visible_keys(i, b); a row seeing none is all zeros. Forward: one (batch, head) pair
// per task. Backward: one (batch, kv head) pair per task, looping over the query heads of its
// group, so the dk/dv sums over the group have a single writer.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {
namespace {

struct GqaDims {
  int64_t b = 0, t = 0, nh = 0, nkv = 0, hs = 0;
  int64_t group() const { return nh / nkv; }
};

// q[B,T,NH*HS], k/v[B,T,NKV*HS].
GqaDims gqa_dims(const Tensor& q, const Tensor& k, const Tensor& v, int n_head, int n_kv_head, const char* op) {
  TEMPER_CHECK(n_head > 0 && n_kv_head > 0 && n_head % n_kv_head == 0,
               "{}: n_head {} must be a positive multiple of n_kv_head {}", op, n_head, n_kv_head);
  TEMPER_CHECK(q.ndim() == 3, "{}: q must be [B,T,NH*HS], got {}", op, shape_str(q.shape()));
  GqaDims d{q.dim(0), q.dim(1), n_head, n_kv_head, q.dim(2) / n_head};
  TEMPER_CHECK(d.hs > 0 && d.hs * n_head == q.dim(2), "{}: q width {} is not {} heads of a positive size", op, q.dim(2),
               n_head);
  check_shape(k, {d.b, d.t, d.nkv * d.hs}, op, "k");
  check_shape(v, {d.b, d.t, d.nkv * d.hs}, op, "v");
  return d;
}

// Keys [0, n) that query i of sequence b sees.
int64_t visible_keys(const AttentionMask& mask, int64_t i, int64_t b, int64_t t) {
  int64_t n = mask.causality == AttnCausality::Causal ? i + 1 : t;
  if (mask.key_lengths.defined())
    n = std::min<int64_t>(n, std::max<int32_t>(0, mask.key_lengths.data<int32_t>()[b]));
  return n;
}

}  // namespace

void attention_forward_gqa(const Tensor& out, const Tensor& att, const Tensor& q, const Tensor& k, const Tensor& v,
                           int n_head, int n_kv_head, const AttentionMask& mask) {
  const GqaDims d = gqa_dims(q, k, v, n_head, n_kv_head, "attention_forward_gqa");
  check_shape(out, q.shape(), "attention_forward_gqa", "out");
  check_shape(att, {d.b, d.nh, d.t, d.t}, "attention_forward_gqa", "att");
  const float *qp = q.data<float>(), *kp = k.data<float>(), *vp = v.data<float>();
  float *o = out.data<float>(), *a = att.data<float>();
  const int64_t cq = d.nh * d.hs, ckv = d.nkv * d.hs, t = d.t, hs = d.hs;
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for collapse(2)
  for (int64_t bi = 0; bi < d.b; ++bi)
    for (int64_t h = 0; h < d.nh; ++h) {
      const int64_t kvh = h / d.group();
      for (int64_t i = 0; i < t; ++i) {
        const int64_t n = visible_keys(mask, i, bi, t);
        const float* qrow = qp + (bi * t + i) * cq + h * hs;
        float* arow = a + ((bi * d.nh + h) * t + i) * t;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const float* krow = kp + (bi * t + j) * ckv + kvh * hs;
          float s = 0.f;
          for (int64_t e = 0; e < hs; ++e) s += qrow[e] * krow[e];
          arow[j] = s * scale;
          mx = std::max(mx, arow[j]);
        }
        float sum = 0.f;
        for (int64_t j = 0; j < n; ++j) sum += (arow[j] = std::exp(arow[j] - mx));
        for (int64_t j = 0; j < t; ++j) arow[j] = j < n ? arow[j] / sum : 0.f;
        float* orow = o + (bi * t + i) * cq + h * hs;
        for (int64_t e = 0; e < hs; ++e) orow[e] = 0.f;
        for (int64_t j = 0; j < n; ++j) {
          const float* vrow = vp + (bi * t + j) * ckv + kvh * hs;
          for (int64_t e = 0; e < hs; ++e) orow[e] += arow[j] * vrow[e];
        }
      }
    }
}

void attention_backward_gqa(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                            const Tensor& k, const Tensor& v, const Tensor& att, int n_head, int n_kv_head,
                            const AttentionMask& mask) {
  const GqaDims d = gqa_dims(q, k, v, n_head, n_kv_head, "attention_backward_gqa");
  check_shape(dq, q.shape(), "attention_backward_gqa", "dq");
  check_shape(dk, k.shape(), "attention_backward_gqa", "dk");
  check_shape(dv, v.shape(), "attention_backward_gqa", "dv");
  check_shape(dout, q.shape(), "attention_backward_gqa", "dout");
  check_shape(att, {d.b, d.nh, d.t, d.t}, "attention_backward_gqa", "att");
  const float *qp = q.data<float>(), *kp = k.data<float>(), *vp = v.data<float>();
  const float *g = dout.data<float>(), *a = att.data<float>();
  float *dqp = dq.data<float>(), *dkp = dk.data<float>(), *dvp = dv.data<float>();
  dq.zero_();
  dk.zero_();
  dv.zero_();
  const int64_t cq = d.nh * d.hs, ckv = d.nkv * d.hs, t = d.t, hs = d.hs;
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for collapse(2)
  for (int64_t bi = 0; bi < d.b; ++bi)
    for (int64_t kvh = 0; kvh < d.nkv; ++kvh) {
      std::vector<float> datt(static_cast<size_t>(t));
      for (int64_t h = kvh * d.group(); h < (kvh + 1) * d.group(); ++h)
        for (int64_t i = 0; i < t; ++i) {
          const int64_t n = visible_keys(mask, i, bi, t);
          const float* arow = a + ((bi * d.nh + h) * t + i) * t;
          const float* grow = g + (bi * t + i) * cq + h * hs;
          float dot = 0.f;
          for (int64_t j = 0; j < n; ++j) {
            const float* vrow = vp + (bi * t + j) * ckv + kvh * hs;
            float* dvrow = dvp + (bi * t + j) * ckv + kvh * hs;
            float s = 0.f;
            for (int64_t e = 0; e < hs; ++e) {
              s += grow[e] * vrow[e];
              dvrow[e] += arow[j] * grow[e];
            }
            datt[static_cast<size_t>(j)] = s;
            dot += arow[j] * s;
          }
          const float* qrow = qp + (bi * t + i) * cq + h * hs;
          float* dqrow = dqp + (bi * t + i) * cq + h * hs;
          for (int64_t j = 0; j < n; ++j) {
            const float dpre = arow[j] * (datt[static_cast<size_t>(j)] - dot) * scale;
            const float* krow = kp + (bi * t + j) * ckv + kvh * hs;
            float* dkrow = dkp + (bi * t + j) * ckv + kvh * hs;
            for (int64_t e = 0; e < hs; ++e) {
              dqrow[e] += dpre * krow[e];
              dkrow[e] += dpre * qrow[e];
            }
          }
        }
    }
}

}  // namespace temper::ref

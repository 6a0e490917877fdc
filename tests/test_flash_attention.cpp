// Flash attention on the CPU reference against the exact attention (which saves [B,NH,T,T] and is
// checked against transformers and finite differences elsewhere): outputs, log-sum-exp and gradients
// over a sweep of GQA ratios, lengths and masks; the packed (GPT-2) layout against the separate one;
// fully masked rows give zeros and lse = +inf; bad shapes throw.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/attention.h"
#include "kernels/flash_attention.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::randn;

namespace {

struct Case {
  int64_t b, t, nh, nkv, hs;
  ops::AttnCausality causality;
  std::vector<int32_t> lengths;  // empty: no key lengths
};

ops::AttentionMask mask_of(const Case& c) {
  ops::AttentionMask m;
  m.causality = c.causality;
  if (!c.lengths.empty()) m.key_lengths = Tensor::from_i32(c.lengths, {c.b});
  return m;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(double(x[i]) - y[i]));
  return m;
}

// lse[b,h,i] from the exact probabilities' definition: log sum_j exp(s_ij) over the visible keys.
Tensor direct_lse(const Case& c, const Tensor& q, const Tensor& k) {
  Tensor lse = Tensor::empty({c.b, c.nh, c.t}, DType::F32);
  const float *qp = q.data<float>(), *kp = k.data<float>();
  for (int64_t b = 0; b < c.b; ++b)
    for (int64_t h = 0; h < c.nh; ++h)
      for (int64_t i = 0; i < c.t; ++i) {
        int64_t n = c.causality == ops::AttnCausality::Causal ? i + 1 : c.t;
        if (!c.lengths.empty()) n = std::min<int64_t>(n, std::max(0, c.lengths[size_t(b)]));
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t e = 0; e < c.hs; ++e)
            s += double(qp[(b * c.t + i) * c.nh * c.hs + h * c.hs + e]) *
                 kp[(b * c.t + j) * c.nkv * c.hs + (h / (c.nh / c.nkv)) * c.hs + e];
          sum += std::exp(s / std::sqrt(double(c.hs)));
        }
        lse.data<float>()[(b * c.nh + h) * c.t + i] =
            n == 0 ? std::numeric_limits<float>::infinity() : float(std::log(sum));
      }
  return lse;
}

std::vector<Case> sweep() {
  using ops::AttnCausality;
  return {{1, 1, 1, 1, 8, AttnCausality::Causal, {}},
          {2, 7, 4, 4, 16, AttnCausality::Causal, {}},
          {2, 33, 6, 2, 8, AttnCausality::Causal, {}},
          {1, 65, 8, 1, 12, AttnCausality::Causal, {}},
          {3, 17, 4, 2, 5, AttnCausality::Bidirectional, {}},
          {3, 19, 4, 4, 16, AttnCausality::Bidirectional, {19, 7, 0}},
          {3, 19, 4, 2, 16, AttnCausality::Causal, {3, 19, 0}},
          {2, 70, 2, 2, 64, AttnCausality::Bidirectional, {70, 41}}};
}

TEST(FlashAttention, MatchesExactAttentionForwardAndBackward) {
  for (const Case& c : sweep()) {
    SCOPED_TRACE(::testing::Message() << "B=" << c.b << " T=" << c.t << " NH=" << c.nh << " NKV=" << c.nkv
                                      << " HS=" << c.hs << " lengths=" << c.lengths.size());
    const ops::AttentionMask m = mask_of(c);
    const Tensor q = randn({c.b, c.t, c.nh * c.hs}, 1), k = randn({c.b, c.t, c.nkv * c.hs}, 2),
                 v = randn({c.b, c.t, c.nkv * c.hs}, 3), dout = randn(q.shape(), 4);
    Tensor out = randn(q.shape(), 5), att = Tensor::empty({c.b, c.nh, c.t, c.t}, DType::F32);
    ops::attention_forward_gqa(out, att, q, k, v, int(c.nh), int(c.nkv), m);
    Tensor fout = randn(q.shape(), 6), lse = randn({c.b, c.nh, c.t}, 7);  // garbage first
    ops::flash_attention_forward(fout, lse, q, k, v, int(c.nh), int(c.nkv), m);
    EXPECT_LT(max_abs_diff(fout, out), 1e-5);
    const Tensor want_lse = direct_lse(c, q, k);
    for (int64_t i = 0; i < lse.numel(); ++i) {
      const float got = lse.data<float>()[i], want = want_lse.data<float>()[i];
      if (std::isinf(want)) {
        EXPECT_TRUE(std::isinf(got) && got > 0) << i;
      } else {
        EXPECT_NEAR(got, want, 1e-4) << i;
      }
    }
    Tensor dq = Tensor::empty(q.shape(), DType::F32), dk = Tensor::empty(k.shape(), DType::F32),
           dv = Tensor::empty(v.shape(), DType::F32);
    ops::attention_backward_gqa(dq, dk, dv, dout, q, k, v, att, int(c.nh), int(c.nkv), m);
    Tensor fdq = randn(q.shape(), 8), fdk = randn(k.shape(), 9), fdv = randn(v.shape(), 10);
    ops::flash_attention_backward(fdq, fdk, fdv, dout, q, k, v, fout, lse, int(c.nh), int(c.nkv), m);
    EXPECT_LT(max_abs_diff(fdq, dq), 1e-4);
    EXPECT_LT(max_abs_diff(fdk, dk), 1e-4);
    EXPECT_LT(max_abs_diff(fdv, dv), 1e-4);
  }
}

// Concatenates q|k|v along the last dimension: qkv[B,T,3C] (GPT-2's c_attn output).
Tensor pack(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t rows = q.dim(0) * q.dim(1), c = q.dim(2);
  Tensor qkv = Tensor::empty({q.dim(0), q.dim(1), 3 * c}, DType::F32);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t e = 0; e < c; ++e) {
      qkv.data<float>()[r * 3 * c + e] = q.data<float>()[r * c + e];
      qkv.data<float>()[r * 3 * c + c + e] = k.data<float>()[r * c + e];
      qkv.data<float>()[r * 3 * c + 2 * c + e] = v.data<float>()[r * c + e];
    }
  return qkv;
}

TEST(FlashAttention, PackedLayoutEqualsSeparateProjections) {
  const int64_t b = 2, t = 13, nh = 3, hs = 8, c = nh * hs;
  const Tensor q = randn({b, t, c}, 1), k = randn({b, t, c}, 2), v = randn({b, t, c}, 3), dout = randn(q.shape(), 4);
  Tensor out = Tensor::empty(q.shape(), DType::F32), lse = Tensor::empty({b, nh, t}, DType::F32);
  ops::flash_attention_forward(out, lse, q, k, v, int(nh), int(nh));
  Tensor dq = Tensor::empty(q.shape(), DType::F32), dk = Tensor::empty(q.shape(), DType::F32),
         dv = Tensor::empty(q.shape(), DType::F32);
  ops::flash_attention_backward(dq, dk, dv, dout, q, k, v, out, lse, int(nh), int(nh));

  const Tensor qkv = pack(q, k, v);
  Tensor pout = randn(q.shape(), 5), plse = randn(lse.shape(), 6), dqkv = randn(qkv.shape(), 7);
  ops::flash_attention_forward_packed(pout, plse, qkv, int(nh));
  ops::flash_attention_backward_packed(dqkv, dout, qkv, pout, plse, int(nh));
  EXPECT_EQ(max_abs_diff(pout, out), 0.0);
  EXPECT_EQ(max_abs_diff(plse, lse), 0.0);
  EXPECT_EQ(max_abs_diff(dqkv, pack(dq, dk, dv)), 0.0);
}

TEST(FlashAttention, FullyMaskedRowsAreZeroNotNan) {
  const int64_t b = 2, t = 5, nh = 2, hs = 4;
  ops::AttentionMask m{ops::AttnCausality::Bidirectional, Tensor::from_i32({0, 2}, {b})};
  const Tensor q = randn({b, t, nh * hs}, 1), k = randn(q.shape(), 2), v = randn(q.shape(), 3);
  Tensor out = randn(q.shape(), 4), lse = randn({b, nh, t}, 5);
  ops::flash_attention_forward(out, lse, q, k, v, int(nh), int(nh), m);
  for (int64_t i = 0; i < t * nh * hs; ++i) EXPECT_EQ(out.data<float>()[i], 0.f);  // sequence 0 sees no key
  for (int64_t i = 0; i < nh * t; ++i) EXPECT_TRUE(std::isinf(lse.data<float>()[i]));
  Tensor dq = randn(q.shape(), 6), dk = randn(q.shape(), 7), dv = randn(q.shape(), 8);
  ops::flash_attention_backward(dq, dk, dv, randn(q.shape(), 9), q, k, v, out, lse, int(nh), int(nh), m);
  for (const Tensor* g : {&dq, &dk, &dv}) {
    for (int64_t i = 0; i < g->numel(); ++i) ASSERT_TRUE(std::isfinite(g->data<float>()[i]));
    for (int64_t i = 0; i < t * nh * hs; ++i) EXPECT_EQ(g->data<float>()[i], 0.f);
  }
  // Sequence 1 sees keys 0 and 1 only: keys 2.. get no gradient.
  for (int64_t j = 2; j < t; ++j)
    for (int64_t e = 0; e < nh * hs; ++e) EXPECT_EQ(dk.data<float>()[(t + j) * nh * hs + e], 0.f);
}

TEST(FlashAttention, RejectsBadShapes) {
  const Tensor q = randn({1, 3, 24}, 1), kv = randn({1, 3, 8}, 2);  // HS 4: NKV 2
  Tensor out = Tensor::empty(q.shape(), DType::F32), lse = Tensor::empty({1, 6, 3}, DType::F32);
  EXPECT_THROW(ops::flash_attention_forward(out, lse, q, kv, kv, 6, 4), Error);  // 6 % 4 != 0
  EXPECT_THROW(ops::flash_attention_forward(out, lse, q, kv, kv, 6, 3), Error);  // k is not [1,3,12]
  Tensor bad_lse = Tensor::empty({1, 6, 4}, DType::F32);
  EXPECT_THROW(ops::flash_attention_forward(out, bad_lse, q, kv, kv, 6, 2), Error);
  const Tensor lengths = Tensor::from_i32({1, 2}, {2});
  EXPECT_THROW(ops::flash_attention_forward(out, lse, q, kv, kv, 6, 2, {ops::AttnCausality::Causal, lengths}),
               Error);
  EXPECT_NO_THROW(ops::flash_attention_forward(out, lse, q, kv, kv, 6, 2));
  Tensor qkv = randn({1, 3, 10}, 3);
  EXPECT_THROW(ops::flash_attention_forward_packed(out, lse, qkv, 6), Error);
}

}  // namespace

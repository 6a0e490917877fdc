// Attention masks on the CPU reference: bidirectional attention (encoders) and per-sequence key
// lengths (padding), alone and with causality: the output equals a direct masked softmax, a
// sequence of length 0 gives zero rows (no NaN), and the gradients match finite differences.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/attention.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::dot;
using temper::test::expect_fd;
using temper::test::randn;

namespace {

constexpr int64_t kB = 3, kT = 6, kNh = 4, kNkv = 2, kHs = 5;

// out[b, i, h, :] by the definition: softmax over the keys query i of sequence b may see.
std::vector<float> direct(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionMask& m) {
  const int64_t cq = kNh * kHs, ckv = kNkv * kHs;
  std::vector<float> out(static_cast<size_t>(kB * kT * cq), 0.f);
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t h = 0; h < kNh; ++h)
      for (int64_t i = 0; i < kT; ++i) {
        int64_t n = m.causality == ops::AttnCausality::Causal ? i + 1 : kT;
        if (m.key_lengths.defined()) n = std::min<int64_t>(n, m.key_lengths.data<int32_t>()[b]);
        std::vector<double> p(static_cast<size_t>(n));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t e = 0; e < kHs; ++e)
            s += double(q.data<float>()[(b * kT + i) * cq + h * kHs + e]) *
                 k.data<float>()[(b * kT + j) * ckv + (h / 2) * kHs + e];
          p[size_t(j)] = s / std::sqrt(double(kHs));
          mx = std::max(mx, p[size_t(j)]);
        }
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (int64_t e = 0; e < kHs; ++e) {
          double o = 0;
          for (int64_t j = 0; j < n; ++j) o += p[size_t(j)] / sum * v.data<float>()[(b * kT + j) * ckv + (h / 2) * kHs + e];
          out[size_t((b * kT + i) * cq + h * kHs + e)] = float(o);
        }
      }
  return out;
}

std::vector<ops::AttentionMask> masks() {
  const Tensor lengths = Tensor::from_i32({6, 3, 0}, {kB});
  return {{ops::AttnCausality::Bidirectional, Tensor()},
          {ops::AttnCausality::Bidirectional, lengths},
          {ops::AttnCausality::Causal, lengths}};
}

TEST(AttentionMask, ForwardIsTheMaskedSoftmax) {
  const Tensor q = randn({kB, kT, kNh * kHs}, 1), k = randn({kB, kT, kNkv * kHs}, 2), v = randn({kB, kT, kNkv * kHs}, 3);
  for (const ops::AttentionMask& m : masks()) {
    Tensor out = randn(q.shape(), 4), att = randn({kB, kNh, kT, kT}, 5);  // garbage first
    ops::attention_forward_gqa(out, att, q, k, v, kNh, kNkv, m);
    const std::vector<float> want = direct(q, k, v, m), got = out.to_vector();
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << i;
    for (float a : att.to_vector()) ASSERT_TRUE(std::isfinite(a));
  }
}

TEST(AttentionMask, LengthZeroGivesZeroRowsAndGradients) {
  const Tensor q = randn({kB, kT, kNh * kHs}, 1), k = randn({kB, kT, kNkv * kHs}, 2), v = randn({kB, kT, kNkv * kHs}, 3);
  const ops::AttentionMask m = masks()[1];
  Tensor out = Tensor::empty(q.shape(), DType::F32), att = Tensor::empty({kB, kNh, kT, kT}, DType::F32);
  ops::attention_forward_gqa(out, att, q, k, v, kNh, kNkv, m);
  Tensor dq = randn(q.shape(), 6), dk = randn(k.shape(), 7), dv = randn(v.shape(), 8);
  ops::attention_backward_gqa(dq, dk, dv, randn(q.shape(), 9), q, k, v, att, kNh, kNkv, m);
  const int64_t per_seq_q = kT * kNh * kHs, per_seq_kv = kT * kNkv * kHs;
  for (int64_t i = 2 * per_seq_q; i < 3 * per_seq_q; ++i) {
    EXPECT_EQ(out.data<float>()[i], 0.f);
    EXPECT_EQ(dq.data<float>()[i], 0.f);
  }
  for (int64_t i = 2 * per_seq_kv; i < 3 * per_seq_kv; ++i) EXPECT_EQ(dk.data<float>()[i], 0.f);
  // Padded keys (j >= 3 in sequence 1) get no gradient.
  for (int64_t j = 3; j < kT; ++j)
    for (int64_t e = 0; e < kNkv * kHs; ++e) EXPECT_EQ(dv.data<float>()[per_seq_kv + j * kNkv * kHs + e], 0.f);
}

TEST(AttentionMask, BackwardMatchesFiniteDifferences) {
  for (const ops::AttentionMask& m : masks()) {
    Tensor q = randn({kB, kT, kNh * kHs}, 1), k = randn({kB, kT, kNkv * kHs}, 2), v = randn({kB, kT, kNkv * kHs}, 3);
    const Tensor dout = randn(q.shape(), 4);
    Tensor out = Tensor::empty(q.shape(), DType::F32), att = Tensor::empty({kB, kNh, kT, kT}, DType::F32);
    auto loss = [&] {
      ops::attention_forward_gqa(out, att, q, k, v, kNh, kNkv, m);
      return dot(out, dout);
    };
    loss();
    Tensor dq = Tensor::empty(q.shape(), DType::F32), dk = Tensor::empty(k.shape(), DType::F32),
           dv = Tensor::empty(v.shape(), DType::F32);
    ops::attention_backward_gqa(dq, dk, dv, dout, q, k, v, att, kNh, kNkv, m);
    expect_fd(q, dq, loss);
    expect_fd(k, dk, loss);
    expect_fd(v, dv, loss);
  }
}

TEST(AttentionMask, RejectsBadKeyLengths) {
  const Tensor q = randn({kB, kT, kNh * kHs}, 1), k = randn({kB, kT, kNkv * kHs}, 2);
  Tensor out = Tensor::empty(q.shape(), DType::F32), att = Tensor::empty({kB, kNh, kT, kT}, DType::F32);
  const ops::AttentionMask wrong_size{ops::AttnCausality::Bidirectional, Tensor::from_i32({1, 2}, {2})};
  EXPECT_THROW(ops::attention_forward_gqa(out, att, q, k, k, kNh, kNkv, wrong_size), Error);
}

}  // namespace

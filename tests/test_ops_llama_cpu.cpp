// CPU tests of the Llama-family ops (RMSNorm, RoPE and its tables, SwiGLU, grouped-query
// attention): forward against direct formulas in f64, every backward against central finite
// differences, odd sizes (C=7, HS=6/10, NH/NKV ratios 3, 1 and NH, T=1..9).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/rope_tables.h"
#include "kernels/swiglu.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::dot;
using temper::test::expect_fd;
using temper::test::randn;

namespace {

float at(const Tensor& t, int64_t i) { return t.data<float>()[i]; }

// ---- RMSNorm ----

TEST(OpsLlamaCpu, RmsNormForwardMatchesFormula) {
  for (int64_t c : {1, 7, 33}) {
    const int64_t n = 5;
    const float eps = 1e-5f;
    Tensor x = randn({n, c}, 1, 2.f), w = randn({c}, 2);
    Tensor out = Tensor::empty({n, c}, DType::F32), rstd = Tensor::empty({n}, DType::F32);
    ops::rmsnorm_forward(out, rstd, x, w, eps);
    for (int64_t i = 0; i < n; ++i) {
      double ss = 0;
      for (int64_t j = 0; j < c; ++j) ss += double(at(x, i * c + j)) * at(x, i * c + j);
      const double r = 1.0 / std::sqrt(ss / c + eps);
      EXPECT_NEAR(at(rstd, i), r, 1e-5 * r) << "c=" << c;
      for (int64_t j = 0; j < c; ++j) EXPECT_NEAR(at(out, i * c + j), at(x, i * c + j) * r * at(w, j), 1e-5);
    }
  }
}

TEST(OpsLlamaCpu, RmsNormBackwardMatchesFdAndAccumulates) {
  const int64_t n = 3, c = 7;
  Tensor x = randn({2, n, c}, 1), w = randn({c}, 2), g = randn({2, n, c}, 3);
  Tensor out = Tensor::empty({2, n, c}, DType::F32), rstd = Tensor::empty({2 * n}, DType::F32);
  auto loss = [&] {
    ops::rmsnorm_forward(out, rstd, x, w, 1e-5f);
    return dot(out, g);
  };
  loss();
  Tensor dx = Tensor::empty({2, n, c}, DType::F32), dw = Tensor::zeros({c}, DType::F32);
  ops::rmsnorm_backward(dx, dw, g, x, w, rstd);
  expect_fd(x, dx, loss, 1e-2, 3e-2);
  expect_fd(w, dw, loss);
  // dweight is accumulated into; dx may alias dy.
  const Tensor dw_once = dw.clone();
  Tensor alias = g.clone();
  ops::rmsnorm_backward(alias, dw, alias, x, w, rstd);
  for (int64_t j = 0; j < c; ++j) EXPECT_NEAR(at(dw, j), 2 * at(dw_once, j), 1e-5);
  for (int64_t i = 0; i < dx.numel(); ++i) EXPECT_FLOAT_EQ(at(alias, i), at(dx, i));
}

// ---- RoPE ----

// Non-trivial tables [rows, half]: random angles, cos/sin scaled by `gain` (1 = a rotation).
ops::RopeTables random_tables(int64_t rows, int64_t half, uint64_t seed, float gain = 1.f) {
  const Tensor angle = randn({rows, half}, seed, 3.f);
  ops::RopeTables t{Tensor::empty({rows, half}, DType::F32), Tensor::empty({rows, half}, DType::F32)};
  for (int64_t i = 0; i < rows * half; ++i) {
    t.cos.data<float>()[i] = gain * std::cos(at(angle, i));
    t.sin.data<float>()[i] = gain * std::sin(at(angle, i));
  }
  return t;
}

struct RopeCase {
  int64_t b, t, h, hs;
};
const RopeCase kRopeCases[] = {{2, 1, 3, 6}, {2, 5, 3, 6}, {1, 9, 2, 10}, {3, 7, 1, 2}};

TEST(OpsLlamaCpu, RopeForwardMatchesRotateHalf) {
  for (const RopeCase& rc : kRopeCases) {
    const int64_t half = rc.hs / 2;
    const ops::RopeTables tab = random_tables(rc.t + 2, half, 7);  // longer than T: rows 0..T-1 are used
    const Tensor x0 = randn({rc.b, rc.t, rc.h, rc.hs}, 1), x = x0.clone();
    ops::rope_forward(x, tab.cos, tab.sin);
    for (int64_t row = 0; row < rc.b * rc.t * rc.h; ++row) {
      const int64_t t = (row / rc.h) % rc.t;
      for (int64_t i = 0; i < rc.hs; ++i) {
        // HF: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1); cos/sin repeat per half.
        const int64_t f = i % half;
        const double c = at(tab.cos, t * half + f), s = at(tab.sin, t * half + f);
        const double rot = i < half ? -at(x0, row * rc.hs + i + half) : at(x0, row * rc.hs + i - half);
        EXPECT_NEAR(at(x, row * rc.hs + i), at(x0, row * rc.hs + i) * c + rot * s, 1e-5)
            << "b,t,h,hs=" << rc.b << "," << rc.t << "," << rc.h << "," << rc.hs << " row " << row << " i " << i;
      }
    }
  }
}

TEST(OpsLlamaCpu, RopeBackwardIsTheGradient) {
  // Non-unit tables (gain 1.3): backward must be the transposed map, not merely an inverse.
  for (const RopeCase& rc : kRopeCases) {
    const ops::RopeTables tab = random_tables(rc.t, rc.hs / 2, 8, 1.3f);
    Tensor x = randn({rc.b, rc.t, rc.h, rc.hs}, 2), g = randn({rc.b, rc.t, rc.h, rc.hs}, 3);
    Tensor y = Tensor::empty(x.shape(), DType::F32);
    auto loss = [&] {
      y.copy_from(x);
      ops::rope_forward(y, tab.cos, tab.sin);
      return dot(y, g);
    };
    Tensor dx = g.clone();
    ops::rope_backward(dx, tab.cos, tab.sin);
    expect_fd(x, dx, loss, 1e-2, 1e-3);
  }
}

TEST(OpsLlamaCpu, RopeForwardThenBackwardIsIdentity) {
  ops::RopeScaling llama3;
  llama3.kind = ops::RopeScalingKind::Llama3;
  llama3.factor = 8;
  llama3.original_max_position_embeddings = 64;
  const ops::RopeTables from_model = ops::rope_tables(ops::rope_inv_freq(10, 10000.0, llama3), 12);
  const ops::RopeTables random = random_tables(9, 5, 9);
  for (const ops::RopeTables* tab : {&from_model, &random}) {
    const Tensor x0 = randn({2, 9, 3, 10}, 4), x = x0.clone();
    ops::rope_forward(x, tab->cos, tab->sin);
    double moved = 0;
    for (int64_t i = 0; i < x.numel(); ++i) moved = std::max(moved, double(std::abs(at(x, i) - at(x0, i))));
    EXPECT_GT(moved, 0.1);
    ops::rope_backward(x, tab->cos, tab->sin);
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(at(x, i), at(x0, i), 1e-5) << i;
  }
}

TEST(OpsLlamaCpu, RopeRejectsBadShapes) {
  const ops::RopeTables tab = random_tables(4, 3, 1);
  EXPECT_THROW(ops::rope_forward(randn({1, 4, 2, 5}, 1), tab.cos, tab.sin), Error);  // odd HS
  EXPECT_THROW(ops::rope_forward(randn({1, 5, 2, 6}, 1), tab.cos, tab.sin), Error);  // table too short
  EXPECT_THROW(ops::rope_forward(randn({1, 4, 2, 8}, 1), tab.cos, tab.sin), Error);  // HS/2 != 3
  EXPECT_THROW(ops::rope_forward(randn({4, 12}, 1), tab.cos, tab.sin), Error);       // not 4-D
}

// ---- rope tables ----

TEST(OpsLlamaCpu, RopeInvFreqDefaultLinearLlama3) {
  const int64_t hs = 64;
  const std::vector<float> base = ops::rope_inv_freq(hs, 500000.0, {});
  ASSERT_EQ(base.size(), size_t(hs / 2));
  for (int64_t i = 0; i < hs / 2; ++i) EXPECT_NEAR(base[i], std::pow(500000.0, -2.0 * i / hs), 2e-7 * base[i]);
  ops::RopeScaling lin;
  lin.kind = ops::RopeScalingKind::Linear;
  lin.factor = 4;
  const std::vector<float> linear = ops::rope_inv_freq(hs, 500000.0, lin);
  for (int64_t i = 0; i < hs / 2; ++i) EXPECT_FLOAT_EQ(linear[i], base[i] / 4);
  ops::RopeScaling l3;
  l3.kind = ops::RopeScalingKind::Llama3;
  l3.factor = 8;
  l3.low_freq_factor = 1;
  l3.high_freq_factor = 4;
  l3.original_max_position_embeddings = 8192;
  const std::vector<float> llama3 = ops::rope_inv_freq(hs, 500000.0, l3);
  int kept = 0, divided = 0, smoothed = 0;
  for (int64_t i = 0; i < hs / 2; ++i) {
    const double wavelen = 2 * M_PI / base[i];
    if (wavelen < 8192 / 4.0) {
      EXPECT_EQ(llama3[i], base[i]);
      ++kept;
    } else if (wavelen > 8192 / 1.0) {
      EXPECT_FLOAT_EQ(llama3[i], base[i] / 8);
      ++divided;
    } else {
      const double s = (8192 / wavelen - 1) / (4 - 1);
      EXPECT_NEAR(llama3[i], (1 - s) * base[i] / 8 + s * base[i], 1e-6 * base[i]);
      ++smoothed;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(smoothed, 0);
  EXPECT_THROW(ops::rope_inv_freq(7, 10000.0, {}), Error);
  EXPECT_EQ(ops::rope_scaling_kind("llama3"), ops::RopeScalingKind::Llama3);
  EXPECT_EQ(ops::rope_scaling_kind("default"), ops::RopeScalingKind::None);
  EXPECT_THROW(ops::rope_scaling_kind("yarn"), Error);
}

TEST(OpsLlamaCpu, RopeTablesHoldCosSinOfPositionTimesFrequency) {
  const std::vector<float> inv = ops::rope_inv_freq(10, 10000.0, {});
  const ops::RopeTables tab = ops::rope_tables(inv, 9);
  ASSERT_EQ(tab.cos.shape(), (Shape{9, 5}));
  for (int64_t t = 0; t < 9; ++t)
    for (int64_t i = 0; i < 5; ++i) {
      EXPECT_NEAR(at(tab.cos, t * 5 + i), std::cos(double(t) * inv[i]), 1e-6);
      EXPECT_NEAR(at(tab.sin, t * 5 + i), std::sin(double(t) * inv[i]), 1e-6);
    }
}

// ---- SwiGLU ----

TEST(OpsLlamaCpu, SwiGluForwardBackwardAndAliasing) {
  const Shape s{3, 7};
  Tensor gate = randn(s, 1, 3.f), up = randn(s, 2), g = randn(s, 3), out = Tensor::empty(s, DType::F32);
  auto loss = [&] {
    ops::swiglu_forward(out, gate, up);
    return dot(out, g);
  };
  loss();
  for (int64_t i = 0; i < gate.numel(); ++i) {
    const double v = at(gate, i);
    EXPECT_NEAR(at(out, i), v / (1 + std::exp(-v)) * at(up, i), 1e-5);
  }
  Tensor dgate = Tensor::empty(s, DType::F32), dup = Tensor::empty(s, DType::F32);
  ops::swiglu_backward(dgate, dup, g, gate, up);
  expect_fd(gate, dgate, loss, 1e-3);
  expect_fd(up, dup, loss, 1e-3);
  // Gradients written over their inputs (dgate over gate, dup over up), as an MLP saves memory.
  Tensor g2 = gate.clone(), u2 = up.clone();
  ops::swiglu_backward(g2, u2, g, g2, u2);
  for (int64_t i = 0; i < gate.numel(); ++i) {
    EXPECT_FLOAT_EQ(at(g2, i), at(dgate, i));
    EXPECT_FLOAT_EQ(at(u2, i), at(dup, i));
  }
  // Extreme gates: silu(-100) = -0 (no NaN), silu(100) = 100.
  Tensor ge = Tensor::from_f32({-100.f, 100.f}, {2}), ue = Tensor::from_f32({1.f, 1.f}, {2});
  Tensor oe = Tensor::empty({2}, DType::F32);
  ops::swiglu_forward(oe, ge, ue);
  EXPECT_NEAR(at(oe, 0), 0.f, 1e-30);
  EXPECT_FLOAT_EQ(at(oe, 1), 100.f);
}

// ---- grouped-query attention ----

struct GqaCase {
  int64_t b, t, nh, nkv, hs;
};
const GqaCase kGqaCases[] = {{2, 5, 6, 2, 6}, {1, 9, 6, 2, 10}, {2, 4, 3, 3, 6},
                             {2, 6, 4, 1, 6}, {1, 1, 6, 2, 6},  {2, 3, 6, 6, 10}};

std::string describe(const GqaCase& g) {
  return fmt::format("B={} T={} NH={} NKV={} HS={}", g.b, g.t, g.nh, g.nkv, g.hs);
}

// out[b,i,h] = sum_j softmax_j(q[b,i,h] . k[b,j,h/G] / sqrt(HS)) v[b,j,h/G], j <= i, in f64.
void expect_gqa_forward(const GqaCase& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& att) {
  const int64_t cq = g.nh * g.hs, ckv = g.nkv * g.hs;
  for (int64_t b = 0; b < g.b; ++b)
    for (int64_t h = 0; h < g.nh; ++h) {
      const int64_t kvh = h / (g.nh / g.nkv);
      for (int64_t i = 0; i < g.t; ++i) {
        std::vector<double> p(g.t, 0.0);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double s = 0;
          for (int64_t e = 0; e < g.hs; ++e)
            s += double(at(q, (b * g.t + i) * cq + h * g.hs + e)) * at(k, (b * g.t + j) * ckv + kvh * g.hs + e);
          p[j] = s / std::sqrt(double(g.hs));
          mx = std::max(mx, p[j]);
        }
        for (int64_t j = 0; j <= i; ++j) sum += (p[j] = std::exp(p[j] - mx));
        for (int64_t j = 0; j < g.t; ++j) {
          const float got = at(att, ((b * g.nh + h) * g.t + i) * g.t + j);
          if (j > i)
            EXPECT_EQ(got, 0.f);
          else
            EXPECT_NEAR(got, p[j] / sum, 1e-6) << describe(g);
        }
        for (int64_t e = 0; e < g.hs; ++e) {
          double o = 0;
          for (int64_t j = 0; j <= i; ++j) o += p[j] / sum * at(v, (b * g.t + j) * ckv + kvh * g.hs + e);
          EXPECT_NEAR(at(out, (b * g.t + i) * cq + h * g.hs + e), o, 1e-5) << describe(g);
        }
      }
    }
}

TEST(OpsLlamaCpu, GqaAttentionForwardMatchesRepeatKv) {
  for (const GqaCase& g : kGqaCases) {
    const Tensor q = randn({g.b, g.t, g.nh * g.hs}, 1), k = randn({g.b, g.t, g.nkv * g.hs}, 2);
    const Tensor v = randn({g.b, g.t, g.nkv * g.hs}, 3);
    Tensor out = randn({g.b, g.t, g.nh * g.hs}, 4), att = randn({g.b, g.nh, g.t, g.t}, 5);  // garbage first
    ops::attention_forward_gqa(out, att, q, k, v, int(g.nh), int(g.nkv));
    expect_gqa_forward(g, q, k, v, out, att);
  }
}

TEST(OpsLlamaCpu, GqaAttentionBackwardMatchesFd) {
  for (const GqaCase& g : kGqaCases) {
    SCOPED_TRACE(describe(g));
    Tensor q = randn({g.b, g.t, g.nh * g.hs}, 1), k = randn({g.b, g.t, g.nkv * g.hs}, 2);
    Tensor v = randn({g.b, g.t, g.nkv * g.hs}, 3), dout = randn({g.b, g.t, g.nh * g.hs}, 4);
    Tensor out = Tensor::empty(q.shape(), DType::F32), att = Tensor::empty({g.b, g.nh, g.t, g.t}, DType::F32);
    auto loss = [&] {
      ops::attention_forward_gqa(out, att, q, k, v, int(g.nh), int(g.nkv));
      return dot(out, dout);
    };
    loss();
    Tensor dq = randn(q.shape(), 5), dk = randn(k.shape(), 6), dv = randn(v.shape(), 7);  // overwritten
    ops::attention_backward_gqa(dq, dk, dv, dout, q, k, v, att, int(g.nh), int(g.nkv));
    expect_fd(q, dq, loss);
    expect_fd(k, dk, loss);
    expect_fd(v, dv, loss);
  }
}

TEST(OpsLlamaCpu, GqaWithOneGroupPerHeadIsMultiHeadAttention) {
  const int64_t b = 2, t = 7, nh = 3, hs = 6, c = nh * hs;
  const Tensor qkv = randn({b, t, 3 * c}, 1), dout = randn({b, t, c}, 2);
  Tensor q = Tensor::empty({b, t, c}, DType::F32), k = q.clone(), v = q.clone();
  for (int64_t r = 0; r < b * t; ++r)
    for (int64_t j = 0; j < c; ++j) {
      q.data<float>()[r * c + j] = at(qkv, r * 3 * c + j);
      k.data<float>()[r * c + j] = at(qkv, r * 3 * c + c + j);
      v.data<float>()[r * c + j] = at(qkv, r * 3 * c + 2 * c + j);
    }
  Tensor out = Tensor::empty({b, t, c}, DType::F32), att = Tensor::empty({b, nh, t, t}, DType::F32);
  Tensor out_mha = out.clone(), att_mha = att.clone(), dqkv = qkv.clone();
  ops::attention_forward_gqa(out, att, q, k, v, int(nh), int(nh));
  ops::attention_forward(out_mha, att_mha, qkv, int(nh));
  Tensor dq = q.clone(), dk = k.clone(), dv = v.clone();
  ops::attention_backward_gqa(dq, dk, dv, dout, q, k, v, att, int(nh), int(nh));
  ops::attention_backward(dqkv, dout, qkv, att_mha, int(nh));
  for (int64_t i = 0; i < out.numel(); ++i) EXPECT_NEAR(at(out, i), at(out_mha, i), 1e-6);
  for (int64_t i = 0; i < att.numel(); ++i) EXPECT_NEAR(at(att, i), at(att_mha, i), 1e-6);
  for (int64_t r = 0; r < b * t; ++r)
    for (int64_t j = 0; j < c; ++j) {
      EXPECT_NEAR(at(dq, r * c + j), at(dqkv, r * 3 * c + j), 1e-5);
      EXPECT_NEAR(at(dk, r * c + j), at(dqkv, r * 3 * c + c + j), 1e-5);
      EXPECT_NEAR(at(dv, r * c + j), at(dqkv, r * 3 * c + 2 * c + j), 1e-5);
    }
}

TEST(OpsLlamaCpu, GqaRejectsBadHeadCounts) {
  const Tensor q = randn({1, 3, 24}, 1), kv = randn({1, 3, 8}, 2);
  Tensor out = Tensor::empty({1, 3, 24}, DType::F32), att = Tensor::empty({1, 6, 3, 3}, DType::F32);
  EXPECT_THROW(ops::attention_forward_gqa(out, att, q, kv, kv, 6, 4), Error);  // 6 % 4 != 0
  EXPECT_THROW(ops::attention_forward_gqa(out, att, q, kv, kv, 6, 3), Error);  // k is not [1,3,12]
  EXPECT_THROW(ops::attention_forward_gqa(out, att, q, kv, kv, 0, 1), Error);
  EXPECT_NO_THROW(ops::attention_forward_gqa(out, att, q, kv, kv, 6, 2));
}

}  // namespace

// Op test harness for the Llama-family CUDA ops (RMSNorm, RoPE, SwiGLU, grouped-query attention):
// each against its CPU reference (kernels/ref) on random inputs with a fixed seed, over a sweep of
// shapes including odd and empty ones, in f32 and in bf16. As in gpu_test_ops.cpp: bf16 runs round
// the inputs through bf16 first so the CPU reference sees the GPU's values; f32 outputs must agree to
// 1e-4 * max(1, max|ref|) + 1e-5 * |ref|, bf16 outputs to 2e-2 * max(1, max|ref|); f32 gradient
// accumulators start from random values. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/ref/ref_ops.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/rope_tables.h"
#include "kernels/swiglu.h"
#include "runtime/device_memory.h"
#include "runtime/tensor.h"

namespace temper {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device"

constexpr DType kActDtypes[] = {DType::F32, DType::BF16};

// ---- host tensors, bf16 rounding, device copies ----

Tensor random_host(const Shape& shape, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = dist(rng);
  return Tensor::from_f32(v, shape);
}

Tensor round_bf16(const Tensor& host) {
  Tensor out = host.clone();
  float* p = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) p[i] = bf16_to_f32(f32_to_bf16(p[i]));
  return out;
}

Tensor to_device(const Tensor& host, DType dt) {
  if (dt == DType::F32) return host.to(Device::Cuda);
  Tensor out = Tensor::empty(host.shape(), dt);
  const float* s = host.data<float>();
  uint16_t* d = out.data<uint16_t>();
  for (int64_t i = 0; i < host.numel(); ++i) d[i] = f32_to_bf16(s[i]);
  return out.to(Device::Cuda);
}

// Random input for a run in dtype dt: f32 values, already representable in dt.
Tensor input(const Shape& shape, std::mt19937& rng, DType dt, float lo = -1.f, float hi = 1.f) {
  Tensor h = random_host(shape, rng, lo, hi);
  return dt == DType::BF16 ? round_bf16(h) : h;
}

// ---- comparison ----

struct Tol {
  double abs;  // times max(1, max |ref|)
  double rel;  // times |ref|
};

Tol tol_for(DType dt) { return dt == DType::F32 ? Tol{1e-4, 1e-5} : Tol{2e-2, 0.0}; }

void expect_close(const Tensor& got_t, const Tensor& ref_t, const std::string& what) {
  ASSERT_EQ(got_t.numel(), ref_t.numel()) << what;
  const Tol tol = tol_for(got_t.dtype());
  const std::vector<float> got = got_t.to_vector(), ref = ref_t.to_vector();
  double scale = 1.0;
  for (float r : ref) scale = std::max(scale, static_cast<double>(std::fabs(r)));
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double ratio = std::isfinite(got[i]) ? err / (tol.abs * scale + tol.rel * std::fabs(ref[i])) : INFINITY;
    if (ratio > 1.0) ++bad;
    if (ratio > worst_ratio || worst < 0) {
      worst_ratio = ratio;
      worst = static_cast<int64_t>(i);
    }
  }
  if (bad > 0)
    ADD_FAILURE() << what << ": " << bad << " of " << ref.size() << " elements off; worst [" << worst << "] got "
                  << got[worst] << " ref " << ref[worst] << " (scale " << scale << ")";
}

std::string name(DType dt) { return dtype_name(dt); }

// ---- RMSNorm ----

const std::pair<int64_t, int64_t> kRmsShapes[] = {{1, 1}, {2, 7}, {5, 33}, {37, 576}, {3, 1600}, {600, 33}, {0, 7}};

TEST(GpuOpsLlama, RmsNormForward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  for (DType dt : kActDtypes)
    for (auto [n, c] : kRmsShapes) {
      const Tensor x = input({n, c}, rng, dt, -2.f, 3.f), w = input({c}, rng, dt, 0.5f, 1.5f);
      Tensor out = Tensor::empty({n, c}, DType::F32), rstd = Tensor::empty({n}, DType::F32);
      ref::rmsnorm_forward(out, rstd, x, w, 1e-5f);
      const Tensor d_out = to_device(random_host({n, c}, rng), dt);  // garbage: must be overwritten
      const Tensor d_rstd = Tensor::empty({n}, DType::F32, Device::Cuda);
      ops::rmsnorm_forward(d_out, d_rstd, to_device(x, dt), to_device(w, dt), 1e-5f);
      const std::string what = fmt::format("rmsnorm_forward {}x{} {}", n, c, name(dt));
      expect_close(d_out, out, what + " out");
      expect_close(d_rstd, rstd, what + " rstd");
    }
}

TEST(GpuOpsLlama, RmsNormBackward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(22);
  for (DType dt : kActDtypes)
    for (auto [n, c] : kRmsShapes) {
      const Tensor x = input({n, c}, rng, dt, -2.f, 3.f), w = input({c}, rng, dt, 0.5f, 1.5f);
      const Tensor dy = input({n, c}, rng, dt);
      Tensor out = Tensor::empty({n, c}, DType::F32), rstd = Tensor::empty({n}, DType::F32);
      ref::rmsnorm_forward(out, rstd, x, w, 1e-5f);
      const Tensor dw0 = random_host({c}, rng);
      Tensor dx = Tensor::empty({n, c}, DType::F32), dw = dw0.clone();
      ref::rmsnorm_backward(dx, dw, dy, x, w, rstd);
      const Tensor d_dw = dw0.to(Device::Cuda), d_dx = Tensor::empty({n, c}, dt, Device::Cuda);
      const Tensor d_x = to_device(x, dt), d_w = to_device(w, dt), d_rstd = rstd.to(Device::Cuda);
      ops::rmsnorm_backward(d_dx, d_dw, to_device(dy, dt), d_x, d_w, d_rstd);
      const std::string what = fmt::format("rmsnorm_backward {}x{} {}", n, c, name(dt));
      expect_close(d_dx, dx, what + " dx");
      expect_close(d_dw, dw, what + " dweight");
      const Tensor d_alias = to_device(dy, dt), d_dw2 = dw0.to(Device::Cuda);  // dx aliases dy
      ops::rmsnorm_backward(d_alias, d_dw2, d_alias, d_x, d_w, d_rstd);
      expect_close(d_alias, dx, what + " dx in place");
    }
}

// ---- RoPE ----

struct RopeCase {
  int64_t b, t, h, hs;
};
const RopeCase kRopeCases[] = {{1, 1, 1, 2},   {2, 7, 3, 6},    {2, 9, 6, 10},
                               {1, 64, 9, 64}, {3, 37, 5, 128}, {0, 4, 2, 6}};

// Tables with more rows than T (rows 0..T-1 are used): llama3-scaled frequencies.
ops::RopeTables tables_for(const RopeCase& rc) {
  ops::RopeScaling s;
  s.kind = ops::RopeScalingKind::Llama3;
  s.factor = 8;
  s.original_max_position_embeddings = 64;
  return ops::rope_tables(ops::rope_inv_freq(rc.hs, 10000.0, s), rc.t + 3);
}

TEST(GpuOpsLlama, RopeForwardAndBackward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(23);
  for (DType dt : kActDtypes)
    for (const RopeCase& rc : kRopeCases) {
      const ops::RopeTables tab = tables_for(rc);
      const Tensor d_cos = tab.cos.to(Device::Cuda), d_sin = tab.sin.to(Device::Cuda);
      const Shape s{rc.b, rc.t, rc.h, rc.hs};
      const std::string what = fmt::format("rope B={} T={} H={} HS={} {}", rc.b, rc.t, rc.h, rc.hs, name(dt));
      const Tensor x = input(s, rng, dt, -3.f, 3.f), g = input(s, rng, dt);
      Tensor y = x.clone(), dx = g.clone();
      ref::rope_forward(y, tab.cos, tab.sin);
      ref::rope_backward(dx, tab.cos, tab.sin);
      const Tensor d_y = to_device(x, dt), d_dx = to_device(g, dt);
      ops::rope_forward(d_y, d_cos, d_sin);
      ops::rope_backward(d_dx, d_cos, d_sin);
      expect_close(d_y, y, what + " forward");
      expect_close(d_dx, dx, what + " backward");
    }
}

// ---- SwiGLU ----

// The last size needs more than grid_for's 65536-block cap, so grid-stride loops go round twice.
const int64_t kElementwiseSizes[] = {0, 1, 7, 33, 4099, 100003, (int64_t{1} << 24) + 5};

TEST(GpuOpsLlama, SwiGlu) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(24);
  for (DType dt : kActDtypes)
    for (int64_t n : kElementwiseSizes) {
      const Tensor gate = input({n}, rng, dt, -8.f, 8.f), up = input({n}, rng, dt), dout = input({n}, rng, dt);
      Tensor out = Tensor::empty({n}, DType::F32), dgate = Tensor::empty({n}, DType::F32);
      Tensor dup = Tensor::empty({n}, DType::F32);
      ref::swiglu_forward(out, gate, up);
      ref::swiglu_backward(dgate, dup, dout, gate, up);
      const Tensor d_gate = to_device(gate, dt), d_up = to_device(up, dt), d_dout = to_device(dout, dt);
      const Tensor d_out = Tensor::empty({n}, dt, Device::Cuda), d_dgate = Tensor::empty({n}, dt, Device::Cuda);
      const Tensor d_dup = Tensor::empty({n}, dt, Device::Cuda);
      ops::swiglu_forward(d_out, d_gate, d_up);
      ops::swiglu_backward(d_dgate, d_dup, d_dout, d_gate, d_up);
      const std::string what = fmt::format("swiglu n={} {}", n, name(dt));
      expect_close(d_out, out, what + " out");
      expect_close(d_dgate, dgate, what + " dgate");
      expect_close(d_dup, dup, what + " dup");
      ops::swiglu_backward(d_gate, d_up, d_dout, d_gate, d_up);  // gradients over their inputs
      expect_close(d_gate, dgate, what + " dgate in place");
      expect_close(d_up, dup, what + " dup in place");
    }
}

// ---- grouped-query attention ----

struct GqaCase {
  int64_t b, t;
  int nh, nkv;
  int64_t hs;
};
const GqaCase kGqaCases[] = {{1, 1, 1, 1, 1},  {2, 7, 6, 2, 6},   {1, 9, 6, 3, 10},   {2, 33, 4, 1, 16},
                             {3, 37, 6, 6, 8}, {1, 64, 9, 3, 64}, {2, 65, 12, 4, 32}, {1, 128, 15, 5, 64},
                             {0, 5, 6, 2, 6},  {2, 0, 6, 2, 6}};

std::string describe(const GqaCase& g, DType dt) {
  return fmt::format("attention_gqa B={} T={} NH={} NKV={} HS={} {}", g.b, g.t, g.nh, g.nkv, g.hs, name(dt));
}

struct GqaInputs {
  Tensor q, k, v;
};

GqaInputs gqa_inputs(const GqaCase& g, std::mt19937& rng, DType dt) {
  return {input({g.b, g.t, g.nh * g.hs}, rng, dt, -2.f, 2.f), input({g.b, g.t, g.nkv * g.hs}, rng, dt, -2.f, 2.f),
          input({g.b, g.t, g.nkv * g.hs}, rng, dt, -2.f, 2.f)};
}

TEST(GpuOpsLlama, GqaAttentionForward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(25);
  for (DType dt : kActDtypes)
    for (const GqaCase& g : kGqaCases) {
      const GqaInputs in = gqa_inputs(g, rng, dt);
      Tensor out = Tensor::empty(in.q.shape(), DType::F32), att = Tensor::empty({g.b, g.nh, g.t, g.t}, DType::F32);
      ref::attention_forward_gqa(out, att, in.q, in.k, in.v, g.nh, g.nkv, ops::AttentionMask());
      const Tensor d_out = to_device(random_host(out.shape(), rng), dt);  // garbage: must be overwritten
      const Tensor d_att = to_device(random_host(att.shape(), rng), dt);
      ops::attention_forward_gqa(d_out, d_att, to_device(in.q, dt), to_device(in.k, dt), to_device(in.v, dt), g.nh,
                                 g.nkv);
      expect_close(d_out, out, describe(g, dt) + " out");
      expect_close(d_att, att, describe(g, dt) + " att");
    }
}

TEST(GpuOpsLlama, GqaAttentionBackward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(26);
  for (DType dt : kActDtypes)
    for (const GqaCase& g : kGqaCases) {
      const GqaInputs in = gqa_inputs(g, rng, dt);
      const Tensor dout = input(in.q.shape(), rng, dt);
      Tensor out = Tensor::empty(in.q.shape(), DType::F32), att = Tensor::empty({g.b, g.nh, g.t, g.t}, DType::F32);
      ref::attention_forward_gqa(out, att, in.q, in.k, in.v, g.nh, g.nkv, ops::AttentionMask());
      if (dt == DType::BF16) att = round_bf16(att);  // both sides use the probabilities the GPU would store
      Tensor dq = Tensor::empty(in.q.shape(), DType::F32), dk = Tensor::empty(in.k.shape(), DType::F32);
      Tensor dv = Tensor::empty(in.v.shape(), DType::F32);
      ref::attention_backward_gqa(dq, dk, dv, dout, in.q, in.k, in.v, att, g.nh, g.nkv, ops::AttentionMask());
      const Tensor d_dq = to_device(random_host(dq.shape(), rng), dt);  // garbage: must be overwritten
      const Tensor d_dk = to_device(random_host(dk.shape(), rng), dt);
      const Tensor d_dv = to_device(random_host(dv.shape(), rng), dt);
      ops::attention_backward_gqa(d_dq, d_dk, d_dv, to_device(dout, dt), to_device(in.q, dt), to_device(in.k, dt),
                                  to_device(in.v, dt), to_device(att, dt), g.nh, g.nkv);
      expect_close(d_dq, dq, describe(g, dt) + " dq");
      expect_close(d_dk, dk, describe(g, dt) + " dk");
      expect_close(d_dv, dv, describe(g, dt) + " dv");
    }
}

TEST(GpuOpsLlama, GqaRejectsMixedDtypes) {
  SKIP_WITHOUT_GPU();
  const Tensor q = Tensor::zeros({1, 3, 12}, DType::F32, Device::Cuda);
  const Tensor kv16 = Tensor::zeros({1, 3, 4}, DType::BF16, Device::Cuda);
  const Tensor out = Tensor::zeros({1, 3, 12}, DType::F32, Device::Cuda);
  const Tensor att = Tensor::zeros({1, 3, 3, 3}, DType::F32, Device::Cuda);
  EXPECT_THROW(ops::attention_forward_gqa(out, att, q, kv16, kv16, 3, 1), Error);
}

}  // namespace
}  // namespace temper

// Op test harness: every CUDA op against its CPU reference (kernels/ref) on random inputs with a
// fixed seed, over a sweep of shapes including odd sizes, in f32 and in bf16.
// bf16 runs round the inputs through bf16 first, so the CPU reference sees exactly the values the
// GPU sees; outputs are then compared by their dtype: f32 outputs to 1e-4 * max(1, max|ref|) +
// 1e-5 * |ref|, bf16 outputs to 2e-2 * max(1, max|ref|). F32 gradient accumulators start from random
// values to check that they are added into. Every test skips when no CUDA device is present
// (and always in a CPU-only build).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/gelu.h"
#include "kernels/grad_norm.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/ref/ref_ops.h"
#include "runtime/device_memory.h"
#include "runtime/tensor.h"

namespace temper {
namespace {

using ops::Trans;

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

// Host f32 tensor whose values are rounded through bf16 (round to nearest even).
Tensor round_bf16(const Tensor& host) {
  Tensor out = host.clone();
  float* p = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) p[i] = bf16_to_f32(f32_to_bf16(p[i]));
  return out;
}

// Host f32 values as a host tensor of dtype dt (bf16 / f16 conversions round to nearest even).
Tensor host_as(const Tensor& host, DType dt) {
  if (dt == DType::F32) return host.clone();
  Tensor out = Tensor::empty(host.shape(), dt);
  const float* s = host.data<float>();
  uint16_t* d = out.data<uint16_t>();
  for (int64_t i = 0; i < host.numel(); ++i) d[i] = dt == DType::BF16 ? f32_to_bf16(s[i]) : f32_to_f16(s[i]);
  return out;
}

Tensor to_device(const Tensor& host, DType dt) { return host_as(host, dt).to(Device::Cuda); }

// Random input for a run in dtype dt: f32 values, already representable in dt.
Tensor input(const Shape& shape, std::mt19937& rng, DType dt, float lo = -1.f, float hi = 1.f) {
  Tensor h = random_host(shape, rng, lo, hi);
  return dt == DType::BF16 ? round_bf16(h) : h;
}

Tensor random_tokens(const Shape& shape, int32_t vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> v(static_cast<size_t>(shape_numel(shape)));
  for (int32_t& x : v) x = dist(rng);
  return Tensor::from_i32(v, shape);
}

// ---- comparison ----

struct Tol {
  double abs;  // times max(1, max |ref|)
  double rel;  // times |ref|
};

Tol tol_for(DType dt) { return dt == DType::F32 ? Tol{1e-4, 1e-5} : Tol{2e-2, 0.0}; }

bool same_value(float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Compares a device (or host) tensor with a host f32 reference; reports the worst element.
void expect_close(const Tensor& got_t, const Tensor& ref_t, const std::string& what, Tol tol) {
  ASSERT_EQ(got_t.numel(), ref_t.numel()) << what;
  const std::vector<float> got = got_t.to_vector(), ref = ref_t.to_vector();
  double scale = 1.0;
  for (float r : ref) scale = std::max(scale, static_cast<double>(std::fabs(r)));
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double allowed = tol.abs * scale + tol.rel * std::fabs(ref[i]);
    const double ratio = std::isfinite(got[i]) ? err / allowed : INFINITY;
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

void expect_close(const Tensor& got, const Tensor& ref, const std::string& what) {
  expect_close(got, ref, what, tol_for(got.dtype()));
}

void expect_equal(const Tensor& got_t, const Tensor& ref_t, const std::string& what) {
  const std::vector<float> got = got_t.to_vector(), ref = ref_t.to_vector();
  ASSERT_EQ(got.size(), ref.size()) << what;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!same_value(got[i], ref[i])) {
      ADD_FAILURE() << what << ": [" << i << "] got " << got[i] << " ref " << ref[i];
      return;
    }
}

std::string name(DType dt) { return dtype_name(dt); }

// ---- matmul ----

struct MatmulCase {
  int64_t m, n, k;
};

struct MatmulRun {
  MatmulCase c;
  Trans ta, tb;
  bool bias;
  float beta;
  DType in, out;
};

std::string describe(const MatmulRun& r) {
  return fmt::format("m={} n={} k={} ta={} tb={} bias={} beta={} {}->{}", r.c.m, r.c.n, r.c.k, r.ta == Trans::Yes,
                     r.tb == Trans::Yes, r.bias, r.beta, dtype_name(r.in), dtype_name(r.out));
}

void check_matmul(const MatmulRun& r, std::mt19937& rng) {
  const MatmulCase& c = r.c;
  const Shape sa = r.ta == Trans::Yes ? Shape{c.k, c.m} : Shape{c.m, c.k};
  const Shape sb = r.tb == Trans::Yes ? Shape{c.n, c.k} : Shape{c.k, c.n};
  const Tensor a = input(sa, rng, r.in), b = input(sb, rng, r.in);
  const Tensor bias = input({c.n}, rng, r.in), out0 = input({c.m, c.n}, rng, r.out);
  Tensor ref_out = out0.clone();
  ref::matmul(ref_out, a, r.ta, b, r.tb, r.bias ? &bias : nullptr, r.beta);
  const Tensor d_out = to_device(out0, r.out), d_bias = to_device(bias, r.in);
  ops::matmul(d_out, to_device(a, r.in), r.ta, to_device(b, r.in), r.tb, r.bias ? &d_bias : nullptr, r.beta);
  expect_close(d_out, ref_out, describe(r));
}

void matmul_sweep(std::mt19937& rng) {
  const MatmulCase cases[] = {{1, 1, 1}, {7, 33, 5}, {37, 768, 33}, {64, 50, 768}, {3, 1003, 16}, {0, 5, 4}, {5, 3, 0}};
  const std::pair<DType, DType> dtypes[] = {
      {DType::F32, DType::F32}, {DType::BF16, DType::BF16}, {DType::BF16, DType::F32}};
  for (const MatmulCase& c : cases)
    for (auto [in, out] : dtypes)
      for (Trans ta : {Trans::No, Trans::Yes})
        for (Trans tb : {Trans::No, Trans::Yes}) {
          // Empty operands are only expressible where the flattened shapes keep their meaning.
          if (c.k == 0 && !(ta == Trans::Yes && tb == Trans::No)) continue;
          if (c.m == 0 && ta == Trans::Yes) continue;
          for (bool bias : {false, true})
            for (float beta : {0.f, 1.f, 0.5f}) check_matmul({c, ta, tb, bias, beta, in, out}, rng);
        }
}

TEST(GpuOps, MatmulCublasLt) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(1);
  unsetenv("TEMPER_MATMUL_BACKEND");
  matmul_sweep(rng);
}

TEST(GpuOps, MatmulCublasFallback) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(2);
  setenv("TEMPER_MATMUL_BACKEND", "cublas", 1);
  matmul_sweep(rng);
  unsetenv("TEMPER_MATMUL_BACKEND");
}

TEST(GpuOps, MatmulLeadingDimsAndUnalignedViews) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(3);
  for (DType dt : kActDtypes) {
    const Tensor a = input({2, 3, 24}, rng, dt), b = input({24, 16}, rng, dt), bias = input({16}, rng, dt);
    Tensor ref_out = Tensor::empty({2, 3, 16}, DType::F32);
    ref::matmul(ref_out, a, Trans::No, b, Trans::No, &bias, 0.f);
    // Operands one element past an aligned start: cuBLASLt must not assume 16-byte alignment.
    auto shifted = [&](const Tensor& h) {
      Tensor buf = Tensor::zeros({h.numel() + 1}, dt, Device::Cuda);
      Tensor view = buf.slice_flat(1, h.shape());
      view.copy_from(to_device(h, dt));
      return view;
    };
    const Tensor d_out = Tensor::zeros({6 * 16 + 1}, dt, Device::Cuda).slice_flat(1, {2, 3, 16});
    const Tensor d_bias = shifted(bias);
    ops::matmul(d_out, shifted(a), Trans::No, shifted(b), Trans::No, &d_bias, 0.f);
    expect_close(d_out, ref_out, "matmul unaligned " + name(dt));
  }
}

TEST(GpuOps, MatmulRejectsUnsupportedDtypes) {
  SKIP_WITHOUT_GPU();
  const Tensor a = Tensor::zeros({2, 3}, DType::F32, Device::Cuda), b = Tensor::zeros({3, 4}, DType::F32, Device::Cuda);
  const Tensor out16 = Tensor::zeros({2, 4}, DType::BF16, Device::Cuda);
  EXPECT_THROW(ops::matmul(out16, a, Trans::No, b, Trans::No), Error);
  const Tensor b16 = Tensor::zeros({3, 4}, DType::BF16, Device::Cuda);
  EXPECT_THROW(ops::matmul(out16, a, Trans::No, b16, Trans::No), Error);
}

TEST(GpuOps, BiasBackward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(4);
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {7, 33}, {37, 768}, {600, 7}, {1000, 3}, {0, 5}};
  for (DType dt : kActDtypes)
    for (auto [m, n] : shapes) {
      const Tensor dy = input({m, n}, rng, dt), db0 = random_host({n}, rng);
      Tensor ref_db = db0.clone();
      ref::bias_backward(ref_db, dy);
      const Tensor d_db = db0.to(Device::Cuda);
      ops::bias_backward(d_db, to_device(dy, dt));
      expect_close(d_db, ref_db, fmt::format("bias_backward {}x{} {}", m, n, name(dt)));
    }
}

// ---- layernorm ----

const std::pair<int64_t, int64_t> kLayerNormShapes[] = {{1, 1}, {2, 7}, {5, 33}, {37, 768}, {3, 1600}, {600, 33}};

TEST(GpuOps, LayerNormForward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(5);
  for (DType dt : kActDtypes)
    for (auto [n, c] : kLayerNormShapes) {
      const Tensor x = input({n, c}, rng, dt, -2.f, 3.f), w = input({c}, rng, dt, 0.5f, 1.5f);
      const Tensor b = input({c}, rng, dt, -0.5f, 0.5f);
      Tensor out = Tensor::empty({n, c}, DType::F32), mean = Tensor::empty({n}, DType::F32);
      Tensor rstd = Tensor::empty({n}, DType::F32);
      ref::layernorm_forward(out, mean, rstd, x, w, b, 1e-5f);
      const Tensor d_out = Tensor::empty({n, c}, dt, Device::Cuda);
      const Tensor d_mean = Tensor::empty({n}, DType::F32, Device::Cuda),
                   d_rstd = Tensor::empty({n}, DType::F32, Device::Cuda);
      ops::layernorm_forward(d_out, d_mean, d_rstd, to_device(x, dt), to_device(w, dt), to_device(b, dt), 1e-5f);
      const std::string what = fmt::format("layernorm_forward {}x{} {}", n, c, name(dt));
      expect_close(d_out, out, what + " out");
      expect_close(d_mean, mean, what + " mean");
      expect_close(d_rstd, rstd, what + " rstd");
    }
}

TEST(GpuOps, LayerNormBackward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(6);
  for (DType dt : kActDtypes)
    for (auto [n, c] : kLayerNormShapes) {
      const Tensor x = input({n, c}, rng, dt, -2.f, 3.f), w = input({c}, rng, dt, 0.5f, 1.5f);
      const Tensor b = input({c}, rng, dt), dy = input({n, c}, rng, dt);
      Tensor out = Tensor::empty({n, c}, DType::F32), mean = Tensor::empty({n}, DType::F32);
      Tensor rstd = Tensor::empty({n}, DType::F32);
      ref::layernorm_forward(out, mean, rstd, x, w, b, 1e-5f);
      const Tensor dw0 = random_host({c}, rng), db0 = random_host({c}, rng);
      Tensor dx = Tensor::empty({n, c}, DType::F32), dw = dw0.clone(), db = db0.clone();
      ref::layernorm_backward(dx, dw, db, dy, x, w, mean, rstd);
      const Tensor d_dx = Tensor::empty({n, c}, dt, Device::Cuda), d_dw = dw0.to(Device::Cuda),
                   d_db = db0.to(Device::Cuda);
      ops::layernorm_backward(d_dx, d_dw, d_db, to_device(dy, dt), to_device(x, dt), to_device(w, dt),
                              mean.to(Device::Cuda), rstd.to(Device::Cuda));
      const std::string what = fmt::format("layernorm_backward {}x{} {}", n, c, name(dt));
      expect_close(d_dx, dx, what + " dx");
      expect_close(d_dw, dw, what + " dweight");
      expect_close(d_db, db, what + " dbias");
    }
}

// ---- gelu ----

// The last size needs more than grid_for's 65536-block cap, so grid-stride loops go round twice.
const int64_t kElementwiseSizes[] = {1, 7, 33, 4099, 100003, (int64_t{1} << 24) + 5};

TEST(GpuOps, Gelu) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(7);
  for (ops::GeluKind kind : {ops::GeluKind::Tanh, ops::GeluKind::Erf})
    for (DType dt : kActDtypes)
      for (int64_t n : kElementwiseSizes) {
        const std::string what = fmt::format("n={} {} {}", n, name(dt), kind == ops::GeluKind::Erf ? "erf" : "tanh");
        const Tensor x = input({n}, rng, dt, -5.f, 5.f), dout = input({n}, rng, dt);
        Tensor out = Tensor::empty({n}, DType::F32), dx = Tensor::empty({n}, DType::F32);
        ref::gelu_forward(out, x, kind);
        ref::gelu_backward(dx, dout, x, kind);
        const Tensor d_x = to_device(x, dt), d_out = Tensor::empty({n}, dt, Device::Cuda);
        const Tensor d_dx = Tensor::empty({n}, dt, Device::Cuda);
        ops::gelu_forward(d_out, d_x, kind);
        ops::gelu_backward(d_dx, to_device(dout, dt), d_x, kind);
        expect_close(d_out, out, "gelu_forward " + what);
        expect_close(d_dx, dx, "gelu_backward " + what);
        const Tensor d_inplace = to_device(dout, dt);  // dx aliases dout, as in Mlp::backward
        ops::gelu_backward(d_inplace, d_inplace, d_x, kind);
        expect_close(d_inplace, dx, "gelu_backward in place " + what);
      }
}

// ---- embedding ----

struct EmbeddingCase {
  int64_t b, t, c, v, p;
};
const EmbeddingCase kEmbeddingCases[] = {
    {1, 1, 1, 1, 1}, {2, 7, 33, 1003, 9}, {3, 64, 768, 1003, 64}, {2, 16, 7, 50257, 20}, {4, 64, 8, 5, 64}};

TEST(GpuOps, EmbeddingForward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(8);
  for (DType dt : kActDtypes)
    for (const EmbeddingCase& e : kEmbeddingCases) {
      const Tensor tok = random_tokens({e.b, e.t}, static_cast<int32_t>(e.v), rng);
      const Tensor wte = input({e.v, e.c}, rng, dt), wpe = input({e.p, e.c}, rng, dt);
      Tensor out = Tensor::empty({e.b, e.t, e.c}, DType::F32);
      ref::embedding_forward(out, tok, wte, wpe);
      const Tensor d_out = Tensor::empty({e.b, e.t, e.c}, dt, Device::Cuda);
      ops::embedding_forward(d_out, tok.to(Device::Cuda), to_device(wte, dt), to_device(wpe, dt));
      expect_close(d_out, out, fmt::format("embedding_forward B={} T={} C={} V={} {}", e.b, e.t, e.c, e.v, name(dt)));
    }
}

TEST(GpuOps, EmbeddingBackward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(9);
  for (DType dt : kActDtypes)
    for (const EmbeddingCase& e : kEmbeddingCases) {
      const Tensor tok = random_tokens({e.b, e.t}, static_cast<int32_t>(e.v), rng);
      const Tensor dout = input({e.b, e.t, e.c}, rng, dt);
      const Tensor dwte0 = random_host({e.v, e.c}, rng), dwpe0 = random_host({e.p, e.c}, rng);
      Tensor dwte = dwte0.clone(), dwpe = dwpe0.clone();
      ref::embedding_backward(dwte, dwpe, dout, tok);
      const Tensor d_dwte = dwte0.to(Device::Cuda), d_dwpe = dwpe0.to(Device::Cuda);
      ops::embedding_backward(d_dwte, d_dwpe, to_device(dout, dt), tok.to(Device::Cuda));
      const std::string what = fmt::format("embedding_backward B={} T={} C={} V={} {}", e.b, e.t, e.c, e.v, name(dt));
      expect_close(d_dwte, dwte, what + " dwte");
      expect_close(d_dwpe, dwpe, what + " dwpe");
    }
}

TEST(GpuOps, EmbeddingOutOfRangeTokensContributeNothing) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(18);
  const int64_t v = 5, t = 3, c = 4;
  const Tensor wte = random_host({v, c}, rng), wpe = random_host({t, c}, rng);
  const Tensor tok = Tensor::from_i32({-1, static_cast<int32_t>(v), 1000}, {1, t}).to(Device::Cuda);
  const Tensor d_out = Tensor::empty({1, t, c}, DType::F32, Device::Cuda);
  ops::embedding_forward(d_out, tok, to_device(wte, DType::F32), to_device(wpe, DType::F32));
  expect_equal(d_out, wpe.reshape({1, t, c}), "embedding_forward with out-of-range tokens");
  const Tensor d_dwte = Tensor::zeros({v, c}, DType::F32, Device::Cuda);
  const Tensor d_dwpe = Tensor::zeros({t, c}, DType::F32, Device::Cuda);
  ops::embedding_backward(d_dwte, d_dwpe, d_out, tok);
  expect_equal(d_dwte, Tensor::zeros({v, c}, DType::F32), "embedding_backward dwte with out-of-range tokens");
  expect_equal(d_dwpe, wpe, "embedding_backward dwpe with out-of-range tokens");
}

// ---- cross entropy ----

enum class GradMode { None, Separate, Aliased };
constexpr int kIgnore = -100;

// Targets in [0, V) with every third row (1, 4, 7, ...) ignored.
Tensor ce_targets(int64_t n, int64_t v, std::mt19937& rng) {
  Tensor t = random_tokens({n}, static_cast<int32_t>(v), rng);
  for (int64_t i = 1; i < n; i += 3) t.data<int32_t>()[i] = kIgnore;
  return t;
}

void check_cross_entropy(int64_t n, int64_t v, DType dt, GradMode mode, std::mt19937& rng) {
  const Tensor logits = input({n, v}, rng, dt, -4.f, 4.f), targets = ce_targets(n, v, rng);
  const float dloss = 1.f / static_cast<float>(n);
  Tensor losses = Tensor::empty({n}, DType::F32), dlogits = Tensor::empty({n, v}, DType::F32);
  ref::softmax_cross_entropy(losses, mode == GradMode::None ? Tensor() : dlogits, logits, targets, kIgnore, dloss);
  const Tensor d_logits = to_device(logits, dt), d_losses = Tensor::empty({n}, DType::F32, Device::Cuda);
  Tensor d_dlogits;
  if (mode == GradMode::Separate) d_dlogits = Tensor::empty({n, v}, dt, Device::Cuda);
  if (mode == GradMode::Aliased) d_dlogits = d_logits;
  ops::softmax_cross_entropy(d_losses, d_dlogits, d_logits, targets.to(Device::Cuda), kIgnore, dloss);
  const std::string what =
      fmt::format("cross_entropy N={} V={} {} grad mode {}", n, v, name(dt), static_cast<int>(mode));
  expect_close(d_losses, losses, what + " losses");
  if (mode != GradMode::None) expect_close(d_dlogits, dlogits, what + " dlogits");
}

TEST(GpuOps, SoftmaxCrossEntropy) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(10);
  for (DType dt : kActDtypes)
    for (int64_t n : {1, 5, 37})
      for (int64_t v : {1, 7, 1003, 50257})
        for (GradMode mode : {GradMode::None, GradMode::Separate, GradMode::Aliased})
          check_cross_entropy(n, v, dt, mode, rng);
}

TEST(GpuOps, CrossEntropyMaskedLogits) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(19);
  const int64_t n = 3, v = 1500;
  for (DType dt : kActDtypes) {
    // The first 600 logits of each row are -inf: every thread of the block starts on one.
    Tensor logits = input({n, v}, rng, dt, -4.f, 4.f);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < 600; ++j) logits.data<float>()[i * v + j] = -INFINITY;
    const Tensor targets = Tensor::from_i32({600, 1499, 777}, {n});
    Tensor losses = Tensor::empty({n}, DType::F32), dlogits = Tensor::empty({n, v}, DType::F32);
    ref::softmax_cross_entropy(losses, dlogits, logits, targets, kIgnore, 1.f);
    const Tensor d_logits = to_device(logits, dt), d_losses = Tensor::empty({n}, DType::F32, Device::Cuda);
    ops::softmax_cross_entropy(d_losses, d_logits, d_logits, targets.to(Device::Cuda), kIgnore, 1.f);
    expect_close(d_losses, losses, "cross_entropy masked losses " + name(dt));
    expect_close(d_logits, dlogits, "cross_entropy masked dlogits " + name(dt));
  }
}

TEST(GpuOps, CrossEntropyOutOfRangeTargetsAreIgnored) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(11);
  const int64_t v = 17;
  const Tensor logits = to_device(random_host({3, v}, rng), DType::F32);
  const Tensor targets = Tensor::from_i32({static_cast<int32_t>(v), -5, 1000}, {3}).to(Device::Cuda);
  const Tensor losses = Tensor::empty({3}, DType::F32, Device::Cuda),
               dlogits = Tensor::empty({3, v}, DType::F32, Device::Cuda);
  ops::softmax_cross_entropy(losses, dlogits, logits, targets, kIgnore, 1.f);
  expect_equal(losses, Tensor::zeros({3}, DType::F32), "losses of out-of-range targets");
  expect_equal(dlogits, Tensor::zeros({3, v}, DType::F32), "dlogits of out-of-range targets");
}

// ---- attention ----

struct AttentionCase {
  int64_t b, t, c;
  int nh;
};
const AttentionCase kAttentionCases[] = {{1, 1, 1, 1},   {2, 7, 12, 3},  {1, 64, 64, 4},
                                         {2, 33, 96, 2}, {3, 37, 40, 1}, {1, 64, 768, 4}};

std::string describe(const AttentionCase& a, DType dt) {
  return fmt::format("attention B={} T={} C={} NH={} {}", a.b, a.t, a.c, a.nh, name(dt));
}

TEST(GpuOps, AttentionForward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(12);
  for (DType dt : kActDtypes)
    for (const AttentionCase& a : kAttentionCases) {
      const Tensor qkv = input({a.b, a.t, 3 * a.c}, rng, dt, -2.f, 2.f);
      Tensor out = Tensor::empty({a.b, a.t, a.c}, DType::F32), att = Tensor::empty({a.b, a.nh, a.t, a.t}, DType::F32);
      ref::attention_forward(out, att, qkv, a.nh);
      const Tensor d_out = Tensor::empty({a.b, a.t, a.c}, dt, Device::Cuda);
      const Tensor d_att = to_device(random_host(att.shape(), rng), dt);  // garbage: must be overwritten
      ops::attention_forward(d_out, d_att, to_device(qkv, dt), a.nh);
      expect_close(d_out, out, describe(a, dt) + " out");
      expect_close(d_att, att, describe(a, dt) + " att");
    }
}

TEST(GpuOps, AttentionBackward) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(13);
  for (DType dt : kActDtypes)
    for (const AttentionCase& a : kAttentionCases) {
      const Tensor qkv = input({a.b, a.t, 3 * a.c}, rng, dt, -2.f, 2.f), dout = input({a.b, a.t, a.c}, rng, dt);
      Tensor out = Tensor::empty({a.b, a.t, a.c}, DType::F32), att = Tensor::empty({a.b, a.nh, a.t, a.t}, DType::F32);
      ref::attention_forward(out, att, qkv, a.nh);
      if (dt == DType::BF16) att = round_bf16(att);  // both sides use the probabilities the GPU would store
      Tensor dqkv = Tensor::empty(qkv.shape(), DType::F32);
      ref::attention_backward(dqkv, dout, qkv, att, a.nh);
      const Tensor d_dqkv = to_device(random_host(qkv.shape(), rng), dt);  // garbage: must be overwritten
      ops::attention_backward(d_dqkv, to_device(dout, dt), to_device(qkv, dt), to_device(att, dt), a.nh);
      expect_close(d_dqkv, dqkv, describe(a, dt) + " dqkv");
    }
}

// ---- add / scale / cast ----

TEST(GpuOps, AddAndScale) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(14);
  for (DType dt : kActDtypes)
    for (int64_t n : kElementwiseSizes) {
      const Tensor a = input({n}, rng, dt), b = input({n}, rng, dt);
      Tensor sum = Tensor::empty({n}, DType::F32), scaled = a.clone();
      ref::add(sum, a, b);
      ref::scale_inplace(scaled, -0.37f);
      const Tensor d_a = to_device(a, dt), d_b = to_device(b, dt), d_sum = Tensor::empty({n}, dt, Device::Cuda);
      ops::add(d_sum, d_a, d_b);
      expect_close(d_sum, sum, fmt::format("add n={} {}", n, name(dt)));
      ops::add_inplace(d_a, d_b);
      expect_close(d_a, sum, fmt::format("add_inplace n={} {}", n, name(dt)));
      const Tensor d_s = to_device(a, dt);
      ops::scale_inplace(d_s, -0.37f);
      expect_close(d_s, scaled, fmt::format("scale_inplace n={} {}", n, name(dt)));
    }
}

// f32 values covering normal, subnormal (in f32, bf16 and f16), overflowing and special cases.
Tensor cast_inputs(int64_t n, std::mt19937& rng) {
  Tensor t = random_host({n}, rng, -70000.f, 70000.f);
  const float specials[] = {0.f,   -0.f,    1.f,     -1.f,     3e38f,     -3e38f, 1e-40f,     6e-8f,
                            3e-5f, 65504.f, 65520.f, INFINITY, -INFINITY, NAN,    1.0039062f, 1.0019531f};
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i)
    if (i % 3 == 0) p[i] *= 1e-4f * static_cast<float>(i % 7);
  for (size_t i = 0; i < sizeof(specials) / sizeof(float) && static_cast<int64_t>(i) < n; ++i) p[i] = specials[i];
  return t;
}

TEST(GpuOps, Cast) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(15);
  for (int64_t n : {1L, 16L, 4099L, 100003L}) {
    const Tensor x = cast_inputs(n, rng);
    for (DType low : {DType::BF16, DType::F16}) {
      Tensor ref_low = Tensor::empty({n}, low);
      ref::cast(ref_low, x);
      const Tensor d_low = Tensor::empty({n}, low, Device::Cuda);
      ops::cast(d_low, x.to(Device::Cuda));
      expect_equal(d_low, ref_low, fmt::format("cast f32->{} n={}", name(low), n));
      const Tensor d_back = Tensor::empty({n}, DType::F32, Device::Cuda);
      ops::cast(d_back, ref_low.to(Device::Cuda));
      expect_equal(d_back, ref_low, fmt::format("cast {}->f32 n={}", name(low), n));
      const Tensor d_same = Tensor::empty({n}, low, Device::Cuda);
      ops::cast(d_same, d_low);
      expect_equal(d_same, ref_low, fmt::format("cast {}->{} n={}", name(low), name(low), n));
    }
    const Tensor d_f32 = Tensor::empty({n}, DType::F32, Device::Cuda);
    ops::cast(d_f32, x.to(Device::Cuda));
    expect_equal(d_f32, x, fmt::format("cast f32->f32 n={}", n));
  }
}

// ---- AdamW and sum of squares ----

void check_adamw(int64_t n, const ops::AdamWStep& s, bool with_copy, DType copy_dt, std::mt19937& rng) {
  const Tensor p0 = random_host({n}, rng), m0 = random_host({n}, rng, -0.1f, 0.1f);
  const Tensor v0 = random_host({n}, rng, 0.f, 0.01f), g = random_host({n}, rng);
  Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
  Tensor copy = with_copy ? Tensor::empty({n}, copy_dt) : Tensor();
  ref::adamw_update(p, m, v, g, s, copy);
  const Tensor d_p = p0.to(Device::Cuda), d_m = m0.to(Device::Cuda), d_v = v0.to(Device::Cuda);
  const Tensor d_copy = with_copy ? Tensor::zeros({n}, copy_dt, Device::Cuda) : Tensor();
  ops::adamw_update(d_p, d_m, d_v, g.to(Device::Cuda), s, d_copy);
  const std::string what = fmt::format("adamw n={} step={} wd={} scale={} copy={}", n, s.step, s.weight_decay,
                                       s.grad_scale, with_copy ? name(copy_dt) : "none");
  expect_close(d_p, p, what + " param");
  expect_close(d_m, m, what + " m");
  expect_close(d_v, v, what + " v");
  if (with_copy) expect_close(d_copy, copy, what + " param_copy");
}

TEST(GpuOps, AdamW) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(16);
  for (int64_t n : {1L, 7L, 4099L, 100003L})
    for (int step : {1, 10})
      for (float wd : {0.f, 0.1f}) {
        ops::AdamWStep s;
        s.lr = 3e-4f;
        s.step = step;
        s.weight_decay = wd;
        s.grad_scale = step == 1 ? 1.f : 0.5f;
        check_adamw(n, s, false, DType::F32, rng);
        for (DType copy_dt : {DType::F32, DType::BF16, DType::F16}) check_adamw(n, s, true, copy_dt, rng);
      }
}

TEST(GpuOps, SumSquares) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(17);
  for (int64_t n : {0L, 1L, 7L, 4099L, (1L << 20) + 3}) {
    const Tensor x = random_host({n}, rng, -3.f, 3.f);
    // The GPU accumulates in f64 throughout: compare it tightly with a plain f64 sum. The CPU
    // reference keeps f32 partial sums over chunks, so it only agrees to f32 rounding.
    double exact = 0.0;
    for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(x.data<float>()[i]) * x.data<float>()[i];
    const double ref_ss = ref::sum_squares(x);
    const double got = ops::sum_squares(x.to(Device::Cuda));
    EXPECT_NEAR(got, exact, 1e-9 * std::max(1.0, exact)) << "sum_squares n=" << n;
    EXPECT_NEAR(got, ref_ss, 1e-5 * std::max(1.0, exact)) << "sum_squares vs CPU reference n=" << n;
  }
}

}  // namespace
}  // namespace temper

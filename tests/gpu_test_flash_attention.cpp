// Flash attention on CUDA against the CPU reference (f32, on the very inputs the GPU saw after rounding
// to its dtype): every kernel path (TEMPER_FLASH_KERNEL = auto | fallback | sm90 for the forward),
// bf16 / f16 / f32, head sizes of the fast paths (64, 128) and of the fallback, GQA and MQA ratios,
// lengths that are not multiples of any tile, causal / bidirectional, key lengths (0 included), the
// packed GPT-2 layout. Tolerances per dtype are max |gpu - cpu| / max |cpu| (tests/test_util.h).
// SmallSweep is the case list compute-sanitizer runs (tools/gpu_check.sh).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "kernels/elementwise.h"
#include "kernels/flash_attention.h"
#include "runtime/device_memory.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::randn;
using temper::test::rel_err;

namespace {

struct Case {
  int64_t b, t, nh, nkv, hs;
  ops::AttnCausality causality;
  std::vector<int32_t> lengths;  // empty: none
};

struct Tolerance {
  double out, lse, grad;
};

Tolerance tolerance(DType dt) {
  if (dt == DType::F32) return {1e-4, 1e-4, 1e-3};
  if (dt == DType::F16) return {5e-3, 1e-3, 2e-2};
  return {2e-2, 2e-3, 5e-2};  // bf16: 8-bit mantissa on out, P and dS
}

Tensor on_cuda(const Tensor& host, DType dt) {
  Tensor d = Tensor::empty(host.shape(), dt, Device::Cuda);
  ops::cast(d, host.to(Device::Cuda));
  return d;
}

Tensor to_cpu_f32(const Tensor& t) { return t.to_host_f32(); }
std::vector<float> host(const Tensor& t) { return t.to_host_f32().to_vector(); }

// Sets TEMPER_FLASH_KERNEL for the lifetime of the object.
class KernelPath {
 public:
  explicit KernelPath(const std::string& path) { setenv("TEMPER_FLASH_KERNEL", path.c_str(), 1); }
  ~KernelPath() { unsetenv("TEMPER_FLASH_KERNEL"); }
};

ops::AttentionMask mask_on(const Case& c, Device device) {
  ops::AttentionMask m;
  m.causality = c.causality;
  if (!c.lengths.empty()) m.key_lengths = Tensor::from_i32(c.lengths, {c.b}).to(device);
  return m;
}

void expect_lse_near(const Tensor& got_dev, const Tensor& want, double tol) {
  const std::vector<float> got = host(got_dev), ref = want.to_vector();
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i])) {
      ASSERT_TRUE(std::isinf(got[i]) && got[i] > 0) << "lse " << i << " = " << got[i];
    } else {
      ASSERT_NEAR(got[i], ref[i], tol * std::max(1.f, std::abs(ref[i]))) << "lse " << i;
    }
  }
}

void expect_finite(const Tensor& t, const char* name) {
  for (float x : host(t)) ASSERT_TRUE(std::isfinite(x)) << name;
}

// Runs one case on `path`; `backward` false checks only the forward (the sm90 path has no backward).
void check_case(const Case& c, DType dt, const std::string& path, bool backward) {
  SCOPED_TRACE(::testing::Message() << path << " " << dtype_name(dt) << " B=" << c.b << " T=" << c.t << " NH=" << c.nh
                                    << " NKV=" << c.nkv << " HS=" << c.hs << " causal="
                                    << (c.causality == ops::AttnCausality::Causal) << " lengths=" << c.lengths.size());
  const Tolerance tol = tolerance(dt);
  const Tensor gq = on_cuda(randn({c.b, c.t, c.nh * c.hs}, 1), dt), gk = on_cuda(randn({c.b, c.t, c.nkv * c.hs}, 2), dt),
               gv = on_cuda(randn({c.b, c.t, c.nkv * c.hs}, 3), dt), gdout = on_cuda(randn(gq.shape(), 4), dt);
  const Tensor q = to_cpu_f32(gq), k = to_cpu_f32(gk), v = to_cpu_f32(gv), dout = to_cpu_f32(gdout);

  Tensor out = Tensor::empty(q.shape(), DType::F32), lse = Tensor::empty({c.b, c.nh, c.t}, DType::F32);
  ops::flash_attention_forward(out, lse, q, k, v, int(c.nh), int(c.nkv), mask_on(c, Device::Cpu));
  const KernelPath env(path);
  const ops::AttentionMask gm = mask_on(c, Device::Cuda);
  Tensor gout = on_cuda(randn(q.shape(), 5), dt), glse = on_cuda(randn(lse.shape(), 6), DType::F32);  // garbage first
  ops::flash_attention_forward(gout, glse, gq, gk, gv, int(c.nh), int(c.nkv), gm);
  expect_finite(gout, "out");
  EXPECT_LT(rel_err(host(gout), out.to_vector()), tol.out);
  expect_lse_near(glse, lse, tol.lse);
  if (!backward) return;

  Tensor dq = Tensor::empty(q.shape(), DType::F32), dk = Tensor::empty(k.shape(), DType::F32),
         dv = Tensor::empty(v.shape(), DType::F32);
  // The reference backward uses the GPU's own out (rounded) and lse, as the kernels do.
  ops::flash_attention_backward(dq, dk, dv, dout, q, k, v, to_cpu_f32(gout), to_cpu_f32(glse), int(c.nh), int(c.nkv),
                                mask_on(c, Device::Cpu));
  Tensor gdq = on_cuda(randn(q.shape(), 7), dt), gdk = on_cuda(randn(k.shape(), 8), dt),
         gdv = on_cuda(randn(v.shape(), 9), dt);
  ops::flash_attention_backward(gdq, gdk, gdv, gdout, gq, gk, gv, gout, glse, int(c.nh), int(c.nkv), gm);
  for (const auto& [g, name] : {std::pair{&gdq, "dq"}, {&gdk, "dk"}, {&gdv, "dv"}}) expect_finite(*g, name);
  EXPECT_LT(rel_err(host(gdq), dq.to_vector()), tol.grad) << "dq";
  EXPECT_LT(rel_err(host(gdk), dk.to_vector()), tol.grad) << "dk";
  EXPECT_LT(rel_err(host(gdv), dv.to_vector()), tol.grad) << "dv";
}

using ops::AttnCausality;

std::vector<Case> small_cases() {
  return {{2, 1, 4, 4, 64, AttnCausality::Causal, {}},
          {2, 17, 4, 2, 64, AttnCausality::Causal, {}},
          {1, 70, 4, 1, 128, AttnCausality::Causal, {}},
          {3, 37, 6, 2, 128, AttnCausality::Bidirectional, {37, 5, 0}},
          {3, 37, 2, 2, 64, AttnCausality::Causal, {20, 37, 0}},
          {2, 33, 4, 2, 40, AttnCausality::Bidirectional, {}}};
}

std::vector<Case> large_cases() {
  return {{1, 64, 8, 8, 128, AttnCausality::Causal, {}},
          {2, 127, 8, 2, 128, AttnCausality::Causal, {}},
          {1, 257, 4, 1, 64, AttnCausality::Bidirectional, {}},
          {2, 200, 6, 3, 128, AttnCausality::Bidirectional, {200, 131}},
          {1, 1000, 2, 2, 128, AttnCausality::Causal, {}},
          {2, 513, 4, 4, 64, AttnCausality::Causal, {300, 513}},
          {2, 100, 4, 2, 80, AttnCausality::Causal, {}},
          {1, 65, 2, 1, 256, AttnCausality::Bidirectional, {}},
          {1, 50, 3, 3, 17, AttnCausality::Causal, {}}};
}

bool sm90_takes(DType dt, const Case& c) {
  try {
    check_case(c, dt, "sm90", false);
    return true;
  } catch (const Error& e) {  // the path refuses cases (or GPUs, or builds) it does not handle
    if (std::string(e.what()).find("TEMPER_FLASH_KERNEL=sm90") == std::string::npos) throw;
    return false;
  }
}

void sweep(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    for (DType dt : {DType::BF16, DType::F16}) {
      check_case(c, dt, "auto", true);
      check_case(c, dt, "fallback", true);
    }
    check_case(c, DType::F32, "auto", true);
  }
}

TEST(GpuFlashAttention, SmallSweep) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  sweep(small_cases());
}

TEST(GpuFlashAttention, Sweep) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  sweep(large_cases());
}

TEST(GpuFlashAttention, HopperForward) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  int taken = 0;
  for (const std::vector<Case>& cases : {small_cases(), large_cases()})
    for (const Case& c : cases)
      for (DType dt : {DType::BF16, DType::F16}) taken += sm90_takes(dt, c) ? 1 : 0;
  if (taken == 0) GTEST_SKIP() << "the sm90 path took no case (not an sm_90a build or not a Hopper GPU)";
}

// GPT-2's packed q|k|v read in place, forward and backward, against the CPU's packed op.
TEST(GpuFlashAttention, PackedLayout) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t b = 2, t = 100, nh = 12, hs = 64, c = nh * hs;
  for (DType dt : {DType::BF16, DType::F32}) {
    const Tolerance tol = tolerance(dt);
    const Tensor gqkv = on_cuda(randn({b, t, 3 * c}, 1), dt), gdout = on_cuda(randn({b, t, c}, 2), dt);
    const Tensor qkv = to_cpu_f32(gqkv), dout = to_cpu_f32(gdout);
    Tensor gout = Tensor::empty({b, t, c}, dt, Device::Cuda), glse = Tensor::empty({b, nh, t}, DType::F32, Device::Cuda);
    ops::flash_attention_forward_packed(gout, glse, gqkv, int(nh));
    Tensor gdqkv = Tensor::empty(qkv.shape(), dt, Device::Cuda);
    ops::flash_attention_backward_packed(gdqkv, gdout, gqkv, gout, glse, int(nh));
    Tensor out = Tensor::empty({b, t, c}, DType::F32), lse = Tensor::empty({b, nh, t}, DType::F32);
    ops::flash_attention_forward_packed(out, lse, qkv, int(nh));
    Tensor dqkv = Tensor::empty(qkv.shape(), DType::F32);
    ops::flash_attention_backward_packed(dqkv, dout, qkv, to_cpu_f32(gout), to_cpu_f32(glse), int(nh));
    EXPECT_LT(rel_err(host(gout), out.to_vector()), tol.out) << dtype_name(dt);
    expect_lse_near(glse, lse, tol.lse);
    EXPECT_LT(rel_err(host(gdqkv), dqkv.to_vector()), tol.grad) << dtype_name(dt);
  }
}

TEST(GpuFlashAttention, UnknownKernelPathIsAnError) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Tensor q = on_cuda(randn({1, 4, 64}, 1), DType::BF16);
  Tensor out = Tensor::empty(q.shape(), DType::BF16, Device::Cuda), lse = Tensor::empty({1, 1, 4}, DType::F32, Device::Cuda);
  const KernelPath env("fastest");
  EXPECT_THROW(ops::flash_attention_forward(out, lse, q, q, q, 1, 1), Error);
}

}  // namespace

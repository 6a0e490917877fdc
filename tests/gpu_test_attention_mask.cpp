// Attention masks on CUDA against the CPU reference: bidirectional, padded (a length-0 sequence
// included) and causal + padded, forward and backward, f32 and bf16.
#include <gtest/gtest.h>

#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "runtime/device_memory.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::randn;
using temper::test::rel_err;

namespace {

constexpr int64_t kB = 3, kT = 37, kNh = 6, kNkv = 2, kHs = 16;

Tensor on_cuda(const Tensor& host, DType dt) {
  Tensor d = Tensor::empty(host.shape(), dt, Device::Cuda);
  ops::cast(d, host.to(Device::Cuda));
  return d;
}

std::vector<float> host(const Tensor& t) { return t.to_host_f32().to_vector(); }

TEST(GpuAttentionMask, MatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Tensor lengths = Tensor::from_i32({37, 5, 0}, {kB});
  const std::vector<ops::AttentionMask> cpu_masks = {{ops::AttnCausality::Bidirectional, Tensor()},
                                                     {ops::AttnCausality::Bidirectional, lengths},
                                                     {ops::AttnCausality::Causal, lengths}};
  const Tensor q = randn({kB, kT, kNh * kHs}, 1), k = randn({kB, kT, kNkv * kHs}, 2), v = randn({kB, kT, kNkv * kHs}, 3);
  const Tensor dout = randn(q.shape(), 4);
  for (const ops::AttentionMask& m : cpu_masks)
    for (DType dt : {DType::F32, DType::BF16}) {
      const double tol = dt == DType::F32 ? 1e-4 : 3e-2;
      Tensor out = Tensor::empty(q.shape(), DType::F32), att = Tensor::empty({kB, kNh, kT, kT}, DType::F32);
      ops::attention_forward_gqa(out, att, q, k, v, kNh, kNkv, m);
      Tensor dq = Tensor::empty(q.shape(), DType::F32), dk = Tensor::empty(k.shape(), DType::F32),
             dv = Tensor::empty(v.shape(), DType::F32);
      ops::attention_backward_gqa(dq, dk, dv, dout, q, k, v, att, kNh, kNkv, m);

      const ops::AttentionMask gm{m.causality, m.key_lengths.defined() ? m.key_lengths.to(Device::Cuda) : Tensor()};
      const Tensor gq = on_cuda(q, dt), gk = on_cuda(k, dt), gv = on_cuda(v, dt);
      Tensor gout = Tensor::empty(q.shape(), dt, Device::Cuda), gatt = Tensor::empty(att.shape(), dt, Device::Cuda);
      ops::attention_forward_gqa(gout, gatt, gq, gk, gv, kNh, kNkv, gm);
      Tensor gdq = Tensor::empty(q.shape(), dt, Device::Cuda), gdk = Tensor::empty(k.shape(), dt, Device::Cuda),
             gdv = Tensor::empty(v.shape(), dt, Device::Cuda);
      ops::attention_backward_gqa(gdq, gdk, gdv, on_cuda(dout, dt), gq, gk, gv, gatt, kNh, kNkv, gm);
      EXPECT_LT(rel_err(host(gout), out.to_vector()), tol);
      EXPECT_LT(rel_err(host(gatt), att.to_vector()), tol);
      EXPECT_LT(rel_err(host(gdq), dq.to_vector()), 3 * tol);
      EXPECT_LT(rel_err(host(gdk), dk.to_vector()), 3 * tol);
      EXPECT_LT(rel_err(host(gdv), dv.to_vector()), 3 * tol);
      for (float x : host(gout)) ASSERT_TRUE(std::isfinite(x));
    }
}

}  // namespace

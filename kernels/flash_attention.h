// Flash attention: exact softmax attention whose memory is linear in the sequence length. The
// forward keeps, per query row, only the log-sum-exp of its scores (lse, f32 [B,NH,T]); the backward
// recomputes the probabilities from q, k and lse. Masks, grouped-query heads and head sizes as in
// kernels/attention.h (the exact O(T^2) op, kept as the reference these are tested against).
//
// A query that sees no key gets a zero output row, lse = +inf, and zero gradients (never NaN).
// Dtypes: f32, bf16, f16 (q, k, v, out, gradients share one); math and lse in f32.
#pragma once
#include <cstdint>

#include "kernels/attention.h"
#include "runtime/tensor.h"

namespace temper::ops {

// Separate projections: q[B,T,NH*HS], k/v[B,T,NKV*HS]; out[B,T,NH*HS]; lse f32 [B,NH,T].
void flash_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                             int n_head, int n_kv_head, const AttentionMask& mask = AttentionMask());
// dq, dk, dv overwritten (dk/dv sum over the query heads sharing a kv head); out and lse of the forward.
void flash_attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                              const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                              int n_head, int n_kv_head, const AttentionMask& mask = AttentionMask());

// Packed projections (GPT-2's c_attn): qkv[B,T,3C] holds q|k|v, read in place; out[B,T,C].
void flash_attention_forward_packed(const Tensor& out, const Tensor& lse, const Tensor& qkv, int n_head,
                                    const AttentionMask& mask = AttentionMask());
// dqkv[B,T,3C] overwritten.
void flash_attention_backward_packed(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& out,
                                     const Tensor& lse, int n_head, const AttentionMask& mask = AttentionMask());

// The problem as both backends see it, built by kernels/flash_attention.cpp after every shape,
// dtype and device check. Operands are row-major [B,T,*] with a row stride in elements between
// consecutive tokens, so packed q|k|v are addressed in place: head h of token t of sequence b is
// at ptr + (b*T + t)*stride + h*HS. k and v (and dk, dv) share kv_stride; out and dout share o_stride.
struct FlashAttnArgs {
  DType dtype = DType::BF16;  // of q, k, v, out, dout, dq, dk, dv
  int64_t b = 0, t = 0, nh = 0, nkv = 0, hs = 0;
  float scale = 0.f;  // 1/sqrt(HS)
  bool causal = true;
  const int32_t* key_lengths = nullptr;  // [B] on the op's device, or null: all T keys
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  int64_t q_stride = 0, kv_stride = 0;
  void* out = nullptr;      // forward output
  const void* dout = nullptr;  // backward input, o_stride like out
  const void* o = nullptr;  // backward: the forward's output (for rowsum(dout * out))
  int64_t o_stride = 0;
  float* lse = nullptr;     // [B,NH,T]: written by the forward, read by the backward
  void *dq = nullptr, *dk = nullptr, *dv = nullptr;  // backward outputs, overwritten
  int64_t dq_stride = 0, dkv_stride = 0;
  int64_t group() const { return nh / nkv; }
};

}  // namespace temper::ops

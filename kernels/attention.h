// Exact multi-head self-attention that saves the [B,NH,T,T] probabilities: the reference the flash
// attention op (kernels/flash_attention.h, memory linear in T, what the models run) is tested against.
// qkv[B,T,3C] holds q|k|v, each [NH,HS] within its C slice (HF GPT-2 c_attn layout).
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

// out[B,T,C]; att[B,NH,T,T] receives the softmax probabilities (zero above the diagonal), saved for backward.
void attention_forward(const Tensor& out, const Tensor& att, const Tensor& qkv, int n_head);

// dqkv[B,T,3C] overwritten, from dout[B,T,C], qkv and att of the forward.
void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& att, int n_head);

// Which keys each query sees. Causal: keys j <= i (decoders); Bidirectional: every key (encoders).
// key_lengths (i32 [B] on the op's device, optional): also only keys j < key_lengths[b] (padding).
// A query that sees no key gets a zero output row and zero gradients (never NaN).
enum class AttnCausality { Causal, Bidirectional };
struct AttentionMask {
  AttnCausality causality = AttnCausality::Causal;
  Tensor key_lengths;
};
// Throws unless mask.key_lengths is undefined or i32 [B] on q's device (q[B,T,*]).
void check_key_lengths(const AttentionMask& mask, const Tensor& q, const char* op);

// Grouped-query attention (Llama, Mistral, Qwen2; BERT with NKV = NH, bidirectional, padded):
// separate q[B,T,NH*HS], k, v[B,T,NKV*HS]; query head h uses key/value head h / (NH/NKV).
// out[B,T,NH*HS]; att[B,NH,T,T] receives the probabilities (zero where masked).
void attention_forward_gqa(const Tensor& out, const Tensor& att, const Tensor& q, const Tensor& k, const Tensor& v,
                           int n_head, int n_kv_head, const AttentionMask& mask = AttentionMask());
// dq, dk, dv overwritten (dk/dv sum over the query heads sharing a kv head).
void attention_backward_gqa(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                            const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& att, int n_head,
                            int n_kv_head, const AttentionMask& mask = AttentionMask());

}  // namespace temper::ops

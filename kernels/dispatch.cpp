// The single dispatch point: each public op routes on its first tensor's device to the CPU
// reference (kernels/ref) or the CUDA implementation (kernels/cuda).
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/gelu.h"
#include "kernels/grad_norm.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/quantized_matmul.h"
#include "kernels/ref/ref_ops.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#ifdef TEMPER_WITH_CUDA
#include "kernels/cuda/cuda_ops.h"
#define TEMPER_ON_CUDA(call) return ::temper::cuda::call
#else
#define TEMPER_ON_CUDA(call) throw ::temper::Error("this temper build has no CUDA backend")
#endif

#define TEMPER_DISPATCH(tensor, call)                  \
  do {                                                 \
    if ((tensor).device() == Device::Cuda) TEMPER_ON_CUDA(call); \
    return ::temper::ref::call;                        \
  } while (0)

namespace temper::ops {

void matmul(const Tensor& out, const Tensor& a, Trans ta, const Tensor& b, Trans tb, const Tensor* bias,
            float beta) {
  TEMPER_DISPATCH(out, matmul(out, a, ta, b, tb, bias, beta));
}
void bias_backward(const Tensor& dbias, const Tensor& dy) { TEMPER_DISPATCH(dy, bias_backward(dbias, dy)); }
void dequantize(const Tensor& w, const QuantizedWeight& q) { TEMPER_DISPATCH(w, dequantize(w, q)); }
void dropout(const Tensor& out, const Tensor& x, float p, uint64_t seed) { TEMPER_DISPATCH(x, dropout(out, x, p, seed)); }

void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& weight, const Tensor& bias, float eps) {
  TEMPER_DISPATCH(x, layernorm_forward(out, mean, rstd, x, weight, bias, eps));
}
void layernorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                        const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd) {
  TEMPER_DISPATCH(x, layernorm_backward(dx, dweight, dbias, dy, x, weight, mean, rstd));
}

void gelu_forward(const Tensor& out, const Tensor& x, GeluKind kind) {
  TEMPER_DISPATCH(x, gelu_forward(out, x, kind));
}
void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, GeluKind kind) {
  TEMPER_DISPATCH(x, gelu_backward(dx, dout, x, kind));
}

void embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe) {
  TEMPER_DISPATCH(out, embedding_forward(out, tokens, wte, wpe));
}
void embedding_backward(const Tensor& dwte, const Tensor& dwpe, const Tensor& dout, const Tensor& tokens) {
  TEMPER_DISPATCH(dout, embedding_backward(dwte, dwpe, dout, tokens));
}

void softmax_cross_entropy(const Tensor& losses, const Tensor& dlogits, const Tensor& logits,
                           const Tensor& targets, int ignore_index, float dloss) {
  TEMPER_DISPATCH(logits, softmax_cross_entropy(losses, dlogits, logits, targets, ignore_index, dloss));
}

void attention_forward(const Tensor& out, const Tensor& att, const Tensor& qkv, int n_head) {
  TEMPER_DISPATCH(qkv, attention_forward(out, att, qkv, n_head));
}
void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& att, int n_head) {
  TEMPER_DISPATCH(qkv, attention_backward(dqkv, dout, qkv, att, n_head));
}

void add(const Tensor& out, const Tensor& a, const Tensor& b) { TEMPER_DISPATCH(a, add(out, a, b)); }
void add_inplace(const Tensor& a, const Tensor& b) { TEMPER_DISPATCH(a, add_inplace(a, b)); }
void scale_inplace(const Tensor& x, float s) { TEMPER_DISPATCH(x, scale_inplace(x, s)); }
void cast(const Tensor& out, const Tensor& in) { TEMPER_DISPATCH(in, cast(out, in)); }

void adamw_update(const Tensor& param, const Tensor& m, const Tensor& v, const Tensor& grad, const AdamWStep& s,
                  const Tensor& param_copy) {
  TEMPER_DISPATCH(param, adamw_update(param, m, v, grad, s, param_copy));
}
void scale_rows(const Tensor& x, const Tensor& s) {
  TEMPER_CHECK(x.ndim() == 2 && s.ndim() == 1 && s.dim(0) == x.dim(0) && s.dtype() == DType::F32 &&
                   s.device() == x.device(),
               "scale_rows: x must be [N,C] and s f32 [N] on its device, got {} and {}", shape_str(x.shape()),
               shape_str(s.shape()));
  TEMPER_DISPATCH(x, scale_rows(x, s));
}
void tanh_forward(const Tensor& out, const Tensor& x) {
  TEMPER_CHECK(out.numel() == x.numel() && out.dtype() == x.dtype(), "tanh_forward: out and x differ in size or dtype");
  TEMPER_DISPATCH(x, tanh_forward(out, x));
}
void tanh_backward(const Tensor& dx, const Tensor& dout, const Tensor& y) {
  TEMPER_CHECK(dx.numel() == y.numel() && dout.numel() == y.numel() && dx.dtype() == y.dtype() &&
                   dout.dtype() == y.dtype(),
               "tanh_backward: dx, dout and y differ in size or dtype");
  TEMPER_DISPATCH(y, tanh_backward(dx, dout, y));
}

double sum_squares(const Tensor& x) { TEMPER_DISPATCH(x, sum_squares(x)); }

void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight, float eps) {
  TEMPER_DISPATCH(x, rmsnorm_forward(out, rstd, x, weight, eps));
}
void rmsnorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dy, const Tensor& x,
                      const Tensor& weight, const Tensor& rstd) {
  TEMPER_DISPATCH(x, rmsnorm_backward(dx, dweight, dy, x, weight, rstd));
}

void rope_forward(const Tensor& x, const Tensor& cos, const Tensor& sin) { TEMPER_DISPATCH(x, rope_forward(x, cos, sin)); }
void rope_backward(const Tensor& d, const Tensor& cos, const Tensor& sin) {
  TEMPER_DISPATCH(d, rope_backward(d, cos, sin));
}

void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) {
  TEMPER_DISPATCH(gate, swiglu_forward(out, gate, up));
}
void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  TEMPER_DISPATCH(gate, swiglu_backward(dgate, dup, dout, gate, up));
}

// The key lengths must sit where the op runs and give one length per sequence.
void check_key_lengths(const AttentionMask& mask, const Tensor& q, const char* op) {
  const Tensor& l = mask.key_lengths;
  if (!l.defined()) return;
  TEMPER_CHECK(l.dtype() == DType::I32 && l.ndim() == 1 && l.dim(0) == q.dim(0) && l.device() == q.device(),
               "{}: key_lengths must be i32 [{}] on {}, got {} {} on {}", op, q.dim(0), device_name(q.device()),
               dtype_name(l.dtype()), shape_str(l.shape()), device_name(l.device()));
}

void attention_forward_gqa(const Tensor& out, const Tensor& att, const Tensor& q, const Tensor& k, const Tensor& v,
                           int n_head, int n_kv_head, const AttentionMask& mask) {
  check_key_lengths(mask, q, "attention_forward_gqa");
  TEMPER_DISPATCH(q, attention_forward_gqa(out, att, q, k, v, n_head, n_kv_head, mask));
}
void attention_backward_gqa(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                            const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& att, int n_head,
                            int n_kv_head, const AttentionMask& mask) {
  check_key_lengths(mask, q, "attention_backward_gqa");
  TEMPER_DISPATCH(q, attention_backward_gqa(dq, dk, dv, dout, q, k, v, att, n_head, n_kv_head, mask));
}

}  // namespace temper::ops

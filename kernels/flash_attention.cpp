// Flash attention entry points: every shape, dtype and device check happens here, once for both
// backends; the checked tensors become a FlashAttnArgs (raw pointers + row strides) that the CPU
// reference (kernels/ref/flash_attention_ref.cpp) or the CUDA kernels (kernels/cuda/flash_*.cu) run.
#include "kernels/flash_attention.h"

#include <cmath>

#include "kernels/ref/ref_ops.h"
#ifdef TEMPER_WITH_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace temper::ops {
namespace {

// Head counts, sizes, inputs and row strides from q[B,T,NH*HS]; k, v must be [B,T,NKV*HS].
FlashAttnArgs problem_dims(const Tensor& q, const Tensor& k, const Tensor& v, int n_head, int n_kv_head,
                           const char* op) {
  TEMPER_CHECK(n_head > 0 && n_kv_head > 0 && n_head % n_kv_head == 0,
               "{}: n_head {} must be a positive multiple of n_kv_head {}", op, n_head, n_kv_head);
  TEMPER_CHECK(q.ndim() == 3, "{}: q must be [B,T,NH*HS], got {}", op, shape_str(q.shape()));
  FlashAttnArgs a;
  a.b = q.dim(0);
  a.t = q.dim(1);
  a.nh = n_head;
  a.nkv = n_kv_head;
  a.hs = q.dim(2) / n_head;
  TEMPER_CHECK(a.hs > 0 && a.hs * n_head == q.dim(2), "{}: q width {} is not {} heads of a positive size", op,
               q.dim(2), n_head);
  check_shape(k, {a.b, a.t, a.nkv * a.hs}, op, "k");
  check_shape(v, {a.b, a.t, a.nkv * a.hs}, op, "v");
  a.scale = 1.f / std::sqrt(static_cast<float>(a.hs));
  a.dtype = q.dtype();
  a.q = q.raw();
  a.k = k.raw();
  a.v = v.raw();
  a.q_stride = a.o_stride = a.dq_stride = a.nh * a.hs;  // separate, contiguous projections
  a.kv_stride = a.dkv_stride = a.nkv * a.hs;
  return a;
}

// Every operand defined, of q's dtype (one of f32, bf16, f16) and on q's device.
void check_operands(std::initializer_list<std::pair<const Tensor*, const char*>> operands, const Tensor& q,
                    const char* op) {
  TEMPER_CHECK(q.dtype() == DType::F32 || q.dtype() == DType::BF16 || q.dtype() == DType::F16,
               "{}: q must be f32, bf16 or f16, got {}", op, dtype_name(q.dtype()));
  for (const auto& [t, name] : operands) {
    TEMPER_CHECK(t->defined() && t->dtype() == q.dtype() && t->device() == q.device(),
                 "{}: {} must be a {} tensor on {} like q", op, name, dtype_name(q.dtype()), device_name(q.device()));
  }
}

void check_lse(const Tensor& lse, const FlashAttnArgs& a, const Tensor& q, const char* op) {
  check_shape(lse, {a.b, a.nh, a.t}, op, "lse");
  TEMPER_CHECK(lse.dtype() == DType::F32 && lse.device() == q.device(), "{}: lse must be f32 on {}", op,
               device_name(q.device()));
}

void apply_mask(FlashAttnArgs& a, const AttentionMask& mask, const Tensor& q, const char* op) {
  check_key_lengths(mask, q, op);
  a.causal = mask.causality == AttnCausality::Causal;
  a.key_lengths = mask.key_lengths.defined() ? mask.key_lengths.data<int32_t>() : nullptr;
}

// The element `offset` columns into a row-major tensor's storage.
const void* at_column(const Tensor& t, int64_t offset) {
  return static_cast<const char*>(t.raw()) + offset * static_cast<int64_t>(dtype_size(t.dtype()));
}
void* at_column_mut(const Tensor& t, int64_t offset) {
  return static_cast<char*>(t.raw()) + offset * static_cast<int64_t>(dtype_size(t.dtype()));
}

void run_forward(const FlashAttnArgs& a, Device device) {
  if (a.b == 0 || a.t == 0) return;
#ifdef TEMPER_WITH_CUDA
  if (device == Device::Cuda) return cuda::flash_attention_forward(a);
#else
  TEMPER_CHECK(device != Device::Cuda, "this temper build has no CUDA backend");
#endif
  ref::flash_attention_forward(a);
}

void run_backward(const FlashAttnArgs& a, Device device) {
  if (a.b == 0 || a.t == 0) return;
#ifdef TEMPER_WITH_CUDA
  if (device == Device::Cuda) return cuda::flash_attention_backward(a);
#else
  TEMPER_CHECK(device != Device::Cuda, "this temper build has no CUDA backend");
#endif
  ref::flash_attention_backward(a);
}

}  // namespace

void flash_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                             int n_head, int n_kv_head, const AttentionMask& mask) {
  const char* op = "flash_attention_forward";
  FlashAttnArgs a = problem_dims(q, k, v, n_head, n_kv_head, op);
  check_operands({{&k, "k"}, {&v, "v"}, {&out, "out"}}, q, op);
  check_shape(out, q.shape(), op, "out");
  check_lse(lse, a, q, op);
  apply_mask(a, mask, q, op);
  a.out = out.raw();
  a.lse = lse.data<float>();
  run_forward(a, q.device());
}

void flash_attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                              const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                              int n_head, int n_kv_head, const AttentionMask& mask) {
  const char* op = "flash_attention_backward";
  FlashAttnArgs a = problem_dims(q, k, v, n_head, n_kv_head, op);
  check_operands({{&k, "k"}, {&v, "v"}, {&out, "out"}, {&dout, "dout"}, {&dq, "dq"}, {&dk, "dk"}, {&dv, "dv"}}, q,
                 op);
  check_shape(out, q.shape(), op, "out");
  check_shape(dout, q.shape(), op, "dout");
  check_shape(dq, q.shape(), op, "dq");
  check_shape(dk, k.shape(), op, "dk");
  check_shape(dv, v.shape(), op, "dv");
  check_lse(lse, a, q, op);
  apply_mask(a, mask, q, op);
  a.o = out.raw();
  a.dout = dout.raw();
  a.lse = lse.data<float>();
  a.dq = dq.raw();
  a.dk = dk.raw();
  a.dv = dv.raw();
  run_backward(a, q.device());
}

namespace {

// q, k, v of a packed qkv[B,T,3C] (C = NH*HS) as views of one buffer with row stride 3C.
FlashAttnArgs packed_dims(const Tensor& qkv, int n_head, const char* op) {
  TEMPER_CHECK(n_head > 0, "{}: n_head must be positive, got {}", op, n_head);
  TEMPER_CHECK(qkv.ndim() == 3 && qkv.dim(2) % 3 == 0 && (qkv.dim(2) / 3) % n_head == 0 && qkv.dim(2) > 0,
               "{}: qkv must be [B,T,3C] with C a multiple of n_head {}, got {}", op, n_head, shape_str(qkv.shape()));
  FlashAttnArgs a;
  a.b = qkv.dim(0);
  a.t = qkv.dim(1);
  a.nh = a.nkv = n_head;
  a.hs = qkv.dim(2) / 3 / n_head;
  a.scale = 1.f / std::sqrt(static_cast<float>(a.hs));
  a.dtype = qkv.dtype();
  a.q_stride = a.kv_stride = qkv.dim(2);
  a.o_stride = qkv.dim(2) / 3;
  return a;
}

}  // namespace

void flash_attention_forward_packed(const Tensor& out, const Tensor& lse, const Tensor& qkv, int n_head,
                                    const AttentionMask& mask) {
  const char* op = "flash_attention_forward_packed";
  FlashAttnArgs a = packed_dims(qkv, n_head, op);
  const int64_t c = a.o_stride;
  check_operands({{&out, "out"}}, qkv, op);
  check_shape(out, {a.b, a.t, c}, op, "out");
  check_lse(lse, a, qkv, op);
  apply_mask(a, mask, qkv, op);
  a.q = qkv.raw();
  a.k = at_column(qkv, c);
  a.v = at_column(qkv, 2 * c);
  a.out = out.raw();
  a.lse = lse.data<float>();
  run_forward(a, qkv.device());
}

void flash_attention_backward_packed(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& out,
                                     const Tensor& lse, int n_head, const AttentionMask& mask) {
  const char* op = "flash_attention_backward_packed";
  FlashAttnArgs a = packed_dims(qkv, n_head, op);
  const int64_t c = a.o_stride;
  check_operands({{&dqkv, "dqkv"}, {&dout, "dout"}, {&out, "out"}}, qkv, op);
  check_shape(dqkv, qkv.shape(), op, "dqkv");
  check_shape(out, {a.b, a.t, c}, op, "out");
  check_shape(dout, {a.b, a.t, c}, op, "dout");
  check_lse(lse, a, qkv, op);
  apply_mask(a, mask, qkv, op);
  a.q = qkv.raw();
  a.k = at_column(qkv, c);
  a.v = at_column(qkv, 2 * c);
  a.o = out.raw();
  a.dout = dout.raw();
  a.lse = lse.data<float>();
  a.dq = dqkv.raw();
  a.dk = at_column_mut(dqkv, c);
  a.dv = at_column_mut(dqkv, 2 * c);
  a.dq_stride = a.dkv_stride = 3 * c;
  run_backward(a, qkv.device());
}

}  // namespace temper::ops

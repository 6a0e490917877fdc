// GQA attention block implementation.
#include "models/blocks/gqa_attention.h"

#include <tuple>

#include "kernels/flash_attention.h"
#include "kernels/elementwise.h"
#include "kernels/rope.h"
#include "kernels/rope_tables.h"
#include "models/blocks/linear.h"

namespace temper {

GqaAttention::GqaAttention(ParameterStore& store, const std::string& prefix, const GqaConfig& cfg)
    : cfg_(cfg),
      q_(store, prefix + ".q_proj", cfg.hidden, cfg.n_head * cfg.head_dim, cfg.qkv_bias, cfg.lora.for_module("q_proj")),
      k_(store, prefix + ".k_proj", cfg.hidden, cfg.n_kv_head * cfg.head_dim, cfg.qkv_bias,
         cfg.lora.for_module("k_proj")),
      v_(store, prefix + ".v_proj", cfg.hidden, cfg.n_kv_head * cfg.head_dim, cfg.qkv_bias,
         cfg.lora.for_module("v_proj")),
      o_(store, prefix + ".o_proj", cfg.n_head * cfg.head_dim, cfg.hidden, cfg.o_bias, cfg.lora.for_module("o_proj")) {
  TEMPER_CHECK(cfg.rope && cfg.rope->half_dim() * 2 == cfg.head_dim,
               "rope table for head_dim {} missing or of another size", cfg.head_dim);
}

const std::pair<Tensor, Tensor>& RopeCache::get(int64_t t, Device device) {
  auto it = tables_.find({t, device});
  if (it != tables_.end()) return it->second;
  const ops::RopeTables tables = ops::rope_tables(inv_freq_, t);
  return tables_[{t, device}] = {tables.cos.to(device), tables.sin.to(device)};
}

Tensor GqaAttention::forward(const Tensor& x, Ctx& ctx) const {
  const int64_t b = x.dim(0), t = x.dim(1), hd = cfg_.head_dim;
  ctx.x = x;
  ctx.q = new_activation({b, t, cfg_.n_head * hd}, x);
  ctx.k = new_activation({b, t, cfg_.n_kv_head * hd}, x);
  ctx.v = new_activation({b, t, cfg_.n_kv_head * hd}, x);
  q_.forward(ctx.q, x);
  k_.forward(ctx.k, x);
  v_.forward(ctx.v, x);
  std::tie(ctx.cos, ctx.sin) = cfg_.rope->get(t, x.device());
  ops::rope_forward(ctx.q.reshape({b, t, cfg_.n_head, hd}), ctx.cos, ctx.sin);
  ops::rope_forward(ctx.k.reshape({b, t, cfg_.n_kv_head, hd}), ctx.cos, ctx.sin);
  ctx.lse = Tensor::empty({b, cfg_.n_head, t}, DType::F32, x.device());
  ctx.y = new_activation({b, t, cfg_.n_head * hd}, x);
  ops::flash_attention_forward(ctx.y, ctx.lse, ctx.q, ctx.k, ctx.v, cfg_.n_head, cfg_.n_kv_head);
  Tensor out = new_activation(x.shape(), x);
  o_.forward(out, ctx.y);
  return out;
}

void GqaAttention::backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const {
  const int64_t b = ctx.x.dim(0), t = ctx.x.dim(1), hd = cfg_.head_dim;
  Tensor dy = new_activation(ctx.y.shape(), ctx.y);
  o_.backward(dy, dout, ctx.y);
  Tensor dq = new_activation(ctx.q.shape(), ctx.q), dk = new_activation(ctx.k.shape(), ctx.k),
         dv = new_activation(ctx.v.shape(), ctx.v);
  ops::flash_attention_backward(dq, dk, dv, dy, ctx.q, ctx.k, ctx.v, ctx.y, ctx.lse, cfg_.n_head, cfg_.n_kv_head);
  ops::rope_backward(dq.reshape({b, t, cfg_.n_head, hd}), ctx.cos, ctx.sin);
  ops::rope_backward(dk.reshape({b, t, cfg_.n_kv_head, hd}), ctx.cos, ctx.sin);
  q_.backward(dx, dq, ctx.x);
  Tensor part = new_activation(dx.shape(), dx);
  k_.backward(part, dk, ctx.x);
  ops::add_inplace(dx, part);
  v_.backward(part, dv, ctx.x);
  ops::add_inplace(dx, part);
}

}  // namespace temper

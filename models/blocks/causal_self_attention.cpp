// Causal self-attention block implementation.
#include "models/blocks/causal_self_attention.h"

#include "kernels/flash_attention.h"

namespace temper {

CausalSelfAttention::CausalSelfAttention(ParameterStore& store, const std::string& prefix, int64_t c, int n_head)
    : c_attn_(store, prefix + ".c_attn", c, 3 * c), c_proj_(store, prefix + ".c_proj", c, c), n_head_(n_head) {}

Tensor CausalSelfAttention::forward(const Tensor& x, Ctx& ctx) const {
  const int64_t b = x.dim(0), t = x.dim(1), c = x.dim(2);
  ctx.x = x;
  ctx.qkv = new_activation({b, t, 3 * c}, x);
  c_attn_.forward(ctx.qkv, x);
  ctx.lse = Tensor::empty({b, n_head_, t}, DType::F32, x.device());
  ctx.y = new_activation({b, t, c}, x);
  ops::flash_attention_forward_packed(ctx.y, ctx.lse, ctx.qkv, n_head_);
  Tensor out = new_activation({b, t, c}, x);
  c_proj_.forward(out, ctx.y);
  return out;
}

void CausalSelfAttention::backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const {
  Tensor dy = new_activation(ctx.y.shape(), ctx.y);
  c_proj_.backward(dy, dout, ctx.y);
  Tensor dqkv = new_activation(ctx.qkv.shape(), ctx.qkv);
  ops::flash_attention_backward_packed(dqkv, dy, ctx.qkv, ctx.y, ctx.lse, n_head_);
  c_attn_.backward(dx, dqkv, ctx.x);
}

}  // namespace temper

// Transformer block implementation: residual adds around attention and MLP.
#include "models/blocks/transformer_block.h"

#include "kernels/elementwise.h"

namespace temper {

TransformerBlock::TransformerBlock(ParameterStore& store, const std::string& prefix, const TransformerBlockConfig& cfg)
    : ln_1_(store, prefix + ".ln_1", cfg.n_embd, cfg.layer_norm_eps),
      attn_(store, prefix + ".attn", cfg.n_embd, cfg.n_head),
      ln_2_(store, prefix + ".ln_2", cfg.n_embd, cfg.layer_norm_eps),
      mlp_(store, prefix + ".mlp", cfg.n_embd, cfg.n_inner) {}

Tensor TransformerBlock::forward(const Tensor& x, Ctx& ctx) const {
  Tensor a = attn_.forward(ln_1_.forward(x, ctx.ln_1), ctx.attn);
  ctx.residual = new_activation(x.shape(), x);
  ops::add(ctx.residual, x, a);
  Tensor m = mlp_.forward(ln_2_.forward(ctx.residual, ctx.ln_2), ctx.mlp);
  Tensor out = new_activation(x.shape(), x);
  ops::add(out, ctx.residual, m);
  return out;
}

void TransformerBlock::backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const {
  // d(residual) = dout + ln_2'(mlp'(dout))
  Tensor scratch = new_activation(dout.shape(), dout);
  mlp_.backward(scratch, dout, ctx.mlp);
  Tensor dres = new_activation(dout.shape(), dout);
  ln_2_.backward(dres, scratch, ctx.ln_2);
  ops::add_inplace(dres, dout);
  // dx = dres + ln_1'(attn'(dres))
  attn_.backward(scratch, dres, ctx.attn);
  ln_1_.backward(dx, scratch, ctx.ln_1);
  ops::add_inplace(dx, dres);
}

}  // namespace temper

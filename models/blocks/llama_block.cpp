// Llama decoder layer implementation (same residual structure as the GPT-2 block).
#include "models/blocks/llama_block.h"

#include "kernels/elementwise.h"
#include "models/blocks/linear.h"

namespace temper {

LlamaBlock::LlamaBlock(ParameterStore& store, const std::string& prefix, const LlamaBlockConfig& cfg)
    : input_norm_(store, prefix + ".input_layernorm", cfg.attn.hidden, cfg.rms_eps),
      attn_(store, prefix + ".self_attn", cfg.attn),
      post_norm_(store, prefix + ".post_attention_layernorm", cfg.attn.hidden, cfg.rms_eps),
      mlp_(store, prefix + ".mlp", cfg.attn.hidden, cfg.intermediate, cfg.mlp_bias, cfg.attn.lora) {}

Tensor LlamaBlock::forward(const Tensor& x, Ctx& ctx) const {
  Tensor a = attn_.forward(input_norm_.forward(x, ctx.ln_1), ctx.attn);
  ctx.residual = new_activation(x.shape(), x);
  ops::add(ctx.residual, x, a);
  Tensor m = mlp_.forward(post_norm_.forward(ctx.residual, ctx.ln_2), ctx.mlp);
  Tensor out = new_activation(x.shape(), x);
  ops::add(out, ctx.residual, m);
  return out;
}

void LlamaBlock::backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const {
  Tensor scratch = new_activation(dout.shape(), dout);
  mlp_.backward(scratch, dout, ctx.mlp);
  Tensor dres = new_activation(dout.shape(), dout);
  post_norm_.backward(dres, scratch, ctx.ln_2);
  ops::add_inplace(dres, dout);
  attn_.backward(scratch, dres, ctx.attn);
  input_norm_.backward(dx, scratch, ctx.ln_1);
  ops::add_inplace(dx, dres);
}

}  // namespace temper

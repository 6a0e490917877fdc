// BertLayer forward/backward composition.
#include "models/blocks/bert_layer.h"

#include "kernels/flash_attention.h"
#include "kernels/elementwise.h"
#include "models/blocks/linear.h"

namespace temper {

BertLayer::BertLayer(ParameterStore& store, const std::string& prefix, const BertLayerConfig& cfg)
    : cfg_(cfg),
      q_(store, prefix + ".attention.self.query", cfg.hidden, cfg.hidden, Bias::With),
      k_(store, prefix + ".attention.self.key", cfg.hidden, cfg.hidden, Bias::With),
      v_(store, prefix + ".attention.self.value", cfg.hidden, cfg.hidden, Bias::With),
      o_(store, prefix + ".attention.output.dense", cfg.hidden, cfg.hidden, Bias::With),
      ln1_(store, prefix + ".attention.output.LayerNorm", cfg.hidden, cfg.eps),
      up_(store, prefix + ".intermediate.dense", cfg.hidden, cfg.intermediate, Bias::With),
      down_(store, prefix + ".output.dense", cfg.intermediate, cfg.hidden, Bias::With),
      ln2_(store, prefix + ".output.LayerNorm", cfg.hidden, cfg.eps) {}

Tensor BertLayer::forward(const Tensor& x, const Tensor& key_lengths, Ctx& ctx) const {
  const int64_t b = x.dim(0), t = x.dim(1);
  ctx.x = x;
  ctx.key_lengths = key_lengths;
  ctx.q = new_activation(x.shape(), x);
  ctx.k = new_activation(x.shape(), x);
  ctx.v = new_activation(x.shape(), x);
  q_.forward(ctx.q, x);
  k_.forward(ctx.k, x);
  v_.forward(ctx.v, x);
  ctx.y = new_activation(x.shape(), x);
  ctx.lse = Tensor::empty({b, cfg_.n_head, t}, DType::F32, x.device());
  const ops::AttentionMask mask{ops::AttnCausality::Bidirectional, key_lengths};
  ops::flash_attention_forward(ctx.y, ctx.lse, ctx.q, ctx.k, ctx.v, cfg_.n_head, cfg_.n_head, mask);
  Tensor pre1 = new_activation(x.shape(), x);
  o_.forward(pre1, ctx.y);
  ops::add_inplace(pre1, x);
  const Tensor h = ln1_.forward(pre1, ctx.ln1);
  ctx.up = new_activation({b, t, cfg_.intermediate}, x);
  up_.forward(ctx.up, h);
  ctx.act = new_activation(ctx.up.shape(), x);
  ops::gelu_forward(ctx.act, ctx.up, cfg_.act);
  Tensor pre2 = new_activation(x.shape(), x);
  down_.forward(pre2, ctx.act);
  ops::add_inplace(pre2, h);
  return ln2_.forward(pre2, ctx.ln2);
}

void BertLayer::backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const {
  const Tensor& h = ctx.ln1.out;
  // out = LN2(h + down(gelu(up(h)))): dpre2 feeds the residual and the MLP.
  Tensor dpre2 = new_activation(dout.shape(), dout);
  ln2_.backward(dpre2, dout, ctx.ln2);
  Tensor dact = new_activation(ctx.act.shape(), dout);
  down_.backward(dact, dpre2, ctx.act);
  ops::gelu_backward(dact, dact, ctx.up, cfg_.act);
  Tensor dh = new_activation(h.shape(), dout);
  up_.backward(dh, dact, h);
  ops::add_inplace(dh, dpre2);
  // h = LN1(x + o(attention)): dpre1 feeds the residual and the attention.
  Tensor dpre1 = new_activation(dout.shape(), dout);
  ln1_.backward(dpre1, dh, ctx.ln1);
  Tensor dy = new_activation(ctx.y.shape(), dout);
  o_.backward(dy, dpre1, ctx.y);
  Tensor dq = new_activation(ctx.q.shape(), dout), dk = new_activation(ctx.k.shape(), dout),
         dv = new_activation(ctx.v.shape(), dout);
  const ops::AttentionMask mask{ops::AttnCausality::Bidirectional, ctx.key_lengths};
  ops::flash_attention_backward(dq, dk, dv, dy, ctx.q, ctx.k, ctx.v, ctx.y, ctx.lse, cfg_.n_head, cfg_.n_head,
                                mask);
  q_.backward(dx, dq, ctx.x);
  Tensor part = new_activation(dx.shape(), dout);
  k_.backward(part, dk, ctx.x);
  ops::add_inplace(dx, part);
  v_.backward(part, dv, ctx.x);
  ops::add_inplace(dx, part);
  ops::add_inplace(dx, dpre1);
}

}  // namespace temper

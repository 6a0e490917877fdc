// SwiGLU MLP implementation.
#include "models/blocks/swiglu_mlp.h"

#include "kernels/elementwise.h"
#include "kernels/swiglu.h"
#include "models/blocks/linear.h"

namespace temper {

SwiGluMlp::SwiGluMlp(ParameterStore& store, const std::string& prefix, int64_t c, int64_t hidden, Bias bias,
                     const LoraTargets& lora)
    : gate_(store, prefix + ".gate_proj", c, hidden, bias, lora.for_module("gate_proj")),
      up_(store, prefix + ".up_proj", c, hidden, bias, lora.for_module("up_proj")),
      down_(store, prefix + ".down_proj", hidden, c, bias, lora.for_module("down_proj")) {}

Tensor SwiGluMlp::forward(const Tensor& x, Ctx& ctx) const {
  Shape hidden = x.shape();
  hidden.back() = gate_.out_features();
  ctx.x = x;
  ctx.gate = new_activation(hidden, x);
  ctx.up = new_activation(hidden, x);
  gate_.forward(ctx.gate, x);
  up_.forward(ctx.up, x);
  ctx.act = new_activation(hidden, x);
  ops::swiglu_forward(ctx.act, ctx.gate, ctx.up);
  Tensor out = new_activation(x.shape(), x);
  down_.forward(out, ctx.act);
  return out;
}

void SwiGluMlp::backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const {
  Tensor dact = new_activation(ctx.act.shape(), ctx.act);
  down_.backward(dact, dout, ctx.act);
  Tensor dgate = new_activation(ctx.gate.shape(), ctx.gate), dup = new_activation(ctx.up.shape(), ctx.up);
  ops::swiglu_backward(dgate, dup, dact, ctx.gate, ctx.up);
  gate_.backward(dx, dgate, ctx.x);
  Tensor dx_up = new_activation(dx.shape(), dx);
  up_.backward(dx_up, dup, ctx.x);
  ops::add_inplace(dx, dx_up);
}

}  // namespace temper

// MLP block implementation.
#include "models/blocks/mlp.h"

#include "kernels/gelu.h"

namespace temper {

Mlp::Mlp(ParameterStore& store, const std::string& prefix, int64_t c, int64_t hidden)
    : c_fc_(store, prefix + ".c_fc", c, hidden), c_proj_(store, prefix + ".c_proj", hidden, c) {}

Tensor Mlp::forward(const Tensor& x, Ctx& ctx) const {
  Shape hidden_shape = x.shape();
  hidden_shape.back() = c_fc_.out_features();
  ctx.x = x;
  ctx.h = new_activation(hidden_shape, x);
  c_fc_.forward(ctx.h, x);
  ctx.g = new_activation(hidden_shape, x);
  ops::gelu_forward(ctx.g, ctx.h);
  Tensor out = new_activation(x.shape(), x);
  c_proj_.forward(out, ctx.g);
  return out;
}

void Mlp::backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const {
  Tensor dg = new_activation(ctx.g.shape(), ctx.g);
  c_proj_.backward(dg, dout, ctx.g);
  ops::gelu_backward(dg, dg, ctx.h);  // in place: dh overwrites dg
  c_fc_.backward(dx, dg, ctx.x);
}

}  // namespace temper

// ChainBlock forward/backward.
#include "models/vision/chain_block.h"

#include "kernels/elementwise.h"

namespace temper {

ChainBlock::ChainBlock(std::vector<ConvBnAct> chain, const ChainBlockSpec& spec, std::optional<ConvBnAct> projection)
    : chain_(std::move(chain)), spec_(spec), projection_(std::move(projection)) {
  TEMPER_CHECK(!chain_.empty(), "a chain block needs at least one conv");
  TEMPER_CHECK((spec_.shortcut == Shortcut::Projection) == projection_.has_value(),
               "a projection shortcut needs its conv (and only it)");
  // The sum and the activation after it run in place on the last unit's output, which must not be
  // needed by that unit's backward.
  TEMPER_CHECK(!(spec_.shortcut != Shortcut::None || spec_.after_sum) || !chain_.back().has_activation(),
               "a chain block's last conv must have no activation of its own when a sum or activation follows");
}

Tensor ChainBlock::forward(const Tensor& x, bool train, bool keep) {
  ctx_ = Ctx();
  if (keep) ctx_.chain.resize(chain_.size());
  Tensor h = x;
  for (size_t i = 0; i < chain_.size(); ++i) h = chain_[i].forward(h, train, keep ? &ctx_.chain[i] : nullptr);
  if (spec_.shortcut == Shortcut::Identity) {
    ops::add_inplace(h, x);
  } else if (spec_.shortcut == Shortcut::Projection) {
    ops::add_inplace(h, projection_->forward(x, train, keep ? &ctx_.projection : nullptr));
  }
  if (spec_.after_sum) {
    ops::activation_forward(h, h, *spec_.after_sum);
    if (keep) ctx_.summed = h;
  }
  if (spec_.max_pool) {
    const ops::Pool2dWindow& win = *spec_.max_pool;
    Tensor pooled = Tensor::empty({h.dim(0), win.out_h(h.dim(1)), win.out_w(h.dim(2)), h.dim(3)}, h.dtype(), h.device());
    Tensor indices = Tensor::empty(pooled.shape(), DType::I32, h.device());
    ops::max_pool2d_forward(pooled, indices, h, win);
    if (keep) {
      ctx_.pool_indices = indices;
      ctx_.pool_in = h.shape();
    }
    h = pooled;
  }
  return h;
}

Shape ChainBlock::count_macs(const Shape& x, double* macs) const {
  Shape h = x;
  for (const ConvBnAct& c : chain_) h = c.count_macs(h, macs);
  if (spec_.shortcut == Shortcut::Projection) projection_->count_macs(x, macs);
  if (spec_.max_pool) h = {h[0], spec_.max_pool->out_h(h[1]), spec_.max_pool->out_w(h[2]), h[3]};
  return h;
}

Tensor ChainBlock::backward(const Tensor& dy, bool want_dx) {
  Tensor d = dy;
  if (spec_.max_pool) {
    TEMPER_CHECK(ctx_.pool_indices.defined(), "chain block: backward without a kept forward");
    Tensor dpool = Tensor::empty(ctx_.pool_in, dy.dtype(), dy.device());
    ops::max_pool2d_backward(dpool, d, ctx_.pool_indices);
    d = dpool;
  }
  if (spec_.after_sum) {
    TEMPER_CHECK(ctx_.summed.defined(), "chain block: backward without a kept forward");
    Tensor da = Tensor::empty(d.shape(), d.dtype(), d.device());
    ops::activation_backward(da, d, ctx_.summed, *spec_.after_sum, ops::ActSaved::Output);
    d = da;
  }
  TEMPER_CHECK(ctx_.chain.size() == chain_.size(), "chain block: backward without a kept forward");
  Tensor dh = d;
  for (size_t i = chain_.size(); i-- > 0;) dh = chain_[i].backward(dh, ctx_.chain[i], want_dx || i > 0);
  Tensor dx = dh;
  if (spec_.shortcut == Shortcut::Identity && want_dx) {
    ops::add_inplace(dx, d);
  } else if (spec_.shortcut == Shortcut::Projection) {
    const Tensor dproj = projection_->backward(d, ctx_.projection, want_dx);
    if (want_dx) ops::add_inplace(dx, dproj);
  }
  ctx_ = Ctx();
  return want_dx ? dx : Tensor();
}

}  // namespace temper

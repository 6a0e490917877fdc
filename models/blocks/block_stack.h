// The stack of transformer blocks of a model, run forward and backward. Without recomputation every
// block keeps its context (all activations backward needs); with activation recomputation
// (--recompute) only each block's input is kept and the block's forward is run again right before
// its backward, trading one extra forward for most of the activation memory.
#pragma once
#include <functional>
#include <vector>

#include "models/blocks/linear.h"

namespace temper {

enum class Recompute { Off, On };

template <class Block>
class BlockStack {
 public:
  using Ctx = typename Block::Ctx;

  Tensor forward(const std::vector<Block>& blocks, Tensor x, Recompute mode) {
    mode_ = mode;
    ctx_.assign(blocks.size(), Ctx());
    inputs_.assign(blocks.size(), Tensor());
    for (size_t l = 0; l < blocks.size(); ++l) {
      if (mode_ == Recompute::Off) {
        x = blocks[l].forward(x, ctx_[l]);
      } else {
        inputs_[l] = x;
        Ctx scratch;
        x = blocks[l].forward(x, scratch);
      }
    }
    return x;
  }

  // Gradient of the stack's input from the gradient of its output; on_done(l) after block l.
  Tensor backward(const std::vector<Block>& blocks, const Tensor& dout, const std::function<void(size_t)>& on_done) {
    Tensor dx = dout, dprev = new_activation(dout.shape(), dout);
    for (size_t l = blocks.size(); l-- > 0;) {
      if (mode_ == Recompute::On) blocks[l].forward(inputs_[l], ctx_[l]);
      blocks[l].backward(dprev, dx, ctx_[l]);
      ctx_[l] = Ctx();  // free activations as we go
      inputs_[l] = Tensor();
      on_done(l);
      std::swap(dprev, dx);
    }
    return dx;
  }

  void clear() {
    ctx_.clear();
    inputs_.clear();
  }

 private:
  Recompute mode_ = Recompute::Off;
  std::vector<Ctx> ctx_;
  std::vector<Tensor> inputs_;
};

}  // namespace temper

// ChainBlock: the one block shape every CNN here is made of: a chain of ConvBnAct units, an optional
// shortcut (identity, or a ConvBnAct projection) added to the chain's output, an optional activation
// after the sum and an optional max pool at the end.
//   ResNet stem        [7x7 s2 + ReLU], max pool 3x3 s2
//   BasicBlock         [3x3 + ReLU, 3x3], shortcut, ReLU
//   Bottleneck         [1x1 + ReLU, 3x3 (stride) + ReLU, 1x1], shortcut, ReLU
//   MBConv (Lite)      [1x1 expand + ReLU6, depthwise + ReLU6, 1x1 project], identity shortcut when
//                      the shape is kept, no activation after the sum
// A block keeps what its backward needs between forward(keep = true) and backward.
#pragma once
#include <optional>
#include <vector>

#include "kernels/pool2d.h"
#include "models/vision/conv_layers.h"

namespace temper {

enum class Shortcut { None, Identity, Projection };

struct ChainBlockSpec {
  Shortcut shortcut = Shortcut::None;
  std::optional<ops::Activation> after_sum;  // applied to chain + shortcut (or to the chain alone)
  std::optional<ops::Pool2dWindow> max_pool;  // at the very end
};

class ChainBlock {
 public:
  // projection is required for Shortcut::Projection and ignored otherwise.
  ChainBlock(std::vector<ConvBnAct> chain, const ChainBlockSpec& spec, std::optional<ConvBnAct> projection = {});
  Tensor forward(const Tensor& x, bool train, bool keep);
  // Weight gradients accumulated; returns dx when want_dx (else undefined). Needs forward(keep = true).
  Tensor backward(const Tensor& dy, bool want_dx);
  // The output shape for an input of shape x; adds the convolutions' multiply-adds to *macs.
  Shape count_macs(const Shape& x, double* macs) const;

 private:
  std::vector<ConvBnAct> chain_;
  ChainBlockSpec spec_;
  std::optional<ConvBnAct> projection_;
  struct Ctx {
    std::vector<ConvBnAct::Ctx> chain;
    ConvBnAct::Ctx projection;
    Tensor summed;          // output of the activation after the sum (its backward reads it)
    Tensor pool_indices;    // max pool argmax
    Shape pool_in;          // max pool input shape
  };
  Ctx ctx_;
};

}  // namespace temper

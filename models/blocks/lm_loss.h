// The language-model loss over a model's logits: fused softmax cross-entropy on the device, the
// per-token losses summed on the host over kept (non-ignored) targets. With a gradient, the logits
// are overwritten in place by dloss * (softmax - onehot).
#pragma once
#include "runtime/train/causal_lm.h"

namespace temper {

enum class LossGrad { No, Yes };

// logits[B,T,V] on the model's device; targets[B,T] i32 on any device.
LossSum lm_cross_entropy(const Tensor& logits, const Tensor& targets, int ignore_index, float dloss, LossGrad grad);

}  // namespace temper

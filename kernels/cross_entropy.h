// Fused softmax + cross-entropy over the vocabulary, with an ignore index for masked targets.
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

// logits[N,V]; targets[N] i32 (ignore_index or in [0,V)); losses[N] f32 = -log softmax(logits)[target]
// (0 where ignored). When dlogits[N,V] is defined (it may alias logits) it receives
// (softmax - onehot(target)) * dloss for kept rows and 0 for ignored rows.
void softmax_cross_entropy(const Tensor& losses, const Tensor& dlogits, const Tensor& logits,
                           const Tensor& targets, int ignore_index, float dloss);

}  // namespace temper::ops

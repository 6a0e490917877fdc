// The loss of a classification head: softmax cross-entropy of logits [B, L] against one label per row
// (Classifier::kIgnoreLabel rows skipped), optionally weighted per class as torch's
// CrossEntropyLoss(weight=...) (the caller's normalisation divides by the sum of the row weights).
#pragma once
#include <vector>

#include "runtime/train/classifier.h"

namespace temper {

// Returns the (weighted) loss sum and the number of counted rows. With want_grad the logits are
// overwritten by d(dloss * loss sum)/d logits, rows scaled by their class weight.
// labels: i32 [B] on any device.
LossSum classifier_loss(const Tensor& logits, const Tensor& labels, const std::vector<float>& class_weights,
                        float dloss, bool want_grad);

}  // namespace temper

// The interface the trainer's classification task and `temper predict` use for any sequence
// classifier (BERT now): logits for a padded batch; the loss and labels come from Classifier.
#pragma once
#include <string>
#include <vector>

#include "runtime/train/classifier.h"

namespace temper {

// One batch of (padded) sequences: tokens and token types i32 [B,T] (types may be undefined: all 0),
// lengths i32 [B] (real tokens; the rest is padding). Any device.
struct ClassifierInput {
  Tensor tokens, token_types, lengths;
};

class SequenceClassifier : public Classifier {
 public:
  // Logits [B, num_labels] on the model's device (compute dtype); keeps activations for backward.
  virtual Tensor forward(const ClassifierInput& in) = 0;
  // Forward + loss without gradients; the logits as CPU f32 [B, L] in *logits when given.
  virtual LossSum evaluate(const ClassifierInput& in, const Tensor& labels, Tensor* logits = nullptr) = 0;
};

}  // namespace temper

// The interface the trainer's classification task and `temper predict` use for any sequence
// classifier (BERT now): logits for a padded batch, loss + backward against one label per sequence.
#pragma once
#include <string>
#include <vector>

#include "runtime/train/trainable_model.h"

namespace temper {

// One batch of (padded) sequences: tokens and token types i32 [B,T] (types may be undefined: all 0),
// lengths i32 [B] (real tokens; the rest is padding). Any device.
struct ClassifierInput {
  Tensor tokens, token_types, lengths;
};

class SequenceClassifier : public TrainableModel {
 public:
  virtual const std::vector<std::string>& labels() const = 0;  // id -> name
  // Per-class weights of the training loss (torch's CrossEntropyLoss(weight=...)); empty = all 1.
  // Evaluation losses stay unweighted.
  void set_class_weights(std::vector<float> w) { class_weights_ = std::move(w); }
  const std::vector<float>& class_weights() const { return class_weights_; }
  // Logits [B, num_labels] on the model's device (compute dtype); keeps activations for backward.
  virtual Tensor forward(const ClassifierInput& in) = 0;
  // Cross-entropy of the last forward's logits against labels i32 [B] (-100 = ignored); gradients of
  // dloss * sum(losses) accumulated into params(). Frees the activations.
  virtual LossSum backward(const Tensor& labels, float dloss) = 0;
  // Forward + loss without gradients; the logits as CPU f32 [B, L] in *logits when given.
  virtual LossSum evaluate(const ClassifierInput& in, const Tensor& labels, Tensor* logits = nullptr) = 0;

 private:
  std::vector<float> class_weights_;
};

}  // namespace temper

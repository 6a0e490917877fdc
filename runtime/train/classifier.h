// What every classifier offers the classification tasks, `temper eval` and `temper predict`, whatever
// its input (token sequences: SequenceClassifier; images: ImageClassifier): label names, optional
// per-class loss weights, and the loss + backward of its last forward against one label per row.
#pragma once
#include <string>
#include <vector>

#include "runtime/train/trainable_model.h"

namespace temper {

class Classifier : public TrainableModel {
 public:
  static constexpr int32_t kIgnoreLabel = -100;  // a row whose loss is not counted

  virtual const std::vector<std::string>& labels() const = 0;  // id -> name
  // Per-class weights of the training loss (torch's CrossEntropyLoss(weight=...)); empty = all 1.
  // Evaluation losses stay unweighted.
  void set_class_weights(std::vector<float> w) { class_weights_ = std::move(w); }
  const std::vector<float>& class_weights() const { return class_weights_; }
  // Cross-entropy of the last forward's logits against labels i32 [B] (kIgnoreLabel = ignored);
  // gradients of dloss * sum(losses) accumulated into params(). Frees the activations.
  virtual LossSum backward(const Tensor& labels, float dloss) = 0;

 private:
  std::vector<float> class_weights_;
};

// The weight of `labels` (i32 [B] on the CPU) in the loss normalisation: the number of counted rows,
// or with class weights the sum of their weights (the denominator of torch's weighted mean).
double label_weight_sum(const Classifier& model, const Tensor& labels);

}  // namespace temper

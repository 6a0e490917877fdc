// One evaluation pass of a classifier, batch by batch: loss sums and the confusion matrix, reduced
// over ranks into the EvalReport every classification task prints (loss, accuracy, macro-F1,
// per-class precision / recall, confusion matrix). Shared by text and image classification.
#pragma once
#include <string>
#include <vector>

#include "runtime/comm/communicator.h"
#include "runtime/train/classification_metrics.h"
#include "runtime/train/train_task.h"

namespace temper {

class ClassificationEval {
 public:
  explicit ClassificationEval(int64_t num_labels) : matrix_(num_labels) {}
  // One batch: its loss sum, logits (CPU f32 [B, L]) and labels (CPU i32 [B], ignored rows skipped).
  void add(const LossSum& loss, const Tensor& logits, const Tensor& labels);
  // Reduced over ranks when comm is given (collective then).
  EvalReport report(const std::vector<std::string>& names, Communicator* comm);

 private:
  ConfusionMatrix matrix_;
  LossSum total_;
};

}  // namespace temper

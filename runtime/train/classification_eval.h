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

// One evaluation pass of `loader` (reset first; at most max_batches batches when > 0): score(batch,
// &logits) returns a batch's loss sum and its CPU logits; the batch type has `labels`.
template <class Batch, class Loader, class Score>
EvalReport evaluate_loader(Loader& loader, const std::vector<std::string>& labels, int64_t max_batches,
                           Communicator* comm, Score score) {
  loader.reset();
  ClassificationEval eval(static_cast<int64_t>(labels.size()));
  Batch b;
  for (int64_t i = 0; (max_batches <= 0 || i < max_batches) && loader.next(b); ++i) {
    Tensor logits;
    const LossSum s = score(b, &logits);
    eval.add(s, logits, b.labels);
  }
  return eval.report(labels, comm);
}

}  // namespace temper

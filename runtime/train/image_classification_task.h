// Image classification as a TrainTask: batches from ImageLoader, cross-entropy over the classes,
// validation loss, accuracy, macro-F1, per-class precision / recall and the confusion matrix
// (reduced over ranks). What tokens() counts for the throughput are images here.
#pragma once
#include <optional>
#include <vector>

#include "runtime/data/image_loader.h"
#include "runtime/train/image_classifier.h"
#include "runtime/train/train_task.h"

namespace temper {

class ImageClassificationTask : public TrainTask {
 public:
  ImageClassificationTask(ImageClassifier& model, ImageLoader train, std::optional<ImageLoader> val);
  TrainableModel& model() override { return model_; }
  int64_t micro_batches_per_epoch() const override { return train_.batches_per_epoch(); }
  std::string data_description() const override;
  double load_micro_batch(size_t slot) override;
  LossSum forward_backward(size_t slot, float dloss) override;
  int64_t tokens(size_t slot) const override { return micro_.at(slot).labels.numel(); }
  std::string row_description() const override;
  std::string counted_items() const override { return "images"; }
  std::string throughput_unit() const override { return "img"; }
  nlohmann::json loader_state() const override { return loader_state_to_json(train_.state()); }
  void restore_loader(const nlohmann::json& state, const std::string& origin) override;
  bool has_validation() const override { return val_.has_value(); }
  EvalReport evaluate(int64_t max_batches, Communicator* comm) override;

 private:
  ImageClassifier& model_;
  ImageLoader train_;
  std::optional<ImageLoader> val_;
  std::vector<ImageLoaderBatch> micro_;
};

// Loss, accuracy, macro-F1 and the confusion matrix of `model` over `loader` (reset first; up to
// max_batches per rank, 0 = all), reduced over ranks when comm is given. Shared with `temper eval`.
EvalReport evaluate_image_classifier(ImageClassifier& model, ImageLoader& loader, int64_t max_batches,
                                     Communicator* comm);

}  // namespace temper

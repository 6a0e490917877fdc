// ImageClassificationTask: the image side of the trainer's micro-step and validation.
#include "runtime/train/image_classification_task.h"

#include <fmt/format.h>

#include "runtime/nvtx.h"
#include "runtime/train/classification_eval.h"

namespace temper {

ImageClassificationTask::ImageClassificationTask(ImageClassifier& model, ImageLoader train,
                                                 std::optional<ImageLoader> val)
    : model_(model), train_(std::move(train)), val_(std::move(val)) {}

std::string ImageClassificationTask::row_description() const {
  const ImageShape s = train_.output_shape();
  return fmt::format("images of {}x{}", s.h, s.w);
}

std::string ImageClassificationTask::data_description() const {
  return fmt::format("{} training images", train_.num_images());
}

double ImageClassificationTask::load_micro_batch(size_t slot) {
  if (micro_.size() <= slot) micro_.resize(slot + 1);
  train_.next(micro_[slot]);
  return label_weight_sum(model_, micro_[slot].labels);
}

LossSum ImageClassificationTask::forward_backward(size_t slot, float dloss) {
  const ImageLoaderBatch& b = micro_.at(slot);
  model_.forward(b.images);
  return model_.backward(b.labels, dloss);
}

void ImageClassificationTask::restore_loader(const nlohmann::json& state, const std::string& origin) {
  train_.restore(loader_state_from_json(state, origin));
}

EvalReport ImageClassificationTask::evaluate(int64_t max_batches, Communicator* comm) {
  return evaluate_image_classifier(model_, *val_, max_batches, comm);
}

EvalReport evaluate_image_classifier(ImageClassifier& model, ImageLoader& loader, int64_t max_batches,
                                     Communicator* comm) {
  TEMPER_NVTX("evaluate_image_classifier");
  return evaluate_loader<ImageLoaderBatch>(loader, model.labels(), max_batches, comm,
                                           [&](const ImageLoaderBatch& b, Tensor* logits) {
                                             return model.evaluate(b.images, b.labels, logits);
                                           });
}

}  // namespace temper

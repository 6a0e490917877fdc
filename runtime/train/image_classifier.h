// The interface the image-classification task, `temper eval` and `temper predict` use for any image
// classifier (the CNNs now): logits for a batch of normalised images; loss and labels from Classifier.
#pragma once
#include "runtime/train/classifier.h"

namespace temper {

class ImageClassifier : public Classifier {
 public:
  // Training forward: images f32 [B, H, W, 3] (NHWC, normalised) on any device -> logits [B, L] on the
  // model's device; keeps what backward needs.
  virtual Tensor forward(const Tensor& images) = 0;
  // Inference forward (batch norm on running statistics) + loss without gradients; the logits as
  // CPU f32 [B, L] in *logits when given.
  virtual LossSum evaluate(const Tensor& images, const Tensor& labels, Tensor* logits = nullptr) = 0;
};

}  // namespace temper

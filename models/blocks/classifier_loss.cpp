// Cross-entropy with optional class weights through ops::softmax_cross_entropy.
#include "models/blocks/classifier_loss.h"

#include "kernels/cross_entropy.h"
#include "kernels/elementwise.h"

namespace temper {

LossSum classifier_loss(const Tensor& logits, const Tensor& labels, const std::vector<float>& class_weights,
                        float dloss, bool want_grad) {
  TEMPER_CHECK(logits.ndim() == 2, "classifier loss: logits must be [B, L], got {}", shape_str(logits.shape()));
  const int64_t b = logits.dim(0), num_labels = logits.dim(1);
  TEMPER_CHECK(labels.dtype() == DType::I32 && labels.shape() == Shape{b}, "classifier loss: labels must be i32 [{}], got {} {}",
               b, dtype_name(labels.dtype()), shape_str(labels.shape()));
  TEMPER_CHECK(class_weights.empty() || static_cast<int64_t>(class_weights.size()) == num_labels,
               "{} class weights for {} labels", class_weights.size(), num_labels);
  const Device device = logits.device();
  const Tensor targets = labels.device() == device ? labels : labels.to(device);
  const Tensor losses = Tensor::empty({b}, DType::F32, device);
  ops::softmax_cross_entropy(losses, want_grad ? logits : Tensor(), logits, targets, Classifier::kIgnoreLabel, dloss);
  const std::vector<float> l = losses.to_host_f32().to_vector();
  const Tensor host_labels = labels.device() == Device::Cpu ? labels : labels.to(Device::Cpu);
  const bool weighted = want_grad && !class_weights.empty();
  Tensor row_weights = Tensor::zeros({b}, DType::F32);
  LossSum r;
  for (int64_t i = 0; i < b; ++i) {
    const int32_t label = host_labels.data<int32_t>()[i];
    if (label == Classifier::kIgnoreLabel) continue;
    TEMPER_CHECK(label >= 0 && label < num_labels, "classifier loss: label {} outside [0, {})", label, num_labels);
    const float w = weighted ? class_weights[static_cast<size_t>(label)] : 1.f;
    row_weights.data<float>()[i] = w;
    r.sum += static_cast<double>(w) * l[static_cast<size_t>(i)];
    ++r.count;
  }
  if (weighted) ops::scale_rows(logits, row_weights.to(device));  // the rows of dlogits
  return r;
}

}  // namespace temper

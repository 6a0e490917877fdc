// Language-model loss implementation.
#include "models/blocks/lm_loss.h"

#include "kernels/cross_entropy.h"

namespace temper {

LossSum lm_cross_entropy(const Tensor& logits, const Tensor& targets, int ignore_index, float dloss, LossGrad grad) {
  const int64_t v = logits.dim(-1), n = logits.numel() / v;
  TEMPER_CHECK(targets.numel() == n, "loss: {} targets for logits {}", targets.numel(), shape_str(logits.shape()));
  const Tensor host_targets = targets.device() == Device::Cpu ? targets : targets.to(Device::Cpu);
  const Tensor dev_targets = targets.device() == logits.device() ? targets : targets.to(logits.device());
  Tensor losses = Tensor::empty({n}, DType::F32, logits.device());
  const Tensor logits2d = logits.reshape({n, v});
  ops::softmax_cross_entropy(losses, grad == LossGrad::Yes ? logits2d : Tensor(), logits2d, dev_targets.reshape({n}),
                             ignore_index, dloss);
  const std::vector<float> host_losses = losses.to_vector();
  LossSum r;
  const int32_t* tg = host_targets.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (tg[i] == ignore_index) continue;
    r.sum += host_losses[static_cast<size_t>(i)];
    ++r.count;
  }
  return r;
}

}  // namespace temper

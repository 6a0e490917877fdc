// The interface the trainer, evaluator and generator use for any causal language model
// (GPT-2, the Llama family): forward, loss + backward, evaluation, plus TrainableModel's parameters,
// hooks and saving. It lives in runtime/train because the trainer defines it and models implement it.
#pragma once
#include <string>

#include "runtime/train/trainable_model.h"

namespace temper {

class CausalLm : public TrainableModel {
 public:
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_positions() const = 0;
  // Training FLOPs per token (forward + backward, 6N + attention), for MFU.
  virtual double train_flops_per_token(int64_t seq_len) const = 0;

  // tokens[B,T] i32 (any device). Keeps the activations for a following backward.
  // Returns the logits [B,T,V] on the model's device (compute dtype).
  virtual Tensor forward(const Tensor& tokens) = 0;
  // After forward: cross-entropy against targets[B,T] (ignore_index skipped), gradient of
  // dloss * sum(losses) accumulated into params().grads(). Frees the activations.
  virtual LossSum backward(const Tensor& targets, int ignore_index, float dloss) = 0;
  // Forward + loss without gradients.
  virtual LossSum evaluate(const Tensor& tokens, const Tensor& targets, int ignore_index) = 0;
  // Activation recomputation: keep only each block's input and redo its forward in backward.
  virtual void set_recompute(bool on) = 0;
};

}  // namespace temper

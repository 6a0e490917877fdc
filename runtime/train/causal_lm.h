// The interface the trainer, evaluator and generator use for any causal language model
// (GPT-2 now, Llama-family later). It lives in runtime/train because the trainer defines it and
// models implement it: forward, loss + backward, parameters, save.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/train/parameter_store.h"

namespace temper {

struct LossSum {
  double sum = 0;     // sum of per-token losses over kept targets
  int64_t count = 0;  // kept (non-ignored) targets
};

class CausalLm {
 public:
  virtual ~CausalLm() = default;
  virtual ParameterStore& params() = 0;
  virtual const ParameterStore& params() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_positions() const = 0;
  virtual std::string model_type() const = 0;
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

  // Writes the model in its Hugging Face layout (config.json + model.safetensors) into dir.
  virtual void save_pretrained(const std::string& dir) const = 0;
  // Activation recomputation: keep only each block's input and redo its forward in backward.
  virtual void set_recompute(bool on) = 0;
  // Marks the next forward as a training forward (dropout on) and names the random stream its
  // masks come from (the trainer passes the global micro-step and rank, so a resumed run draws the
  // masks an uninterrupted one would). Other forwards (evaluation, generation) never drop.
  virtual void set_rng_stream(uint64_t /*stream*/) {}
  // Settings that change what training computes beyond the parameters (LoRA dropout, a quantized
  // base): recorded in checkpoints, and a resume must match them.
  virtual nlohmann::json training_settings() const { return nlohmann::json::object(); }

  // Called by backward with each parameter id once its gradient for this micro-step is final
  // (the data-parallel reducer starts communicating buckets from it).
  void set_grad_ready_hook(std::function<void(int)> hook) { grad_ready_ = std::move(hook); }

 protected:
  void notify_grad_ready(int first_id, int end_id) const {
    if (!grad_ready_) return;
    for (int id = first_id; id < end_id; ++id) grad_ready_(id);
  }

 private:
  std::function<void(int)> grad_ready_;
};

}  // namespace temper

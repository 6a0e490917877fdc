// What the trainer, checkpoints and the data-parallel reducer need of any model, whatever its task:
// flat parameters, a grad-ready hook (so gradient buckets start reducing during backward), saving in
// its Hugging Face layout, and the settings a resumed run must match. CausalLm (causal language
// models) and SequenceClassifier (BERT) build on it.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/train/parameter_store.h"

namespace temper {

struct LossSum {
  double sum = 0;     // sum of per-target losses over kept targets
  int64_t count = 0;  // kept (non-ignored) targets
};

class TrainableModel {
 public:
  virtual ~TrainableModel() = default;
  // The trained parameters (a LoRA model's adapters, else the whole model).
  virtual ParameterStore& params() = 0;
  virtual const ParameterStore& params() const = 0;
  virtual std::string model_type() const = 0;
  // Writes the model in its Hugging Face layout into dir.
  virtual void save_pretrained(const std::string& dir) const = 0;
  // Marks the next forward as a training forward (dropout on) and names the random stream its
  // masks come from (the trainer passes the global micro-step and rank, so a resumed run draws the
  // masks an uninterrupted one would). Other forwards (evaluation, generation) never drop.
  virtual void set_rng_stream(uint64_t /*stream*/) {}
  // Settings that change what training computes beyond the parameters (LoRA dropout, a quantized
  // base): recorded in checkpoints, and a resume must match them.
  virtual nlohmann::json training_settings() const { return nlohmann::json::object(); }
  // State that training updates besides the parameters (batch-norm running statistics): one flat
  // f32 tensor on the model's device, or undefined when there is none. The trainer averages it over
  // the ranks after every optimizer step, so all ranks hold one copy (torch DDP broadcasts rank 0's
  // instead; the average uses every rank's batches), and checkpoints it for an exact resume.
  virtual Tensor buffers() const { return Tensor(); }

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

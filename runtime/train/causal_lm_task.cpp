// CausalLmTask: the causal-LM side of the trainer's micro-step and validation.
#include "runtime/train/causal_lm_task.h"

#include <fmt/format.h>

#include "runtime/train/evaluator.h"

namespace temper {

CausalLmTask::CausalLmTask(CausalLm& model, SequenceLoader train, std::optional<SequenceLoader> val)
    : model_(model), train_(std::move(train)), val_(std::move(val)) {}

std::string CausalLmTask::row_description() const { return fmt::format("sequences of {} tokens", train_.seq_len()); }

std::string CausalLmTask::data_description() const {
  return fmt::format("{} training windows", train_.num_windows());
}

double CausalLmTask::load_micro_batch(size_t slot) {
  if (micro_.size() <= slot) micro_.resize(slot + 1);
  train_.next(micro_[slot]);
  return static_cast<double>(micro_[slot].num_targets);
}

LossSum CausalLmTask::forward_backward(size_t slot, float dloss) {
  const Batch& b = micro_.at(slot);
  model_.forward(b.tokens);
  return model_.backward(b.targets, train_.dataset().ignore_index(), dloss);
}

void CausalLmTask::restore_loader(const nlohmann::json& state, const std::string& origin) {
  train_.restore(loader_state_from_json(state, origin));
}

EvalReport CausalLmTask::evaluate(int64_t max_batches, Communicator* comm) {
  const EvalResult r = temper::evaluate(model_, *val_, max_batches, comm);
  EvalReport out;
  out.metrics = {{"loss", r.loss}, {"perplexity", r.perplexity}};
  out.details = {{"tokens", r.targets}};
  out.text = fmt::format("loss {:.4f} | perplexity {:.3f} | {} tokens", r.loss, r.perplexity, r.targets);
  return out;
}

}  // namespace temper

// Validation loop.
#include "runtime/train/evaluator.h"

#include <cmath>

#include "runtime/nvtx.h"

namespace temper {

EvalResult evaluate(CausalLm& model, SequenceLoader& loader, int64_t max_batches, Communicator* comm) {
  TEMPER_NVTX("evaluate");
  loader.reset();
  Batch batch;
  LossSum total;
  for (int64_t i = 0; (max_batches <= 0 || i < max_batches) && loader.next(batch); ++i) {
    const LossSum s = model.evaluate(batch.tokens, batch.targets, loader.dataset().ignore_index());
    total.sum += s.sum;
    total.count += s.count;
  }
  if (comm != nullptr && comm->world_size() > 1) {
    total.sum = comm->all_reduce_scalar(total.sum, ReduceOp::Sum);
    total.count = static_cast<int64_t>(comm->all_reduce_scalar(static_cast<double>(total.count), ReduceOp::Sum));
  }
  EvalResult r;
  r.targets = total.count;
  r.loss = total.count > 0 ? total.sum / static_cast<double>(total.count) : 0.0;
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace temper

// SequenceLoader: micro-batches of packed windows as CPU i32 tensors, with a resumable position.
//
// Train mode: each epoch visits the windows in a fresh permutation (Fisher-Yates driven by
// std::mt19937_64 seeded from (seed, epoch), written out here so the order is the same with any
// standard library). A global batch is B x world_size consecutive entries of the permutation; rank r
// takes entries [r*B, (r+1)*B). The last global batch of an epoch that would be incomplete is
// dropped (those windows come back in later epochs' permutations), so every step has exactly B
// windows per rank. Epochs follow one another without end.
// Eval mode: one pass in window order; rank r takes windows r, r + world_size, ...; the last batch
// may be smaller; next() returns false at the end (reset() starts over).
//
// The position (epoch, windows consumed in the epoch's order over all ranks; loader_state.h) is all
// the state: state()/restore() let a resumed run continue with the identical sequence. The visiting
// order is RowCursor's (row_cursor.h), the same as the classification and image loaders'.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/loader_state.h"
#include "runtime/data/packed_dataset.h"
#include "runtime/data/row_cursor.h"
#include "runtime/tensor.h"

namespace temper {

struct Batch {
  Tensor tokens;            // [B, T] i32, CPU
  Tensor targets;           // [B, T] i32, CPU; ignore_index where no loss is taken
  int64_t num_targets = 0;  // targets != ignore_index (the loss is averaged over these)
  uint64_t epoch = 0;       // epoch the batch was drawn from
};

class SequenceLoader {
 public:
  SequenceLoader(PackedDataset data, const LoaderOptions& options);

  // Fills `out` with the next micro-batch. Train: always true. Eval: false after the last batch.
  bool next(Batch& out);
  void reset() { cursor_.reset(); }  // Eval: back to the first batch. Train: back to the start of epoch 0.

  int64_t num_windows() const { return data_.num_windows(); }
  int64_t seq_len() const { return data_.seq_len(); }
  int64_t batch_size() const { return cursor_.batch_size(); }
  int64_t batches_per_epoch() const { return cursor_.batches_per_epoch(); }  // per rank (eval: last may be partial)
  int64_t tokens_per_epoch() const;  // input tokens over all ranks (train: dropped windows excluded)
  const PackedDataset& dataset() const { return data_; }

  LoaderState state() const { return cursor_.state(); }
  void restore(const LoaderState& state) { cursor_.restore(state); }  // InputError: other data / seed

  void check_vocab(int32_t model_vocab_size) const { data_.check_vocab(model_vocab_size); }

 private:
  Batch make_batch(const std::vector<int64_t>& windows, uint64_t epoch) const;

  PackedDataset data_;
  RowCursor cursor_;  // after data_: built from its size
};

}  // namespace temper

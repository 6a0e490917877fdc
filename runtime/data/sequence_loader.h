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
// The position (epoch, windows consumed in the epoch's order over all ranks) is all the state:
// state()/restore() and the JSON forms let a resumed run continue with the identical sequence.
// Because the position counts windows, a run may also resume with another batch size or world size
// and still see the rest of the epoch's permutation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/data/packed_dataset.h"
#include "runtime/tensor.h"

namespace temper {

enum class LoaderMode { Train, Eval };

struct LoaderOptions {
  int64_t batch_size = 1;  // B, windows per rank per micro-batch
  LoaderMode mode = LoaderMode::Train;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
};

struct LoaderState {
  uint64_t epoch = 0;
  int64_t position = 0;     // windows of this epoch's order already consumed (all ranks together)
  uint64_t seed = 0;        // checked on restore: another seed gives another order
  int64_t num_windows = 0;  // checked on restore: another data set gives another order
};
nlohmann::json loader_state_to_json(const LoaderState& state);
// InputError naming `origin` (e.g. the checkpoint file) and the field when a value is missing/wrong.
LoaderState loader_state_from_json(const nlohmann::json& j, const std::string& origin);

struct Batch {
  Tensor tokens;            // [B, T] i32, CPU
  Tensor targets;           // [B, T] i32, CPU; ignore_index where no loss is taken
  int64_t num_targets = 0;  // targets != ignore_index (the loss is averaged over these)
  uint64_t epoch = 0;       // epoch the batch was drawn from
};

// The permutation of [0, n) used for `epoch` (portable: same on every platform).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch);

class SequenceLoader {
 public:
  SequenceLoader(PackedDataset data, const LoaderOptions& options);

  // Fills `out` with the next micro-batch. Train: always true. Eval: false after the last batch.
  bool next(Batch& out);
  void reset();  // Eval: back to the first batch. Train: back to the start of epoch 0.

  int64_t num_windows() const { return data_.num_windows(); }
  int64_t seq_len() const { return data_.seq_len(); }
  int64_t batch_size() const { return opt_.batch_size; }
  int64_t batches_per_epoch() const;  // per rank; eval: this rank's batch count (last may be partial)
  int64_t tokens_per_epoch() const;   // input tokens over all ranks (train: dropped windows excluded)
  const PackedDataset& dataset() const { return data_; }

  LoaderState state() const;
  void restore(const LoaderState& state);  // InputError when the state belongs to other data / seed

  void check_vocab(int32_t model_vocab_size) const { data_.check_vocab(model_vocab_size); }

 private:
  int64_t global_batch() const { return opt_.batch_size * opt_.world_size; }
  void start_epoch(uint64_t epoch);
  void advance_epoch_if_done();
  bool next_train(Batch& out);
  bool next_eval(Batch& out);
  Batch make_batch(const std::vector<int64_t>& windows) const;

  PackedDataset data_;
  LoaderOptions opt_;
  uint64_t epoch_ = 0;
  int64_t position_ = 0;
  std::vector<int64_t> order_;  // train: this epoch's permutation
};

}  // namespace temper

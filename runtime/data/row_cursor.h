// Where a loader of labelled rows stands in its data: the epoch, the epoch's seeded order of the N rows
// (train), the position, and this rank's rows of the next micro-batch (rank_slice.h). Shared by
// SequenceLoader, ClassificationLoader and ImageLoader, which only turn rows into tensors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/loader_state.h"

namespace temper {

class RowCursor {
 public:
  // InputError (naming `source`) on an empty data set (field `unit`), batch_size < 1, or (train) fewer
  // rows than one global batch; `unit` names the rows in messages ("examples", "images").
  RowCursor(int64_t num_rows, const LoaderOptions& options, std::string source, std::string unit);

  struct Rows {
    std::vector<int64_t> rows;  // this rank's rows of the micro-batch; empty: the eval pass is over
    uint64_t epoch = 0;         // the epoch they were drawn from
  };
  // Train: always a full batch (epochs advance by themselves). Eval: empty rows after the last batch.
  Rows next();
  void reset();  // Eval: back to the first batch. Train: back to the start of epoch 0.

  int64_t num_rows() const { return num_rows_; }
  int64_t batch_size() const { return opt_.batch_size; }
  const LoaderOptions& options() const { return opt_; }
  int64_t batches_per_epoch() const;  // per rank; eval: this rank's batch count (last may be partial)

  LoaderState state() const { return LoaderState{epoch_, position_, opt_.seed, num_rows_}; }
  void restore(const LoaderState& state);  // InputError when the state belongs to other data / seed

 private:
  int64_t global_batch() const { return opt_.batch_size * opt_.world_size; }
  void start_epoch(uint64_t epoch);
  void advance_epoch_if_done();

  int64_t num_rows_ = 0;
  LoaderOptions opt_;
  std::string source_, unit_;
  uint64_t epoch_ = 0;
  int64_t position_ = 0;        // train: rows of this epoch's order consumed by all ranks; eval: this rank's
  std::vector<int64_t> order_;  // train: this epoch's permutation
};

}  // namespace temper

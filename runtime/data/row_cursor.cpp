// RowCursor: option checks, the per-epoch order (epoch_permutation), rank slicing
// and resume (see row_cursor.h).
#include "runtime/data/row_cursor.h"

#include <utility>

#include "runtime/data/rank_slice.h"
#include "runtime/error.h"

namespace temper {

RowCursor::RowCursor(int64_t num_rows, const LoaderOptions& options, std::string source, std::string unit)
    : num_rows_(num_rows), opt_(options), source_(std::move(source)), unit_(std::move(unit)) {
  TEMPER_INPUT_CHECK(num_rows_ > 0, source_, unit_, "the data set is empty (no {} to batch)", unit_);
  TEMPER_INPUT_CHECK(opt_.batch_size >= 1, source_, "batch_size", "{} must be at least 1", opt_.batch_size);
  TEMPER_CHECK(opt_.world_size >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world_size, "rank {} of world size {}",
               opt_.rank, opt_.world_size);
  TEMPER_INPUT_CHECK(opt_.mode == LoaderMode::Eval || num_rows_ >= global_batch(), source_, "batch_size",
                     "the training set has {} {}, fewer than one batch of {} x {} rank(s)", num_rows_, unit_,
                     opt_.batch_size, opt_.world_size);
  reset();
}

void RowCursor::reset() {
  position_ = 0;
  epoch_ = 0;
  if (opt_.mode == LoaderMode::Train) start_epoch(0);
}

void RowCursor::start_epoch(uint64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  order_ = epoch_permutation(num_rows_, opt_.seed, epoch);
}

// Moves to the next epoch as soon as the current one has no complete global batch left, so the
// state saved between epochs reads (next epoch, 0).
void RowCursor::advance_epoch_if_done() {
  if (num_rows_ - position_ < global_batch()) start_epoch(epoch_ + 1);
}

int64_t RowCursor::batches_per_epoch() const {
  if (opt_.mode == LoaderMode::Train) return train_batches(num_rows_, opt_.batch_size, opt_.world_size);
  return eval_batches(num_rows_, opt_.batch_size, opt_.rank, opt_.world_size);
}

RowCursor::Rows RowCursor::next() {
  Rows r;
  r.epoch = epoch_;
  if (opt_.mode == LoaderMode::Train) {
    r.rows = train_rank_slice(order_, position_, opt_.batch_size, opt_.rank);
    position_ += global_batch();
    advance_epoch_if_done();
  } else {  // the eval position counts this rank's rows r, r + world, ...
    r.rows = eval_rank_slice(num_rows_, position_, opt_.batch_size, opt_.rank, opt_.world_size);
    position_ += static_cast<int64_t>(r.rows.size());
  }
  return r;
}

void RowCursor::restore(const LoaderState& s) {
  TEMPER_INPUT_CHECK(s.num_windows == num_rows_ && s.seed == opt_.seed, source_, "data loader state",
                     "saved for {} {} with seed {}, but this loader has {} {} with seed {} (the data or seed "
                     "changed since the checkpoint)",
                     s.num_windows, unit_, s.seed, num_rows_, unit_, opt_.seed);
  TEMPER_INPUT_CHECK(s.position >= 0 && s.position <= num_rows_, source_, "data loader state",
                     "position {} outside [0, {}]", s.position, num_rows_);
  if (opt_.mode == LoaderMode::Train) {
    start_epoch(s.epoch);
    position_ = s.position;
    advance_epoch_if_done();
  } else {
    epoch_ = s.epoch;
    position_ = s.position;
  }
}

}  // namespace temper

// ClassificationLoader: padded micro-batches of tokenized labelled examples as CPU i32 tensors, with a
// resumable position. The visiting order is RowCursor's, as SequenceLoader's with examples in place of
// windows:
// Train mode: each epoch is epoch_permutation(n, seed, epoch); a global batch is B x world_size
// consecutive entries of it and rank r takes entries [r*B, (r+1)*B); an incomplete last global batch
// is dropped; epochs follow one another without end.
// Eval mode: one pass in example order; rank r takes examples r, r + world_size, ...; the last batch
// may be smaller; next() returns false at the end (reset() starts over).
// Padding is dynamic: a batch is as long as its longest example (T), so short-text tasks do not pay
// for the tokenizer's maximum length. Padded positions hold pad_id (tokens) and 0 (token types);
// `lengths` tells the model where each row's real tokens end.
// The position is a LoaderState (num_windows = number of examples), saved with the same JSON forms.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/data/labelled_source.h"
#include "runtime/data/row_cursor.h"
#include "runtime/data/loader_state.h"
#include "runtime/tensor.h"

namespace temper {

// One tokenized example.
struct EncodedExample {
  std::vector<int32_t> ids;          // with [CLS]/[SEP], already truncated to the max length
  std::vector<int32_t> token_types;  // same length (all 0 for single sentences)
  int32_t label = 0;                 // class id, or kIgnoreLabel for a row that takes no loss
};

struct ClassificationBatch {
  Tensor tokens;            // [B, T] i32 CPU, T = longest example in the batch, padded with pad_id
  Tensor token_types;       // [B, T] i32 CPU, padded with 0
  Tensor lengths;           // [B] i32: real tokens per row
  Tensor labels;            // [B] i32
  int64_t num_targets = 0;  // rows whose label is not kIgnoreLabel (the loss is averaged over these)
  int64_t num_tokens = 0;   // sum of lengths (for throughput)
  uint64_t epoch = 0;       // epoch the batch was drawn from
};

class ClassificationLoader {
 public:
  static constexpr int32_t kIgnoreLabel = -100;

  // InputError on an empty data set, batch_size < 1 or (train) fewer examples than one global batch;
  // Error on a malformed example (empty ids, ids/token_types of different lengths).
  ClassificationLoader(std::vector<EncodedExample> data, int32_t pad_id, const LoaderOptions& options);

  // Fills `out` with the next micro-batch. Train: always true. Eval: false after the last batch.
  bool next(ClassificationBatch& out);
  void reset() { cursor_.reset(); }  // Eval: back to the first batch. Train: back to the start of epoch 0.

  int64_t num_examples() const { return static_cast<int64_t>(data_.size()); }
  int64_t batch_size() const { return cursor_.batch_size(); }
  int64_t batches_per_epoch() const { return cursor_.batches_per_epoch(); }  // per rank (eval: last may be partial)
  int32_t pad_id() const { return pad_id_; }

  LoaderState state() const { return cursor_.state(); }
  void restore(const LoaderState& state) { cursor_.restore(state); }  // InputError: other data / seed

 private:
  void check_data() const;
  ClassificationBatch make_batch(const std::vector<int64_t>& rows, uint64_t epoch) const;

  std::vector<EncodedExample> data_;
  int32_t pad_id_ = 0;
  RowCursor cursor_;  // after data_: built from its size
};

// Encodes every example with `encode` (e.g. a lambda around WordPieceTokenizer's
// encode_for_classification), keeping the order.
std::vector<EncodedExample> encode_examples(const std::vector<LabelledExample>& examples,
                                            const std::function<EncodedExample(const LabelledExample&)>& encode);

}  // namespace temper

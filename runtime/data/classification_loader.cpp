// ClassificationLoader: validation, the per-epoch order (SequenceLoader's epoch_permutation), rank
// slicing and dynamic padding (see classification_loader.h).
#include "runtime/data/classification_loader.h"

#include <algorithm>
#include <string>
#include <utility>

#include "runtime/data/rank_slice.h"
#include "runtime/error.h"

namespace temper {
namespace {

// Names the data in InputErrors: the loader sees encoded examples, not their file.
const char* const kSource = "classification data";

}  // namespace

ClassificationLoader::ClassificationLoader(std::vector<EncodedExample> data, int32_t pad_id,
                                           const LoaderOptions& options)
    : data_(std::move(data)), pad_id_(pad_id), opt_(options) {
  TEMPER_INPUT_CHECK(!data_.empty(), kSource, "examples", "the data set is empty (no examples to batch)");
  TEMPER_INPUT_CHECK(opt_.batch_size >= 1, kSource, "batch_size", "{} must be at least 1", opt_.batch_size);
  TEMPER_CHECK(opt_.world_size >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world_size, "rank {} of world size {}",
               opt_.rank, opt_.world_size);
  TEMPER_INPUT_CHECK(opt_.mode == LoaderMode::Eval || num_examples() >= global_batch(), kSource, "batch_size",
                     "the training set has {} examples, fewer than one batch of {} x {} rank(s)", num_examples(),
                     opt_.batch_size, opt_.world_size);
  check_data();
  reset();
}

void ClassificationLoader::check_data() const {
  for (size_t i = 0; i < data_.size(); ++i) {
    const EncodedExample& e = data_[i];
    TEMPER_CHECK(!e.ids.empty(), "example {} has no tokens", i);
    TEMPER_CHECK(e.ids.size() == e.token_types.size(), "example {} has {} ids but {} token types", i, e.ids.size(),
                 e.token_types.size());
  }
}

void ClassificationLoader::reset() {
  position_ = 0;
  epoch_ = 0;
  if (opt_.mode == LoaderMode::Train) start_epoch(0);
}

void ClassificationLoader::start_epoch(uint64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  order_ = epoch_permutation(num_examples(), opt_.seed, epoch);
}

// Moves to the next epoch as soon as the current one has no complete global batch left, so the
// state saved between epochs reads (next epoch, 0).
void ClassificationLoader::advance_epoch_if_done() {
  if (num_examples() - position_ < global_batch()) start_epoch(epoch_ + 1);
}

int64_t ClassificationLoader::batches_per_epoch() const {
  if (opt_.mode == LoaderMode::Train) return train_batches(num_examples(), opt_.batch_size, opt_.world_size);
  return eval_batches(num_examples(), opt_.batch_size, opt_.rank, opt_.world_size);
}

bool ClassificationLoader::next(ClassificationBatch& out) {
  return opt_.mode == LoaderMode::Train ? next_train(out) : next_eval(out);
}

bool ClassificationLoader::next_train(ClassificationBatch& out) {
  out = make_batch(train_rank_slice(order_, position_, opt_.batch_size, opt_.rank));
  position_ += global_batch();
  advance_epoch_if_done();
  return true;
}

// Eval position counts this rank's examples r, r + world, ...
bool ClassificationLoader::next_eval(ClassificationBatch& out) {
  const std::vector<int64_t> rows =
      eval_rank_slice(num_examples(), position_, opt_.batch_size, opt_.rank, opt_.world_size);
  if (rows.empty()) return false;
  out = make_batch(rows);
  position_ += static_cast<int64_t>(rows.size());
  return true;
}

ClassificationBatch ClassificationLoader::make_batch(const std::vector<int64_t>& rows) const {
  const auto B = static_cast<int64_t>(rows.size());
  int64_t T = 0;
  for (int64_t i : rows) T = std::max(T, static_cast<int64_t>(data_[static_cast<size_t>(i)].ids.size()));
  ClassificationBatch b;
  b.tokens = Tensor::empty({B, T}, DType::I32);
  b.token_types = Tensor::empty({B, T}, DType::I32);
  b.lengths = Tensor::empty({B}, DType::I32);
  b.labels = Tensor::empty({B}, DType::I32);
  b.epoch = epoch_;
  for (int64_t r = 0; r < B; ++r) {
    const EncodedExample& e = data_[static_cast<size_t>(rows[static_cast<size_t>(r)])];
    const auto len = static_cast<int64_t>(e.ids.size());
    int32_t* tok = b.tokens.data<int32_t>() + r * T;
    int32_t* typ = b.token_types.data<int32_t>() + r * T;
    std::copy(e.ids.begin(), e.ids.end(), tok);
    std::fill(tok + len, tok + T, pad_id_);
    std::copy(e.token_types.begin(), e.token_types.end(), typ);
    std::fill(typ + len, typ + T, 0);
    b.lengths.data<int32_t>()[r] = static_cast<int32_t>(len);
    b.labels.data<int32_t>()[r] = e.label;
    b.num_tokens += len;
    if (e.label != kIgnoreLabel) ++b.num_targets;
  }
  return b;
}

LoaderState ClassificationLoader::state() const { return LoaderState{epoch_, position_, opt_.seed, num_examples()}; }

void ClassificationLoader::restore(const LoaderState& s) {
  TEMPER_INPUT_CHECK(s.num_windows == num_examples() && s.seed == opt_.seed, kSource, "data loader state",
                     "saved for {} examples with seed {}, but this loader has {} examples with seed {} (the data "
                     "or seed changed since the checkpoint)",
                     s.num_windows, s.seed, num_examples(), opt_.seed);
  TEMPER_INPUT_CHECK(s.position >= 0 && s.position <= num_examples(), kSource, "data loader state",
                     "position {} outside [0, {}]", s.position, num_examples());
  if (opt_.mode == LoaderMode::Train) {
    start_epoch(s.epoch);
    position_ = s.position;
    advance_epoch_if_done();
  } else {
    epoch_ = s.epoch;
    position_ = s.position;
  }
}

std::vector<EncodedExample> encode_examples(const std::vector<LabelledExample>& examples,
                                            const std::function<EncodedExample(const LabelledExample&)>& encode) {
  std::vector<EncodedExample> out;
  out.reserve(examples.size());
  for (const LabelledExample& e : examples) out.push_back(encode(e));
  return out;
}

}  // namespace temper

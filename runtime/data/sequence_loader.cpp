// SequenceLoader: per-epoch permutations, batch assembly and the resumable position
// (see sequence_loader.h).
#include "runtime/data/sequence_loader.h"

#include <random>
#include <utility>

#include "runtime/data/rank_slice.h"
#include "runtime/error.h"

namespace temper {
namespace {

// splitmix64 finalizer: decorrelates nearby (seed, epoch) pairs before seeding the engine.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform integer in [0, bound) by rejection (std::uniform_int_distribution is
// implementation-defined, which would make the order depend on the standard library).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound: values below it are biased
  for (;;) {
    uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

// A non-negative integer field (JSON may hold it signed or unsigned).
uint64_t json_count(const nlohmann::json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  TEMPER_INPUT_CHECK(it != j.end(), origin, key, "missing from the data loader state");
  const bool ok = it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
  TEMPER_INPUT_CHECK(ok, origin, key, "must be a non-negative integer, got {}", it->dump());
  return it->get<uint64_t>();
}

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(mix64(seed ^ mix64(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

nlohmann::json loader_state_to_json(const LoaderState& s) {
  return {{"epoch", s.epoch}, {"position", s.position}, {"seed", s.seed}, {"num_windows", s.num_windows}};
}

LoaderState loader_state_from_json(const nlohmann::json& j, const std::string& origin) {
  TEMPER_INPUT_CHECK(j.is_object(), origin, "data loader state", "expected a JSON object, got {}", j.type_name());
  LoaderState s;
  s.epoch = json_count(j, "epoch", origin);
  s.position = static_cast<int64_t>(json_count(j, "position", origin));
  s.seed = json_count(j, "seed", origin);
  s.num_windows = static_cast<int64_t>(json_count(j, "num_windows", origin));
  return s;
}

SequenceLoader::SequenceLoader(PackedDataset data, const LoaderOptions& options)
    : data_(std::move(data)), opt_(options) {
  const std::string& src = data_.source_path();
  TEMPER_INPUT_CHECK(opt_.batch_size >= 1, src, "batch_size", "{} must be at least 1", opt_.batch_size);
  TEMPER_CHECK(opt_.world_size >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world_size, "rank {} of world size {}",
               opt_.rank, opt_.world_size);
  TEMPER_INPUT_CHECK(opt_.mode == LoaderMode::Eval || data_.num_windows() >= global_batch(), src, "batch_size",
                     "the training set has {} windows of seq_len + 1 = {} tokens, fewer than one batch of {} x {} "
                     "rank(s)",
                     data_.num_windows(), data_.seq_len() + 1, opt_.batch_size, opt_.world_size);
  reset();
}

void SequenceLoader::reset() {
  position_ = 0;
  if (opt_.mode == LoaderMode::Train) start_epoch(0);
}

void SequenceLoader::start_epoch(uint64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  order_ = epoch_permutation(data_.num_windows(), opt_.seed, epoch);
}

// Moves to the next epoch as soon as the current one has no complete global batch left, so the
// state saved between epochs reads (next epoch, 0).
void SequenceLoader::advance_epoch_if_done() {
  if (data_.num_windows() - position_ < global_batch()) start_epoch(epoch_ + 1);
}

int64_t SequenceLoader::batches_per_epoch() const {
  if (opt_.mode == LoaderMode::Train) return train_batches(data_.num_windows(), opt_.batch_size, opt_.world_size);
  return eval_batches(data_.num_windows(), opt_.batch_size, opt_.rank, opt_.world_size);
}

int64_t SequenceLoader::tokens_per_epoch() const {
  const int64_t windows =
      opt_.mode == LoaderMode::Train ? batches_per_epoch() * global_batch() : data_.num_windows();
  return windows * data_.seq_len();
}

bool SequenceLoader::next(Batch& out) { return opt_.mode == LoaderMode::Train ? next_train(out) : next_eval(out); }

bool SequenceLoader::next_train(Batch& out) {
  out = make_batch(train_rank_slice(order_, position_, opt_.batch_size, opt_.rank));
  position_ += global_batch();
  advance_epoch_if_done();
  return true;
}

// Eval position counts this rank's windows r, r + world, ...
bool SequenceLoader::next_eval(Batch& out) {
  const std::vector<int64_t> windows =
      eval_rank_slice(data_.num_windows(), position_, opt_.batch_size, opt_.rank, opt_.world_size);
  if (windows.empty()) return false;
  out = make_batch(windows);
  position_ += static_cast<int64_t>(windows.size());
  return true;
}

Batch SequenceLoader::make_batch(const std::vector<int64_t>& windows) const {
  const auto rows = static_cast<int64_t>(windows.size());
  const int64_t T = data_.seq_len();
  Batch b;
  b.tokens = Tensor::empty({rows, T}, DType::I32);
  b.targets = Tensor::empty({rows, T}, DType::I32);
  b.epoch = epoch_;
  int32_t* tok = b.tokens.data<int32_t>();
  int32_t* tgt = b.targets.data<int32_t>();
  for (int64_t r = 0; r < rows; ++r)
    b.num_targets += data_.fill_window(windows[static_cast<size_t>(r)], tok + r * T, tgt + r * T);
  return b;
}

LoaderState SequenceLoader::state() const { return LoaderState{epoch_, position_, opt_.seed, data_.num_windows()}; }

void SequenceLoader::restore(const LoaderState& s) {
  const std::string& src = data_.source_path();
  TEMPER_INPUT_CHECK(s.num_windows == data_.num_windows() && s.seed == opt_.seed, src, "data loader state",
                     "saved for {} windows with seed {}, but this loader has {} windows with seed {} (the data, "
                     "seq_len or seed changed since the checkpoint)",
                     s.num_windows, s.seed, data_.num_windows(), opt_.seed);
  TEMPER_INPUT_CHECK(s.position >= 0 && s.position <= data_.num_windows(), src, "data loader state",
                     "position {} outside [0, {}]", s.position, data_.num_windows());
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

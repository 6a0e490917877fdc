// Window packing, vocabulary checks and the train/validation split (see packed_dataset.h).
#include "runtime/data/packed_dataset.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace temper {
namespace {

void check_options(const PackingOptions& opt, const TokenizedSource& src) {
  TEMPER_INPUT_CHECK(opt.seq_len >= 1, src.source_path, "seq_len", "{} must be at least 1", opt.seq_len);
  TEMPER_INPUT_CHECK(opt.ignore_index < 0 || opt.ignore_index >= src.vocab_size, src.source_path, "ignore_index",
                     "{} is a valid token id of the vocabulary [0, {})", opt.ignore_index, src.vocab_size);
}

// Number of held-out windows: ceil(frac * W), at least 1; the small epsilon keeps products such
// as 0.3 * 10 = 3.0000000000000004 from rounding up to 4.
int64_t holdout_windows(double frac, int64_t total) {
  auto n = static_cast<int64_t>(std::ceil(frac * static_cast<double>(total) - 1e-9));
  return std::max<int64_t>(n, 1);
}

}  // namespace

PackedDataset::PackedDataset(std::shared_ptr<const TokenizedSource> source, const PackingOptions& options,
                             int64_t first_window, int64_t num_windows)
    : source_(std::move(source)), opt_(options), first_window_(first_window), num_windows_(num_windows) {
  TEMPER_CHECK(source_ != nullptr, "PackedDataset needs a source");
  check_options(opt_, *source_);
  int64_t total = count_windows(static_cast<int64_t>(source_->tokens.size()), opt_.seq_len);
  TEMPER_CHECK(first_window_ >= 0 && num_windows_ >= 0 && first_window_ + num_windows_ <= total,
               "windows [{}, {}) outside the {} windows of {}", first_window_, first_window_ + num_windows_, total,
               source_->source_path);
}

int64_t PackedDataset::count_windows(int64_t num_tokens, int64_t seq_len) {
  return num_tokens > seq_len ? (num_tokens - 1) / seq_len : 0;
}

int64_t PackedDataset::fill_window(int64_t i, int32_t* tokens, int32_t* targets) const {
  TEMPER_CHECK(i >= 0 && i < num_windows_, "window {} outside [0, {})", i, num_windows_);
  const int64_t T = opt_.seq_len;
  const auto start = static_cast<size_t>((first_window_ + i) * T);
  const int32_t* ids = source_->tokens.ids.data() + start;
  const uint8_t* mask = source_->tokens.mask.data() + start;
  int64_t counted = 0;
  for (int64_t t = 0; t < T; ++t) {
    tokens[t] = ids[t];
    targets[t] = mask[t + 1] ? ids[t + 1] : opt_.ignore_index;
    counted += mask[t + 1] ? 1 : 0;
  }
  return counted;
}

void PackedDataset::check_vocab(int32_t model_vocab_size) const {
  if (num_windows_ == 0) return;
  const auto begin = static_cast<size_t>(first_window_ * opt_.seq_len);
  const auto end = static_cast<size_t>((first_window_ + num_windows_) * opt_.seq_len + 1);
  const std::vector<int32_t>& ids = source_->tokens.ids;
  for (size_t p = begin; p < end; ++p)
    TEMPER_INPUT_CHECK(ids[p] < model_vocab_size, source_->source_path, "token id",
                       "id {} at token {} is outside the model's vocabulary of {} (does the tokenizer "
                       "belong to this model?)",
                       ids[p], p, model_vocab_size);
}

PackedDataset pack_windows(std::shared_ptr<const TokenizedSource> source, const PackingOptions& options) {
  TEMPER_CHECK(source != nullptr, "pack_windows needs a source");
  const auto n = static_cast<int64_t>(source->tokens.size());
  const int64_t windows = PackedDataset::count_windows(n, options.seq_len);
  TEMPER_INPUT_CHECK(windows > 0, source->source_path, "seq_len",
                     "the data set has {} tokens, fewer than seq_len + 1 = {} needed for one window", n,
                     options.seq_len + 1);
  return PackedDataset(std::move(source), options, 0, windows);
}

DatasetSplit split_holdout(std::shared_ptr<const TokenizedSource> source, const PackingOptions& options,
                           double val_fraction) {
  PackedDataset all = pack_windows(source, options);
  TEMPER_INPUT_CHECK(val_fraction >= 0.0 && val_fraction < 1.0, source->source_path, "val_fraction",
                     "{} must be in [0, 1)", val_fraction);
  if (val_fraction == 0.0) return DatasetSplit{all, std::nullopt};
  const int64_t total = all.num_windows();
  const int64_t val = holdout_windows(val_fraction, total);
  TEMPER_INPUT_CHECK(val < total, source->source_path, "val_fraction",
                     "holding out {} of {} windows (seq_len {}) leaves none for training", val, total,
                     options.seq_len);
  return DatasetSplit{PackedDataset(source, options, 0, total - val), PackedDataset(source, options, total - val, val)};
}

DatasetSplit load_datasets(const DataConfig& config, const Tokenizer& tokenizer) {
  const bool has_val_path = !config.val_path.empty();
  TEMPER_INPUT_CHECK(!has_val_path || config.val_fraction == 0.0, config.val_path, "val_fraction",
                     "give either a validation source or a held-out fraction ({}), not both", config.val_fraction);
  auto train = std::make_shared<const TokenizedSource>(load_tokens(config.train_path, tokenizer, config.cache));
  if (!has_val_path) return split_holdout(train, config.packing, config.val_fraction);
  auto val = std::make_shared<const TokenizedSource>(load_tokens(config.val_path, tokenizer, config.cache));
  return DatasetSplit{pack_windows(train, config.packing), pack_windows(val, config.packing)};
}

}  // namespace temper

// Packing a token stream into fixed-length training windows, and the train/validation split.
//
// Window convention: window i covers tokens [i*T, i*T + T + 1) of the stream — blocks of T+1
// tokens with stride T, so consecutive windows share one token (the last target of window i is the
// first input of window i+1). inputs = the first T tokens, targets = the last T (inputs shifted by
// one), so every token after the first is a target exactly once across the stream. A target whose
// loss mask is 0 (a prompt token) is replaced by the ignore index. The tail that does not fill a
// whole window is dropped: N tokens give floor((N - 1) / T) windows.
//
// Validation: either a separate source, or the last ceil(frac * W) windows held out (at least one
// when frac > 0, and at least one left for training). The held-out windows start at the last
// target token of the training part, so one token is seen by both (as a target, then an input).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/data/token_cache.h"

namespace temper {

struct PackingOptions {
  int64_t seq_len = 1024;      // T
  int32_t ignore_index = -100;  // target value where the loss mask is 0; must not be a valid id
};

// A contiguous range of windows over a shared tokenized source (train and validation views of
// one source share the tokens).
class PackedDataset {
 public:
  PackedDataset(std::shared_ptr<const TokenizedSource> source, const PackingOptions& options, int64_t first_window,
                int64_t num_windows);

  static int64_t count_windows(int64_t num_tokens, int64_t seq_len);  // floor((N - 1) / T), 0 if N <= T

  int64_t num_windows() const { return num_windows_; }
  int64_t seq_len() const { return opt_.seq_len; }
  int32_t ignore_index() const { return opt_.ignore_index; }
  const std::string& source_path() const { return source_->source_path; }

  // Writes window i's inputs and targets (tokens[T], targets[T]); returns its non-ignored targets.
  int64_t fill_window(int64_t i, int32_t* tokens, int32_t* targets) const;

  // InputError (file = source path, field "token id") when a token of this range is >= the model's
  // vocabulary size (e.g. a tokenizer that does not belong to the model).
  void check_vocab(int32_t model_vocab_size) const;

 private:
  std::shared_ptr<const TokenizedSource> source_;
  PackingOptions opt_;
  int64_t first_window_ = 0;
  int64_t num_windows_ = 0;
};

// All windows of a source; InputError when not even one window of T+1 tokens fits.
PackedDataset pack_windows(std::shared_ptr<const TokenizedSource> source, const PackingOptions& options);

struct DatasetSplit {
  PackedDataset train;
  std::optional<PackedDataset> val;  // empty when no validation was asked for
};

// Holds out the last ceil(val_fraction * W) windows (none when val_fraction == 0).
DatasetSplit split_holdout(std::shared_ptr<const TokenizedSource> source, const PackingOptions& options,
                           double val_fraction);

// Everything the trainer needs to build its data sets.
struct DataConfig {
  std::string train_path;
  std::string val_path;       // separate validation source; exclusive with val_fraction
  double val_fraction = 0.0;  // held-out fraction of the training windows, in [0, 1)
  TokenCacheOptions cache;
  PackingOptions packing;
};

// Loads (through the token cache), packs and splits the configured sources.
DatasetSplit load_datasets(const DataConfig& config, const Tokenizer& tokenizer);

}  // namespace temper

// Byte-level BPE tokenizer (GPT-2 family) producing exactly the ids HF `tokenizers` produces:
// added/special tokens are split out first, the rest is cut by the GPT-2 regex, each piece's
// bytes are mapped to printable code points and merged by rank. Loads an HF tokenizer.json,
// GPT-2's vocab.json (encoder.json) + merges.txt (vocab.bpe) (bpe_tokenizer_load.cpp) or a GGUF
// file's tokenizer.ggml.* metadata (bpe_tokenizer_gguf.cpp); writes an HF tokenizer.json and
// tokenizer_config.json (bpe_tokenizer_save.cpp).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/data/tokenizer.h"

namespace temper {

// ByteLevel pre-tokenizer `add_prefix_space`: prepend ' ' to each text segment (between added
// tokens) that does not start with one.
enum class PrefixSpace { kKeep, kAdd };
// ByteLevel pre-tokenizer `use_regex`: split with the GPT-2 regex, or BPE each segment whole.
enum class PreSplit { kGpt2Regex, kNone };
// HF `Digits` pre-tokenizer before the ByteLevel one (pre_tokenizer Sequence[Digits, ByteLevel]):
// none, each numeric char its own piece (`individual_digits: true`, SmolLM2, GGUF pre "smollm"),
// or runs of numeric chars (`individual_digits: false`).
enum class DigitSplit { kNone, kIndividual, kRuns };
// BPE `ignore_merges`: a piece that is itself in the vocabulary is emitted as is.
enum class MergePolicy { kAlways, kSkipIfInVocab };
// BPE `fuse_unk`: consecutive unknown bytes become one unk token.
enum class UnkPolicy { kEach, kFuse };

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;      // the match swallows whitespace on its left
  bool rstrip = false;      // ... and on its right
  bool normalized = false;  // matched in the second pass (after normalization, a no-op here)
};

// The validated contents of a tokenizer, as the loaders build it.
struct BpeModelData {
  std::unordered_map<std::string, int32_t> vocab;  // token (byte-mapped string) -> id
  std::vector<std::array<int32_t, 3>> merges;      // {left id, right id, merged id}, by rank
  std::vector<AddedToken> added;
  PrefixSpace prefix_space = PrefixSpace::kKeep;
  PreSplit pre_split = PreSplit::kGpt2Regex;
  DigitSplit digits = DigitSplit::kNone;
  MergePolicy merge_policy = MergePolicy::kAlways;
  UnkPolicy unk_policy = UnkPolicy::kEach;
  int32_t unk_id = -1;  // bytes missing from the vocabulary are dropped when -1 (as HF does)
  // End/begin-of-text ids when the source names them (GGUF tokenizer.ggml.eos_token_id, a
  // tokenizer_config.json next to tokenizer.json); -1: eos is guessed from the tokens, no bos.
  int32_t eos_id = -1;
  int32_t bos_id = -1;
  std::string chat_template;  // Jinja chat template when the source has one (GGUF), else ""
};

class GgufFile;

class BpeTokenizer : public Tokenizer {
 public:
  // HF tokenizer.json with a BPE model, ByteLevel pre-tokenizer and decoder, no normalizer.
  static std::unique_ptr<BpeTokenizer> from_tokenizer_json(const std::string& path);
  // GPT-2 style vocab.json + merges.txt; `<|endoftext|>`, when in the vocabulary, is a special
  // token (split out of the text), as in HF's GPT-2 tokenizer.
  static std::unique_ptr<BpeTokenizer> from_vocab_merges(const std::string& vocab_json,
                                                         const std::string& merges_txt);

  // The tokenizer in a GGUF file's metadata (llama.cpp layout): tokenizer.ggml.model "gpt2",
  // tokenizer.ggml.tokens / token_type / merges, eos/bos ids, tokenizer.ggml.pre choosing the
  // pre-tokenizer ("gpt2"/"default": GPT-2 regex; "smollm": Digits(individual) then the regex).
  // Control (3) tokens become special added tokens, user-defined (4) ones plain added tokens,
  // both matched whole in the text as HF does. InputError naming the file and key otherwise.
  static std::unique_ptr<BpeTokenizer> from_gguf(const GgufFile& file);

  explicit BpeTokenizer(BpeModelData data);

  // Writes an HF tokenizer.json (BPE model with vocab and merges, added_tokens, the pre-tokenizer
  // as loaded, ByteLevel decoder) that HF `tokenizers` loads and encodes identically.
  void save_tokenizer_json(const std::string& path) const;

  std::vector<int32_t> encode(const std::string& text) const override;
  // HF `decode(ids, skip_special_tokens=False)`: special tokens are kept, ill-formed UTF-8 (a
  // multi-byte char cut between ids) becomes U+FFFD. Throws temper::Error on an unknown id.
  std::string decode(const std::vector<int32_t>& ids) const override;
  // The raw bytes of the ids, without U+FFFD repair (for streaming output id by id).
  std::string decode_bytes(const std::vector<int32_t>& ids) const;
  int32_t vocab_size() const override { return static_cast<int32_t>(id_to_token_.size()); }
  int32_t eos_id() const override { return eos_id_; }
  int32_t bos_id() const { return data_.bos_id; }  // -1 when the source names none
  const std::string& chat_template() const { return data_.chat_template; }
  const BpeModelData& data() const { return data_; }

  int32_t token_to_id(const std::string& token) const;  // -1 when absent
  std::string id_to_token(int32_t id) const;             // throws temper::Error when unknown

 private:
  struct Merge {
    int32_t rank, merged_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  void encode_segment(std::string_view segment, std::vector<int32_t>& out) const;
  void encode_pretoken(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  std::vector<int32_t> bpe(std::string_view piece) const;
  void check_id(int32_t id) const;

  BpeModelData data_;
  std::unordered_map<uint64_t, Merge> merges_;  // pair_key(left, right) -> rank, merged id
  std::array<int32_t, 256> byte_id_{};          // id of each byte's one-char token, or -1
  std::vector<std::string> id_to_token_;        // by id; added tokens win over the model's
  std::vector<std::string> id_bytes_;           // what each id decodes to (HF ByteLevel rule)
  std::vector<char> id_known_;                  // whether an id is assigned at all
  std::unordered_map<std::string, int32_t> added_ids_;  // added token content -> id
  int32_t eos_id_ = -1;

  // Added tokens in the two HF matching passes, each indexed by first byte and sorted longest
  // first, so the first hit at a position is the leftmost-longest match.
  std::array<std::vector<const AddedToken*>, 256> first_pass_, second_pass_;

  static constexpr size_t kCacheMaxEntries = 1 << 18;
  static constexpr size_t kCacheMaxPieceBytes = 256;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;  // piece -> ids
};

// A tokenizer_config.json beside tokenizer.json, so that transformers' AutoTokenizer loads the
// directory: tokenizer_class PreTrainedTokenizerFast, bos/eos/unk/pad tokens, add_bos_token false,
// and `chat_template` when not empty. InputError naming `path` when it cannot be written.
void write_tokenizer_config_json(const std::string& path, const BpeTokenizer& tokenizer,
                                 const std::string& chat_template);

}  // namespace temper

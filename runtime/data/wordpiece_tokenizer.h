// WordPiece tokenizer (BERT family) producing exactly the ids HF `tokenizers` produces: added
// (special) tokens are split out of the raw text, the rest goes through the BertNormalizer
// (clean text, pad CJK, NFD + drop accents, lowercase; wordpiece_normalizer.cpp), the
// BertPreTokenizer (whitespace and punctuation) and greedy longest-match-first WordPiece with the
// "##" continuation prefix. encode_for_classification adds the post-processor's [CLS]/[SEP]
// template, type ids and HF's "longest_first" truncation. Loaders (wordpiece_tokenizer_load.cpp)
// read an HF tokenizer.json or a bare vocab.txt (+ tokenizer_config.json).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/data/bpe_tokenizer.h"  // AddedToken
#include "runtime/data/tokenizer.h"

namespace temper {

// The BertNormalizer steps, in the order HF runs them.
struct BertNormalizerConfig {
  bool enabled = true;               // false: no normalizer at all (tokenizer.json "normalizer": null)
  bool clean_text = true;            // drop controls, every whitespace -> ' '
  bool handle_chinese_chars = true;  // spaces around CJK ideographs
  bool strip_accents = true;         // NFD, then drop nonspacing marks (HF: null follows lowercase)
  bool lowercase = true;
};

// One item of a post-processor template: a special token (one or more ids) or sequence A / B.
struct TemplatePiece {
  enum class Kind { kSpecial, kSequenceA, kSequenceB };
  Kind kind = Kind::kSpecial;
  std::vector<int32_t> ids;  // kSpecial only
  int32_t type_id = 0;
};

// HF TemplateProcessing (BertProcessing is the template [CLS] $A [SEP] / [CLS] $A [SEP] $B:1
// [SEP]:1). Empty templates: no post-processor, nothing is added.
struct PostTemplate {
  std::vector<TemplatePiece> single, pair;
};

enum class PreTokenizerKind { kNone, kBert };
enum class DecoderKind { kJoinWithSpace, kWordPiece };  // no decoder: HF joins tokens with ' '
enum class CaseMode { kLowercase, kKeepCase };          // from_vocab_txt without a tokenizer_config.json
// decode: drop special tokens (HF's default) or keep them.
enum class SpecialTokens { kSkip, kKeep };
// One text, or a pair (A, B) as in sentence-pair classification.
enum class Sequences { kSingle, kPair };

// The validated contents of a WordPiece tokenizer, as the loaders build it.
struct WordPieceData {
  std::unordered_map<std::string, int32_t> vocab;  // model vocabulary: token -> id
  std::vector<AddedToken> added;                   // special / added tokens, matched whole
  std::string unk_token = "[UNK]";
  std::string prefix = "##";  // continuing_subword_prefix
  int64_t max_input_chars_per_word = 100;
  BertNormalizerConfig normalizer;
  PreTokenizerKind pre_tokenizer = PreTokenizerKind::kBert;
  PostTemplate post;
  DecoderKind decoder = DecoderKind::kWordPiece;
  std::string decoder_prefix = "##";
  bool decoder_cleanup = true;  // HF's cleanup of " ." " ," " n't" ... per token
  // Token names behind cls_id() / sep_id() / pad_id() / mask_id(); absent ones give -1.
  std::string cls_token = "[CLS]", sep_token = "[SEP]", pad_token = "[PAD]", mask_token = "[MASK]";
};

class WordPieceTokenizer : public Tokenizer {
 public:
  // What a classifier consumes: the template applied (e.g. [CLS] A [SEP] B [SEP]), after
  // truncation; token_type_ids are 0 for A's part and 1 for B's (as the template says).
  struct Encoding {
    std::vector<int32_t> ids;
    std::vector<int32_t> token_type_ids;
    int64_t length = 0;  // ids.size()
  };
  static constexpr int64_t kNoTruncation = -1;

  // HF tokenizer.json with a WordPiece model, BertNormalizer (or none), BertPreTokenizer (or
  // none), TemplateProcessing/BertProcessing (or none) and a WordPiece decoder (or none).
  // The file's own truncation/padding settings are ignored (encode_for_classification takes
  // max_len). InputError naming the file and field for anything else or anything malformed.
  static WordPieceTokenizer from_tokenizer_json(const std::string& path);
  // A BERT vocab.txt (one token per line, id = line number), converted as transformers'
  // BertTokenizerFast does. A tokenizer_config.json in the same directory supplies
  // do_lower_case (else `case_mode`), strip_accents, tokenize_chinese_chars and the names of
  // the unk/cls/sep/pad/mask tokens.
  static WordPieceTokenizer from_vocab_txt(const std::string& path, CaseMode case_mode = CaseMode::kLowercase);

  explicit WordPieceTokenizer(WordPieceData data);

  // Word pieces of `text`, no [CLS]/[SEP] (HF encode(text, add_special_tokens=False)). Special
  // tokens written in the text ("[SEP]") are still recognised, as HF does. Ill-formed UTF-8
  // becomes U+FFFD (which clean_text then drops).
  std::vector<int32_t> encode(const std::string& text) const override;
  // HF encode(a, b) with add_special_tokens=True and truncation to max_len (strategy
  // longest_first, direction right; kNoTruncation: none). `b` may be null (single sequence).
  // Throws temper::Error when 0 <= max_len < the number of special tokens the template adds
  // (HF then silently skips truncation).
  Encoding encode_for_classification(const std::string& a, const std::string* b, int64_t max_len) const;

  // HF decode(ids, skip_special_tokens=True): pieces joined, "##" glued, the WordPiece
  // decoder's cleanup. Throws temper::Error on an id that names no token.
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string decode(const std::vector<int32_t>& ids, SpecialTokens specials) const;

  int32_t vocab_size() const override { return static_cast<int32_t>(id_to_token_.size()); }
  int32_t eos_id() const override { return -1; }  // BERT has no end-of-text token
  int32_t cls_id() const { return cls_id_; }      // -1 when absent, as for the others
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t mask_id() const { return mask_id_; }
  // Number of ids the post-processor adds to one sequence / a pair (2 / 3 for BERT).
  int64_t num_special_tokens(Sequences kind) const;

  int32_t token_to_id(const std::string& token) const;  // -1 when absent
  std::string id_to_token(int32_t id) const;            // throws temper::Error when unknown
  // The tokens of encode(text), e.g. {"un", "##aff", "##able"}.
  std::vector<std::string> tokenize(const std::string& text) const;
  const WordPieceData& data() const { return data_; }

 private:
  void encode_plain(std::u32string text, std::vector<int32_t>& out) const;
  void encode_normalized(const std::u32string& text, std::vector<int32_t>& out) const;
  void encode_word(const std::u32string& word, std::vector<int32_t>& out) const;
  std::vector<int32_t> apply_template(const std::vector<TemplatePiece>& pieces, const std::vector<int32_t>& a,
                                      const std::vector<int32_t>& b, std::vector<int32_t>& type_ids) const;
  int32_t find_id(const std::string& token) const;
  const std::vector<TemplatePiece>& template_for(Sequences kind) const;
  void build_id_tables();
  void index_added_tokens();

  WordPieceData data_;
  std::vector<std::string> id_to_token_;  // by id; added tokens win over the model's
  std::vector<char> id_known_, id_special_;
  std::unordered_map<std::string, int32_t> added_ids_;
  // Added tokens (indices into data_.added) matched in the raw text / in the normalized text,
  // longest first, with their contents as code points (normalized for the second list).
  std::vector<size_t> raw_added_, normalized_added_;
  std::vector<std::u32string> raw_contents_, normalized_contents_;
  size_t max_token_bytes_ = 0;  // longest vocabulary entry
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1, mask_id_ = -1;
};

// BertNormalizer on a string of code points, step by step as HF (wordpiece_normalizer.cpp).
std::u32string bert_normalize(std::u32string text, const BertNormalizerConfig& config);
// BertPreTokenizer: split on whitespace (dropped) and around each punctuation char (kept).
std::vector<std::u32string> bert_pre_tokenize(const std::u32string& text);
// UTF-8 <-> code points (ill-formed UTF-8 -> U+FFFD).
std::u32string utf8_to_u32(std::string_view text);
std::string u32_to_utf8(std::u32string_view text);

}  // namespace temper

// WordPieceTokenizer encode/decode (loaders in wordpiece_tokenizer_load.cpp, normalizer in
// wordpiece_normalizer.cpp). Mirrors HF `tokenizers`: AddedVocabulary split on the raw text ->
// BertNormalizer -> split on normalized added tokens -> BertPreTokenizer -> WordPiece model ->
// truncation -> TemplateProcessing; decode through the WordPiece decoder.
#include "runtime/data/wordpiece_tokenizer.h"

#include <algorithm>

#include "runtime/data/byte_level.h"
#include "runtime/data/unicode_tables.h"
#include "runtime/error.h"

namespace temper {
namespace {

// A piece of a text: plain text (token == nullptr) or an added token.
struct Segment {
  size_t begin, end;
  const AddedToken* token;
};

// Start of the whitespace run that ends at `pos` (HF's lstrip).
size_t strip_left(std::u32string_view text, size_t pos) {
  while (pos > 0 && is_unicode_whitespace(text[pos - 1])) --pos;
  return pos;
}

// End of the whitespace run that starts at `pos` (HF's rstrip).
size_t strip_right(std::u32string_view text, size_t pos) {
  while (pos < text.size() && is_unicode_whitespace(text[pos])) ++pos;
  return pos;
}

// HF AddedVocabulary::find_matches: leftmost-longest matches of `patterns` (sorted longest
// first; tokens[k] is patterns[k]'s token), widened by lstrip/rstrip, with the text between
// them as plain segments.
std::vector<Segment> split_added(std::u32string_view text, const std::vector<AddedToken>& added,
                                 const std::vector<size_t>& tokens, const std::vector<std::u32string>& patterns) {
  std::vector<Segment> out;
  size_t done = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t k = 0;
    while (k < patterns.size() && text.compare(pos, patterns[k].size(), patterns[k]) != 0) ++k;
    if (k == patterns.size()) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + patterns[k].size();
    const AddedToken& token = added[tokens[k]];
    if (token.lstrip) start = std::max(done, strip_left(text, start));
    if (token.rstrip) stop = strip_right(text, stop);
    if (done < start) out.push_back({done, start, nullptr});
    out.push_back({start, stop, &token});
    done = pos = stop;
  }
  if (done < text.size()) out.push_back({done, text.size(), nullptr});
  return out;
}

// The WordPiece decoder's cleanup (HF decoders::wordpiece::cleanup), applied to each token.
std::string cleanup(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},   {" ?", "?"},           {" !", "!"},   {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    const std::string f = from, t = to;
    for (size_t pos = s.find(f); pos != std::string::npos; pos = s.find(f, pos + t.size())) {
      s.replace(pos, f.size(), t);
    }
  }
  return s;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// HF truncate_encodings with strategy LongestFirst, direction Right, stride 0.
void truncate_longest_first(std::vector<int32_t>& a, std::vector<int32_t>& b, Sequences kind, size_t max_len) {
  if (max_len == 0) {
    a.clear(), b.clear();
    return;
  }
  if (a.size() + b.size() <= max_len) return;
  if (kind == Sequences::kSingle) {
    a.resize(max_len);
    return;
  }
  size_t n1 = a.size(), n2 = b.size();
  const bool swap = n1 > n2;
  if (swap) std::swap(n1, n2);  // n1: the shorter
  n2 = n1 > max_len ? n1 : std::max(n1, max_len - n1);
  if (n1 + n2 > max_len) {
    n1 = max_len / 2;
    n2 = n1 + max_len % 2;
  }
  if (swap) std::swap(n1, n2);
  a.resize(std::min(a.size(), n1));
  b.resize(std::min(b.size(), n2));
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(WordPieceData data) : data_(std::move(data)) {
  build_id_tables();
  index_added_tokens();
  for (const auto* pieces : {&data_.post.single, &data_.post.pair}) {
    for (const TemplatePiece& p : *pieces) {
      for (int32_t id : p.ids)
        TEMPER_CHECK(id >= 0 && id < vocab_size() && id_known_[id], "template id {} names no token", id);
    }
  }
  auto unk = data_.vocab.find(data_.unk_token);
  TEMPER_CHECK(unk != data_.vocab.end(), "WordPiece unk token '{}' is not in the vocabulary", data_.unk_token);
  unk_id_ = unk->second;
  cls_id_ = find_id(data_.cls_token), sep_id_ = find_id(data_.sep_token);
  pad_id_ = find_id(data_.pad_token), mask_id_ = find_id(data_.mask_token);
}

// id -> token (added tokens win over the model's), which ids exist and which are special.
void WordPieceTokenizer::build_id_tables() {
  int32_t max_id = -1;
  for (const auto& [token, id] : data_.vocab) {
    TEMPER_CHECK(id >= 0, "negative id {} for '{}'", id, token);
    max_id = std::max(max_id, id);
  }
  for (const AddedToken& t : data_.added) {
    TEMPER_CHECK(t.id >= 0, "negative id {} for '{}'", t.id, t.content);
    max_id = std::max(max_id, t.id);
  }
  id_to_token_.resize(static_cast<size_t>(max_id) + 1);
  id_known_.assign(id_to_token_.size(), 0);
  id_special_.assign(id_to_token_.size(), 0);
  for (const auto& [token, id] : data_.vocab) {
    id_to_token_[id] = token, id_known_[id] = 1;
    max_token_bytes_ = std::max(max_token_bytes_, token.size());
  }
  for (const AddedToken& t : data_.added) {
    id_to_token_[t.id] = t.content, id_known_[t.id] = 1, id_special_[t.id] = t.special;
    added_ids_[t.content] = t.id;
  }
}

// The added tokens of each matching pass, longest pattern first, with their patterns: the raw
// content for the first pass, the normalized content for the second (HF normalizes those).
void WordPieceTokenizer::index_added_tokens() {
  std::vector<std::u32string> patterns;
  for (const AddedToken& t : data_.added) {
    const std::u32string chars = utf8_to_u32(t.content);
    patterns.push_back(t.normalized ? bert_normalize(chars, data_.normalizer) : chars);
  }
  std::vector<size_t> order(data_.added.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return patterns[x].size() > patterns[y].size(); });
  for (size_t i : order) {
    if (patterns[i].empty()) continue;
    (data_.added[i].normalized ? normalized_added_ : raw_added_).push_back(i);
    (data_.added[i].normalized ? normalized_contents_ : raw_contents_).push_back(patterns[i]);
  }
}

int32_t WordPieceTokenizer::find_id(const std::string& token) const {
  if (auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
  if (auto it = data_.vocab.find(token); it != data_.vocab.end()) return it->second;
  return -1;
}

int32_t WordPieceTokenizer::token_to_id(const std::string& token) const { return find_id(token); }

std::string WordPieceTokenizer::id_to_token(int32_t id) const {
  TEMPER_CHECK(id >= 0 && id < vocab_size() && id_known_[id], "token id {} is not in the vocabulary", id);
  return id_to_token_[id];
}

std::vector<int32_t> WordPieceTokenizer::encode(const std::string& text) const {
  const std::u32string chars = utf8_to_u32(text);
  std::vector<int32_t> out;
  for (const Segment& s : split_added(chars, data_.added, raw_added_, raw_contents_)) {
    if (s.token) {
      out.push_back(s.token->id);
    } else {
      encode_plain(chars.substr(s.begin, s.end - s.begin), out);
    }
  }
  return out;
}

void WordPieceTokenizer::encode_plain(std::u32string text, std::vector<int32_t>& out) const {
  const std::u32string normalized = bert_normalize(std::move(text), data_.normalizer);
  if (normalized_added_.empty()) {
    encode_normalized(normalized, out);
    return;
  }
  for (const Segment& s : split_added(normalized, data_.added, normalized_added_, normalized_contents_)) {
    if (s.token) {
      out.push_back(s.token->id);
    } else {
      encode_normalized(normalized.substr(s.begin, s.end - s.begin), out);
    }
  }
}

void WordPieceTokenizer::encode_normalized(const std::u32string& text, std::vector<int32_t>& out) const {
  if (data_.pre_tokenizer == PreTokenizerKind::kNone) {
    if (!text.empty()) encode_word(text, out);
    return;
  }
  for (const std::u32string& word : bert_pre_tokenize(text)) encode_word(word, out);
}

// HF WordPiece::tokenize: greedy longest match from the left; a word with an unmatched rest, or
// longer than max_input_chars_per_word chars, is one unk.
void WordPieceTokenizer::encode_word(const std::u32string& word, std::vector<int32_t>& out) const {
  if (static_cast<int64_t>(word.size()) > data_.max_input_chars_per_word) {
    out.push_back(unk_id_);
    return;
  }
  std::string utf8;
  std::vector<size_t> bounds{0};  // byte offset of each char boundary
  for (char32_t c : word) append_utf8(utf8, c), bounds.push_back(utf8.size());
  const size_t first = out.size();
  std::string candidate;
  for (size_t start = 0, n = word.size(); start < n;) {
    int32_t id = -1;
    size_t end = n;
    for (; end > start; --end) {
      const size_t prefix = start > 0 ? data_.prefix.size() : 0;
      if (prefix + bounds[end] - bounds[start] > max_token_bytes_) continue;
      candidate.assign(start > 0 ? data_.prefix : std::string());
      candidate.append(utf8, bounds[start], bounds[end] - bounds[start]);
      if (auto it = data_.vocab.find(candidate); it != data_.vocab.end()) {
        id = it->second;
        break;
      }
    }
    if (id < 0) {
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(id);
    start = end;
  }
}

const std::vector<TemplatePiece>& WordPieceTokenizer::template_for(Sequences kind) const {
  return kind == Sequences::kPair ? data_.post.pair : data_.post.single;
}

int64_t WordPieceTokenizer::num_special_tokens(Sequences kind) const {
  int64_t n = 0;
  for (const TemplatePiece& p : template_for(kind)) n += static_cast<int64_t>(p.ids.size());
  return n;
}

std::vector<int32_t> WordPieceTokenizer::apply_template(const std::vector<TemplatePiece>& pieces,
                                                        const std::vector<int32_t>& a, const std::vector<int32_t>& b,
                                                        std::vector<int32_t>& type_ids) const {
  std::vector<int32_t> ids;
  for (const TemplatePiece& p : pieces) {
    const std::vector<int32_t>& part = p.kind == TemplatePiece::Kind::kSpecial     ? p.ids
                                       : p.kind == TemplatePiece::Kind::kSequenceA ? a
                                                                                   : b;
    ids.insert(ids.end(), part.begin(), part.end());
    type_ids.insert(type_ids.end(), part.size(), p.type_id);
  }
  return ids;
}

WordPieceTokenizer::Encoding WordPieceTokenizer::encode_for_classification(const std::string& a, const std::string* b,
                                                                           int64_t max_len) const {
  const Sequences kind = b ? Sequences::kPair : Sequences::kSingle;
  std::vector<int32_t> ids_a = encode(a), ids_b = b ? encode(*b) : std::vector<int32_t>();
  if (max_len != kNoTruncation) {
    const int64_t specials = num_special_tokens(kind);
    TEMPER_CHECK(max_len >= specials, "max_len {} leaves no room for the {} special tokens", max_len, specials);
    truncate_longest_first(ids_a, ids_b, kind, static_cast<size_t>(max_len - specials));
  }
  Encoding enc;
  const std::vector<TemplatePiece>& pieces = template_for(kind);
  if (pieces.empty()) {  // no post-processor: A then B, type ids 0 and 1 (HF default_process)
    enc.ids = ids_a;
    enc.ids.insert(enc.ids.end(), ids_b.begin(), ids_b.end());
    enc.token_type_ids.assign(ids_a.size(), 0);
    enc.token_type_ids.insert(enc.token_type_ids.end(), ids_b.size(), 1);
  } else {
    enc.ids = apply_template(pieces, ids_a, ids_b, enc.token_type_ids);
  }
  enc.length = static_cast<int64_t>(enc.ids.size());
  return enc;
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  return decode(ids, SpecialTokens::kSkip);
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids, SpecialTokens specials) const {
  std::vector<std::string> tokens;
  for (int32_t id : ids) {
    std::string token = id_to_token(id);
    if (specials == SpecialTokens::kSkip && id_special_[id]) continue;
    tokens.push_back(std::move(token));
  }
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string token = std::move(tokens[i]);
    if (data_.decoder == DecoderKind::kJoinWithSpace) {
      out += (i ? " " : "") + token;
      continue;
    }
    if (i != 0) {
      token = starts_with(token, data_.decoder_prefix) ? token.substr(data_.decoder_prefix.size()) : " " + token;
    }
    out += data_.decoder_cleanup ? cleanup(std::move(token)) : token;
  }
  return out;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> tokens;
  for (int32_t id : encode(text)) tokens.push_back(id_to_token_[id]);
  return tokens;
}

}  // namespace temper

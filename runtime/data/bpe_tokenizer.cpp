// BpeTokenizer encode/decode (loaders in bpe_tokenizer_load.cpp). Mirrors HF `tokenizers`:
// AddedVocabulary split (two passes) -> ByteLevel pre-tokenizer -> BPE model -> ByteLevel
// decoder.
#include "runtime/data/bpe_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <queue>

#include "runtime/data/byte_level.h"
#include "runtime/data/pretokenizer.h"
#include "runtime/data/unicode_tables.h"
#include "runtime/error.h"

namespace temper {
namespace {

// A piece of the text: plain text (token == nullptr) or an added token with its strip span.
struct Segment {
  size_t begin, end;
  const AddedToken* token;
};

using AddedIndex = std::array<std::vector<const AddedToken*>, 256>;

// The longest added token whose content starts at text[pos], or nullptr.
const AddedToken* longest_at(std::string_view text, size_t pos, const AddedIndex& index) {
  for (const AddedToken* t : index[static_cast<unsigned char>(text[pos])]) {
    if (text.compare(pos, t->content.size(), t->content) == 0) return t;
  }
  return nullptr;
}

// Start of the whitespace run that ends at `pos` (HF's lstrip).
size_t strip_left(std::string_view text, size_t pos) {
  while (pos > 0) {
    size_t q = pos - 1;
    while (q > 0 && (static_cast<unsigned char>(text[q]) & 0xC0) == 0x80 && pos - q < 4) --q;
    const Utf8Char c = decode_utf8(text, q);
    if (!c.valid || q + c.len != pos || !is_unicode_whitespace(c.cp)) break;
    pos = q;
  }
  return pos;
}

// End of the whitespace run that starts at `pos` (HF's rstrip).
size_t strip_right(std::string_view text, size_t pos) {
  while (pos < text.size()) {
    const Utf8Char c = decode_utf8(text, pos);
    if (!c.valid || !is_unicode_whitespace(c.cp)) break;
    pos += c.len;
  }
  return pos;
}

// HF AddedVocabulary::find_matches: leftmost-longest matches, extended by lstrip/rstrip,
// with the text between them as plain segments.
std::vector<Segment> split_added(std::string_view text, const AddedIndex& index) {
  std::vector<Segment> out;
  size_t done = 0;  // end of the last segment pushed
  for (size_t pos = 0; pos < text.size();) {
    const AddedToken* hit = longest_at(text, pos, index);
    if (!hit) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + hit->content.size();
    if (hit->lstrip) start = std::max(done, strip_left(text, start));
    if (hit->rstrip) stop = strip_right(text, stop);
    if (done < start) out.push_back({done, start, nullptr});
    out.push_back({start, stop, hit});
    done = pos = stop;
  }
  if (done < text.size()) out.push_back({done, text.size(), nullptr});
  return out;
}

// What a token decodes to under HF's ByteLevel decoder: the bytes its chars stand for when
// all of them are in the byte map, else the token's own UTF-8 (e.g. an added "hello world").
std::string token_bytes(const std::string& token) {
  std::string bytes;
  for (size_t pos = 0; pos < token.size();) {
    const Utf8Char c = decode_utf8(token, pos);
    const int b = c.valid ? unicode_to_byte(c.cp) : -1;
    if (b < 0) return token;
    bytes += static_cast<char>(b);
    pos += c.len;
  }
  return bytes;
}

// A doubly linked list of symbols (one per byte at first; merging folds right into left).
struct Symbol {
  int32_t id, prev, next;
  bool alive;
};

// The piece's bytes as their one-char tokens. A byte missing from the vocabulary becomes the
// unk token (consecutive ones fused with UnkPolicy::kFuse) or, without one, is dropped, as in HF.
std::vector<Symbol> byte_symbols(std::string_view piece, const std::array<int32_t, 256>& byte_id,
                                 int32_t unk_id, UnkPolicy unk_policy) {
  std::vector<Symbol> syms;
  syms.reserve(piece.size());
  bool prev_unk = false;
  for (char ch : piece) {
    int32_t id = byte_id[static_cast<unsigned char>(ch)];
    const bool unk = id < 0;
    if (unk && (unk_id < 0 || (prev_unk && unk_policy == UnkPolicy::kFuse))) continue;
    if (unk) id = unk_id;
    prev_unk = unk;
    const auto n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, -1, true});
    if (n > 0) syms[n - 1].next = n;
  }
  return syms;
}

bool looks_like_eos(const std::string& content) {
  std::string lower;
  for (char ch : content) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower == "</s>" || lower.find("eos") != std::string::npos ||
         lower.find("endoftext") != std::string::npos ||
         lower.find("end_of_text") != std::string::npos;
}

// One pass's index: by first byte, longest first (ties: earlier in the list first).
void index_added(const std::vector<AddedToken>& added, bool normalized, AddedIndex& index) {
  for (const AddedToken& t : added) {
    if (t.normalized == normalized && !t.content.empty()) {
      index[static_cast<unsigned char>(t.content[0])].push_back(&t);
    }
  }
  for (auto& list : index) {
    std::stable_sort(list.begin(), list.end(), [](const AddedToken* a, const AddedToken* b) {
      return a->content.size() > b->content.size();
    });
  }
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeModelData data) : data_(std::move(data)) {
  int32_t max_id = -1;
  for (const auto& [token, id] : data_.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& t : data_.added) max_id = std::max(max_id, t.id);
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  id_known_.assign(id_to_token_.size(), 0);
  for (const auto& [token, id] : data_.vocab) {
    TEMPER_CHECK(id >= 0 && !id_known_[id], "vocabulary id {} of '{}' is invalid or repeated", id,
                 token);
    id_to_token_[id] = token, id_known_[id] = 1;
  }
  for (const AddedToken& t : data_.added) {
    TEMPER_CHECK(t.id >= 0 && !t.content.empty(), "added token '{}' has no id", t.content);
    TEMPER_CHECK(!id_known_[t.id] || data_.vocab.count(t.content), "added token '{}' reuses id {}",
                 t.content, t.id);
    id_to_token_[t.id] = t.content, id_known_[t.id] = 1;
    added_ids_[t.content] = t.id;
  }
  id_bytes_.resize(id_to_token_.size());
  for (size_t id = 0; id < id_to_token_.size(); ++id) id_bytes_[id] = token_bytes(id_to_token_[id]);

  for (size_t rank = 0; rank < data_.merges.size(); ++rank) {
    const auto& [a, b, merged] = data_.merges[rank];
    for (int32_t id : {a, b, merged}) {
      TEMPER_CHECK(id >= 0 && id < vocab_size() && id_known_[id], "merge {} uses unknown id {}",
                   rank, id);
    }
    merges_[pair_key(a, b)] = {static_cast<int32_t>(rank), merged};  // a repeated pair: last wins
  }
  for (int b = 0; b < 256; ++b) {
    auto it = data_.vocab.find(byte_to_unicode(static_cast<unsigned char>(b)));
    byte_id_[b] = it == data_.vocab.end() ? -1 : it->second;
  }
  index_added(data_.added, false, first_pass_);
  index_added(data_.added, true, second_pass_);

  if (data_.bos_id >= 0) check_id(data_.bos_id);
  if (data_.eos_id >= 0) {
    check_id(data_.eos_id);
    eos_id_ = data_.eos_id;
    return;
  }
  eos_id_ = token_to_id("<|endoftext|>");
  for (const AddedToken& t : data_.added) {
    if (eos_id_ < 0 && t.special && looks_like_eos(t.content)) eos_id_ = t.id;
  }
}

int32_t BpeTokenizer::token_to_id(const std::string& token) const {
  if (auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
  if (auto it = data_.vocab.find(token); it != data_.vocab.end()) return it->second;
  return -1;
}

void BpeTokenizer::check_id(int32_t id) const {
  TEMPER_CHECK(id >= 0 && id < vocab_size() && id_known_[id],
               "token id {} is not in the vocabulary (ids 0..{})", id, vocab_size() - 1);
}

std::string BpeTokenizer::id_to_token(int32_t id) const {
  check_id(id);
  return id_to_token_[id];
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> out;
  const std::string_view all(text);
  // Pass 1: added tokens matched on the raw text; pass 2: the "normalized" ones, matched in
  // what is left (no normalizer is supported, so that text is unchanged).
  for (const Segment& s : split_added(all, first_pass_)) {
    if (s.token) {
      out.push_back(s.token->id);
      continue;
    }
    const std::string_view rest = all.substr(s.begin, s.end - s.begin);
    for (const Segment& t : split_added(rest, second_pass_)) {
      if (t.token) {
        out.push_back(t.token->id);
      } else {
        encode_segment(rest.substr(t.begin, t.end - t.begin), out);
      }
    }
  }
  return out;
}

void BpeTokenizer::encode_segment(std::string_view segment, std::vector<int32_t>& out) const {
  if (data_.digits == DigitSplit::kNone) {
    encode_pretoken(segment, out);
    return;
  }
  // HF Sequence[Digits, ByteLevel]: ByteLevel (prefix space, regex) runs on each Digits piece.
  std::vector<TextSpan> pieces;
  digits_split(segment, data_.digits == DigitSplit::kIndividual, pieces);
  for (const TextSpan& p : pieces) encode_pretoken(segment.substr(p.begin, p.end - p.begin), out);
}

// HF ByteLevel pre-tokenizer on one piece, then BPE on each of its pieces.
void BpeTokenizer::encode_pretoken(std::string_view segment, std::vector<int32_t>& out) const {
  std::string prefixed;
  if (data_.prefix_space == PrefixSpace::kAdd && segment[0] != ' ') {
    prefixed.reserve(segment.size() + 1);
    prefixed += ' ';
    prefixed += segment;
    segment = prefixed;
  }
  if (data_.pre_split == PreSplit::kNone) {
    encode_piece(segment, out);
    return;
  }
  std::vector<TextSpan> spans;
  gpt2_split(segment, spans);
  for (const TextSpan& s : spans) encode_piece(segment.substr(s.begin, s.end - s.begin), out);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() > kCacheMaxPieceBytes) {
    const std::vector<int32_t> ids = bpe(piece);
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }
  std::string key(piece);
  {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = bpe(piece);
  out.insert(out.end(), ids.begin(), ids.end());
  std::unique_lock lock(cache_mutex_);
  if (cache_.size() < kCacheMaxEntries) cache_.emplace(std::move(key), std::move(ids));
}

// HF Word::merge_all: repeatedly merge the adjacent pair with the lowest (rank, position),
// via a min-heap over a linked list of symbols, so long pieces stay O(n log n).
std::vector<int32_t> BpeTokenizer::bpe(std::string_view piece) const {
  if (data_.merge_policy == MergePolicy::kSkipIfInVocab) {
    std::string mapped;
    for (char ch : piece) mapped += byte_to_unicode(static_cast<unsigned char>(ch));
    if (auto it = data_.vocab.find(mapped); it != data_.vocab.end()) return {it->second};
  }
  std::vector<Symbol> syms = byte_symbols(piece, byte_id_, data_.unk_id, data_.unk_policy);
  struct Candidate {
    int32_t rank, pos, merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push_pair = [&](int32_t pos) {
    const int32_t next = syms[pos].next;
    if (next < 0) return;
    auto it = merges_.find(pair_key(syms[pos].id, syms[next].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.merged_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& s = syms[c.pos];
    if (!s.alive || s.next < 0) continue;
    Symbol& right = syms[s.next];
    auto it = merges_.find(pair_key(s.id, right.id));
    if (it == merges_.end() || it->second.merged_id != c.merged_id) continue;  // stale entry
    s.id = c.merged_id;
    right.alive = false;
    s.next = right.next;
    if (s.next >= 0) syms[s.next].prev = c.pos;
    if (s.prev >= 0) push_pair(s.prev);
    push_pair(c.pos);
  }
  std::vector<int32_t> ids;
  for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
  return ids;
}

std::string BpeTokenizer::decode_bytes(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    check_id(id);
    out += id_bytes_[id];
  }
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  return utf8_lossy(decode_bytes(ids));
}

}  // namespace temper

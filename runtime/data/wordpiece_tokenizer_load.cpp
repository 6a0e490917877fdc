// WordPieceTokenizer loaders: an HF tokenizer.json (WordPiece model) and a bare BERT vocab.txt
// (+ tokenizer_config.json). Files are untrusted: every field is type-checked, ids must be
// non-negative, distinct and name known tokens, and anything HF would tokenize differently from
// what WordPieceTokenizer implements (another model, normalizer, pre-tokenizer, post-processor
// or decoder type; single_word added tokens) is an InputError naming the file and the field.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "runtime/data/byte_level.h"
#include "runtime/data/wordpiece_tokenizer.h"
#include "runtime/error.h"

namespace temper {
namespace {

using nlohmann::json;
using Vocab = std::unordered_map<std::string, int32_t>;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TEMPER_INPUT_CHECK(in.good(), path, "file", "cannot open file");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw InputError(path, "json", fmt::format("invalid JSON: {}", e.what()));
  }
}

// obj[key] as a bool; `fallback` when absent or null.
bool get_bool(const json& obj, const char* key, bool fallback, const std::string& file, const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  TEMPER_INPUT_CHECK(it->is_boolean(), file, field + key, "expected true/false, got {}", it->dump());
  return it->get<bool>();
}

// obj[key] as a string; `fallback` when absent or null.
std::string get_string(const json& obj, const char* key, const std::string& fallback, const std::string& file,
                       const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  TEMPER_INPUT_CHECK(it->is_string(), file, field + key, "expected a string, got {}", it->dump());
  return it->get<std::string>();
}

int32_t get_id(const json& v, const std::string& file, const std::string& field) {
  TEMPER_INPUT_CHECK(
      v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < std::numeric_limits<int32_t>::max(), file,
      field, "expected a token id (integer >= 0), got {}", v.dump());
  return static_cast<int32_t>(v.get<int64_t>());
}

// The "type" of a component object, or "" for null/absent components.
std::string component_type(const json& root, const char* key, const std::string& file) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return "";
  TEMPER_INPUT_CHECK(it->is_object(), file, key, "expected an object or null, got {}", it->dump());
  return get_string(*it, "type", "", file, std::string(key) + ".");
}

Vocab parse_vocab(const json& j, const std::string& file) {
  TEMPER_INPUT_CHECK(j.is_object(), file, "model.vocab", "expected an object {{token: id}}");
  Vocab vocab;
  std::unordered_map<int32_t, std::string> by_id;
  for (const auto& [token, value] : j.items()) {
    const int32_t id = get_id(value, file, "model.vocab[" + token + "]");
    auto [it, fresh] = by_id.emplace(id, token);
    TEMPER_INPUT_CHECK(fresh, file, "model.vocab", "duplicate id {} for tokens '{}' and '{}'", id, it->second, token);
    vocab.emplace(token, id);
  }
  TEMPER_INPUT_CHECK(!vocab.empty(), file, "model.vocab", "the vocabulary is empty");
  return vocab;
}

void parse_model(const json& root, const std::string& file, WordPieceData& d) {
  auto it = root.find("model");
  TEMPER_INPUT_CHECK(it != root.end() && it->is_object(), file, "model", "missing or not an object");
  const json& m = *it;
  const std::string type = get_string(m, "type", "", file, "model.");
  TEMPER_INPUT_CHECK(type == "WordPiece", file, "model.type", "expected \"WordPiece\", got \"{}\"", type);
  TEMPER_INPUT_CHECK(m.contains("vocab"), file, "model.vocab", "missing");
  d.vocab = parse_vocab(m["vocab"], file);
  d.unk_token = get_string(m, "unk_token", "[UNK]", file, "model.");
  TEMPER_INPUT_CHECK(d.vocab.count(d.unk_token), file, "model.unk_token", "'{}' is not in the vocabulary", d.unk_token);
  d.prefix = get_string(m, "continuing_subword_prefix", "##", file, "model.");
  if (auto mc = m.find("max_input_chars_per_word"); mc != m.end() && !mc->is_null()) {
    TEMPER_INPUT_CHECK(mc->is_number_integer() && mc->get<int64_t>() > 0, file, "model.max_input_chars_per_word",
                       "expected a positive integer, got {}", mc->dump());
    d.max_input_chars_per_word = mc->get<int64_t>();
  }
}

AddedToken parse_added_token(const json& t, const std::string& file, const std::string& field) {
  TEMPER_INPUT_CHECK(t.is_object(), file, field, "expected an object");
  AddedToken a;
  TEMPER_INPUT_CHECK(t.contains("id"), file, field + ".id", "missing");
  a.id = get_id(t["id"], file, field + ".id");
  a.content = get_string(t, "content", "", file, field + ".");
  TEMPER_INPUT_CHECK(!a.content.empty() && utf8_lossy(a.content) == a.content, file, field + ".content",
                     "expected a non-empty UTF-8 string");
  a.special = get_bool(t, "special", false, file, field + ".");
  a.lstrip = get_bool(t, "lstrip", false, file, field + ".");
  a.rstrip = get_bool(t, "rstrip", false, file, field + ".");
  a.normalized = get_bool(t, "normalized", !a.special, file, field + ".");
  TEMPER_INPUT_CHECK(!get_bool(t, "single_word", false, file, field + "."), file, field + ".single_word",
                     "single_word added tokens are not supported");
  return a;
}

// added_tokens: ids and contents distinct; a token also in the vocabulary keeps its id there.
std::vector<AddedToken> parse_added_tokens(const json& root, const Vocab& vocab, const std::string& file) {
  std::vector<AddedToken> added;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return added;
  TEMPER_INPUT_CHECK(it->is_array(), file, "added_tokens", "expected an array");
  std::unordered_map<int32_t, std::string> by_id;
  for (const auto& [token, id] : vocab) by_id.emplace(id, token);
  std::unordered_map<std::string, int32_t> seen;
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string field = fmt::format("added_tokens[{}]", i);
    AddedToken a = parse_added_token((*it)[i], file, field);
    auto v = by_id.find(a.id);
    TEMPER_INPUT_CHECK(v == by_id.end() || v->second == a.content, file, field + ".id", "id {} of '{}' belongs to '{}'",
                       a.id, a.content, v == by_id.end() ? "" : v->second);
    TEMPER_INPUT_CHECK(!vocab.count(a.content) || vocab.at(a.content) == a.id, file, field + ".id",
                       "'{}' has id {} in the vocabulary, not {}", a.content,
                       vocab.count(a.content) ? vocab.at(a.content) : -1, a.id);
    TEMPER_INPUT_CHECK(seen.emplace(a.content, a.id).second, file, field, "duplicate added token '{}'", a.content);
    by_id.emplace(a.id, a.content);
    added.push_back(std::move(a));
  }
  return added;
}

BertNormalizerConfig parse_normalizer(const json& root, const std::string& file) {
  BertNormalizerConfig c;
  const std::string type = component_type(root, "normalizer", file);
  if (type.empty()) {
    c.enabled = false;
    return c;
  }
  TEMPER_INPUT_CHECK(type == "BertNormalizer", file, "normalizer.type",
                     "expected \"BertNormalizer\" or null, got \"{}\"", type);
  const json& n = root["normalizer"];
  c.clean_text = get_bool(n, "clean_text", true, file, "normalizer.");
  c.handle_chinese_chars = get_bool(n, "handle_chinese_chars", true, file, "normalizer.");
  c.lowercase = get_bool(n, "lowercase", true, file, "normalizer.");
  c.strip_accents = get_bool(n, "strip_accents", c.lowercase, file, "normalizer.");  // null follows lowercase
  return c;
}

PreTokenizerKind parse_pre_tokenizer(const json& root, const std::string& file) {
  const std::string type = component_type(root, "pre_tokenizer", file);
  if (type.empty()) return PreTokenizerKind::kNone;
  TEMPER_INPUT_CHECK(type == "BertPreTokenizer", file, "pre_tokenizer.type",
                     "expected \"BertPreTokenizer\" or null, got \"{}\"", type);
  return PreTokenizerKind::kBert;
}

void parse_decoder(const json& root, const std::string& file, WordPieceData& d) {
  const std::string type = component_type(root, "decoder", file);
  if (type.empty()) {
    d.decoder = DecoderKind::kJoinWithSpace;
    return;
  }
  TEMPER_INPUT_CHECK(type == "WordPiece", file, "decoder.type", "expected \"WordPiece\" or null, got \"{}\"", type);
  d.decoder = DecoderKind::kWordPiece;
  d.decoder_prefix = get_string(root["decoder"], "prefix", "##", file, "decoder.");
  d.decoder_cleanup = get_bool(root["decoder"], "cleanup", true, file, "decoder.");
}

// The id of `token` among the vocabulary and the added tokens, or -1.
int32_t known_id(const WordPieceData& d, const std::string& token) {
  for (const AddedToken& a : d.added) {
    if (a.content == token) return a.id;
  }
  auto it = d.vocab.find(token);
  return it == d.vocab.end() ? -1 : it->second;
}

bool id_is_known(const WordPieceData& d, int32_t id) {
  for (const AddedToken& a : d.added) {
    if (a.id == id) return true;
  }
  for (const auto& [token, v] : d.vocab) {
    if (v == id) return true;
  }
  return false;
}

// BertProcessing {"cls": [token, id], "sep": [token, id]}: [CLS] $A [SEP] (+ $B:1 [SEP]:1).
PostTemplate bert_template(int32_t cls, int32_t sep) {
  using K = TemplatePiece::Kind;
  PostTemplate t;
  t.single = {{K::kSpecial, {cls}, 0}, {K::kSequenceA, {}, 0}, {K::kSpecial, {sep}, 0}};
  t.pair = t.single;
  t.pair.push_back({K::kSequenceB, {}, 1});
  t.pair.push_back({K::kSpecial, {sep}, 1});
  return t;
}

std::pair<std::string, int32_t> parse_bert_processing_token(const json& p, const char* key, const WordPieceData& d,
                                                            const std::string& file) {
  const std::string field = std::string("post_processor.") + key;
  auto it = p.find(key);
  TEMPER_INPUT_CHECK(it != p.end() && it->is_array() && it->size() == 2 && (*it)[0].is_string(), file, field,
                     "expected [token, id]");
  const std::string token = (*it)[0].get<std::string>();
  const int32_t id = get_id((*it)[1], file, field + "[1]");
  TEMPER_INPUT_CHECK(known_id(d, token) == id, file, field, "'{}' does not have id {}", token, id);
  return {token, id};
}

// One TemplateProcessing item: {"SpecialToken": {"id", "type_id"}} or {"Sequence": {...}}.
TemplatePiece parse_template_piece(const json& item, const json& specials, const WordPieceData& d,
                                   const std::string& file, const std::string& field) {
  TEMPER_INPUT_CHECK(item.is_object() && item.size() == 1, file, field,
                     "expected {{\"SpecialToken\"|\"Sequence\": ...}}");
  const auto entry = item.begin();  // kept: the reference below points into the item it iterates
  const std::string kind = entry.key();
  const json& body = *entry;
  TEMPER_INPUT_CHECK(body.is_object() && body.contains("id") && body["id"].is_string(), file,
                     field + "." + kind + ".id", "expected a string id");
  TemplatePiece piece;
  piece.type_id = body.contains("type_id") ? get_id(body["type_id"], file, field + "." + kind + ".type_id") : 0;
  const std::string id = body["id"].get<std::string>();
  if (kind == "Sequence") {
    TEMPER_INPUT_CHECK(id == "A" || id == "B", file, field + ".Sequence.id", "expected \"A\" or \"B\", got \"{}\"", id);
    piece.kind = id == "A" ? TemplatePiece::Kind::kSequenceA : TemplatePiece::Kind::kSequenceB;
    return piece;
  }
  TEMPER_INPUT_CHECK(kind == "SpecialToken", file, field, "unknown template item \"{}\"", kind);
  TEMPER_INPUT_CHECK(specials.is_object() && specials.contains(id), file, "post_processor.special_tokens",
                     "no entry for \"{}\"", id);
  const json& ids = specials[id]["ids"];
  TEMPER_INPUT_CHECK(ids.is_array() && !ids.empty(), file, "post_processor.special_tokens." + id + ".ids",
                     "expected a non-empty array of ids");
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string f = fmt::format("post_processor.special_tokens.{}.ids[{}]", id, i);
    piece.ids.push_back(get_id(ids[i], file, f));
    TEMPER_INPUT_CHECK(id_is_known(d, piece.ids.back()), file, f, "id {} names no token", piece.ids.back());
  }
  return piece;
}

std::vector<TemplatePiece> parse_template(const json& p, const char* key, const WordPieceData& d,
                                          const std::string& file) {
  const std::string field = std::string("post_processor.") + key;
  auto it = p.find(key);
  TEMPER_INPUT_CHECK(it != p.end() && it->is_array(), file, field, "expected an array");
  const json specials = p.contains("special_tokens") ? p["special_tokens"] : json::object();
  std::vector<TemplatePiece> pieces;
  for (size_t i = 0; i < it->size(); ++i) {
    pieces.push_back(parse_template_piece((*it)[i], specials, d, file, fmt::format("{}[{}]", field, i)));
  }
  return pieces;
}

// The special token ids of a template's first / last special piece name [CLS] / [SEP].
std::string token_of(const WordPieceData& d, const std::vector<TemplatePiece>& t, bool last,
                     const std::string& fallback) {
  const TemplatePiece* hit = nullptr;
  for (const TemplatePiece& p : t) {
    if (p.kind == TemplatePiece::Kind::kSpecial && p.ids.size() == 1 && (!hit || last)) hit = &p;
  }
  if (!hit) return fallback;
  for (const AddedToken& a : d.added) {
    if (a.id == hit->ids[0]) return a.content;
  }
  for (const auto& [token, id] : d.vocab) {
    if (id == hit->ids[0]) return token;
  }
  return fallback;
}

void parse_post_processor(const json& root, const std::string& file, WordPieceData& d) {
  const std::string type = component_type(root, "post_processor", file);
  if (type.empty()) return;
  const json& p = root["post_processor"];
  if (type == "BertProcessing") {
    const auto cls = parse_bert_processing_token(p, "cls", d, file);
    const auto sep = parse_bert_processing_token(p, "sep", d, file);
    d.post = bert_template(cls.second, sep.second);
    d.cls_token = cls.first, d.sep_token = sep.first;
    return;
  }
  TEMPER_INPUT_CHECK(type == "TemplateProcessing", file, "post_processor.type",
                     "expected \"TemplateProcessing\", \"BertProcessing\" or null, got \"{}\"", type);
  d.post.single = parse_template(p, "single", d, file);
  d.post.pair = parse_template(p, "pair", d, file);
  d.cls_token = token_of(d, d.post.single, false, d.cls_token);
  d.sep_token = token_of(d, d.post.single, true, d.sep_token);
}

// A special token name in tokenizer_config.json: a string or an AddedToken dict {"content": ...}.
std::string config_token(const json& cfg, const char* key, const std::string& fallback, const std::string& file) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return fallback;
  if (it->is_object()) return get_string(*it, "content", fallback, file, std::string(key) + ".");
  return get_string(cfg, key, fallback, file, "");
}

// vocab.txt: one token per line, id = line number (transformers' load_vocab).
Vocab read_vocab_txt(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TEMPER_INPUT_CHECK(in.good(), path, "file", "cannot open file");
  Vocab vocab;
  std::string line;
  for (int32_t id = 0; std::getline(in, line); ++id) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string field = fmt::format("line {}", id + 1);
    TEMPER_INPUT_CHECK(utf8_lossy(line) == line, path, field, "not valid UTF-8");
    TEMPER_INPUT_CHECK(vocab.emplace(line, id).second, path, field, "duplicate token '{}'", line);
  }
  TEMPER_INPUT_CHECK(!vocab.empty(), path, "vocab", "the vocabulary is empty");
  return vocab;
}

// tokenizer_config.json beside vocab.txt: casing, accents, CJK handling, special token names.
void apply_tokenizer_config(const std::string& file, WordPieceData& d) {
  const json cfg = read_json(file);
  TEMPER_INPUT_CHECK(cfg.is_object(), file, "json", "expected an object");
  d.normalizer.lowercase = get_bool(cfg, "do_lower_case", d.normalizer.lowercase, file, "");
  d.normalizer.strip_accents = get_bool(cfg, "strip_accents", d.normalizer.lowercase, file, "");
  d.normalizer.handle_chinese_chars = get_bool(cfg, "tokenize_chinese_chars", true, file, "");
  d.unk_token = config_token(cfg, "unk_token", d.unk_token, file);
  d.cls_token = config_token(cfg, "cls_token", d.cls_token, file);
  d.sep_token = config_token(cfg, "sep_token", d.sep_token, file);
  d.pad_token = config_token(cfg, "pad_token", d.pad_token, file);
  d.mask_token = config_token(cfg, "mask_token", d.mask_token, file);
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::from_tokenizer_json(const std::string& path) {
  const json root = read_json(path);
  TEMPER_INPUT_CHECK(root.is_object(), path, "json", "expected an object");
  WordPieceData d;
  parse_model(root, path, d);
  d.added = parse_added_tokens(root, d.vocab, path);
  d.normalizer = parse_normalizer(root, path);
  d.pre_tokenizer = parse_pre_tokenizer(root, path);
  parse_post_processor(root, path, d);
  parse_decoder(root, path, d);
  if (auto pad = root.find("padding"); pad != root.end() && pad->is_object()) {
    d.pad_token = get_string(*pad, "pad_token", d.pad_token, path, "padding.");
  }
  return WordPieceTokenizer(std::move(d));
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_txt(const std::string& path, CaseMode case_mode) {
  WordPieceData d;
  d.vocab = read_vocab_txt(path);
  d.normalizer.lowercase = case_mode == CaseMode::kLowercase;
  d.normalizer.strip_accents = d.normalizer.lowercase;
  const std::string config = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  if (std::filesystem::exists(config)) apply_tokenizer_config(config, d);
  for (const std::string* name : {&d.pad_token, &d.unk_token, &d.cls_token, &d.sep_token, &d.mask_token}) {
    auto it = d.vocab.find(*name);
    const bool listed =
        std::any_of(d.added.begin(), d.added.end(), [&](const AddedToken& t) { return t.content == *name; });
    if (it == d.vocab.end() || listed) continue;
    AddedToken a;
    a.content = *name, a.id = it->second, a.special = true;
    d.added.push_back(a);
  }
  for (const std::string* name : {&d.unk_token, &d.cls_token, &d.sep_token}) {
    TEMPER_INPUT_CHECK(d.vocab.count(*name), path, "vocab", "'{}' is not in the vocabulary", *name);
  }
  d.post = bert_template(d.vocab.at(d.cls_token), d.vocab.at(d.sep_token));
  return WordPieceTokenizer(std::move(d));
}

}  // namespace temper

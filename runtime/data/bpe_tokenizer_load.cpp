// BpeTokenizer loaders: HF tokenizer.json, and GPT-2 vocab.json + merges.txt. Anything that
// would make HF tokenize differently from what BpeTokenizer implements (another model type, a
// normalizer, a post-processor adding tokens, ...) is rejected with an InputError naming the
// file and the field, rather than silently tokenizing differently.
#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <sstream>

#include "runtime/data/bpe_tokenizer.h"
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
bool get_bool(const json& obj, const char* key, bool fallback, const std::string& file,
              const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  TEMPER_INPUT_CHECK(it->is_boolean(), file, field + "." + key, "expected true/false, got {}",
                     it->dump());
  return it->get<bool>();
}

// obj[key] as a string; "" when absent or null.
std::string get_string(const json& obj, const char* key, const std::string& file,
                       const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  TEMPER_INPUT_CHECK(it->is_string(), file, field + "." + key, "expected a string, got {}",
                     it->dump());
  return it->get<std::string>();
}

int32_t get_id(const json& v, const std::string& file, const std::string& field) {
  TEMPER_INPUT_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 &&
                         v.get<int64_t>() < std::numeric_limits<int32_t>::max(),
                     file, field, "expected a token id (integer >= 0), got {}", v.dump());
  return static_cast<int32_t>(v.get<int64_t>());
}

// A {token: id} object; ids must be distinct.
Vocab parse_vocab(const json& j, const std::string& file, const std::string& field) {
  TEMPER_INPUT_CHECK(j.is_object(), file, field, "expected an object {{token: id}}");
  Vocab vocab;
  std::unordered_map<int32_t, std::string> by_id;
  for (const auto& [token, value] : j.items()) {
    const int32_t id = get_id(value, file, field + "[" + token + "]");
    auto [it, fresh] = by_id.emplace(id, token);
    TEMPER_INPUT_CHECK(fresh, file, field, "duplicate id {} for tokens '{}' and '{}'", id,
                       it->second, token);
    vocab.emplace(token, id);
  }
  TEMPER_INPUT_CHECK(!vocab.empty(), file, field, "the vocabulary is empty");
  return vocab;
}

int32_t vocab_id(const Vocab& vocab, const std::string& token, const std::string& file,
                 const std::string& field) {
  auto it = vocab.find(token);
  TEMPER_INPUT_CHECK(it != vocab.end(), file, field, "token '{}' is not in the vocabulary", token);
  return it->second;
}

std::array<int32_t, 3> resolve_merge(const Vocab& vocab, const std::string& left,
                                     const std::string& right, const std::string& file,
                                     const std::string& field) {
  return {vocab_id(vocab, left, file, field), vocab_id(vocab, right, file, field),
          vocab_id(vocab, left + right, file, field)};
}

// "left right" (merges.txt lines, older tokenizer.json): exactly one space.
bool split_merge(const std::string& line, std::string& left, std::string& right) {
  const size_t space = line.find(' ');
  if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) return false;
  left = line.substr(0, space), right = line.substr(space + 1);
  return !left.empty() && !right.empty();
}

// model.merges: "a b" strings or ["a", "b"] pairs (tokenizers >= 0.20 writes pairs).
std::vector<std::array<int32_t, 3>> parse_json_merges(const json& j, const Vocab& vocab,
                                                      const std::string& file) {
  TEMPER_INPUT_CHECK(j.is_array(), file, "model.merges", "expected an array");
  std::vector<std::array<int32_t, 3>> merges;
  merges.reserve(j.size());
  std::string left, right;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string field = fmt::format("model.merges[{}]", i);
    const json& m = j[i];
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    } else {
      TEMPER_INPUT_CHECK(m.is_string() && split_merge(m.get<std::string>(), left, right), file,
                         field, "expected \"left right\" or [\"left\", \"right\"], got {}",
                         m.dump());
    }
    merges.push_back(resolve_merge(vocab, left, right, file, field));
  }
  return merges;
}

std::vector<AddedToken> parse_added_tokens(const json& root, const std::string& file) {
  std::vector<AddedToken> added;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return added;
  TEMPER_INPUT_CHECK(it->is_array(), file, "added_tokens", "expected an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& a = (*it)[i];
    const std::string field = fmt::format("added_tokens[{}]", i);
    TEMPER_INPUT_CHECK(a.is_object() && a.contains("id"), file, field,
                       "expected an object with \"id\" and \"content\"");
    AddedToken t;
    t.id = get_id(a["id"], file, field + ".id");
    t.content = get_string(a, "content", file, field);
    TEMPER_INPUT_CHECK(!t.content.empty(), file, field + ".content", "empty added token");
    t.special = get_bool(a, "special", false, file, field);
    t.lstrip = get_bool(a, "lstrip", false, file, field);
    t.rstrip = get_bool(a, "rstrip", false, file, field);
    t.normalized = get_bool(a, "normalized", !t.special, file, field);
    TEMPER_INPUT_CHECK(!get_bool(a, "single_word", false, file, field), file,
                       field + ".single_word", "single_word added tokens are not supported");
    added.push_back(std::move(t));
  }
  return added;
}

// Added tokens may repeat a vocabulary entry (same content, same id) but not clash with one.
void check_added(const Vocab& vocab, const std::vector<AddedToken>& added,
                 const std::string& file) {
  std::unordered_map<int32_t, std::string> model_by_id;
  for (const auto& [token, id] : vocab) model_by_id.emplace(id, token);
  std::unordered_map<int32_t, std::string> added_by_id;
  std::unordered_map<std::string, int32_t> added_by_content;
  for (size_t i = 0; i < added.size(); ++i) {
    const AddedToken& t = added[i];
    const std::string field = fmt::format("added_tokens[{}]", i);
    auto v = vocab.find(t.content);
    TEMPER_INPUT_CHECK(v == vocab.end() || v->second == t.id, file, field,
                       "'{}' has id {} but id {} in model.vocab", t.content, t.id, v->second);
    auto m = model_by_id.find(t.id);
    TEMPER_INPUT_CHECK(m == model_by_id.end() || m->second == t.content, file, field,
                       "duplicate id {}: '{}' here, '{}' in model.vocab", t.id, t.content,
                       m->second);
    auto [a, fresh_id] = added_by_id.emplace(t.id, t.content);
    TEMPER_INPUT_CHECK(fresh_id, file, field, "duplicate id {} for added tokens '{}' and '{}'",
                       t.id, a->second, t.content);
    auto [c, fresh_content] = added_by_content.emplace(t.content, t.id);
    TEMPER_INPUT_CHECK(fresh_content, file, field, "'{}' added twice (ids {} and {})", t.content,
                       c->second, t.id);
  }
}

// `type` of an optional component; "" when absent or null.
std::string component_type(const json& root, const char* key, const std::string& file) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return "";
  TEMPER_INPUT_CHECK(it->is_object(), file, key, "expected an object or null");
  return get_string(*it, "type", file, key);
}

// Post-processors only matter when they add tokens to a single sequence: accept ByteLevel
// (offsets only), a TemplateProcessing whose `single` template is just the sequence, and a
// Sequence of such; reject the rest (e.g. a template adding BOS, RobertaProcessing).
void check_post_processor(const json& post, const std::string& file, const std::string& field) {
  if (post.is_null()) return;
  TEMPER_INPUT_CHECK(post.is_object(), file, field, "expected an object or null");
  const std::string type = get_string(post, "type", file, field);
  if (type == "ByteLevel") return;
  if (type == "Sequence" && post.contains("processors") && post["processors"].is_array()) {
    const json& list = post["processors"];
    for (size_t i = 0; i < list.size(); ++i) {
      check_post_processor(list[i], file, fmt::format("{}.processors[{}]", field, i));
    }
    return;
  }
  if (type == "TemplateProcessing") {
    auto single = post.find("single");
    TEMPER_INPUT_CHECK(single != post.end() && single->is_array() && single->size() == 1 &&
                           (*single)[0].contains("Sequence"),
                       file, field + ".single",
                       "templates that add tokens to a sequence are not supported, got {}",
                       single == post.end() ? std::string("nothing") : single->dump());
    return;
  }
  throw InputError(file, field + ".type",
                   fmt::format("only ByteLevel, a token-free TemplateProcessing or a Sequence of "
                               "them is supported (others add tokens), got '{}'",
                               type));
}

void check_pipeline(const json& root, const std::string& file, BpeModelData& data) {
  for (const char* key : {"normalizer", "truncation", "padding"}) {
    auto it = root.find(key);
    TEMPER_INPUT_CHECK(it == root.end() || it->is_null(), file, key,
                       "only null is supported (it would change the ids), got {}", it->dump());
  }
  const std::string pre = component_type(root, "pre_tokenizer", file);
  const json* byte_level = &root["pre_tokenizer"];
  std::string field = "pre_tokenizer";
  if (pre == "Sequence") {
    // Sequence[Digits(individual_digits), ByteLevel(...)] (SmolLM2), in that order.
    const json& seq = root["pre_tokenizer"];
    auto list = seq.find("pretokenizers");
    TEMPER_INPUT_CHECK(list != seq.end() && list->is_array() && list->size() == 2 &&
                           (*list)[0].is_object() && (*list)[1].is_object() &&
                           get_string((*list)[0], "type", file, "pre_tokenizer.pretokenizers[0]") ==
                               "Digits" &&
                           get_string((*list)[1], "type", file, "pre_tokenizer.pretokenizers[1]") ==
                               "ByteLevel",
                       file, "pre_tokenizer.pretokenizers",
                       "only a Sequence of [Digits, ByteLevel] is supported, got {}",
                       list == seq.end() ? std::string("nothing") : list->dump());
    data.digits = get_bool((*list)[0], "individual_digits", false, file,
                           "pre_tokenizer.pretokenizers[0]")
                      ? DigitSplit::kIndividual
                      : DigitSplit::kRuns;
    byte_level = &(*list)[1];
    field = "pre_tokenizer.pretokenizers[1]";
  } else {
    TEMPER_INPUT_CHECK(pre == "ByteLevel", file, "pre_tokenizer.type",
                       "only a ByteLevel pre-tokenizer (or Sequence[Digits, ByteLevel]) is "
                       "supported, got '{}'",
                       pre);
  }
  const json& p = *byte_level;
  TEMPER_INPUT_CHECK(p.contains("add_prefix_space"), file, field + ".add_prefix_space", "missing");
  data.prefix_space = get_bool(p, "add_prefix_space", false, file, field) ? PrefixSpace::kAdd
                                                                          : PrefixSpace::kKeep;
  data.pre_split =
      get_bool(p, "use_regex", true, file, field) ? PreSplit::kGpt2Regex : PreSplit::kNone;
  const std::string dec = component_type(root, "decoder", file);
  TEMPER_INPUT_CHECK(dec == "ByteLevel", file, "decoder.type",
                     "only a ByteLevel decoder is supported, got '{}'", dec);
  if (root.contains("post_processor")) {
    check_post_processor(root["post_processor"], file, "post_processor");
  }
}

void parse_model_options(const json& model, const std::string& file, BpeModelData& data) {
  auto dropout = model.find("dropout");
  TEMPER_INPUT_CHECK(dropout == model.end() || dropout->is_null() ||
                         (dropout->is_number() && dropout->get<double>() == 0.0),
                     file, "model.dropout", "BPE dropout is not supported, got {}",
                     dropout->dump());
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    TEMPER_INPUT_CHECK(get_string(model, key, file, "model").empty(), file,
                       std::string("model.") + key, "not supported by a byte-level BPE");
  }
  TEMPER_INPUT_CHECK(!get_bool(model, "byte_fallback", false, file, "model"), file,
                     "model.byte_fallback", "not supported by a byte-level BPE");
  data.unk_policy = get_bool(model, "fuse_unk", false, file, "model") ? UnkPolicy::kFuse
                                                                      : UnkPolicy::kEach;
  data.merge_policy = get_bool(model, "ignore_merges", false, file, "model")
                          ? MergePolicy::kSkipIfInVocab
                          : MergePolicy::kAlways;
  const std::string unk = get_string(model, "unk_token", file, "model");
  if (!unk.empty()) data.unk_id = vocab_id(data.vocab, unk, file, "model.unk_token");
}

// The id of tokenizer_config.json's `key` ("eos_token": "<|im_end|>" or {"content": ...}); -1
// when absent or null.
int32_t config_token_id(const json& config, const char* key, const BpeModelData& data,
                        const std::string& file) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return -1;
  const json& v = it->is_object() && it->contains("content") ? (*it)["content"] : *it;
  TEMPER_INPUT_CHECK(v.is_string(), file, key, "expected a token string, got {}", it->dump());
  const std::string token = v.get<std::string>();
  for (const AddedToken& t : data.added) {
    if (t.content == token) return t.id;
  }
  return vocab_id(data.vocab, token, file, key);
}

// HF takes eos/bos from the tokenizer_config.json next to tokenizer.json: use it when present.
void read_tokenizer_config(const std::string& tokenizer_json, BpeModelData& data) {
  const size_t slash = tokenizer_json.find_last_of('/');
  const std::string config_path =
      (slash == std::string::npos ? std::string() : tokenizer_json.substr(0, slash + 1)) +
      "tokenizer_config.json";
  if (!std::ifstream(config_path).good()) return;
  const json config = read_json(config_path);
  TEMPER_INPUT_CHECK(config.is_object(), config_path, "json", "expected a JSON object");
  data.eos_id = config_token_id(config, "eos_token", data, config_path);
  data.bos_id = config_token_id(config, "bos_token", data, config_path);
  auto tmpl = config.find("chat_template");
  if (tmpl != config.end() && tmpl->is_string()) data.chat_template = tmpl->get<std::string>();
}

}  // namespace

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json(const std::string& path) {
  const json root = read_json(path);
  TEMPER_INPUT_CHECK(root.is_object(), path, "json", "expected a JSON object at the top level");
  TEMPER_INPUT_CHECK(root.contains("model") && root["model"].is_object(), path, "model",
                     "missing or not an object");
  const json& model = root["model"];
  const std::string type = get_string(model, "type", path, "model");
  TEMPER_INPUT_CHECK(type == "BPE", path, "model.type", "only BPE is supported, got '{}'", type);
  BpeModelData data;
  check_pipeline(root, path, data);
  TEMPER_INPUT_CHECK(model.contains("vocab"), path, "model.vocab", "missing");
  data.vocab = parse_vocab(model["vocab"], path, "model.vocab");
  TEMPER_INPUT_CHECK(model.contains("merges"), path, "model.merges", "missing");
  data.merges = parse_json_merges(model["merges"], data.vocab, path);
  parse_model_options(model, path, data);
  data.added = parse_added_tokens(root, path);
  check_added(data.vocab, data.added, path);
  read_tokenizer_config(path, data);
  return std::make_unique<BpeTokenizer>(std::move(data));
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_vocab_merges(const std::string& vocab_json,
                                                              const std::string& merges_txt) {
  BpeModelData data;
  data.vocab = parse_vocab(read_json(vocab_json), vocab_json, "vocab");
  std::ifstream in(merges_txt, std::ios::binary);
  TEMPER_INPUT_CHECK(in.good(), merges_txt, "file", "cannot open file");
  std::string line, left, right;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const std::string field = fmt::format("line {}", line_no);
    TEMPER_INPUT_CHECK(split_merge(line, left, right), merges_txt, field,
                       "expected \"left right\", got \"{}\"", line);
    data.merges.push_back(resolve_merge(data.vocab, left, right, merges_txt, field));
  }
  auto eot = data.vocab.find("<|endoftext|>");
  if (eot != data.vocab.end()) {
    AddedToken t;
    t.content = eot->first, t.id = eot->second, t.special = true;
    data.added.push_back(t);
  }
  return std::make_unique<BpeTokenizer>(std::move(data));
}

}  // namespace temper

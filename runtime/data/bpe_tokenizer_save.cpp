// BpeTokenizer::save_tokenizer_json and write_tokenizer_config_json: the HF files of a tokenizer, as
// `tokenizers` (>= 0.20, which reads merges as pairs) and transformers' AutoTokenizer load them.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "models/io/json_file.h"
#include "runtime/data/bpe_tokenizer.h"
#include "runtime/error.h"

namespace temper {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json byte_level(bool add_prefix_space, bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", add_prefix_space},
          {"trim_offsets", true},
          {"use_regex", use_regex}};
}

ordered_json pre_tokenizer(const BpeModelData& d) {
  ordered_json bl = byte_level(d.prefix_space == PrefixSpace::kAdd, d.pre_split == PreSplit::kGpt2Regex);
  if (d.digits == DigitSplit::kNone) return bl;
  ordered_json digits = {{"type", "Digits"}, {"individual_digits", d.digits == DigitSplit::kIndividual}};
  return {{"type", "Sequence"}, {"pretokenizers", ordered_json::array({digits, bl})}};
}

void write_text(const std::string& path, const ordered_json& j) {
  std::string text;
  try {
    text = j.dump(2) + "\n";
  } catch (const nlohmann::json::type_error& e) {  // a token that is not valid UTF-8
    throw InputError(path, "tokenizer", fmt::format("cannot be written as JSON: {}", e.what()));
  }
  write_file_atomic(path, text);
}

}  // namespace

void BpeTokenizer::save_tokenizer_json(const std::string& path) const {
  const BpeModelData& d = data_;
  ordered_json added = ordered_json::array();
  std::vector<const AddedToken*> by_id;
  for (const AddedToken& t : d.added) by_id.push_back(&t);
  std::stable_sort(by_id.begin(), by_id.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (const AddedToken* t : by_id) {
    added.push_back({{"id", t->id},
                     {"content", t->content},
                     {"single_word", false},
                     {"lstrip", t->lstrip},
                     {"rstrip", t->rstrip},
                     {"normalized", t->normalized},
                     {"special", t->special}});
  }
  std::vector<std::pair<int32_t, const std::string*>> vocab;
  vocab.reserve(d.vocab.size());
  for (const auto& [token, id] : d.vocab) vocab.emplace_back(id, &token);
  std::sort(vocab.begin(), vocab.end());
  ordered_json vocab_json = ordered_json::object();
  for (const auto& [id, token] : vocab) vocab_json[*token] = id;
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b, merged] : d.merges) {
    (void)merged;
    merges.push_back(ordered_json::array({id_to_token_[a], id_to_token_[b]}));
  }
  ordered_json model = {{"type", "BPE"},
                        {"dropout", nullptr},
                        {"unk_token", d.unk_id >= 0 ? ordered_json(id_to_token_[d.unk_id]) : ordered_json()},
                        {"continuing_subword_prefix", nullptr},
                        {"end_of_word_suffix", nullptr},
                        {"fuse_unk", d.unk_policy == UnkPolicy::kFuse},
                        {"byte_fallback", false},
                        {"ignore_merges", d.merge_policy == MergePolicy::kSkipIfInVocab},
                        {"vocab", std::move(vocab_json)},
                        {"merges", std::move(merges)}};
  ordered_json root = {{"version", "1.0"},
                       {"truncation", nullptr},
                       {"padding", nullptr},
                       {"added_tokens", std::move(added)},
                       {"normalizer", nullptr},
                       {"pre_tokenizer", pre_tokenizer(d)},
                       {"post_processor", nullptr},
                       {"decoder", byte_level(true, true)},
                       {"model", std::move(model)}};
  write_text(path, root);
}

void write_tokenizer_config_json(const std::string& path, const BpeTokenizer& tokenizer,
                                 const std::string& chat_template) {
  auto token_or_null = [&](int32_t id) {
    return id >= 0 ? ordered_json(tokenizer.id_to_token(id)) : ordered_json();
  };
  const BpeModelData& d = tokenizer.data();
  ordered_json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                         {"add_bos_token", false},
                         {"add_eos_token", false},
                         {"add_prefix_space", d.prefix_space == PrefixSpace::kAdd},
                         {"bos_token", token_or_null(tokenizer.bos_id())},
                         {"eos_token", token_or_null(tokenizer.eos_id())},
                         {"unk_token", token_or_null(d.unk_id)},
                         {"clean_up_tokenization_spaces", false}};
  if (!chat_template.empty()) config["chat_template"] = chat_template;
  write_text(path, config);
}

}  // namespace temper

// BpeTokenizer::from_gguf: the tokenizer stored in a GGUF file's metadata by llama.cpp's converter
// (tokenizer.ggml.*), built to tokenize exactly as the HF tokenizer.json it was converted from.
// What llama.cpp keeps of that file: the vocabulary (tokens, by id, in the byte-mapped spelling of
// tokenizer.json), the merges ("left right", by rank), a type per token (1 normal, 2 unknown,
// 3 control, 4 user-defined, 5 unused, 6 byte), the special ids, and the pre-tokenizer as a name
// (tokenizer.ggml.pre) standing for the HF pre-tokenizer of that model family:
//   "gpt2", "default"  ByteLevel(add_prefix_space=false, use_regex=true): the GPT-2 regex
//   "smollm"           Sequence[Digits(individual_digits=true), ByteLevel(false, use_regex=true)]
//                      (SmolLM/SmolLM2's tokenizer.json; llama.cpp splits "\p{N}" then the regex)
// Anything else is rejected rather than tokenized differently from HF.
#include <unordered_map>

#include "models/io/gguf.h"
#include "runtime/data/bpe_tokenizer.h"
#include "runtime/data/byte_level.h"
#include "runtime/error.h"

namespace temper {
namespace {

constexpr int64_t kTypeControl = 3, kTypeUserDefined = 4;

// Whether every char of `token` is one of the 256 byte-map chars (a token of the byte-level
// vocabulary proper; transformers skips "control" tokens spelled otherwise as mislabels).
bool byte_spelled(const std::string& token) {
  for (size_t pos = 0; pos < token.size();) {
    const Utf8Char c = decode_utf8(token, pos);
    if (!c.valid || unicode_to_byte(c.cp) < 0) return false;
    pos += c.len;
  }
  return true;
}

// An optional token id key: -1 when absent; InputError when it is not an id of the vocabulary.
int32_t optional_id(const GgufMetadata& meta, const std::string& path, const char* key, size_t n_tokens) {
  const int64_t id = meta.get_int_or(key, -1);
  if (!meta.contains(key)) return -1;
  TEMPER_INPUT_CHECK(id >= 0 && static_cast<uint64_t>(id) < n_tokens, path, key,
                     "token id {} is outside the vocabulary (0..{})", id, n_tokens - 1);
  return static_cast<int32_t>(id);
}

}  // namespace

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_gguf(const GgufFile& file) {
  const GgufMetadata& meta = file.metadata();
  const std::string& path = file.path();

  const std::string model = meta.get_string("tokenizer.ggml.model");
  TEMPER_INPUT_CHECK(model == "gpt2", path, "tokenizer.ggml.model",
                     "only the byte-level BPE tokenizer \"gpt2\" is supported, got \"{}\"", model);

  BpeModelData data;
  const std::string pre = meta.get_string_or("tokenizer.ggml.pre", "default");
  if (pre == "smollm") {
    data.digits = DigitSplit::kIndividual;
  } else {
    TEMPER_INPUT_CHECK(pre == "gpt2" || pre == "default", path, "tokenizer.ggml.pre",
                       "unsupported pre-tokenizer \"{}\" (supported: gpt2, default, smollm)", pre);
  }
  // HF would add BOS/EOS in its post-processor; BpeTokenizer::encode never adds tokens.
  for (const char* key : {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"}) {
    TEMPER_INPUT_CHECK(!meta.get_bool_or(key, false), path, key,
                       "adding BOS/EOS to every sequence is not supported (it must be false)");
  }

  const std::vector<std::string> tokens = meta.get_string_array("tokenizer.ggml.tokens");
  TEMPER_INPUT_CHECK(!tokens.empty() && tokens.size() < (1u << 31), path, "tokenizer.ggml.tokens",
                     "expected 1 to 2^31-1 tokens, got {}", tokens.size());
  std::vector<int64_t> types;
  if (meta.contains("tokenizer.ggml.token_type")) {
    types = meta.get_int_array("tokenizer.ggml.token_type");
    TEMPER_INPUT_CHECK(types.size() == tokens.size(), path, "tokenizer.ggml.token_type",
                       "{} types for {} tokens", types.size(), tokens.size());
  }
  data.vocab.reserve(tokens.size());
  for (size_t id = 0; id < tokens.size(); ++id) {
    TEMPER_INPUT_CHECK(!tokens[id].empty(), path, "tokenizer.ggml.tokens", "token {} is empty", id);
    auto [it, fresh] = data.vocab.emplace(tokens[id], static_cast<int32_t>(id));
    TEMPER_INPUT_CHECK(fresh, path, "tokenizer.ggml.tokens", "token '{}' appears twice (ids {} and {})",
                       tokens[id], it->second, id);
  }
  // As transformers' GGUF loader: control tokens (byte-spelled) are special added tokens, then
  // user-defined ones plain added tokens; both matched on the raw text (normalized = false).
  for (const int64_t wanted : {kTypeControl, kTypeUserDefined}) {
    for (size_t id = 0; id < types.size(); ++id) {
      if (types[id] != wanted || (wanted == kTypeControl && !byte_spelled(tokens[id]))) continue;
      AddedToken t;
      t.content = tokens[id], t.id = static_cast<int32_t>(id), t.special = wanted == kTypeControl;
      data.added.push_back(std::move(t));
    }
  }

  const std::vector<std::string> merges = meta.get_string_array("tokenizer.ggml.merges");
  data.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    const size_t space = m.find(' ');
    TEMPER_INPUT_CHECK(space != std::string::npos && space > 0 && space + 1 < m.size() &&
                           m.find(' ', space + 1) == std::string::npos,
                       path, "tokenizer.ggml.merges", "merge {} is not \"left right\": \"{}\"", i, m);
    const std::string left = m.substr(0, space), right = m.substr(space + 1);
    std::array<int32_t, 3> ids{};
    const std::string parts[3] = {left, right, left + right};
    for (int k = 0; k < 3; ++k) {
      auto it = data.vocab.find(parts[k]);
      TEMPER_INPUT_CHECK(it != data.vocab.end(), path, "tokenizer.ggml.merges",
                         "merge {} (\"{}\"): token '{}' is not in tokenizer.ggml.tokens", i, m, parts[k]);
      ids[k] = it->second;
    }
    data.merges.push_back(ids);
  }

  // HF's eos/bos are the tokens tokenizer_config.json names, which llama.cpp stores as these ids.
  // The unknown id is not used: HF's byte-level BPE has no unk token and every byte is in the vocab.
  data.eos_id = optional_id(meta, path, "tokenizer.ggml.eos_token_id", tokens.size());
  data.bos_id = optional_id(meta, path, "tokenizer.ggml.bos_token_id", tokens.size());
  data.chat_template = meta.get_string_or("tokenizer.chat_template", "");
  return std::make_unique<BpeTokenizer>(std::move(data));
}

}  // namespace temper

// Tokenizer discovery in a model directory.
#include "runtime/data/tokenizer_loader.h"

#include <filesystem>

#include "runtime/data/bpe_tokenizer.h"
#include "runtime/data/text_source.h"
#include "runtime/error.h"

namespace fs = std::filesystem;

namespace temper {

std::vector<std::string> tokenizer_files() {
  return {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
          "generation_config.json"};
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  const fs::path d(dir);
  if (fs::exists(d / "tokenizer.json")) return BpeTokenizer::from_tokenizer_json((d / "tokenizer.json").string());
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"))
    return BpeTokenizer::from_vocab_merges((d / "vocab.json").string(), (d / "merges.txt").string());
  throw InputError(dir, "tokenizer", "no tokenizer.json (or vocab.json + merges.txt) in the model directory");
}

std::string tokenizer_identity(const std::string& dir) {
  const fs::path d(dir);
  std::string id;
  for (const char* name : {"tokenizer.json", "vocab.json", "merges.txt"}) {
    if (!fs::exists(d / name)) continue;
    const SourceFingerprint fp = fingerprint_file((d / name).string());
    id += fmt::format("{}:{}:{:016x};", name, fp.size, fp.hash);
  }
  return id;
}

}  // namespace temper

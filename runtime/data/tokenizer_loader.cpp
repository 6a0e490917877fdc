// Tokenizer discovery in a model directory or GGUF file.
#include "runtime/data/tokenizer_loader.h"

#include <filesystem>
#include <fstream>

#include "models/io/gguf.h"
#include "runtime/data/bpe_tokenizer.h"
#include "runtime/data/text_source.h"
#include "runtime/error.h"

namespace fs = std::filesystem;

namespace temper {

std::vector<std::string> tokenizer_files() {
  return {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
          "generation_config.json"};
}

bool is_gguf_path(const std::string& path) {
  const fs::path p(path);
  return p.extension() == ".gguf" && fs::is_regular_file(p);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  if (is_gguf_path(path)) return BpeTokenizer::from_gguf(GgufFile::open(path));
  const fs::path d(path);
  if (fs::exists(d / "tokenizer.json")) return BpeTokenizer::from_tokenizer_json((d / "tokenizer.json").string());
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"))
    return BpeTokenizer::from_vocab_merges((d / "vocab.json").string(), (d / "merges.txt").string());
  throw InputError(path, "tokenizer", "no tokenizer.json (or vocab.json + merges.txt) in the model directory");
}

std::string tokenizer_identity(const std::string& path) {
  if (is_gguf_path(path)) {
    const GgufFile file = GgufFile::open(path);  // validates; data_offset() bounds the header
    std::ifstream in(path, std::ios::binary);
    TEMPER_INPUT_CHECK(in.good(), path, "file", "cannot open file");
    std::string header(file.data_offset(), '\0');
    in.read(header.data(), static_cast<std::streamsize>(header.size()));
    TEMPER_INPUT_CHECK(in.gcount() == static_cast<std::streamsize>(header.size()), path, "file",
                       "cannot read the {} header bytes", header.size());
    return fmt::format("gguf:{}:{:016x};", fs::file_size(path), fnv1a64(header.data(), header.size()));
  }
  const fs::path d(path);
  std::string id;
  for (const char* name : {"tokenizer.json", "vocab.json", "merges.txt"}) {
    if (!fs::exists(d / name)) continue;
    const SourceFingerprint fp = fingerprint_file((d / name).string());
    id += fmt::format("{}:{}:{:016x};", name, fp.size, fp.hash);
  }
  return id;
}

}  // namespace temper

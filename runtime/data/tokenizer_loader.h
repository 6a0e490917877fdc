// Finds and loads the tokenizer that ships with a model: an HF model directory, or a GGUF file
// whose metadata holds the tokenizer.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/tokenizer.h"

namespace temper {

// `path` a .gguf file: its tokenizer.ggml.* metadata (BpeTokenizer::from_gguf). Otherwise a
// directory: dir/tokenizer.json, else dir/vocab.json + dir/merges.txt. InputError naming `path`
// when neither exists.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// A string identifying the tokenizer's files, for the token cache key. A directory: name + size +
// content hash of each tokenizer file. A .gguf file: its size and the hash of every byte before the
// data section (header, all metadata with the tokenizer, tensor infos: ~2 MB for SmolLM2), so the
// tensor data (~100 MB) is not read; the tokenizer cannot change without those bytes changing.
std::string tokenizer_identity(const std::string& path);

// Tokenizer-related files to copy into a fine-tuned output directory, when present.
std::vector<std::string> tokenizer_files();

// Whether `path` names a GGUF file (a regular file ending in ".gguf").
bool is_gguf_path(const std::string& path);

}  // namespace temper

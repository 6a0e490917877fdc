// Finds and loads the tokenizer that ships with a model directory (HF layout).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/tokenizer.h"

namespace temper {

// dir/tokenizer.json, else dir/vocab.json + dir/merges.txt. InputError naming dir when neither exists.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

// A string identifying the tokenizer's files (path + size + content hash), for the token cache key.
std::string tokenizer_identity(const std::string& dir);

// Tokenizer-related files to copy into a fine-tuned output directory, when present.
std::vector<std::string> tokenizer_files();

}  // namespace temper

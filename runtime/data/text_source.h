// Reading training text into token ids plus a loss mask. Two source formats:
//   text  - the whole file is one document;
//   JSONL - one JSON object per line, either {"text": ...} or {"prompt": ..., "completion": ...}.
// Documents are concatenated, each followed by the tokenizer's eos id (when it has one).
// mask[i] = 1 when token i is a training target, i.e. the model is asked to predict it;
// prompt tokens get mask 0 so that the loss only covers completion tokens (and the eos after them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/tokenizer.h"

namespace temper {

enum class SourceFormat { Auto, Text, Jsonl };  // Auto: ".jsonl"/".ndjson" -> Jsonl, else Text

// Token ids with a parallel loss mask (same length).
struct TokenStream {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;  // 1 = this token is a training target
  size_t size() const { return ids.size(); }
};

// FNV-1a 64-bit hash; pass the previous value as `h` to hash data in pieces.
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
uint64_t fnv1a64(const void* data, size_t n, uint64_t h = kFnvOffset);

// Fingerprint of a file's bytes, streamed in chunks (no whole-file buffer).
struct SourceFingerprint {
  uint64_t size = 0;
  uint64_t hash = kFnvOffset;  // fnv1a64 of the bytes
};
SourceFingerprint fingerprint_file(const std::string& path);  // InputError when it cannot be read

SourceFormat resolve_format(const std::string& path, SourceFormat format);
const char* format_name(SourceFormat format);

// Whole-file read; InputError (field "path") when the file is missing or unreadable.
std::string read_file_bytes(const std::string& path);

// Tokenizes `content` (the bytes of `path`, used in error messages) in the given format.
// Empty documents are skipped. InputError on a bad JSONL line ("line N") and when the result
// holds no tokens or no training targets.
TokenStream tokenize_source(const std::string& path, const std::string& content, SourceFormat format,
                            const Tokenizer& tokenizer);

}  // namespace temper

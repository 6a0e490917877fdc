// Token cache: a source is tokenized once and the ids + loss mask are stored in a binary file
// `<cache_dir>/<basename>.<key>.tok`, key = hash of (absolute source path, tokenizer fingerprint,
// format), so a changed source overwrites its own stale cache instead of leaving a new file behind.
//
// File layout (little-endian, 64-byte header, then the payload):
//   off size
//     0   8  magic "TMPRTOK\0"
//     8   4  u32 version (kTokenCacheVersion)
//    12   4  u32 id_bytes: 2 (u16 ids, vocab <= 65536) or 4 (u32 ids)
//    16   4  i32 vocab_size
//    20   4  i32 eos_id (-1: none)
//    24   8  u64 num_tokens N
//    32   8  u64 source_size  (bytes of the source file)
//    40   8  u64 source_hash  (FNV-1a 64 of the source bytes)
//    48   8  u64 tokenizer_hash (vocab size, eos id, caller's tokenizer id string, source format)
//    56   8  u64 payload_hash (FNV-1a 64 of the id bytes then the mask bytes)
//    64      N ids of id_bytes each, then N mask bytes (1 = training target)
// The file length must be exactly 64 + N * (id_bytes + 1). A cache that fails any check, or whose
// source/tokenizer fingerprint differs, is rebuilt (with a warning), never trusted.
// Writes go to a temporary file renamed into place, so readers (and other ranks building the same
// cache concurrently) only ever see complete files.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/data/text_source.h"
#include "runtime/data/tokenizer.h"

namespace temper {

constexpr uint32_t kTokenCacheVersion = 1;
constexpr size_t kTokenCacheHeaderBytes = 64;

struct TokenCacheHeader {
  uint32_t version = kTokenCacheVersion;
  uint32_t id_bytes = 2;
  int32_t vocab_size = 0;
  int32_t eos_id = -1;
  uint64_t num_tokens = 0;
  uint64_t source_size = 0;
  uint64_t source_hash = 0;
  uint64_t tokenizer_hash = 0;
  uint64_t payload_hash = 0;
};

// A tokenized source, as loaded from the cache or built from the source file.
struct TokenizedSource {
  std::string source_path;
  std::string cache_path;  // empty when no cache dir was given
  int32_t vocab_size = 0;  // the tokenizer's
  TokenStream tokens;
  bool from_cache = false;
};

struct TokenCacheOptions {
  std::string cache_dir;     // empty: tokenize in memory, no cache file
  std::string tokenizer_id;  // caller's identity of the tokenizer (e.g. path + hash of tokenizer.json)
  SourceFormat format = SourceFormat::Auto;
};

// Loads `source_path`'s tokens from the cache when it is valid and current, else tokenizes the
// source (and writes the cache when a cache dir is given).
TokenizedSource load_tokens(const std::string& source_path, const Tokenizer& tokenizer,
                            const TokenCacheOptions& options);

// Lower-level pieces (used by load_tokens; public for tests and tools).
uint64_t tokenizer_fingerprint(const Tokenizer& tokenizer, const std::string& tokenizer_id, SourceFormat format);
std::string token_cache_path(const std::string& cache_dir, const std::string& source_path, uint64_t tokenizer_hash);
// `header.num_tokens`, `id_bytes` and `payload_hash` are filled in from the tokens.
void write_token_cache(const std::string& cache_path, TokenCacheHeader header, const TokenStream& tokens);
// Full validation; InputError naming the cache file and the field on any problem.
TokenStream read_token_cache(const std::string& cache_path, TokenCacheHeader* header);

}  // namespace temper

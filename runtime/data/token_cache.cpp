// Token cache: binary layout, validation, atomic writes and the load-or-build policy
// (see token_cache.h for the file format).
#include "runtime/data/token_cache.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "runtime/error.h"
#include "runtime/logger.h"

namespace temper {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'T', 'M', 'P', 'R', 'T', 'O', 'K', '\0'};

bool host_is_little_endian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

template <class T>
void put(std::vector<char>& buf, size_t off, T v) {
  std::memcpy(buf.data() + off, &v, sizeof(T));
}
template <class T>
T get(const std::vector<char>& buf, size_t off) {
  T v;
  std::memcpy(&v, buf.data() + off, sizeof(T));
  return v;
}

std::vector<char> encode_header(const TokenCacheHeader& h) {
  std::vector<char> buf(kTokenCacheHeaderBytes, 0);
  std::memcpy(buf.data(), kMagic, sizeof(kMagic));
  put(buf, 8, h.version);
  put(buf, 12, h.id_bytes);
  put(buf, 16, h.vocab_size);
  put(buf, 20, h.eos_id);
  put(buf, 24, h.num_tokens);
  put(buf, 32, h.source_size);
  put(buf, 40, h.source_hash);
  put(buf, 48, h.tokenizer_hash);
  put(buf, 56, h.payload_hash);
  return buf;
}

TokenCacheHeader decode_header(const std::vector<char>& buf) {
  TokenCacheHeader h;
  h.version = get<uint32_t>(buf, 8);
  h.id_bytes = get<uint32_t>(buf, 12);
  h.vocab_size = get<int32_t>(buf, 16);
  h.eos_id = get<int32_t>(buf, 20);
  h.num_tokens = get<uint64_t>(buf, 24);
  h.source_size = get<uint64_t>(buf, 32);
  h.source_hash = get<uint64_t>(buf, 40);
  h.tokenizer_hash = get<uint64_t>(buf, 48);
  h.payload_hash = get<uint64_t>(buf, 56);
  return h;
}

// Ids narrowed to the on-disk width (the caller has checked they fit).
std::vector<char> pack_ids(const std::vector<int32_t>& ids, uint32_t id_bytes) {
  std::vector<char> out(ids.size() * id_bytes);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (id_bytes == 2)
      put(out, i * 2, static_cast<uint16_t>(ids[i]));
    else
      put(out, i * 4, static_cast<uint32_t>(ids[i]));
  }
  return out;
}

std::vector<int32_t> unpack_ids(const std::vector<char>& bytes, uint32_t id_bytes, size_t n) {
  std::vector<int32_t> ids(n);
  for (size_t i = 0; i < n; ++i)
    ids[i] = id_bytes == 2 ? static_cast<int32_t>(get<uint16_t>(bytes, i * 2))
                           : static_cast<int32_t>(get<uint32_t>(bytes, i * 4));
  return ids;
}

uint64_t payload_hash(const std::vector<char>& id_bytes, const std::vector<uint8_t>& mask) {
  return fnv1a64(mask.data(), mask.size(), fnv1a64(id_bytes.data(), id_bytes.size()));
}

void read_exact(std::ifstream& in, char* dst, size_t n, const std::string& path, const char* field) {
  in.read(dst, static_cast<std::streamsize>(n));
  TEMPER_INPUT_CHECK(static_cast<size_t>(in.gcount()) == n, path, field, "file is truncated");
}

void check_header(const TokenCacheHeader& h, uint64_t file_bytes, const std::string& path) {
  TEMPER_INPUT_CHECK(h.version == kTokenCacheVersion, path, "version", "version {} (expected {})", h.version,
                     kTokenCacheVersion);
  TEMPER_INPUT_CHECK(h.id_bytes == 2 || h.id_bytes == 4, path, "id_bytes", "{} (expected 2 or 4)", h.id_bytes);
  TEMPER_INPUT_CHECK(h.vocab_size > 0, path, "vocab_size", "{} must be positive", h.vocab_size);
  TEMPER_INPUT_CHECK(h.id_bytes == 4 || h.vocab_size <= 65536, path, "id_bytes",
                     "u16 ids cannot hold a vocabulary of {}", h.vocab_size);
  uint64_t max_tokens = (file_bytes - kTokenCacheHeaderBytes) / (h.id_bytes + 1);
  TEMPER_INPUT_CHECK(h.num_tokens <= max_tokens &&
                         kTokenCacheHeaderBytes + h.num_tokens * (h.id_bytes + 1) == file_bytes,
                     path, "num_tokens", "{} tokens of {} bytes + mask do not match the file length {}",
                     h.num_tokens, h.id_bytes, file_bytes);
}

void check_payload(const TokenStream& t, const TokenCacheHeader& h, const std::string& path) {
  for (size_t i = 0; i < t.ids.size(); ++i)
    TEMPER_INPUT_CHECK(t.ids[i] >= 0 && t.ids[i] < h.vocab_size, path, "token id",
                       "id {} at position {} is outside the vocabulary [0, {})", t.ids[i], i, h.vocab_size);
  for (size_t i = 0; i < t.mask.size(); ++i)
    TEMPER_INPUT_CHECK(t.mask[i] <= 1, path, "loss mask", "value {} at position {} (expected 0 or 1)",
                       static_cast<int>(t.mask[i]), i);
}

std::string temp_path_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}.tmp.{}.{}", path, static_cast<long>(::getpid()), counter++);
}

// Why a present cache cannot be used, or "" when it is valid and current.
std::string stale_reason(const TokenCacheHeader& h, const TokenCacheHeader& want) {
  if (h.source_size != want.source_size || h.source_hash != want.source_hash) return "the source changed";
  if (h.tokenizer_hash != want.tokenizer_hash || h.vocab_size != want.vocab_size || h.eos_id != want.eos_id)
    return "the tokenizer changed";
  return "";
}

TokenizedSource build_tokens(const std::string& source_path, const Tokenizer& tok, const TokenCacheOptions& opt,
                             TokenCacheHeader header, const std::string& cache_path) {
  auto start = std::chrono::steady_clock::now();
  std::string content = read_file_bytes(source_path);
  header.source_size = content.size();
  header.source_hash = fnv1a64(content.data(), content.size());
  TokenizedSource out{source_path, cache_path, tok.vocab_size(), {}, false};
  out.tokens = tokenize_source(source_path, content, opt.format, tok);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log_info("tokenized {}: {} tokens in {:.1f} s", source_path, out.tokens.size(), secs);
  if (cache_path.empty()) return out;
  try {
    write_token_cache(cache_path, header, out.tokens);
  } catch (const InputError& e) {  // the tokens are in memory: train on, just without a cache
    log_warn("could not write the token cache: {}", e.what());
    out.cache_path.clear();
  }
  return out;
}

}  // namespace

uint64_t tokenizer_fingerprint(const Tokenizer& tokenizer, const std::string& tokenizer_id, SourceFormat format) {
  std::string key = fmt::format("vocab={};eos={};format={};id=", tokenizer.vocab_size(), tokenizer.eos_id(),
                                format_name(format));
  key += tokenizer_id;
  return fnv1a64(key.data(), key.size());
}

std::string token_cache_path(const std::string& cache_dir, const std::string& source_path, uint64_t tokenizer_hash) {
  std::error_code ec;
  std::string abs = fs::absolute(source_path, ec).lexically_normal().string();
  if (ec) abs = source_path;
  uint64_t key = fnv1a64(abs.data(), abs.size(), tokenizer_hash);
  std::string name = fmt::format("{}.{:016x}.tok", fs::path(source_path).filename().string(), key);
  return (fs::path(cache_dir) / name).string();
}

void write_token_cache(const std::string& cache_path, TokenCacheHeader header, const TokenStream& tokens) {
  TEMPER_CHECK(host_is_little_endian(), "the token cache format assumes a little-endian host");
  TEMPER_CHECK(tokens.ids.size() == tokens.mask.size(), "ids ({}) and mask ({}) differ in length",
               tokens.ids.size(), tokens.mask.size());
  header.version = kTokenCacheVersion;
  header.id_bytes = header.vocab_size <= 65536 ? 2 : 4;
  header.num_tokens = tokens.ids.size();
  for (int32_t id : tokens.ids)
    TEMPER_CHECK(id >= 0 && id < header.vocab_size, "token id {} outside the vocabulary [0, {})", id,
                 header.vocab_size);
  std::vector<char> ids = pack_ids(tokens.ids, header.id_bytes);
  header.payload_hash = payload_hash(ids, tokens.mask);

  std::error_code ec;
  fs::create_directories(fs::path(cache_path).parent_path(), ec);
  const std::string tmp = temp_path_for(cache_path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    TEMPER_INPUT_CHECK(out.good(), cache_path, "cache_dir", "cannot create {}", tmp);
    std::vector<char> head = encode_header(header);
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    out.write(ids.data(), static_cast<std::streamsize>(ids.size()));
    out.write(reinterpret_cast<const char*>(tokens.mask.data()), static_cast<std::streamsize>(tokens.mask.size()));
    out.close();
    if (!out) fs::remove(tmp, ec);
    TEMPER_INPUT_CHECK(static_cast<bool>(out), cache_path, "cache_dir", "write failed (disk full?)");
  }
  fs::rename(tmp, cache_path, ec);
  if (ec) fs::remove(tmp, ec);
  TEMPER_INPUT_CHECK(!ec, cache_path, "cache_dir", "cannot rename the temporary file into place: {}", ec.message());
}

TokenStream read_token_cache(const std::string& cache_path, TokenCacheHeader* header_out) {
  TEMPER_CHECK(host_is_little_endian(), "the token cache format assumes a little-endian host");
  std::ifstream in(cache_path, std::ios::binary | std::ios::ate);
  TEMPER_INPUT_CHECK(in.good(), cache_path, "path", "cannot open the token cache");
  const auto file_bytes = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  TEMPER_INPUT_CHECK(file_bytes >= kTokenCacheHeaderBytes, cache_path, "header",
                     "file is truncated ({} bytes, header needs {})", file_bytes, kTokenCacheHeaderBytes);
  std::vector<char> head(kTokenCacheHeaderBytes);
  read_exact(in, head.data(), head.size(), cache_path, "header");
  TEMPER_INPUT_CHECK(std::memcmp(head.data(), kMagic, sizeof(kMagic)) == 0, cache_path, "magic",
                     "not a temper token cache");
  TokenCacheHeader h = decode_header(head);
  check_header(h, file_bytes, cache_path);

  const auto n = static_cast<size_t>(h.num_tokens);
  std::vector<char> id_bytes(n * h.id_bytes);
  TokenStream t;
  t.mask.resize(n);
  read_exact(in, id_bytes.data(), id_bytes.size(), cache_path, "token ids");
  read_exact(in, reinterpret_cast<char*>(t.mask.data()), n, cache_path, "loss mask");
  t.ids = unpack_ids(id_bytes, h.id_bytes, n);
  check_payload(t, h, cache_path);
  TEMPER_INPUT_CHECK(payload_hash(id_bytes, t.mask) == h.payload_hash, cache_path, "payload_hash",
                     "checksum mismatch (the file is corrupt)");
  if (header_out) *header_out = h;
  return t;
}

TokenizedSource load_tokens(const std::string& source_path, const Tokenizer& tokenizer,
                            const TokenCacheOptions& options) {
  TokenCacheHeader want;
  want.vocab_size = tokenizer.vocab_size();
  want.eos_id = tokenizer.eos_id();
  want.tokenizer_hash = tokenizer_fingerprint(tokenizer, options.tokenizer_id, options.format);
  if (options.cache_dir.empty()) return build_tokens(source_path, tokenizer, options, want, "");

  const std::string cache_path = token_cache_path(options.cache_dir, source_path, want.tokenizer_hash);
  std::error_code ec;
  if (!fs::exists(cache_path, ec)) return build_tokens(source_path, tokenizer, options, want, cache_path);

  SourceFingerprint fp = fingerprint_file(source_path);
  want.source_size = fp.size;
  want.source_hash = fp.hash;
  try {
    TokenCacheHeader have;
    TokenStream tokens = read_token_cache(cache_path, &have);
    std::string why = stale_reason(have, want);
    if (why.empty()) {
      log_info("loaded {} tokens of {} from cache {}", tokens.size(), source_path, cache_path);
      return TokenizedSource{source_path, cache_path, tokenizer.vocab_size(), std::move(tokens), true};
    }
    log_warn("token cache {} is stale ({}); rebuilding", cache_path, why);
  } catch (const InputError& e) {
    log_warn("token cache is unusable, rebuilding: {}", e.what());
  }
  return build_tokens(source_path, tokenizer, options, want, cache_path);
}

}  // namespace temper

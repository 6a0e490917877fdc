// Reading text / JSONL sources into a token stream with a loss mask (see text_source.h).
#include "runtime/data/text_source.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "runtime/error.h"

namespace temper {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

// Appends `ids` with one mask value, checking each id against the tokenizer's own vocabulary
// (an out-of-range id here is a tokenizer/vocabulary mismatch, reported against the source).
void append_tokens(TokenStream& out, const std::vector<int32_t>& ids, uint8_t mask, int32_t vocab,
                   const std::string& path) {
  for (int32_t id : ids)
    TEMPER_INPUT_CHECK(id >= 0 && id < vocab, path, "token id",
                       "the tokenizer produced id {} outside its vocabulary [0, {})", id, vocab);
  out.ids.insert(out.ids.end(), ids.begin(), ids.end());
  out.mask.insert(out.mask.end(), ids.size(), mask);
}

// Ends a document: eos (a training target, so the model learns to stop) when the tokenizer has one.
void end_document(TokenStream& out, const Tokenizer& tok) {
  if (tok.eos_id() < 0) return;
  out.ids.push_back(tok.eos_id());
  out.mask.push_back(1);
}

void add_text_document(TokenStream& out, const std::string& text, const Tokenizer& tok, const std::string& path) {
  std::vector<int32_t> ids = tok.encode(text);
  if (ids.empty()) return;  // empty documents add nothing, not even an eos
  append_tokens(out, ids, 1, tok.vocab_size(), path);
  end_document(out, tok);
}

// Prompt and completion are encoded separately so the mask boundary falls on a token boundary.
void add_prompt_completion(TokenStream& out, const std::string& prompt, const std::string& completion,
                           const Tokenizer& tok, const std::string& path) {
  std::vector<int32_t> p = tok.encode(prompt), c = tok.encode(completion);
  if (p.empty() && c.empty()) return;
  append_tokens(out, p, 0, tok.vocab_size(), path);
  append_tokens(out, c, 1, tok.vocab_size(), path);
  end_document(out, tok);
}

std::string get_string(const nlohmann::json& obj, const char* key, const std::string& path,
                       const std::string& where) {
  auto it = obj.find(key);
  TEMPER_INPUT_CHECK(it != obj.end(), path, where, "missing \"{}\"", key);
  TEMPER_INPUT_CHECK(it->is_string(), path, where, "\"{}\" must be a string, got {}", key, it->type_name());
  return it->get<std::string>();
}

nlohmann::json parse_line(const std::string& line, const std::string& path, const std::string& where) {
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(path, where, fmt::format("invalid JSON ({})", e.what()));
  }
}

void add_jsonl_line(TokenStream& out, const std::string& line, size_t line_no, const Tokenizer& tok,
                    const std::string& path) {
  const std::string where = fmt::format("line {}", line_no);
  nlohmann::json obj = parse_line(line, path, where);
  TEMPER_INPUT_CHECK(obj.is_object(), path, where, "expected a JSON object, got {}", obj.type_name());
  if (obj.contains("text")) {
    add_text_document(out, get_string(obj, "text", path, where), tok, path);
    return;
  }
  TEMPER_INPUT_CHECK(obj.contains("prompt") || obj.contains("completion"), path, where,
                     "missing \"text\" or \"prompt\"/\"completion\"");
  add_prompt_completion(out, get_string(obj, "prompt", path, where), get_string(obj, "completion", path, where),
                        tok, path);
}

void add_jsonl(TokenStream& out, const std::string& content, const Tokenizer& tok, const std::string& path) {
  size_t line_no = 0, begin = 0;
  while (begin < content.size()) {
    size_t end = content.find('\n', begin);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(begin, end - begin);
    begin = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    add_jsonl_line(out, line, line_no, tok, path);
  }
}

}  // namespace

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

SourceFingerprint fingerprint_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TEMPER_INPUT_CHECK(in.good(), path, "path", "cannot open the file (missing or unreadable)");
  SourceFingerprint fp;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto got = static_cast<size_t>(in.gcount());
    fp.hash = fnv1a64(buf.data(), got, fp.hash);
    fp.size += got;
  }
  TEMPER_INPUT_CHECK(in.eof(), path, "path", "read error");
  return fp;
}

SourceFormat resolve_format(const std::string& path, SourceFormat format) {
  if (format != SourceFormat::Auto) return format;
  return ends_with(path, ".jsonl") || ends_with(path, ".ndjson") ? SourceFormat::Jsonl : SourceFormat::Text;
}

const char* format_name(SourceFormat format) {
  switch (format) {
    case SourceFormat::Auto: return "auto";
    case SourceFormat::Text: return "text";
    case SourceFormat::Jsonl: return "jsonl";
  }
  return "?";
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TEMPER_INPUT_CHECK(in.good(), path, "path", "cannot open the file (missing or unreadable)");
  std::ostringstream ss;
  ss << in.rdbuf();
  TEMPER_INPUT_CHECK(!in.bad(), path, "path", "read error");
  return ss.str();
}

TokenStream tokenize_source(const std::string& path, const std::string& content, SourceFormat format,
                            const Tokenizer& tokenizer) {
  TokenStream out;
  if (resolve_format(path, format) == SourceFormat::Jsonl)
    add_jsonl(out, content, tokenizer, path);
  else if (!content.empty())
    add_text_document(out, content, tokenizer, path);
  TEMPER_INPUT_CHECK(!out.ids.empty(), path, "data", "empty data set: the source holds no tokens");
  bool any_target = std::any_of(out.mask.begin(), out.mask.end(), [](uint8_t m) { return m != 0; });
  TEMPER_INPUT_CHECK(any_target, path, "completion", "no training targets: every completion is empty");
  return out;
}

}  // namespace temper

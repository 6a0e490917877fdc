// HF's BertNormalizer and BertPreTokenizer on code point strings, step by step in HF's order:
// clean_text, handle_chinese_chars, strip_accents (NFD of the whole string with canonical
// ordering, then nonspacing marks dropped), lowercase. The Unicode tables behind them are read
// off HF itself (wordpiece_unicode.cpp), so each step matches HF code point for code point.
#include <algorithm>

#include "runtime/data/byte_level.h"
#include "runtime/data/unicode_tables.h"
#include "runtime/data/wordpiece_tokenizer.h"
#include "runtime/data/wordpiece_unicode.h"

namespace temper {
namespace {

void clean_text(std::u32string& text) {
  size_t n = 0;
  for (char32_t c : text) {
    if (bert_is_removed_by_clean(c)) continue;
    text[n++] = bert_is_clean_space(c) ? U' ' : c;
  }
  text.resize(n);
}

std::u32string pad_chinese_chars(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (bert_is_chinese_char(c)) {
      out += U' ';
      out += c;
      out += U' ';
    } else {
      out += c;
    }
  }
  return out;
}

// Canonical ordering: a stable sort by combining class of each run of non-starters.
void canonical_order(std::u32string& text) {
  auto by_class = [](char32_t x, char32_t y) { return bert_combining_class(x) < bert_combining_class(y); };
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    while (j < text.size() && bert_combining_class(text[j]) != 0) ++j;
    if (j - i > 1) std::stable_sort(text.begin() + i, text.begin() + j, by_class);
    i = j == i ? i + 1 : j;
  }
}

std::u32string strip_accents(const std::u32string& text) {
  std::u32string nfd;
  nfd.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0xC0) {
      nfd += c;  // nothing below U+00C0 decomposes
    } else {
      bert_append_nfd(c, nfd);
    }
  }
  canonical_order(nfd);
  nfd.erase(std::remove_if(nfd.begin(), nfd.end(), bert_is_nonspacing_mark), nfd.end());
  return nfd;
}

std::u32string lowercase(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out += (c >= U'A' && c <= U'Z') ? c + 32 : c;
    } else {
      bert_append_lowercase(c, out);
    }
  }
  return out;
}

}  // namespace

std::u32string bert_normalize(std::u32string text, const BertNormalizerConfig& config) {
  if (!config.enabled) return text;
  if (config.clean_text) clean_text(text);
  if (config.handle_chinese_chars) text = pad_chinese_chars(text);
  if (config.strip_accents) text = strip_accents(text);
  if (config.lowercase) text = lowercase(text);
  return text;
}

std::vector<std::u32string> bert_pre_tokenize(const std::u32string& text) {
  std::vector<std::u32string> words;
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (char32_t c : text) {
    if (is_unicode_whitespace(c)) {
      flush();
    } else if (bert_is_punctuation(c)) {
      flush();
      words.emplace_back(1, c);
    } else {
      word += c;
    }
  }
  flush();
  return words;
}

std::u32string utf8_to_u32(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Char c = decode_utf8(text, pos);
    out += c.valid ? c.cp : char32_t{0xFFFD};
    pos += c.len;
  }
  return out;
}

std::string u32_to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

}  // namespace temper

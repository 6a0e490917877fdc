// GPT-2 regex split by hand (see pretokenizer.h). The text is first decoded into code points
// with a class each; the regex alternatives are then tried in order at each match start.
#include "runtime/data/pretokenizer.h"

#include <cstdint>

#include "runtime/data/byte_level.h"
#include "runtime/data/unicode_tables.h"

namespace temper {
namespace {

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

struct Char {
  size_t offset;  // byte offset of the char in the text
  CharClass cls;
};

CharClass classify(const Utf8Char& c) {
  if (!c.valid) return CharClass::kOther;
  if (is_unicode_letter(c.cp)) return CharClass::kLetter;
  if (is_unicode_number(c.cp)) return CharClass::kNumber;
  if (is_unicode_whitespace(c.cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

// Code points of `text` plus a sentinel entry at text.size().
std::vector<Char> decode_chars(std::string_view text) {
  std::vector<Char> chars;
  chars.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Char c = decode_utf8(text, pos);
    chars.push_back({pos, classify(c)});
    pos += c.len;
  }
  chars.push_back({text.size(), CharClass::kOther});
  return chars;
}

// Length in bytes of a contraction ('s 't 're 've 'm 'll 'd) at text[pos], or 0.
size_t contraction_len(std::string_view text, size_t pos) {
  if (text[pos] != '\'' || pos + 1 >= text.size()) return 0;
  const char a = text[pos + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 >= text.size()) return 0;
  const char b = text[pos + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End (char index) of the match starting at char i; n = number of chars (excl. sentinel).
size_t match_end(std::string_view text, const std::vector<Char>& chars, size_t i, size_t n) {
  auto run_end = [&](size_t j, CharClass cls) {
    while (j < n && chars[j].cls == cls) ++j;
    return j;
  };
  // Contractions are all ASCII: one char per byte.
  if (const size_t len = contraction_len(text, chars[i].offset)) return i + len;
  const CharClass cls = chars[i].cls;
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an ASCII space may lead a run of the class
  // that follows it.
  if (text[chars[i].offset] == ' ' && i + 1 < n && chars[i + 1].cls != CharClass::kSpace) {
    return run_end(i + 1, chars[i + 1].cls);
  }
  if (cls != CharClass::kSpace) return run_end(i, cls);
  // `\s+(?!\S)`: a whitespace run not followed by a non-space char, i.e. the run minus its
  // last char when something follows; `\s+` takes a lone space char before a non-space.
  const size_t j = run_end(i, CharClass::kSpace);
  if (j == n || j - i == 1) return j;
  return j - 1;
}

}  // namespace

void gpt2_split(std::string_view text, std::vector<TextSpan>& out) {
  const std::vector<Char> chars = decode_chars(text);
  const size_t n = chars.size() - 1;
  for (size_t i = 0; i < n;) {
    const size_t j = match_end(text, chars, i, n);
    out.push_back({chars[i].offset, chars[j].offset});
    i = j;
  }
}

void digits_split(std::string_view text, bool individual, std::vector<TextSpan>& out) {
  size_t start = 0;          // start of the current piece
  bool in_digits = false;    // whether the current piece is numeric
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Char c = decode_utf8(text, pos);
    const bool digit = c.valid && is_unicode_number(c.cp);
    if (pos > start && (digit != in_digits || (digit && individual))) {
      out.push_back({start, pos});
      start = pos;
    }
    in_digits = digit;
    pos += c.len;
  }
  if (start < text.size()) out.push_back({start, text.size()});
}

}  // namespace temper

// Byte-level helpers for GPT-2 style BPE: the reversible byte <-> printable-unicode map (every
// byte becomes one visible code point, so BPE vocabularies are plain strings), and the UTF-8
// decoding/encoding used by the pre-tokenizer and the decoder.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace temper {

// UTF-8 encoding of the code point GPT-2 maps `byte` to ('A' -> "A", ' ' -> "Ġ", '\n' -> "Ċ").
const std::string& byte_to_unicode(unsigned char byte);

// The byte a code point stands for in the GPT-2 map, or -1 when it is not one of the 256.
int unicode_to_byte(char32_t cp);

struct Utf8Char {
  char32_t cp;   // the code point; meaningless when !valid
  size_t len;    // bytes consumed, >= 1
  bool valid;    // false: `len` bytes are an invalid/truncated sequence (a maximal subpart)
};

// Decodes the character at text[pos] (pos < text.size()). Invalid input never throws: it
// yields {valid=false, len=length of the maximal ill-formed subpart}, as Rust and the Unicode
// standard's recommended practice do.
Utf8Char decode_utf8(std::string_view text, size_t pos);

void append_utf8(std::string& out, char32_t cp);

// Replaces each ill-formed subsequence with U+FFFD (Rust's String::from_utf8_lossy).
std::string utf8_lossy(std::string_view bytes);

}  // namespace temper

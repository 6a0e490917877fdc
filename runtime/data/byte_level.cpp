// GPT-2 byte <-> unicode map and UTF-8 helpers (see byte_level.h).
#include "runtime/data/byte_level.h"

#include <array>

namespace temper {
namespace {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
// themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) take U+0100, U+0101,
// ... in byte order, so every byte has a visible, non-whitespace stand-in.
bool maps_to_itself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

constexpr int kShifted = 68;  // bytes that do not map to themselves

struct ByteMap {
  std::array<std::string, 256> to_unicode;
  std::array<int, kShifted> shifted_byte{};  // byte behind U+0100 + k
  ByteMap() {
    int k = 0;
    for (int b = 0; b < 256; ++b) {
      if (maps_to_itself(b)) {
        append_utf8(to_unicode[b], static_cast<char32_t>(b));
      } else {
        append_utf8(to_unicode[b], static_cast<char32_t>(0x100 + k));
        shifted_byte[k++] = b;
      }
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

const std::string& byte_to_unicode(unsigned char byte) { return byte_map().to_unicode[byte]; }

int unicode_to_byte(char32_t cp) {
  if (cp < 0x100) return maps_to_itself(static_cast<int>(cp)) ? static_cast<int>(cp) : -1;
  if (cp >= 0x100 + kShifted) return -1;
  return byte_map().shifted_byte[cp - 0x100];
}

Utf8Char decode_utf8(std::string_view text, size_t pos) {
  const auto b0 = static_cast<unsigned char>(text[pos]);
  if (b0 < 0x80) return {b0, 1, true};
  int need = 0;
  char32_t cp = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the next continuation byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong 3-byte forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlong 4-byte forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {0, 1, false};  // stray continuation byte, C0/C1, F5..FF
  }
  size_t i = pos + 1;
  for (int k = 0; k < need; ++k, ++i) {
    if (i >= text.size()) return {0, i - pos, false};
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < lo || b > hi) return {0, i - pos, false};
    cp = (cp << 6) | (b & 0x3F);
    lo = 0x80, hi = 0xBF;
  }
  return {cp, i - pos, true};
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    const Utf8Char c = decode_utf8(bytes, pos);
    if (c.valid) {
      out.append(bytes.data() + pos, c.len);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    }
    pos += c.len;
  }
  return out;
}

}  // namespace temper

// GPT-2 pre-tokenizer: splits text into the pieces BPE runs on, exactly as the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does (leftmost-first alternation, as HF `tokenizers` runs it), hand-written over UTF-8. Also HF's
// Digits pre-tokenizer, which runs before it in some vocabularies (SmolLM2: Sequence[Digits, ByteLevel]).
#pragma once
#include <cstddef>
#include <string_view>
#include <vector>

namespace temper {

struct TextSpan {
  size_t begin, end;  // byte offsets, [begin, end)
};

// Appends the pieces of `text` to `out`; they tile the text (no gaps). Invalid UTF-8 never
// throws: each ill-formed subsequence counts as one "other" (not letter/number/space) char.
void gpt2_split(std::string_view text, std::vector<TextSpan>& out);

// HF `Digits` pre-tokenizer: numeric chars (general category N*, Rust's char::is_numeric) are
// isolated, each on its own when `individual`, else as maximal runs; the text between them forms
// the other pieces. Appends pieces tiling `text` to `out`; invalid UTF-8 counts as non-numeric.
void digits_split(std::string_view text, bool individual, std::vector<TextSpan>& out);

}  // namespace temper

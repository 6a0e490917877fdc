#!/usr/bin/env python3
"""Generate runtime/data/wordpiece_unicode.cpp: the Unicode tables of HF's BertNormalizer and
BertPreTokenizer (runtime/data/wordpiece_unicode.h declares the lookups).

HF `tokenizers` mixes several Unicode versions: `unicode_categories` (an old crate) decides what
clean_text removes (Cc, Cf, Co; *not* Cn), what strip_accents drops (Mn) and what is punctuation;
`unicode-normalization` does NFD with its own combining classes; Rust's std lowercases (Unicode
16). No single `unicodedata` version reproduces that mix, so every table is read off the peer
itself: each of the 1.1M code points is run through HF's normalizers / pre-tokenizer, one
feature at a time. Only the one-level canonical decompositions come from `unicodedata` (their
full expansion is checked against HF's NFD for every code point). Before writing, the script
re-runs every lookup from the emitted tables against HF and stops on any difference.

    python3 tools/make_wordpiece_unicode.py   # needs the `tokenizers` package
"""
import pathlib
import sys
import unicodedata

from tokenizers import normalizers, pre_tokenizers

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "runtime" / "data" / "wordpiece_unicode.cpp"
CODE_POINTS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def bert(clean=False, chinese=False, strip=False, lower=False):
    return normalizers.BertNormalizer(clean_text=clean, handle_chinese_chars=chinese,
                                      strip_accents=strip, lowercase=lower)


def run_all(normalizer):
    """What `normalizer` makes of each code point alone."""
    return {cp: normalizer.normalize_str(chr(cp)) for cp in CODE_POINTS}


def ranges(cps):
    """Inclusive [first, last] ranges covering the sorted code points `cps`."""
    out = []
    for cp in sorted(cps):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def valued_ranges(values):
    """[first, last, value] ranges over a {cp: value} map, merging equal neighbours."""
    out = []
    for cp in sorted(values):
        if out and out[-1][1] == cp - 1 and out[-1][2] == values[cp]:
            out[-1][1] = cp
        else:
            out.append([cp, cp, values[cp]])
    return out


def lowercase_runs(mapping):
    """[first, last, stride, delta] runs: cp in [first, last] with (cp - first) % stride == 0
    lowercases to cp + delta. Latin Extended-A style alternation becomes stride 2."""
    runs = []
    for cp in sorted(mapping):
        delta = mapping[cp] - cp
        if runs:
            first, last, stride, d = runs[-1]
            if d == delta and ((first == last and cp - last in (1, 2)) or cp - last == stride):
                runs[-1] = [first, cp, cp - last, d]
                continue
        runs.append([cp, cp, 1, delta])
    return runs


def probe_combining_classes(nfd):
    """HF's canonical combining class of each NFD-stable code point (0 for starters). Nonzero is
    found with two probes (U+0334 has class 1, U+0301 class 230); the value is then taken from
    `unicodedata` and checked against references of every class below."""
    ccc = {}
    for cp in CODE_POINTS:
        s = chr(cp)
        if nfd.normalize_str(s) != s:
            continue
        after_1 = nfd.normalize_str(s + "\u0334") == "\u0334" + s
        before_230 = nfd.normalize_str("\u0301" + s) == s + "\u0301"
        if after_1 or before_230:
            ccc[cp] = unicodedata.combining(s)
            assert ccc[cp] != 0, f"U+{cp:04X}: HF reorders it, unicodedata says class 0"
    refs = {}
    for cp, c in ccc.items():
        refs.setdefault(c, cp)
    for cp, c in ccc.items():
        for rc, ref in refs.items():
            want = chr(cp) + chr(ref) if c < rc else chr(ref) + chr(cp)
            assert nfd.normalize_str(chr(ref) + chr(cp)) == want, f"class of U+{cp:04X}"
    return ccc


def canonical_decompositions(nfd_out):
    """One-level canonical decompositions {cp: (first, second or 0)} of every code point HF's
    NFD changes (Hangul syllables excepted: they decompose arithmetically)."""
    out = {}
    for cp, full in nfd_out.items():
        if full == chr(cp) or HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        fields = unicodedata.decomposition(chr(cp)).split()
        assert fields and not fields[0].startswith("<"), f"U+{cp:04X} has no canonical mapping"
        parts = [int(f, 16) for f in fields]
        assert len(parts) in (1, 2)
        out[cp] = (parts[0], parts[1] if len(parts) == 2 else 0)
    return out


def probe():
    nfd = normalizers.NFD()
    clean = run_all(bert(clean=True))
    pre = pre_tokenizers.BertPreTokenizer()
    punct, space = [], []
    for cp in CODE_POINTS:
        if chr(cp) in "ab":
            continue
        n = len(pre.pre_tokenize_str("a" + chr(cp) + "b"))
        (punct if n == 3 else space if n == 2 else []).append(cp)
    t = {
        "removed": [cp for cp, o in clean.items() if o == ""],
        "clean_space": [cp for cp, o in clean.items() if o == " " and cp != 0x20],
        "chinese": [cp for cp, o in run_all(bert(chinese=True)).items() if o != chr(cp)],
        "punct": punct,
        "split_space": space,
        "nfd": run_all(nfd),
        "strip": run_all(bert(strip=True)),
        "lower": run_all(bert(lower=True)),
        "ccc": probe_combining_classes(nfd),
    }
    t["nonspacing"] = [cp for cp, o in t["strip"].items() if o == "" and t["nfd"][cp] == chr(cp)]
    t["nonspacing_set"] = set(t["nonspacing"])
    t["decomp"] = canonical_decompositions(t["nfd"])
    return t


# ---- a Python twin of the C++ lookups, run against HF before anything is written ----

def expand(cp, decomp, out):
    if HANGUL_FIRST <= cp <= HANGUL_LAST:
        s = cp - HANGUL_FIRST
        out += [0x1100 + s // 588, 0x1161 + (s % 588) // 28] + ([0x11A7 + s % 28] if s % 28 else [])
    elif cp in decomp:
        first, second = decomp[cp]
        expand(first, decomp, out)
        if second:
            expand(second, decomp, out)
    else:
        out.append(cp)


def twin_strip(cp, t):
    seq = []
    expand(cp, t["decomp"], seq)
    seq = twin_sorted(seq, t)
    return seq, "".join(chr(c) for c in seq if c not in t["nonspacing_set"])


def twin_lower(cp, runs):
    if cp == 0x130:
        return "i\u0307"
    for first, last, stride, delta in runs:
        if first <= cp <= last and (cp - first) % stride == 0:
            return chr(cp + delta)
    return chr(cp)


def verify(t, runs):
    ok = True
    for cp in CODE_POINTS:
        seq, stripped = twin_strip(cp, t)
        if "".join(map(chr, seq)) != t["nfd"][cp] or stripped != t["strip"][cp]:
            print(f"NFD/strip mismatch at U+{cp:04X}", file=sys.stderr)
            ok = False
        if twin_lower(cp, runs) != t["lower"][cp]:
            print(f"lowercase mismatch at U+{cp:04X}", file=sys.stderr)
            ok = False
    white = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
             0x2029, 0x202F, 0x205F, 0x3000}
    if set(t["split_space"]) != white:
        print("BertPreTokenizer whitespace is not the White_Space property", file=sys.stderr)
        ok = False
    # strip_accents then lowercase on pairs with combining marks (canonical ordering at work)
    both = bert(strip=True)
    marks = [0x301, 0x334, 0x1D165, 0x1D16D, 0x302E, 0x8D4, 0x1B44, 0x11446, 0x1E94A, 0x93C]
    for a in marks:
        for b in marks:
            s = "e" + chr(a) + chr(b)
            seq = []
            for ch in s:
                seq += twin_strip(ord(ch), t)[0]
            got = "".join(chr(c) for c in twin_sorted(seq, t) if c not in t["nonspacing_set"])
            if got != both.normalize_str(s):
                print(f"canonical ordering mismatch on {s!r}", file=sys.stderr)
                ok = False
    return ok


def twin_sorted(seq, t):
    """Canonical ordering: a stable sort by class inside each run of nonzero classes."""
    seq = list(seq)
    i = 0
    while i < len(seq):
        j = i
        while j < len(seq) and t["ccc"].get(seq[j], 0):
            j += 1
        seq[i:j] = sorted(seq[i:j], key=lambda c: t["ccc"][c])
        i = j + 1 if j == i else j
    return seq


# ---- C++ output ----

def emit(name, ctype, rows, fmt):
    lines = [f"constexpr {ctype} {name}[] = {{"]
    row = "   "
    for r in rows:
        item = " " + fmt(r) + ","
        if len(row) + len(item) > 120:  # the .clang-format column limit
            lines.append(row)
            row = "   "
        row += item
    lines.append(row)
    lines.append("};")
    return "\n".join(lines)


def hexr(r):
    return "{" + ", ".join(f"0x{v:X}" for v in r) + "}"


def render(t, runs):
    tables = [
        ("kCleanRemoved", "Range", ranges(t["removed"]), hexr,
         "clean_text removes these (Cc but \\t\\n\\r, Cf, Co, U+FFFD; not Cn)"),
        ("kCleanSpace", "Range", ranges(t["clean_space"]), hexr,
         "clean_text turns these into ' ' (\\t\\n\\r and White_Space that is not Cc)"),
        ("kChinese", "Range", ranges(t["chinese"]), hexr,
         "handle_chinese_chars pads these with spaces (CJK ideograph blocks)"),
        ("kPunctuation", "Range", ranges(t["punct"]), hexr,
         "BertPreTokenizer isolates these (ASCII punctuation/symbols and P* of an old Unicode)"),
        ("kNonspacingMark", "Range", ranges(t["nonspacing"]), hexr,
         "strip_accents drops these after NFD (Mn of an old Unicode)"),
        ("kCombiningClass", "ClassRange", valued_ranges(t["ccc"]), hexr,
         "canonical combining class (NFD ordering) where nonzero, as HF's NFD has it"),
        ("kDecomposition", "Decomposition", [(cp, *t["decomp"][cp]) for cp in sorted(t["decomp"])],
         hexr, "one-level canonical decompositions (second = 0: a singleton); Hangul is arithmetic"),
        ("kLowercase", "LowerRun", [(a, b, s, d & 0xFFFFFFFF) for a, b, s, d in runs],
         lambda r: "{" + f"0x{r[0]:X}, 0x{r[1]:X}, {r[2]}, " +
         (f"{r[3] - (1 << 32)}" if r[3] >= 1 << 31 else f"{r[3]}") + "}",
         "lowercase: cp in [first, last] with (cp - first) % stride == 0 maps to cp + delta"),
    ]
    body = []
    for name, ctype, rows, fmt, what in tables:
        body.append(f"// {what} ({len(rows)} entries).")
        body.append(emit(name, ctype, rows, fmt))
        body.append("")
    return TEMPLATE.format(version=__import__("tokenizers").__version__, tables="\n".join(body))


TEMPLATE = """// GENERATED by tools/make_wordpiece_unicode.py from HF `tokenizers` {version} itself (every
// code point run through its BertNormalizer / BertPreTokenizer / NFD); do not edit. The Unicode
// tables behind WordPieceTokenizer's normalizer and pre-tokenizer (wordpiece_unicode.h).
#include "runtime/data/wordpiece_unicode.h"

#include <algorithm>
#include <iterator>

namespace temper {{
namespace {{

struct Range {{
  char32_t first, last;  // inclusive
}};
struct ClassRange {{
  char32_t first, last;
  uint8_t ccc;
}};
struct Decomposition {{
  char32_t cp, first, second;
}};
struct LowerRun {{
  char32_t first, last;
  int32_t stride, delta;
}};

{tables}
template <typename T, size_t N>
const T* find_range(const T (&table)[N], char32_t cp) {{
  const T* it = std::upper_bound(std::begin(table), std::end(table), cp,
                                 [](char32_t c, const T& r) {{ return c < r.first; }});
  if (it == std::begin(table)) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}}

constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;

}}  // namespace

bool bert_is_removed_by_clean(char32_t cp) {{ return find_range(kCleanRemoved, cp) != nullptr; }}
bool bert_is_clean_space(char32_t cp) {{ return cp == U' ' || find_range(kCleanSpace, cp) != nullptr; }}
bool bert_is_chinese_char(char32_t cp) {{ return find_range(kChinese, cp) != nullptr; }}
bool bert_is_punctuation(char32_t cp) {{ return find_range(kPunctuation, cp) != nullptr; }}
bool bert_is_nonspacing_mark(char32_t cp) {{ return find_range(kNonspacingMark, cp) != nullptr; }}

uint8_t bert_combining_class(char32_t cp) {{
  const ClassRange* r = find_range(kCombiningClass, cp);
  return r ? r->ccc : 0;
}}

void bert_append_nfd(char32_t cp, std::u32string& out) {{
  if (cp >= kHangulFirst && cp <= kHangulLast) {{
    const char32_t s = cp - kHangulFirst;
    out.push_back(0x1100 + s / 588);
    out.push_back(0x1161 + (s % 588) / 28);
    if (s % 28) out.push_back(0x11A7 + s % 28);
    return;
  }}
  const Decomposition* d = std::lower_bound(
      std::begin(kDecomposition), std::end(kDecomposition), cp,
      [](const Decomposition& e, char32_t c) {{ return e.cp < c; }});
  if (d == std::end(kDecomposition) || d->cp != cp) {{
    out.push_back(cp);
    return;
  }}
  bert_append_nfd(d->first, out);
  if (d->second) bert_append_nfd(d->second, out);
}}

void bert_append_lowercase(char32_t cp, std::u32string& out) {{
  if (cp == 0x130) {{  // the one multi-char lowercase: U+0130 -> "i" U+0307
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }}
  const LowerRun* r = find_range(kLowercase, cp);
  const bool hit = r && (cp - r->first) % static_cast<char32_t>(r->stride) == 0;
  out.push_back(hit ? static_cast<char32_t>(static_cast<int64_t>(cp) + r->delta) : cp);
}}

const char* bert_unicode_source() {{ return "HF tokenizers {version}"; }}

}}  // namespace temper
"""


def main():
    t = probe()
    lower = {cp: ord(o) for cp, o in t["lower"].items() if o != chr(cp) and len(o) == 1}
    multi = [cp for cp, o in t["lower"].items() if len(o) != 1]
    assert multi == [0x130], f"unexpected multi-char lowercase: {multi}"
    runs = lowercase_runs(lower)
    if not verify(t, runs):
        sys.exit("tables do not reproduce HF; nothing written")
    OUT.write_text(render(t, runs))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()

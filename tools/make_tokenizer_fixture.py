#!/usr/bin/env python3
"""Make tests/fixtures/tokenizer/: a small byte-level BPE trained with HF `tokenizers`, and the
ids HF gives for a set of edge-case texts, which tests/test_tokenizer.cpp must reproduce.

    python3 tools/make_tokenizer_fixture.py

Writes
  tokenizer.json         HF tokenizer (vocab ~1000, <|endoftext|> special), trained on a corpus
                         generated here deterministically
  vocab.json, merges.txt the same model saved as GPT-2 style files
  expected.json          per test text: HF ids (as is, with add_prefix_space=true, and with
                         extra added tokens) and decode(ids, skip_special_tokens=False)
  gpt2_expected.json     ids of the same texts (plus a longer sample) under the real GPT-2
                         tokenizer; only when tools/fetch_gpt2_tokenizer.sh has been run
"""
import json
import pathlib
import random
import sys

from tokenizers import (AddedToken, ByteLevelBPETokenizer, Tokenizer, decoders, models,
                        pre_tokenizers)

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tokenizer"
GPT2_DIR = ROOT / ".cache" / "gpt2-tokenizer"
EOT = "<|endoftext|>"

# ---- training corpus ------------------------------------------------------------------------

WORDS = """the of and to in is was for that on with as by at from it be this have are not
or an but which one all were their they had has been would there more when can if will so
about some what time people year day way man world life hand part child eye woman place work
week case point number group problem fact small large good new first last long great little
own other old right big high different next early young important few public bad same able
river mountain city village market garden kitchen window table letter music story history
science language computer network model train data token weight value layer people morning
evening quickly slowly carefully really never always often perhaps because although while""".split()
NAMES = "Alice Bob Carol Dave Eve Mallory Oscar Peggy Trent Victor Walter Zoe".split()
CONTRACTIONS = ("don't can't won't isn't I'll you'll we'll I've we've they've I'm I'd you'd "
                "she's he's it's that's there's they're we're you're shouldn't O'Brien").split()
FOREIGN = ("café naïve résumé façade jalapeño Zürich Ærøskøbing São Paulo Kraków Ελλάδα λόγος "
           "привет мир Москва 中文 日本語 東京 한국어 서울 مرحبا عالم नमस्ते दुनिया สวัสดี "
           "ㄅㄆㄇ ÅÄÖ åäö ñ ß Ωμέγα").split()
SYMBOLS = ("😀 👍 🎉 ❤️ 👨‍👩‍👧 ★ → ← ± × ÷ € £ ¥ § ¶ © ® ™ … — – «» “quotes” ‘single’ "
           "١٢٣ ٤٥٦ ½ ¾ ² ³ Ⅻ").split()
PUNCT = [".", ",", "!", "?", ";", ":", " -", "...", " (", ")", "\"", "'"]


def corpus_sentence(rng):
    words = []
    for _ in range(rng.randint(4, 16)):
        r = rng.random()
        if r < 0.62:
            words.append(rng.choice(WORDS))
        elif r < 0.70:
            words.append(rng.choice(NAMES))
        elif r < 0.78:
            words.append(rng.choice(CONTRACTIONS))
        elif r < 0.86:
            words.append(str(rng.choice([rng.randint(0, 99), rng.randint(100, 99999),
                                         rng.randint(1900, 2030)])))
        elif r < 0.93:
            words.append(rng.choice(FOREIGN))
        else:
            words.append(rng.choice(SYMBOLS))
    sentence = " ".join(words)
    sentence = sentence[0].upper() + sentence[1:]
    return sentence + rng.choice(PUNCT[:4])


def corpus_line(rng):
    r = rng.random()
    if r < 0.08:
        return "\t" + corpus_sentence(rng)  # indented
    if r < 0.14:
        return "def f_{0}(x):\n    return x * {0} + {1}  # note".format(rng.randint(0, 9),
                                                                      rng.randint(0, 99))
    if r < 0.18:
        return ""  # blank line
    if r < 0.24:
        return corpus_sentence(rng) + "  " + corpus_sentence(rng)  # two spaces
    return " ".join(corpus_sentence(rng) for _ in range(rng.randint(1, 3)))


def make_corpus(seed, lines):
    rng = random.Random(seed)
    return [corpus_line(rng) for _ in range(lines)]


# ---- test texts (not the training lines) ------------------------------------------------------

EDGE_CASES = [
    "", " ", "    ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t  \n", "trailing spaces   ",
    "   leading spaces", "a  b   c    d", "two\n\nparagraphs\n\n\nhere", "tab\tseparated\tvalues",
    "Hello, world!", "Hello World HELLO world hello",
    "don't I'll we've they're she's it'd you'll", "'s 't 're 've 'm 'll 'd", "'S 'LL 'Re",
    "'", "''", " 's", "O'Neil rock'n'roll ''quoted'' 'single'", "end'", "it's'",
    "1234567", "12345678901234567890", "3.14159 1,000,000 -42 +7 1e10 0x1F", "year 2024: 12/31",
    EOT, f"Hello{EOT}World", f"{EOT}{EOT}", f" {EOT} ", "<|endoftext|", f"{EOT}\n",
    f"a{EOT}b<|end", f"text before\n\n{EOT}\n\ntext after",
    "café naïve résumé", "Zürich Ærøskøbing Kraków", "中文测试，日本語のテキスト。", "한국어 텍스트",
    "emoji 😀👍🏽 👨‍👩‍👧 family 🇫🇷", "مرحبا بالعالم ١٢٣٤", "नमस्ते दुनिया", "สวัสดีครับ",
    "Ⅻ Ⅳ ½ ² ³ ① ⑩", "fullwidth １２３ ＡＢＣ", "nbsp\u00a0here and\u00a0\u00a0two",
    "ideographic\u3000space", "line\u2028separator", "nel\u0085char", "zero\u200bwidth\u200djoiner",
    "combining e\u0301 a\u0308 n\u0303", "Ελληνικά κείμενο", "Привет, мир!",
    "def f(x):\n\treturn x ** 2  # comment\n", "if (a && b) { return c; }",
    "https://example.com/path?q=1&r=2#frag", "user@example.com", "<html><body>Hi</body></html>",
    "$100.00 €50 £30 ¥1000", "mixed 中文 and English 123abc abc123 a1b2c3",
    "a" * 60, "!!!???...", "....", "--- === ***", "\x00\x01 control \x7f\x1f",
    "".join(chr(c) for c in range(0x20, 0x7F)), "".join(chr(c) for c in range(0xA0, 0x100)),
    "unicode letters ǅ ʰ ª º ˆ ー 〆", "numbers ٣ ۴ ߂ ३ ৩ ๓ ༣ ၃ ⁴ ₄ ⅔ 〇 〡",
    "spaces before newline   \nand after\n   x", " \t \n\t x", "x \u00a0 y",
]


def test_texts():
    return EDGE_CASES + make_corpus(seed=20240531, lines=30)


# ---- HF tokenizers ------------------------------------------------------------------------------


def train(corpus):
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(corpus, vocab_size=1000, min_frequency=2, special_tokens=[EOT],
                            show_progress=False)
    return Tokenizer.from_str(tok.to_str())


def with_prefix_space(tok):
    spec = json.loads(tok.to_str())
    spec["pre_tokenizer"]["add_prefix_space"] = True
    return Tokenizer.from_str(json.dumps(spec))


def with_added_tokens(tok):
    """The fixture tokenizer plus added tokens exercising lstrip/rstrip and the two passes."""
    tok = Tokenizer.from_str(tok.to_str())
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True),
                            AddedToken("[SEP]", rstrip=True, special=True)])
    tok.add_tokens([AddedToken("hello world", special=False),  # normalized: second pass
                    AddedToken("world<|end", special=False),
                    AddedToken("café", special=False, normalized=False)])
    return tok


ADDED_TEXTS = ["say hello world now", "a   <mask>  b", "<mask><mask>", "x [SEP]   y", "[SEP]",
               "hello world<|endoftext|>", "hello world<|end", "café au lait, Café",
               "nothing added here", "  <mask>", "hello worldhello world"]


def encode_cases(tok, texts):
    return [{"text": t, "ids": tok.encode(t).ids} for t in texts]


def dump_json(path, obj):
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text.replace('},{"text"', '},\n{"text"') + "\n", encoding="utf-8")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tok = train(make_corpus(seed=7, lines=700))
    tok.save(str(OUT / "tokenizer.json"), pretty=False)
    tok.model.save(str(OUT))  # vocab.json + merges.txt
    prefix, added = with_prefix_space(tok), with_added_tokens(tok)

    texts = test_texts()
    cases = []
    for t in texts:
        ids = tok.encode(t).ids
        cases.append({"text": t, "ids": ids, "ids_prefix_space": prefix.encode(t).ids,
                      "decoded": tok.decode(ids, skip_special_tokens=False)})
    added_spec = json.loads(added.to_str())["added_tokens"]
    dump_json(OUT / "expected.json", {
        "tokenizers_version": __import__("tokenizers").__version__,
        "cases": cases,
        "added_tokens_variant": {"added_tokens": added_spec,
                                 "cases": encode_cases(added, ADDED_TEXTS)},
    })
    print(f"wrote {OUT}: {len(cases)} cases, vocab {tok.get_vocab_size()}")

    encoder, bpe = GPT2_DIR / "encoder.json", GPT2_DIR / "vocab.bpe"
    if not (encoder.exists() and bpe.exists()):
        print("GPT-2 files absent: run tools/fetch_gpt2_tokenizer.sh for gpt2_expected.json",
              file=sys.stderr)
        return
    gpt2 = Tokenizer(models.BPE.from_file(str(encoder), str(bpe)))
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.add_special_tokens([EOT])
    gpt2_texts = texts + ["\n".join(make_corpus(seed=99, lines=60))]
    gpt2_cases = []
    for t in gpt2_texts:
        ids = gpt2.encode(t).ids
        gpt2_cases.append({"text": t, "ids": ids,
                           "decoded": gpt2.decode(ids, skip_special_tokens=False)})
    dump_json(OUT / "gpt2_expected.json", {"cases": gpt2_cases})
    print(f"wrote {OUT / 'gpt2_expected.json'}: {len(gpt2_cases)} cases")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Make tests/fixtures/tokenizer/smollm2_expected.json: the ids HF gives SmolLM2-135M-Instruct's
tokenizer for a set of texts, which tests/test_tokenizer_gguf.cpp must reproduce from the GGUF.

    bash tools/fetch_smollm2.sh
    python3 tools/make_smollm2_tokenizer_fixture.py            # writes the fixture
    python3 tools/make_smollm2_tokenizer_fixture.py verify DIR_OR_TOKENIZER_JSON
        # HF `tokenizers` (and, for a directory with tokenizer_config.json, transformers'
        # AutoTokenizer) loads a tokenizer.json we wrote and encodes every fixture text identically

The HF tokenizer is built by transformers from the GGUF metadata (vocab, merges, control tokens as
special added tokens). transformers ignores tokenizer.ggml.pre, though, and gives a plain ByteLevel
pre-tokenizer; the file says "smollm", which is SmolLM2's tokenizer.json pre-tokenizer
    Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]
(llama.cpp's "smollm" pre-tokenization: "\\p{N}" then the GPT-2 regex). We set that, so the
fixture is what the model's own tokenizer.json gives; digits differ otherwise (" 2024" is
"Ġ" "2" "0" "2" "4", not "Ġ2024"-style merges). The fixture records how many texts differ under
transformers' plain ByteLevel, as a reminder.
"""
import importlib.util
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tokenizer" / "smollm2_expected.json"
GGUF = pathlib.Path(os.environ.get("TEMPER_SMOLLM2_GGUF",
                                   ROOT / ".cache" / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"))


def gpt2_fixture_module():
    spec = importlib.util.spec_from_file_location("mtf", ROOT / "tools" / "make_tokenizer_fixture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SMOLLM_CASES = [
    "1234567", "3.14", "3.14159 2.71828", " 1", "  42", "x1", "1x", "v2.0.1", "0", "00", "007",
    "2024-05-31T12:34:56Z", "+1 (555) 123-4567", "1,234,567.89", "10^9 = 1000000000",
    "1e-5 1E+10 0xDEADBEEF 0b1011", "١٢٣ ٤٥٦ ½ ¾ ² ³ Ⅻ ① ４２", "abc123def456", "123abc 456 def",
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n2 + 2 = 4.<|im_end|>\n",
    "<|im_start|>assistant\n", "<|im_end|><|im_end|>", " <|im_start|> ", "<|im_start|", "<|im_end",
    "<|endoftext|>after", "<repo_name>temper<file_sep>main.cpp<filename>x.py<gh_stars>100",
    "<jupyter_start><jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "  leading and trailing  ", "\n\nnewlines\n\n\n", "tabs\t\tand\r\nCRLF\r\n",
    "for (int i = 0; i < 10; ++i) { sum += a[i] * 2; }",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint(fib(30))  # 832040\n",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name LIMIT 100;",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife.",
    "Émile Zola (1840–1902) wrote 20 novels — «Les Rougon-Macquart».",
    "日本語 2024年5月31日 中文123 한국어 ４５６", "emoji 😀 x3 👍🏽 🇫🇷 100%",
]


def texts():
    mod = gpt2_fixture_module()
    return mod.EDGE_CASES + SMOLLM_CASES + mod.make_corpus(seed=20240531, lines=30)


def hf_tokenizer():
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    plain = tok.backend_tokenizer
    from tokenizers import Tokenizer
    smollm = Tokenizer.from_str(plain.to_str())
    smollm.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    return plain, smollm


def make():
    if not GGUF.exists():
        sys.exit(f"{GGUF} absent: run tools/fetch_smollm2.sh")
    plain, tok = hf_tokenizer()
    cases, differ = [], 0
    for t in texts():
        ids = tok.encode(t).ids
        differ += plain.encode(t).ids != ids
        cases.append({"text": t, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    obj = {"tokenizers_version": __import__("tokenizers").__version__,
           "transformers_version": __import__("transformers").__version__,
           "pre_tokenizer": json.loads(tok.to_str())["pre_tokenizer"],
           "plain_bytelevel_differs": differ, "cases": cases}
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    OUT.write_text(text.replace('},{"text"', '},\n{"text"') + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(cases)} cases, {differ} differ under transformers' plain ByteLevel, "
          f"{OUT.stat().st_size} bytes")


def verify(path):
    from tokenizers import Tokenizer
    path = pathlib.Path(path)
    tj = path / "tokenizer.json" if path.is_dir() else path
    cases = json.loads(OUT.read_text(encoding="utf-8"))["cases"]
    tok = Tokenizer.from_file(str(tj))
    bad = [c["text"] for c in cases if tok.encode(c["text"]).ids != c["ids"]]
    bad += [c["text"] for c in cases
            if tok.decode(c["ids"], skip_special_tokens=False) != c["decoded"]]
    print(f"tokenizers.Tokenizer.from_file({tj}): {len(cases) - len(bad)}/{len(cases)} match")
    if (tj.parent / "tokenizer_config.json").exists():
        from transformers import AutoTokenizer
        at = AutoTokenizer.from_pretrained(str(tj.parent))
        bad_at = [c["text"] for c in cases if at(c["text"])["input_ids"] != c["ids"]]
        print(f"AutoTokenizer.from_pretrained({tj.parent}): {type(at).__name__}, "
              f"{len(cases) - len(bad_at)}/{len(cases)} match, eos {at.eos_token!r} "
              f"bos {at.bos_token!r}, chat template {'yes' if at.chat_template else 'no'}")
        bad += bad_at
    for t in bad[:10]:
        print("MISMATCH:", repr(t))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        verify(sys.argv[2])
    elif len(sys.argv) == 1:
        make()
    else:
        sys.exit(__doc__)

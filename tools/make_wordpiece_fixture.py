#!/usr/bin/env python3
"""Write tests/fixtures/wordpiece/cases.json: what HF `tokenizers` makes of ~300 texts with the
all-MiniLM-L6-v2 WordPiece tokenizer (.cache/minilm/tokenizer.json, fetched by
tools/fetch_minilm.sh), for tests/test_wordpiece.cpp.

Recorded per text: the normalizer's output string (so each normalization step is checked even
where the vocabulary would hide it, e.g. the order of combining marks inside an [UNK] word), the
ids without special tokens (with them HF gives [CLS] ids [SEP], asserted here) and for some
HF's decode of [CLS] ids [SEP], skipping and keeping special tokens. Also pairs (type ids 0/1), truncation to max_len 8 and 16 ("longest_first", checked
against transformers' tokenizer(..., truncation=True, max_length=...)), and ids under edited
normalizers (cased, accents kept, no CJK padding, no clean_text) so every BertNormalizer switch
is exercised. The tokenizer.json itself is not copied (466 KB): the test reads .cache/minilm.

    python3 tools/fetch_minilm.sh && python3 tools/make_wordpiece_fixture.py
"""
import json
import pathlib
import random

import tokenizers
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
MINILM = ROOT / ".cache" / "minilm"
CLS_ID, SEP_ID = 101, 102
OUT = ROOT / "tests" / "fixtures" / "wordpiece" / "cases.json"

REVIEWS = [
    "This movie was absolutely wonderful; I laughed, I cried, and I'd watch it again!",
    "The plot was thin, the acting wooden, and the ending... well, let's not talk about it.",
    "A masterpiece of modern cinema. 10/10 would recommend.",
    "I didn't expect much, but it surprised me: clever, funny and heartfelt.",
    "Worst. Film. Ever. Two hours of my life I'll never get back.",
    "The cinematography is stunning — every frame looks like a painting.",
    "Mediocre at best; the soundtrack was the only redeeming quality.",
    "My kids loved it, though the jokes went over their heads half the time.",
    "It's a slow burn, but the payoff in the third act is worth it.",
    "Overlong, overhyped and over-acted. Skip it.",
    "The lead actress delivers a career-best performance as a grieving mother.",
    "Predictable twists, cardboard villains, and CGI that looks like it's from 2003.",
    "I can't stop thinking about that final scene. Haunting.",
    "Don't believe the critics: this is a fun, breezy popcorn flick.",
    "The dialogue felt unnatural (\"I am feeling sad today, Bob.\") and stilted.",
    "A gorgeous, melancholic meditation on memory & loss.",
    "Honestly? Boring. I fell asleep twice during the second half.",
    "Five stars!!! Best superhero movie since The Dark Knight.",
    "The director's cut adds 40 minutes — and none of them are necessary.",
    "Although the premise is intriguing, the execution is sloppy and the pacing uneven.",
    "What a ride! Non-stop action from start to finish, with a surprisingly sweet core.",
    "It tries too hard to be profound and ends up being pretentious.",
    "The chemistry between the two leads is electric; you can't look away.",
    "Badly edited, poorly lit, and the sound mix is a mess.",
    "I'd give it 3.5/5 — enjoyable, but forgettable.",
    "An unflinching look at war, not for the faint of heart.",
    "Terrible! The worst sequel in the franchise, by a mile.",
    "Charming, warm-hearted and genuinely funny; a rare family film that adults will enjoy too.",
    "The book was better. As always.",
    "Visually dazzling but emotionally hollow.",
    "I wasn't a fan of the first one, but this sequel won me over.",
    "She's brilliant in it; he's... fine, I guess.",
    "If you liked 'Inception', you'll love this mind-bending thriller.",
    "Rated R for violence, language and some sexual content.",
    "A total snooze-fest. Avoid at all costs!",
    "The film's score, composed by Hans Zimmer, is thunderous and unforgettable.",
    "Neither funny nor scary, it falls flat as a horror-comedy.",
    "Underrated gem from the '90s — they don't make 'em like this anymore.",
    "Watched it on a plane; probably not the ideal way to see it, but I was hooked.",
    "The twist at the end made absolutely no sense whatsoever.",
    "It's not perfect, but it's got heart, and that's what matters.",
    "The special effects haven't aged well, yet the story still holds up.",
    "Beautifully shot in Iceland's black-sand beaches and glaciers.",
    "We walked out after 30 minutes. Enough said.",
    "Loved the costumes & set design; hated the script.",
    "A by-the-numbers biopic that never digs beneath the surface.",
    "This is the kind of movie that stays with you for days.",
    "Meh.",
    "10/10!!!!! 😍😍😍",
    "Not bad... not great either. 6/10.",
]

MIXED = [
    "Hello World", "HELLO WORLD", "hElLo WoRlD", "McDonald's iPhone eBay YouTube", "CamelCaseIdentifier",
    "snake_case_identifier", "kebab-case-identifier", "SCREAMING_SNAKE_CASE",
    "Café crème brûlée", "naïve façade résumé", "Über München Düsseldorf Köln", "Ångström Åland Ærø Øresund",
    "señor niño mañana España", "e\u0301 versus \u00e9", "A\u030a versus \u00c5 versus \u212b",
    "Vietnamese: Tiếng Việt có dấu, Hà Nội, Thành phố Hồ Chí Minh",
    "stacked: a\u0301\u0302\u0303\u0304 o\u0308\u0301", "Zalgo: Z\u0351\u036b\u0343\u036a\u0302a\u0357l\u0364g\u0310o\u0353",
    "marks with classes: a\u0334\u0301 a\u0301\u0334 q\u0323\u0307 q\u0307\u0323",
    "music: \U0001d15e\U0001d165\U0001d16d \U0001d165\U0001d16d\U0001d16e",
    "Straße groß Fuß", "İstanbul ıiIİ", "ΟΔΟΣ Σίσυφος ΣΊΣΥΦΟΣ", "Ελληνικά: Αθήνα, Θεσσαλονίκη",
    "Русский текст: Москва, Санкт-Петербург, ЁЛКА ёлка", "Українська: Київ, Їжак, Ґанок",
    "ﬁne ﬂower ﬀ ﬃ (ligatures)", "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ ｗｉｄｔｈ １２３", "Ⅻ Ⅳ ⅷ (roman numerals)",
    "x² + y³ = z⁴, H₂O, CO₂", "½ ¼ ¾ ⅓", "Ⓐ Ⓑ ⓒ circled", "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝕯𝖔𝖚𝖇𝖑𝖊",
    "Ǆ ǅ ǆ ǈ Ǌ titlecase digraphs", "Ꭰ Ꮳ ꭰ Cherokee", "Ⱥ Ȿ ⱥ ȿ", "Ꟊ ꟊ Ᲊ ᲊ newer case pairs",
    "Åström och Ödegård åker skidor", "Cześć, jak się masz? Łódź, Gdańsk, Kraków",
    "Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy", "Română: Ștefan și Țara",
    "Türkçe: Çok güzel, şeker, ağaç, İzmir",
]

SCRIPTS = [
    "中文测试：我喜欢这部电影。", "今天天气很好，我们去公园吧！", "日本語のテキスト：映画が大好きです。",
    "ひらがな カタカナ 漢字", "한국어 텍스트: 이 영화 정말 좋아요!", "한글 자모 ㄱㄴㄷ ᄀᄁ",
    "mixed中文and英文text", "数字123和字母abc混合", "𠀀𠀁𠀂 CJK extension B", "丽 丸 乁 (compatibility ideographs 丽)",
    "العربية: أحب هذا الفيلم كثيرا", "עברית: אני אוהב את הסרט הזה", "हिन्दी: मुझे यह फ़िल्म बहुत पसंद है",
    "বাংলা ভাষা", "தமிழ் மொழி", "ภาษาไทย: ฉันชอบหนังเรื่องนี้", "ქართული ენა", "Հայերեն լեզու",
    "ᚠᚢᚦᚨᚱᚲ runes", "ⴰⵣⵓⵍ Tifinagh", "Ελληνικά και English μαζί", "Tiếng Việt và 中文 và 한국어",
    "Ge'ez: ሰላም ልዑል", "Sinhala: ශ්‍රී ලංකා", "Devanagari nukta: क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़",
    "Kana with dakuten: か\u3099 が ハ\u309a パ", "Hangul NFD: \u1112\u1161\u11ab\u1100\u1173\u11af",
]

EMOJI = [
    "I love this movie 😍", "🎬🍿🎥 movie night!", "thumbs up 👍🏽 and 👍🏿", "family: 👨‍👩‍👧‍👦",
    "flags: 🇺🇸 🇯🇵 🇫🇷", "😂😂😂 so funny", "❤️ ♥ ❤ heart", "✨ sparkle ✨", "🙂🙃 mixed feelings",
    "new emoji: 🫠 🫨 🩷 🪿 🫎 🪼", "keycap: 1️⃣ #️⃣", "🏳️‍🌈 🏴‍☠️", "emoji in word: hi🙂there",
    "☕ coffee ☀ sun ☂ umbrella", "math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷", "arrows: ← ↑ → ↓ ↔ ⇒ ⇔",
    "currency: $5 €10 £20 ¥1000 ₹50 ₿0.1 ¢", "box drawing: ┌─┐│└─┘", "dingbats: ✓ ✗ ✂ ✈ ☎",
]

PUNCT = [
    "Hello, world! How are you? I'm fine.", "Wait... what?!", "Quotes: \"double\" 'single' “curly” ‘curly’ «guillemets» ‹single›",
    "Dashes: - – — ― ‐ ‑ ‒", "Brackets: (round) [square] {curly} <angle> 【lenticular】 「corner」 『white』",
    "Spanish: ¿Qué? ¡Hola!", "French: « Bonjour ! »", "Ellipsis… and more…", "Bullets • ‣ ◦ ⁃ · ∙",
    "Section § paragraph ¶ dagger † ‡", "at@sign hash#tag dollar$ percent% caret^ amp& star*",
    "under_score back\\slash pipe| tilde~ grave` plus+ equals= less< greater>", "semi;colon: colon",
    "a/b/c a\\b\\c a|b|c", "!!!???...,,,;;;:::", "((nested [brackets {here}]))", "¡¿‽⁇⁈⁉",
    "Chinese punct：，。！？、；“”‘’（）《》", "Japanese punct：。、・「」『』〜", "‰ ‱ ′ ″ ‴ ※ ⁂",
    "newer punct: ⹏ ⹎ ⸿ ⹂ ⹃ ⹄ 𐺭", "apostrophes: don't don’t don`t", "hyphen-ated well-known state-of-the-art",
    "mid.dot·word", "a—b–c", "end.", ".start", "..double..dots..", "'quoted'", "\"quoted\"",
]

CONTROL = [
    "tab\tseparated\tvalues", "new\nline", "windows\r\nline", "old mac\rline", "form\x0cfeed vertical\x0btab",
    "nul\x00char", "bell\x07and escape\x1b[31m", "del\x7fchar", "zero\u200bwidth\u200cjoiner\u200dtest",
    "soft\u00adhyphen", "bom\ufeffhere", "replacement\ufffdchar", "nbsp\u00a0space", "ideographic\u3000space",
    "line\u2028separator\u2029para", "thin\u2009space hair\u200aspace narrow\u202fnbsp", "next line\u0085here",
    "\u2066isolates\u2069 \u202aembedding\u202c", "private use \ue000\uf8ff \U000f0000", "unassigned \u0378 \U000e0080",
    "tag chars \U000e0041\U000e0042", "   leading and trailing spaces   ", "multiple    internal     spaces",
    "\t\n \r\n", "", " ", "\x00", "\u200b", "word\x01\x02\x03word", "c1 controls \x80\x81\x9f here",
    "mongolian vowel separator \u180e here", "ogham\u1680space", "U+FFFE \ufffe and U+FFFF \uffff",
]

NUMBERS_URLS = [
    "3.14159 is pi", "1,000,000 dollars", "1st 2nd 3rd 4th 21st", "version 2.0.1-beta+build.7",
    "+1 (555) 123-4567", "2024-01-15T10:30:00Z", "12:30 pm", "50% off!!", "-42 and +42", "1e-10 0x1F 0b1010",
    "Call 911 now", "٠١٢٣٤٥٦٧٨٩ Arabic-Indic digits", "१२३ Devanagari digits", "①②③ circled numbers",
    "https://www.example.com/path/to/page?query=1&foo=bar#section",
    "http://localhost:8080/api/v1/users/123", "Email me at john.doe+spam@example.co.uk", "ftp://files.example.org/pub/file.tar.gz",
    "www.google.com", "C:\\Program Files\\App\\app.exe", "/usr/local/bin/python3", "@username mentioned #hashtag",
    "$HOME/.bashrc && echo \"done\"", "<html><body><p>Hello</p></body></html>", "def f(x): return x**2 + 1",
    "if (a != b && c >= d) { return; }", "SELECT * FROM users WHERE id = 42;", "{\"key\": \"value\", \"n\": [1, 2, 3]}",
    "md5: d41d8cd98f00b204e9800998ecf8427e", "ISBN 978-3-16-148410-0",
]

CONTRACTIONS = [
    "don't can't won't shouldn't wouldn't isn't aren't", "I'm you're he's she's it's we're they're",
    "I've you've we've they've", "I'd you'd he'd she'd we'd they'd", "I'll you'll he'll she'll we'll they'll",
    "y'all ain't ma'am o'clock rock'n'roll", "'tis 'twas", "the '90s and the 80's", "Rock ’n’ roll", "DON'T SHOUT",
]

SPECIALS = [
    "[CLS] hello [SEP] world [SEP]", "text with [MASK] inside", "[mask] lowercase is not special", "[UNK] and [PAD]",
    "no space[SEP]between", "[SEP][SEP][CLS]", "[ CLS ] spaced", "[CLS", "CLS]", "##ing starts with hashes",
    "word##piece", "###", "[MASK][MASK]", "unaffable unbelievable antidisestablishmentarianism",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
]

LONG = [
    "a" * 99, "a" * 100, "a" * 101, "x" * 150 + " short", "é" * 100, "é" * 101, "ab" * 50 + " ok",
    "verylongword" * 9 + " tail", "😀" * 101, "中" * 120, "hello " * 40,
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.",
    "zzzzqqqxxxjjj unknownish qwrtypsdfghjklzxcvbnm", "Xyzzy plugh frobnicate quux",
]

PAIRS = [
    ("A man is playing a guitar.", "Someone plays an instrument."),
    ("The cat sat on the mat.", "A dog is barking loudly outside!"),
    ("Is this review positive?", "This movie was absolutely wonderful; I'd watch it again!"),
    ("", "empty first"), ("empty second", ""), ("", ""),
    ("Café naïve", "中文 text 😍"),
    ("[SEP] inside", "and [CLS] too"),
    ("short", "a much longer second sentence that keeps going and going and going for a while"),
    ("a much longer first sentence that keeps going and going and going for quite a while", "short"),
    ("both of these sentences are fairly long and will need truncation",
     "indeed the second one is also long enough to be truncated as well"),
    ("What is the capital of France?", "Paris is the capital and most populous city of France."),
    ("tab\there", "new\nline"),
]

TRUNCATION_SINGLES = [REVIEWS[0], REVIEWS[1], REVIEWS[19], "short", "", "one two three four five six",
                      "one two three four five six seven", "supercalifragilisticexpialidocious", LONG[11]]

VARIANTS = {  # edits of the normalizer (the test applies the same edits to tokenizer.json)
    "cased": {"lowercase": False, "strip_accents": None},
    "keep_accents": {"lowercase": True, "strip_accents": False},
    "strip_cased": {"lowercase": False, "strip_accents": True},
    "no_chinese": {"handle_chinese_chars": False},
    "no_clean": {"clean_text": False},
}


def fuzz_texts(n, seed=1234):
    """Random strings over a pool that mixes the classes the normalizer and pre-tokenizer treat
    differently (letters, marks of several combining classes, controls, spaces, punctuation,
    CJK, Hangul, emoji, unassigned and private-use code points)."""
    pool = list("aAzZ09 .,!?'-_#[]") + [chr(c) for c in (
        0xE9, 0xC5, 0x212B, 0x301, 0x308, 0x334, 0x323, 0x1D165, 0x1D16D, 0x302E, 0x8D4, 0x93C, 0x1B44,
        0x130, 0x131, 0x3A3, 0x3C2, 0xDF, 0x1E9E, 0x4E2D, 0x6587, 0x3400, 0x20000, 0xAC00, 0xD7A3, 0x1100,
        0x3042, 0x30AB, 0x1F600, 0x1F44D, 0x1F3FD, 0x200D, 0xFE0F, 0x0, 0x7, 0x9, 0xA, 0xD, 0xB, 0x85,
        0xA0, 0x3000, 0x2028, 0x200B, 0xAD, 0xFEFF, 0xFFFD, 0xE000, 0x378, 0x1C89, 0xA7CB, 0x2E4F, 0x10EAD,
        0xFF01, 0x3001, 0x201C, 0x2014, 0xFB01, 0xFF21, 0x2168, 0x24B6, 0x1D400, 0x5D0, 0x627, 0x915)]
    rng = random.Random(seed)
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 24))) for _ in range(n)]


def load():
    tok = Tokenizer.from_file(str(MINILM / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def text_cases(tok, texts, decode_every=5):
    cases = []
    for i, text in enumerate(texts):
        plain = tok.encode(text, add_special_tokens=False)
        full = tok.encode(text)
        assert full.ids == [CLS_ID] + plain.ids + [SEP_ID], text  # so only `ids` is stored
        case = {"text": text, "normalized": tok.normalizer.normalize_str(text), "ids": plain.ids}
        if i % decode_every == 0:
            case["decoded"] = tok.decode(full.ids)
            case["decoded_keep"] = tok.decode(full.ids, skip_special_tokens=False)
        cases.append(case)
    return cases


def pair_cases(tok):
    out = []
    for a, b in PAIRS:
        e = tok.encode(a, b)
        out.append({"a": a, "b": b, "ids": e.ids, "type_ids": e.type_ids})
    return out


def truncation_cases(tok, hf):
    out = []
    for max_len in (8, 16):
        tok.enable_truncation(max_len, strategy="longest_first")
        inputs = [(a, None) for a in TRUNCATION_SINGLES] + PAIRS
        for a, b in inputs:
            e = tok.encode(a, b) if b is not None else tok.encode(a)
            # transformers takes an empty text_pair for none at all: compare the others only
            t = hf(a, b or None, truncation=True, max_length=max_len)
            assert b == "" or t["input_ids"] == e.ids, (a, b, max_len)
            out.append({"a": a, "b": b, "max_len": max_len, "ids": e.ids, "type_ids": e.type_ids})
    tok.no_truncation()
    return out


def variant_cases(texts):
    spec = json.loads((MINILM / "tokenizer.json").read_text())
    out = {}
    for name, edit in VARIANTS.items():
        s = json.loads(json.dumps(spec))
        s["normalizer"].update(edit)
        tok = Tokenizer.from_str(json.dumps(s))
        tok.no_padding()
        tok.no_truncation()
        out[name] = {"normalizer": edit,
                     "cases": [{"text": t, "normalized": tok.normalizer.normalize_str(t),
                                "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]}
    return out


def dump_one_case_per_line(value, depth=0):
    """JSON with each case (the objects inside lists) on a line of its own: compact, diffable."""
    dumps = lambda v: json.dumps(v, ensure_ascii=False, separators=(", ", ": "))
    pad = "  " * (depth + 1)
    if isinstance(value, dict) and any(isinstance(v, (dict, list)) for v in value.values()):
        items = [f"{pad}{dumps(k)}: {dump_one_case_per_line(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}" + ("\n" if depth == 0 else "")
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return "[\n" + ",\n".join(pad + dumps(v) for v in value) + "\n" + "  " * depth + "]"
    return dumps(value)


def main():
    from transformers import AutoTokenizer

    tok = load()
    hf = AutoTokenizer.from_pretrained(str(MINILM))
    groups = [REVIEWS, MIXED, SCRIPTS, EMOJI, PUNCT, CONTROL, NUMBERS_URLS, CONTRACTIONS, SPECIALS, LONG]
    texts = [t for g in groups for t in g] + fuzz_texts(60)
    variant_texts = MIXED[:36] + SCRIPTS[:8] + CONTROL[:21] + fuzz_texts(20, seed=99)
    fixture = {
        "source": f"HF tokenizers {tokenizers.__version__}, {MINILM.name}/tokenizer.json",
        "texts": text_cases(tok, texts),
        "pairs": pair_cases(tok),
        "truncation": truncation_cases(tok, hf),
        "variants": variant_cases(variant_texts),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(dump_one_case_per_line(fixture))
    print(f"wrote {OUT}: {len(fixture['texts'])} texts, {len(fixture['pairs'])} pairs, "
          f"{len(fixture['truncation'])} truncations, {OUT.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

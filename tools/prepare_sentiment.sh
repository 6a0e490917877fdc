#!/usr/bin/env bash
# Binary sentiment data for text classification: the 10,605 movie-review sentences of Hutto & Gilbert
# (ICWSM 2014, the VADER paper; each sentence has the mean of ~20 human ratings in -4..+4), shipped
# inside the PyPI source distribution vaderSentiment==3.3.2 (additional_resources/hutto_ICWSM_2014.tar.gz).
# Writes .cache/data/sentiment/:
#   {train,valid,test}.tsv  header "label<TAB>text"; label "positive" (score > 0) or "negative" (< 0);
#                           sentences rated exactly 0 are dropped. Fixed 80/10/10 split by the sha256 of
#                           the sentence id (not random at run time), rows in id order.
#   test_vader.tsv          header "label<TAB>human_score<TAB>vader_compound<TAB>text", one row per
#                           test.tsv row in the same order: VADER 3.3.2's own compound score, computed by
#                           the module from the sdist (standard library only; run under python3 -S).
#   vader_lexicon.txt, emoji_utf8_lexicon.txt   VADER's lexicons, byte for byte (CRLF line ends).
# Encoding: movieReviewSnippets_GroundTruth.txt is UTF-8 already (no BOM; CRLF line ends; 19 distinct
# non-ASCII characters such as é, –, ’). It is decoded strictly as UTF-8, so a changed file fails
# loudly instead of turning into mojibake; outputs are UTF-8 with LF line ends.
# Idempotent: the sdist is kept (sha256-checked) in ${TEMPER_ASSET_CACHE:-~/.cache/temper}/sentiment
# and the outputs are rebuilt only when their stamp is missing or stale. Prints counts per split and
# label on stderr and the output directory on stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TEMPER_ASSET_CACHE:-$HOME/.cache/temper}/sentiment"
out="$root/.cache/data/sentiment"
sdist=vaderSentiment-3.3.2.tar.gz
sha=5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9  # as pip fetched it from the index here
stamp="$sha format-2"  # bump format-N when the outputs change shape
outputs=(train.tsv valid.tsv test.tsv test_vader.tsv vader_lexicon.txt emoji_utf8_lexicon.txt)

verified() { [[ -f "$cache/$sdist" ]] && echo "$sha  $cache/$sdist" | sha256sum --check --status; }

up_to_date() {
  [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" ]] || return 1
  for f in "${outputs[@]}"; do [[ -s "$out/$f" ]] || return 1; done
}

fetch_sdist() {
  fetch_tmp="$(mktemp -d)"  # global: the EXIT trap runs after this function returns
  trap 'rm -rf "$fetch_tmp"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: vaderSentiment==3.3.2 -d "$fetch_tmp" >&2
  mkdir -p "$cache"
  mv -f "$fetch_tmp/$sdist" "$cache/$sdist.part" && mv -f "$cache/$sdist.part" "$cache/$sdist"
  verified || { echo "prepare_sentiment: checksum mismatch in $cache/$sdist" >&2; exit 1; }
}

# Unpacks, binarizes, splits and scores; every file goes through a .part + rename.
build_outputs() {
  mkdir -p "$out"
  rm -f "$out/.stamp"
  python3 -S - "$cache/$sdist" "$out" <<'PY'
import hashlib, io, os, sys, tarfile, tempfile
sdist, out = sys.argv[1:3]
top = "vaderSentiment-3.3.2"

def member(tar, name):
    return tar.extractfile(tar.getmember(name)).read()

def write(name, data):
    with open(f"{out}/{name}.part", "wb") as f:
        f.write(data)
    os.replace(f"{out}/{name}.part", f"{out}/{name}")

def clean(text):  # the TSV outputs hold one sentence per line, tab-separated (none has either today)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ").strip()

def read_sentences(outer):
    inner = tarfile.open(fileobj=io.BytesIO(member(outer, f"{top}/additional_resources/hutto_ICWSM_2014.tar.gz")))
    raw = member(inner, "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt")
    text = raw.decode("utf-8")  # strict: the pinned file is valid UTF-8 (see the header)
    rows = []
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        assert len(fields) == 3, f"movieReviewSnippets_GroundTruth.txt:{n}: expected id<TAB>score<TAB>text"
        rows.append((int(fields[0]), float(fields[1]), clean(fields[2])))
    assert len(rows) == 10605, f"expected 10605 sentences, got {len(rows)}"
    assert len({r[0] for r in rows}) == len(rows), "duplicate sentence ids"
    return rows

def bucket(sentence_id):  # fixed: 8 of 10 hash buckets train, 1 valid, 1 test
    h = int.from_bytes(hashlib.sha256(f"movieReviewSnippets:{sentence_id}".encode()).digest()[:8], "big")
    return (["train"] * 8 + ["valid", "test"])[h % 10]

def vader_scores(outer, texts):
    with tempfile.TemporaryDirectory() as tmp:
        pkg = f"{tmp}/vaderSentiment"
        os.mkdir(pkg)
        for name in ("__init__.py", "vaderSentiment.py", "vader_lexicon.txt", "emoji_utf8_lexicon.txt"):
            with open(f"{pkg}/{name}", "wb") as f:
                f.write(member(outer, f"{top}/vaderSentiment/{name}"))
        sys.path.insert(0, tmp)
        from vaderSentiment import vaderSentiment as vs
        assert os.path.dirname(vs.__file__) == pkg, vs.__file__
        analyzer = vs.SentimentIntensityAnalyzer()
        return [analyzer.polarity_scores(t)["compound"] for t in texts]

outer = tarfile.open(sdist)
rows = [r for r in read_sentences(outer) if r[1] != 0 and r[2]]
splits = {"train": [], "valid": [], "test": []}
for sid, score, text in rows:
    splits[bucket(sid)].append((score, "positive" if score > 0 else "negative", text))
for name, items in splits.items():
    write(f"{name}.tsv", ("label\ttext\n" + "".join(f"{l}\t{t}\n" for _, l, t in items)).encode("utf-8"))
compound = vader_scores(outer, [t for _, _, t in splits["test"]])
lines = [f"{l}\t{s!r}\t{c!r}\t{t}\n" for (s, l, t), c in zip(splits["test"], compound)]
write("test_vader.tsv", ("label\thuman_score\tvader_compound\ttext\n" + "".join(lines)).encode("utf-8"))
for name in ("vader_lexicon.txt", "emoji_utf8_lexicon.txt"):
    write(name, member(outer, f"{top}/vaderSentiment/{name}"))
PY
  echo "$stamp" > "$out/.stamp"
}

print_counts() {
  for split in train valid test; do
    awk -F'\t' -v s="$split" 'NR > 1 { n[$1]++; t++ }
      END { printf "%-5s %5d sentences: %5d positive, %5d negative\n", s, t, n["positive"], n["negative"] }' \
      "$out/$split.tsv" >&2
  done
  awk -F'\t' 'NR > 1 { t++; if ($3 == 0) z++; else if (($3 > 0) == ($1 == "positive")) ok++ }
    END { printf "VADER on test: sign of compound matches the label on %d of %d (%.1f%%); compound 0 on %d\n",
                 ok, t, 100 * ok / t, z }' \
    "$out/test_vader.tsv" >&2
}

verified || fetch_sdist
up_to_date || build_outputs
print_counts
echo "$out"

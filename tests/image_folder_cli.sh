#!/usr/bin/env bash
# `temper finetune` on folders of PNG/JPEG files per class (tests/fixtures/image_folder): the class
# names come from the folder names, a validation folder lacking a class keeps the training ids, the
# files are cut with --resize / --image-size, --class-weights auto counts the folder's labels, and the
# written config.json carries the names and the input sizes. `temper predict` on the result (a folder,
# one file, a list on stdin) agrees with the fine-tune's own test confusion matrix and, where torch is
# installed, with torchvision's ResNet-18 on PIL-preprocessed images. Bad input: a labels file given with
# a folder, --resize without one, unreadable or unsupported images given to predict.
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
assert cfg["image_size"] == 24 and cfg["resize_size"] == 28, cfg
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

# predict: the valid folder, one file, and the same two paths as a list on stdin.
"$BIN" predict --model "$TMP/out" --input "$DATA/valid" --batch 1 >"$TMP/pred_dir.tsv" 2>"$TMP/pred.err" ||
  { cat "$TMP/pred.err"; exit 1; }
"$BIN" predict --model "$TMP/out" --input "$DATA/valid/cat/v2.jpg" >"$TMP/pred_one.tsv" 2>>"$TMP/pred.err" ||
  { cat "$TMP/pred.err"; exit 1; }
printf '%s\n\n%s\n' "$DATA/valid/bee/v1.png" "$DATA/valid/cat/v2.jpg" |
  "$BIN" predict --model "$TMP/out" >"$TMP/pred_stdin.tsv" 2>>"$TMP/pred.err" || { cat "$TMP/pred.err"; exit 1; }
cmp "$TMP/pred_dir.tsv" "$TMP/pred_stdin.tsv" || { echo "folder and list predictions differ"; exit 1; }
"$BIN" predict --model "$TMP/out" --input <(printf '%s\n' "$DATA/valid/bee/v1.png" "$DATA/valid/cat/v2.jpg") \
  >"$TMP/pred_pipe.tsv" 2>>"$TMP/pred.err" || { cat "$TMP/pred.err"; exit 1; }
cmp "$TMP/pred_dir.tsv" "$TMP/pred_pipe.tsv" || { echo "a list through a pipe predicted otherwise"; exit 1; }
[ "$(cat "$TMP/pred_one.tsv")" = "$(tail -1 "$TMP/pred_dir.tsv")" ] || { echo "one file predicted otherwise"; exit 1; }
python3 - "$TMP" "$DATA" <<'PY'
import json, math, struct, sys
d, data = sys.argv[1:3]
rows = [l.rstrip("\n").split("\t") for l in open(f"{d}/pred_dir.tsv")]
assert [r[2] for r in rows] == [f"{data}/valid/bee/v1.png", f"{data}/valid/cat/v2.jpg"], rows
names = ["ant", "bee", "cat"]
conf = json.load(open(f"{d}/out.json"))["test_confusion"]  # the same two images, scored by finetune
for (label, prob, path), true in zip(rows, ("bee", "cat")):
    assert conf[names.index(true)][names.index(label)] == 1, (rows, conf)
    assert 1 / 3 <= float(prob) <= 1, rows
try:
    import numpy as np, torch, torchvision
    from PIL import Image
except ImportError:
    print("predict agrees with the fine-tune's confusion matrix (no torch here: torchvision not compared)")
    sys.exit(0)
raw = open(f"{d}/out/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
state = {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                           dtype=np.float32).reshape(v["shape"]).copy())
         for k, v in json.loads(raw[8:8 + n]).items() if k != "__metadata__"}
net = torchvision.models.resnet18(num_classes=3)
net.load_state_dict(state)
net.eval()
cfg = json.load(open(f"{d}/out/config.json"))
T = torchvision.transforms
prep = T.Compose([T.Resize(cfg["resize_size"]), T.CenterCrop(cfg["image_size"]), T.ToTensor(),
                  T.Normalize(cfg["mean"], cfg["std"])])
with torch.no_grad():
    x = torch.stack([prep(Image.open(r[2]).convert("RGB")) for r in rows])
    probs = torch.softmax(net(x).double(), dim=1)
for (label, prob, path), p in zip(rows, probs):
    assert abs(p[names.index(label)].item() - p.max().item()) < 1e-4, (path, label, p)
    assert abs(float(prob) - p.max().item()) < 1e-4, (path, prob, p)
print(f"predict agrees with the fine-tune's confusion matrix and with torchvision {torchvision.__version__}: {rows}")
PY
# eval on the same folder gives the fine-tune's own validation figures; a class the model lacks is refused.
"$BIN" eval --model "$TMP/out" --data "$DATA/valid" --batch 3 >"$TMP/eval.json" 2>"$TMP/eval.err" ||
  { cat "$TMP/eval.err"; exit 1; }
python3 - "$TMP" <<'PY'
import json, sys
d = sys.argv[1]
e, s = json.load(open(f"{d}/eval.json")), json.load(open(f"{d}/out.json"))
assert e["loss"] == s["val_loss_end"] and e["accuracy"] == s["val_accuracy_end"], (e, s)
assert e["confusion"] == s["test_confusion"] and e["examples"] == 2, (e, s)  # --test was the valid folder
print(f"eval repeats the fine-tune's validation: loss {e['loss']}, accuracy {e['accuracy']}")
PY
mkdir -p "$TMP/dogs/dog" && cp "$DATA/valid/bee/v1.png" "$TMP/dogs/dog/"
if "$BIN" eval --model "$TMP/out" --data "$TMP/dogs" >/dev/null 2>"$TMP/bad5.err"; then
  echo "eval accepted a class the model lacks"; exit 1
fi
grep -q "dogs/dog.*'dog' is not one of the 3" "$TMP/bad5.err" || { cat "$TMP/bad5.err"; exit 1; }
if "$BIN" eval --model "$TMP/out" --data "$DATA/valid/bee/v1.png" >/dev/null 2>"$TMP/bad6.err"; then
  echo "eval accepted one image file as a data set"; exit 1
fi
grep -q "v1.png: file: one image file" "$TMP/bad6.err" || { cat "$TMP/bad6.err"; exit 1; }
# predict's bad input: a missing file, a corrupt image in a list, a folder holding a .webp, a GIF, binary
# data that is no list, a folder named in a list; a model whose classifier does not fit its config.
printf 'not an image\n' >"$TMP/bad.png"
mkdir -p "$TMP/webp" && printf 'RIFF' >"$TMP/webp/a.webp"
printf 'GIF89a\001\000\001\000\000\000\000' >"$TMP/x.gif"
printf 'abc\000\001\002\n' >"$TMP/blob"
mkdir -p "$TMP/four" && cp "$TMP/out/model.safetensors" "$TMP/four/"
echo '{"architecture": "resnet18", "num_classes": 4}' >"$TMP/four/config.json"
for input in "$TMP/missing.png" "$TMP/webp" "$TMP/x.gif" "$TMP/blob"; do
  if "$BIN" predict --model "$TMP/out" --input "$input" >/dev/null 2>"$TMP/bad3.err"; then
    echo "predict accepted $input"; exit 1
  fi
  [ "$(wc -l <"$TMP/bad3.err")" -eq 1 ] && grep -q "$input" "$TMP/bad3.err" || { cat "$TMP/bad3.err"; exit 1; }
done
if echo "$TMP/bad.png" | "$BIN" predict --model "$TMP/out" >/dev/null 2>"$TMP/bad4.err"; then
  echo "predict accepted a corrupt image"; exit 1
fi
grep -q "bad.png.*neither PNG nor JPEG" "$TMP/bad4.err" || { cat "$TMP/bad4.err"; exit 1; }
grep -q "x.gif: format: binary data" <("$BIN" predict --model "$TMP/out" --input "$TMP/x.gif" 2>&1) || exit 1
if echo "$DATA/valid" | "$BIN" predict --model "$TMP/out" >/dev/null 2>"$TMP/bad7.err"; then
  echo "predict accepted a folder in a list"; exit 1
fi
grep -q "valid: path: a directory" "$TMP/bad7.err" || { cat "$TMP/bad7.err"; exit 1; }
for cmd in "predict --input $DATA/valid" "eval --data $DATA/valid"; do
  # shellcheck disable=SC2086
  if "$BIN" $cmd --model "$TMP/four" >/dev/null 2>"$TMP/bad8.err"; then
    echo "$cmd ran a model without a fitting classifier"; exit 1
  fi
  grep -q "model.safetensors: fc.weight: .*4 classes" "$TMP/bad8.err" || { cat "$TMP/bad8.err"; exit 1; }
done
echo "image folder cli: ok"

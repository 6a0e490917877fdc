#!/usr/bin/env bash
# `temper finetune` on a CNN (ResNet-18, random init) with a tiny generated IDX image set: training
# with crops and flips, validation and test metrics with a confusion matrix, the model written in
# torch's layout, and an exact resume: a run resumed from its step-3 checkpoint (weights, AdamW state,
# batch-norm running statistics, data position) repeats the uninterrupted run's losses bit for bit
# and ends with identical weights; `temper eval` of the written model on the test pair repeats the
# fine-tune's test figures. With "mpi" the same runs go through `mpirun -np 2`.
# Usage: image_finetune_cli.sh TEMPER_BIN [mpi]
set -euo pipefail
BIN=$1
MODE=${2:-single}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RUN=()
[ "$MODE" = mpi ] && RUN=(mpirun -np 2 --oversubscribe --allow-run-as-root)

# 3 classes of 12x12 grey images: a bright 4x4 square in a class-specific corner, plus noise.
python3 - "$TMP" <<'PY'
import random, struct, sys
d = sys.argv[1]
def write(name, n, seed):
    rng = random.Random(seed)
    labels = [i % 3 for i in range(n)]
    rng.shuffle(labels)
    pix = bytearray()
    for c in labels:
        img = [[rng.randrange(0, 60) for _ in range(12)] for _ in range(12)]
        y0, x0 = [(1, 1), (1, 7), (7, 4)][c]
        for y in range(y0, y0 + 4):
            for x in range(x0, x0 + 4):
                img[y][x] = 200 + rng.randrange(0, 55)
        pix += bytes(v for row in img for v in row)
    open(f"{d}/{name}-images", "wb").write(struct.pack(">IIII", 0x803, n, 12, 12) + pix)
    open(f"{d}/{name}-labels", "wb").write(struct.pack(">II", 0x801, n) + bytes(labels))
write("train", 96, 1)
write("test", 24, 2)
PY
mkdir -p "$TMP/model"
echo '{"architecture": "resnet18", "num_classes": 3}' >"$TMP/model/config.json"
MB=4
[ "$MODE" = mpi ] && MB=2  # the same global batch of 4
ARGS=(finetune --model "$TMP/model" --init random --train "$TMP/train-images" --train-labels "$TMP/train-labels"
      --valid-fraction 0.25 --test "$TMP/test-images" --test-labels "$TMP/test-labels" --image-size 16
      --crop-padding 2 --hflip 0.5 --micro-batch $MB --max-steps 6 --lr 2e-3 --progress off
      --label-names top-left,top-right,bottom --save-every 3)

"${RUN[@]}" "$BIN" "${ARGS[@]}" --output "$TMP/full" >"$TMP/full.out" 2>"$TMP/full.err" || { cat "$TMP/full.err"; exit 1; }
mkdir -p "$TMP/resumed/checkpoints"
cp -r "$TMP/full/checkpoints/step-00000003" "$TMP/resumed/checkpoints/"
echo '{"dir": "step-00000003"}' >"$TMP/resumed/checkpoints/latest"
[ -f "$TMP/resumed/checkpoints/step-00000003/buffers.safetensors" ] || { echo "no batch-norm statistics in the checkpoint"; exit 1; }
"${RUN[@]}" "$BIN" "${ARGS[@]}" --output "$TMP/resumed" --resume latest >"$TMP/resumed.out" 2>"$TMP/resumed.err" ||
  { cat "$TMP/resumed.err"; exit 1; }

python3 - "$TMP" "$MODE" <<'PY'
import json, sys
d, mode = sys.argv[1:3]
def records(run):
    return [json.loads(l) for l in open(f"{d}/{run}/metrics.jsonl")]
def losses(run):
    return {r["step"]: r["loss"] for r in records(run) if r.get("type") == "train"}
full, resumed = losses("full"), losses("resumed")
assert sorted(resumed) == [4, 5, 6], resumed
for s in (4, 5, 6):
    assert full[s] == resumed[s], (s, full[s], resumed[s])
train = [r for r in records("full") if r.get("type") == "train"]
assert all(r["images_per_s"] > 0 and "tokens_per_s" not in r for r in train), train[0]
assert train[-1]["images_seen"] == 6 * train[0]["images_seen"], (train[0], train[-1])
summary = json.load(open(f"{d}/full.out"))
assert summary["images_seen"] == train[-1]["images_seen"], summary
assert summary["world_size"] == (2 if mode == "mpi" else 1), summary
conf = summary["test_confusion"]
assert len(conf) == 3 and sum(map(sum, conf)) == 24, conf
assert [c["label"] for c in summary["test_per_class"]] == ["top-left", "top-right", "bottom"], summary["test_per_class"]
assert 0 <= summary["val_accuracy_end"] <= 1
a = open(f"{d}/full/model.safetensors", "rb").read()
b = open(f"{d}/resumed/model.safetensors", "rb").read()
assert a == b, "the resumed run ended with other weights"
cfg = json.load(open(f"{d}/full/config.json"))
assert cfg["architecture"] == "resnet18" and cfg["label_names"] == ["top-left", "top-right", "bottom"], cfg
assert cfg["image_size"] == 16 and cfg["resize_size"] == 16, cfg  # arrays are resized, not cropped
print(f"{mode}: losses of steps 4-6 {[full[s] for s in (4, 5, 6)]} repeated exactly after resume; "
      f"test accuracy {summary['test_accuracy']:.3f}")
PY
# eval of the written model on the IDX test pair repeats the fine-tune's test figures.
if [ "$MODE" = single ]; then
  "$BIN" eval --model "$TMP/full" --data "$TMP/test-images" --labels "$TMP/test-labels" --batch 5 >"$TMP/eval.json" \
    2>"$TMP/eval.err" || { cat "$TMP/eval.err"; exit 1; }
  python3 - "$TMP" <<'PY'
import json, sys
d = sys.argv[1]
e, s = json.load(open(f"{d}/eval.json")), json.load(open(f"{d}/full.out"))
assert e["confusion"] == s["test_confusion"] and e["accuracy"] == s["test_accuracy"], (e, s)
assert abs(e["loss"] - s["test_loss"]) < 1e-6 * abs(s["test_loss"]), (e["loss"], s["test_loss"])
assert [c["label"] for c in e["per_class"]] == ["top-left", "top-right", "bottom"], e["per_class"]
print(f"eval on the test pair: accuracy {e['accuracy']:.3f} as in the fine-tune")
PY
fi
# Bad input: an IDX images file without its labels, and a misspelt stage.
if "$BIN" finetune --model "$TMP/model" --train "$TMP/train-images" --output "$TMP/x" 2>"$TMP/bad.err"; then
  echo "training without labels succeeded"; exit 1
fi
grep -q "train-labels" "$TMP/bad.err" || { cat "$TMP/bad.err"; exit 1; }
if "$BIN" "${ARGS[@]}" --freeze layer7 --output "$TMP/y" 2>"$TMP/bad2.err"; then echo "--freeze layer7 accepted"; exit 1; fi
grep -q "freeze" "$TMP/bad2.err" || { cat "$TMP/bad2.err"; exit 1; }
echo "image finetune cli ($MODE): ok"

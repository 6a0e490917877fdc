#!/usr/bin/env bash
# The main job: install what is missing, build, fetch the data, fine-tune the demo GPT-2 checkpoint
# (tests/fixtures/gpt2_demo, pre-trained by transformers on fortune-cookie text) on literary quotes
# from Debian's `fortunes` package, validate on held-out quotes, and show generations before/after.
# Usage: bash scripts/main_job.sh [extra temper finetune flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
python3 tools/prepare_fortunes.py .cache/data
TEMPER=build/launch/temper
MODEL=tests/fixtures/gpt2_demo
OUT=runs/main_job
PROMPT="The secret of a good book is"

echo "== before fine-tuning =="
$TEMPER eval --model $MODEL --data .cache/data/literature_valid.txt --seq-len 64
$TEMPER generate --model $MODEL --prompt "$PROMPT" --max-tokens 40 --top-k 40 --temperature 0.8 --seed 1

echo "== fine-tuning =="
$TEMPER finetune --model $MODEL --train .cache/data/literature_train.txt --valid .cache/data/literature_valid.txt \
  --output $OUT --seq-len 64 --micro-batch 8 --grad-accum 2 --epochs 3 --lr 1e-3 --lr-schedule cosine \
  --warmup-ratio 0.05 --weight-decay 0.01 --eval-every 100 --save-every 200 --log-every 20 "$@"

echo "== after fine-tuning (reloaded from $OUT) =="
$TEMPER eval --model $OUT --data .cache/data/literature_valid.txt --seq-len 64
$TEMPER generate --model $OUT --prompt "$PROMPT" --max-tokens 40 --top-k 40 --temperature 0.8 --seed 1

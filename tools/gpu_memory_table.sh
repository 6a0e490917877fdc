#!/usr/bin/env bash
# Peak device memory and speed of full fine-tuning vs LoRA vs QLoRA on one model and batch (the
# table docs/performance.md records). Builds a randomly initialised model of CONFIG's shapes with
# transformers (tools/make_random_llama.py: the lent GPU machine cannot fetch the real one; same
# shapes, same memory), then runs `temper finetune` once per mode and prints one row each.
#
#   tools/gpu_memory_table.sh BUILD_DIR ASSETS_DIR [OUT_DIR]
# ASSETS_DIR holds tokenizer.json, tokenizer_config.json, austen_train.txt, austen_valid.txt.
# Environment: CONFIG (bench/configs/smollm2-135m.json), MODES (all below), SEQ, BATCH, STEPS, DEVICE.
set -euo pipefail
BUILD=$1 ASSETS=$2 OUT=${3:-/tmp/temper_memory_table}
SEQ=${SEQ:-1024} BATCH=${BATCH:-8} STEPS=${STEPS:-20} DEVICE=${DEVICE:-cuda}
CONFIG=${CONFIG:-bench/configs/smollm2-135m.json}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
MODEL=$OUT/$(basename "$CONFIG" .json)-random
[[ -f $MODEL/model.safetensors ]] ||
  python3 tools/make_random_llama.py "$CONFIG" "$MODEL" --tokenizer-from "$ASSETS" >/dev/null
ALL=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj
declare -A FLAGS=(
  [full]=""
  [lora_r16_recompute]="--lora-r 16 --lora-alpha 32 --lora-targets $ALL --recompute"
  [full_recompute]="--recompute"
  [lora_r16]="--lora-r 16 --lora-alpha 32 --lora-targets $ALL"
  [qlora_r16_q4_1]="--lora-r 16 --lora-alpha 32 --lora-targets $ALL --qlora q4_1"
  [qlora_r16_q4_1_recompute]="--lora-r 16 --lora-alpha 32 --lora-targets $ALL --qlora q4_1 --recompute"
)
echo "# $(basename "$CONFIG" .json), $BATCH x $SEQ tokens per step, $STEPS steps, $DEVICE"
printf '%-26s %12s %12s %10s\n' mode peak_MiB tokens/s val_loss
for mode in ${MODES:-full full_recompute lora_r16 lora_r16_recompute qlora_r16_q4_1 qlora_r16_q4_1_recompute}; do
  # shellcheck disable=SC2086
  "$BUILD/launch/temper" finetune --model "$MODEL" --train "$ASSETS/austen_train.txt" \
    --valid "$ASSETS/austen_valid.txt" --output "$OUT/run_$mode" --device "$DEVICE" --seq-len "$SEQ" \
    --micro-batch "$BATCH" --max-steps "$STEPS" --eval-batches 2 --lr 1e-4 --progress off ${FLAGS[$mode]} \
    >"$OUT/$mode.json" 2>"$OUT/$mode.log" || { echo "$mode: FAILED (see $OUT/$mode.log)"; tail -n 3 "$OUT/$mode.log"; continue; }
  python3 - "$OUT/$mode.json" "$OUT/run_$mode/metrics.jsonl" "$mode" <<'PY'
import json, statistics, sys
summary = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
steps = [json.loads(l) for l in open(sys.argv[2]) if '"tokens_per_s"' in l]
tps = statistics.median(s["tokens_per_s"] for s in steps[2:] or steps)  # skip warm-up steps
print(f'{sys.argv[3]:<26} {summary["peak_memory_mib"]:12.1f} {tps:12.0f} {summary["val_loss_end"]:10.4f}')
PY
done

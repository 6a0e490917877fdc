#!/usr/bin/env bash
# `mpirun -np 2 temper finetune` end to end on CPU ranks: one summary (rank 0), the output directory
# reloads in a single-process `temper eval` with the validation loss the 2-rank run reported,
# `--zero 1` runs too, and a rank's failure (in training or in parsing its flags) prints one error
# line naming the rank and ends the whole job.
# Usage: mpi_finetune_cli.sh TEMPER_BIN SOURCE_DIR
set -euo pipefail
BIN=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MPI="mpirun -np 2 --oversubscribe --allow-run-as-root"
ARGS="--model $SRC/tests/fixtures/gpt2_demo --train $SRC/tests/fixtures/text/finetune_train.txt \
  --valid $SRC/tests/fixtures/text/finetune_valid.txt --seq-len 32 --micro-batch 2 --max-steps 4 --lr 1e-3 --progress plain"

$MPI "$BIN" finetune $ARGS --output "$TMP/ddp" >"$TMP/ddp.out" 2>"$TMP/ddp.err" || { cat "$TMP/ddp.err"; exit 1; }
lines=$(wc -l <"$TMP/ddp.out")
[ "$lines" -eq 1 ] || { echo "expected one summary line (rank 0), got $lines"; cat "$TMP/ddp.out"; exit 1; }
"$BIN" eval --model "$TMP/ddp" --data "$SRC/tests/fixtures/text/finetune_valid.txt" --seq-len 32 --batch 4 \
  >"$TMP/eval.out" 2>/dev/null
python3 - "$TMP/ddp.out" "$TMP/eval.out" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
ev = json.load(open(sys.argv[2]))
assert summary["world_size"] == 2, summary
assert summary["val_perplexity_end"] < summary["val_perplexity_start"], summary
assert abs(ev["loss"] - summary["val_loss_end"]) < 1e-5, (ev, summary)
print(f"2-rank val loss {summary['val_loss_end']:.6f} == single-process eval {ev['loss']:.6f}")
PY
$MPI "$BIN" finetune $ARGS --output "$TMP/zero" --zero 1 >"$TMP/zero.out" 2>"$TMP/zero.err" || { cat "$TMP/zero.err"; exit 1; }
grep -q "ZeRO-1" "$TMP/zero.err" || { echo "ZeRO-1 not reported"; cat "$TMP/zero.err"; exit 1; }
# A failure outside temper's own checks (std::filesystem: the output path runs through a file) on
# rank 0 alone: one error line naming the rank, and the whole job exits non-zero.
touch "$TMP/afile"
if $MPI "$BIN" finetune $ARGS --output "$TMP/afile/out" >/dev/null 2>"$TMP/fail.err"; then
  echo "finetune into $TMP/afile/out succeeded"; exit 1
fi
grep -q '^temper: error: \[rank 0\] ' "$TMP/fail.err" || { echo "error line without the rank"; cat "$TMP/fail.err"; exit 1; }
# A flag only rank 0 rejects (as with a config file one node lacks): the job ends at once instead
# of rank 1 waiting forever in its first collective.
start=$(date +%s)
if timeout 60 mpirun --oversubscribe --allow-run-as-root -np 1 "$BIN" finetune $ARGS --output "$TMP/mpmd" --no-such-flag \
  : -np 1 "$BIN" finetune $ARGS --output "$TMP/mpmd" >/dev/null 2>"$TMP/mpmd.err"; then
  echo "a run with a bad flag on rank 0 succeeded"; exit 1
fi
[ $(( $(date +%s) - start )) -lt 60 ] || { echo "a bad flag on rank 0 left the job hanging"; exit 1; }
grep -q '^temper: error: \[rank 0\] .*--no-such-flag' "$TMP/mpmd.err" || { cat "$TMP/mpmd.err"; exit 1; }
echo "mpi finetune cli: ok"

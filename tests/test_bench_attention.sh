#!/usr/bin/env bash
# `temper bench attention` on the CPU: a tiny sweep, then grouped heads with --accuracy; the JSON
# written by --json has the expected fields, finite numbers and the FlashAttention FLOP counts; a bad
# flag combination fails with one clear line; peers whose results have the wrong shape (stubs: torch is
# never needed here) leave our table intact.
# Usage: test_bench_attention.sh TEMPER_BIN
set -euo pipefail
BIN=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ARGS="--device cpu --seq 33 --head-dim 16 --heads 2 --batch 1 --iters 1 --warmup 0"
"$BIN" bench attention $ARGS --json "$TMP/x.json" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; exit 1; }
"$BIN" bench attention $ARGS --kv-heads 1 --causal off --direction fwd --accuracy --json "$TMP/acc.json" \
  >"$TMP/out2" 2>"$TMP/err2" || { cat "$TMP/err2"; exit 1; }
grep -q "TFLOP/s" "$TMP/out" || { echo "no table"; cat "$TMP/out"; exit 1; }
grep -q "accuracy" "$TMP/out2" || { echo "no accuracy table"; cat "$TMP/out2"; exit 1; }
python3 - "$TMP/x.json" "$TMP/acc.json" <<'PY'
import json, math, sys

def finite(x, what):
    assert isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x), f"{what}: {x!r}"
    return x

def check_doc(doc, rows, kv_heads):
    assert doc["benchmark"] == "attention" and doc["device"] == "cpu" and doc["dtype"] == "fp32", doc
    assert doc["machine"]["date"], doc["machine"]
    assert finite(doc["peak"]["tflops"], "peak tflops") > 0 and doc["peak"]["dtype"] == "fp32"
    got = {(r["causal"], r["direction"]) for r in doc["rows"]}
    assert got == rows, got
    for r in doc["rows"]:
        assert (r["batch"], r["seq"], r["heads"], r["kv_heads"], r["head_dim"]) == (1, 33, 2, kv_heads, 16), r
        flops = 4 * 1 * 2 * 33 * 33 * 16 * (0.5 if r["causal"] else 1) * (2.5 if r["direction"] == "bwd" else 1)
        assert abs(finite(r["flops"], "flops") - flops) < 1e-6 * flops, r
        for key in ("time_ms", "tflops", "pct_of_peak"):
            assert finite(r[key], key) > 0, r

x = json.load(open(sys.argv[1]))
check_doc(x, {(True, "fwd"), (True, "bwd"), (False, "fwd"), (False, "bwd")}, 2)
assert "accuracy" not in x and "peer" not in x
a = json.load(open(sys.argv[2]))
check_doc(a, {(False, "fwd")}, 1)
assert len(a["accuracy"]) == 4, a["accuracy"]
for case in a["accuracy"]:
    assert case["seq"] == 257 and case["heads"] % case["kv_heads"] == 0, case
    for t in ("out", "lse", "dq", "dk", "dv"):
        e = case["ours_vs_cpu_f32"][t]
        # on the CPU our op is the reference itself: the errors are exactly zero
        assert finite(e["max_abs"], t) == 0 and finite(e["rel_rms"], t) == 0, (t, e)
print("bench attention JSON: ok")
PY
# Another program's output is read defensively: fields of the wrong type are shown as missing, and a
# result that is not a JSON object is a failed peer.
cat >"$TMP/odd_peer.py" <<'PY'
import json, sys
json.dump({"torch": 3, "timing": [7, {"backends": []}, {"backends": {"math": 5}}],
           "accuracy": [1, {"ours": [], "sdpa": {"math": 2}}, None, {"ours": {"out": "x"}}]}, open(sys.argv[2], "w"))
PY
echo 'import sys; open(sys.argv[2], "w").write("[1, 2]")' >"$TMP/list_peer.py"
for peer in "python3 $TMP/odd_peer.py" "python3 $TMP/list_peer.py"; do
  "$BIN" bench attention $ARGS --kv-heads 1 --causal off --direction fwd --accuracy --peer "$peer" >"$TMP/odd" \
    2>"$TMP/odd.err" || { echo "peer '$peer' broke the benchmark:"; cat "$TMP/odd.err"; exit 1; }
  grep -q "TFLOP/s" "$TMP/odd" && grep -q "accuracy" "$TMP/odd" || { echo "no tables:"; cat "$TMP/odd"; exit 1; }
done
grep -q "peer FAILED: .*not a JSON object" "$TMP/odd" || { echo "a list result went unreported:"; cat "$TMP/odd"; exit 1; }
if "$BIN" bench attention --device cpu --heads 4 --kv-heads 3 >"$TMP/out3" 2>"$TMP/err3"; then
  echo "--heads 4 --kv-heads 3 did not fail"; exit 1
fi
grep -q "kv-heads.*must divide" "$TMP/err3" || { echo "unclear error:"; cat "$TMP/err3"; exit 1; }
[ "$(wc -l <"$TMP/err3")" -eq 1 ] || { echo "more than one error line:"; cat "$TMP/err3"; exit 1; }
echo "bench attention (cpu): ok"

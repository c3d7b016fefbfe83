#!/usr/bin/env bash
# Constrained vs free decoding on the GPU machine (issue 22 item 4): Llama-3.1-8B shape, bf16,
# dummy weights, every request constrained to bench/configs/nested-schema.json (compiled once with
# the Llama 3 tokenizer), each step followed by the same requests unconstrained
# (--compare-unconstrained: each as long as its constrained output). Steps:
#   b1   batch 1: `bench latency`, 8 requests of 128/128
#   b64  batch 64: `bench throughput`, 256 requests of 128/128, --max-batch-size 64
#   compile  bench_structured's schema compile time over its generated schema set (when packed)
# Ends with a table: TPOT p50 constrained / free, overhead, mean output tokens, complete outputs,
# mask fill per step, mask-cache hits / misses. Usage, repository root on the GPU machine, with
# build-gpu/ignis-gpu.tar.xz from `EXTRA_TARGETS=bench_structured scripts/pack-gpu-build.sh` and the
# tokenizer carried (assets/tokenizer-llama3 is what scripts/fetch-assets.sh fetches):
#   [STEPS="b1 b64 compile"] bench/gpu/run_structured.sh OUT_DIR [TOKENIZER_DIR]   (default assets/tokenizer-llama3/models)
set -uo pipefail
OUT=${1:?out dir}
TOK=${2:-assets/tokenizer-llama3/models}
[ -f "$TOK/tokenizer.json" ] || { echo "run_structured: no $TOK/tokenizer.json (carry assets/tokenizer-llama3)" >&2; exit 2; }
# A fresh unpack every time: a warm machine may hold an older tarball's binaries in /tmp/ignis-gpu.
G=/tmp/ignis-gpu-structured
rm -rf "$G" && mkdir -p "$OUT" "$G" && tar -C "$G" -xJf build-gpu/ignis-gpu.tar.xz || exit 2
BIN=$G/bin
LIBS=$G/lib
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && LIBS=$LIBS:$d; done
PYCUBLAS=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
[ -n "$PYCUBLAS" ] && LIBS=$LIBS:$PYCUBLAS
export LD_LIBRARY_PATH=$LIBS:${LD_LIBRARY_PATH:-}
M="$OUT/model"
mkdir -p "$M"
cp bench/configs/llama-3.1-8b/config.json "$M/config.json"
SCHEMA=bench/configs/nested-schema.json
COMMON=(--model "$M" --load-format dummy --tokenizer "$TOK" --json-schema "$SCHEMA" --compare-unconstrained --no-progress ${EXTRA_ARGS:-})  # EXTRA_ARGS="--constraint-threads 4"

run() {  # name, timeout, args...
  local name=$1 limit=$2; shift 2
  echo "== $name: ignis $* ${COMMON[*]}"
  timeout "$limit" "$BIN/ignis" "$@" "${COMMON[@]}" --json "$OUT/$name.json" --save-outputs "$OUT/$name.outputs.jsonl" \
    > "$OUT/$name.txt" 2>&1
  echo "   rc=$? $(grep -m1 'vs unconstrained' "$OUT/$name.txt" || true)"
}

STEPS=" ${STEPS:-b1 b64 compile} "  # STEPS="b64": only that step
[[ $STEPS == *" b1 "* ]] && run b1 300 bench latency --num-requests 8 --input-mean 128 --output-mean 128
[[ $STEPS == *" b64 "* ]] && run b64 400 bench throughput --num-requests 256 --input-mean 128 --output-mean 128 --max-batch-size 64
if [[ $STEPS != *" compile "* ]]; then
  :
elif [ -x "$BIN/bench_structured" ]; then
  timeout 300 "$BIN/bench_structured" "$TOK" 200 > "$OUT/compile.txt" 2>&1
  echo "== compile: bench_structured rc=$?"
  cat "$OUT/compile.txt"
else
  echo "== compile: $BIN/bench_structured not packed (EXTRA_TARGETS=bench_structured scripts/pack-gpu-build.sh)"
fi

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print(f"{'step':<5} {'TPOT p50 ms':>11} {'free ms':>8} {'overhead':>9} {'out tok/req':>11} {'complete':>9} "
      f"{'mask ms/step':>12} {'us/row':>7} {'cache hit/miss':>15}")
for step in ("b1", "b64"):
    p = os.path.join(out, step + ".json")
    if not os.path.exists(p):
        print(f"{step:<5} (no report)")
        continue
    r = json.load(open(p))
    f = lambda v, fmt: format(v, fmt) if v is not None else "n/a"
    tp = r["tpot_s"]["p50"] * 1e3
    free = r["unconstrained_tpot_p50_s"]
    per = r["output_tokens"] / max(1, r["completed"])
    print(f"{step:<5} {tp:>11.3f} {f(free and free * 1e3, '.3f'):>8} {f(r['tpot_overhead_pct'], '+.2f'):>8}% "
          f"{per:>11.1f} {str(r['constraint_complete']) + '/' + str(r['completed']):>9} "
          f"{f(r['mask_fill_ms_per_step'], '.3f'):>12} {f(r['mask_fill_us_per_row'], '.1f'):>7} "
          f"{str(r['mask_cache_hits']) + '/' + str(r['mask_cache_misses']):>15}")
PY

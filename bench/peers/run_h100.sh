#!/usr/bin/env bash
# ignis bench vs Hugging Face transformers on one GPU, same workloads, for docs/PERF.md.
# Usage (GPU machine, repository root, ignis built with CUDA):
#   bench/peers/run_h100.sh BUILD_DIR OUT_DIR [NUM_REQUESTS]
# Model: the Llama-3.1-8B shape (config.json only: ignis --load-format dummy, HF random init, bf16)
# with the Llama 3 tokenizer from assets/ (so `ignis serve` can start). Writes to OUT_DIR:
#   workload_{throughput,latency}.jsonl, ignis_{throughput,latency,serve}.{txt,json,svg},
#   hf_{throughput,latency}.{txt,json}, serve.log. Each step is bounded by `timeout`.
set -euo pipefail
BUILD=${1:?build dir}
OUT=${2:?output dir}
N=${3:-256}
IGNIS="$BUILD/bin/ignis"
mkdir -p "$OUT/model"
M="$OUT/model"
cp bench/configs/llama-3.1-8b/config.json "$M/config.json"
TOKDIR=assets/tokenizer-llama3/models
if [ -f "$TOKDIR/tokenizer.json" ]; then cp "$TOKDIR"/tokenizer*.json "$M/"; fi

# Workloads: throughput 128 in / 128 out (fixed), latency 8 requests of 128 / 128.
"$IGNIS" bench dataset --vocab 128000 --num-requests "$N" --input-mean 128 --output-mean 128 --seed 1 \
  -o "$OUT/workload_throughput.jsonl"
"$IGNIS" bench dataset --vocab 128000 --num-requests 8 --input-mean 128 --output-mean 128 --seed 2 \
  -o "$OUT/workload_latency.jsonl"

run() { local name=$1; shift; echo "== $name"; timeout 500 "$@" 2>&1 | tee "$OUT/$name.txt"; }

run ignis_throughput "$IGNIS" bench throughput --model "$M" --load-format dummy --dataset "$OUT/workload_throughput.jsonl" \
  --max-batch-size 256 --no-progress --json "$OUT/ignis_throughput.json" --plot "$OUT/ignis_throughput.svg"
run ignis_latency "$IGNIS" bench latency --model "$M" --load-format dummy --dataset "$OUT/workload_latency.jsonl" \
  --no-progress --json "$OUT/ignis_latency.json" --plot "$OUT/ignis_latency.svg"

if [ -f "$M/tokenizer.json" ]; then
  "$IGNIS" serve --model "$M" --load-format dummy --host 127.0.0.1 --port 0 --max-batch-size 256 > "$OUT/serve.log" 2>&1 &
  SERVE_PID=$!
  URL=""
  for _ in $(seq 1 300); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$OUT/serve.log" | head -1 || true)
    [ -n "$URL" ] && break
    sleep 1
  done
  if [ -n "$URL" ]; then
    run ignis_serve "$IGNIS" bench serve --url "$URL" --dataset "$OUT/workload_throughput.jsonl" --request-rate 16 \
      --no-progress --json "$OUT/ignis_serve.json" --plot "$OUT/ignis_serve.svg" || true
  else
    echo "ignis serve did not start (see serve.log)"
  fi
  kill "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
fi

if [ -n "${SKIP_HF:-}" ]; then echo "done (SKIP_HF): $OUT"; exit 0; fi
run hf_throughput python3 bench/peers/hf_transformers_bench.py --model "$M" --dataset "$OUT/workload_throughput.jsonl" \
  --mode throughput --batch-size 64 --json "$OUT/hf_throughput.json"
run hf_latency python3 bench/peers/hf_transformers_bench.py --model "$M" --dataset "$OUT/workload_latency.jsonl" \
  --mode latency --json "$OUT/hf_latency.json"
echo "done: $OUT"

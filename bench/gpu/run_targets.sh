#!/usr/bin/env bash
# Issue 9's workloads with `ignis bench` on the GPU machine (Llama-3.1-8B shape, bf16, dummy weights),
# each step bounded by `timeout`; ends with a table (step, output tok/s, TTFT/TPOT p50, decode GB/s
# as % of the copy bandwidth measured in the same run). Usage, repository root on the GPU machine:
#   bench/gpu/run_targets.sh BIN_DIR OUT_DIR [STEP...]
# Steps (default: b1 b1-cublas t128 t2048 ttft t128-temp): b1 batch-1 decode (8 x 128/256),
# b1-cublas the same with IGNIS_GEMV=0, b1-nopdl with IGNIS_PDL=0, t128 / t2048 / t500 offline throughput of N requests of
# 128/128, 2048/128, 500/2000 (N = $N, default 1000), ttft one 2048-token prompt at a time,
# t128-temp 128/128 with temperature 0.8 + top-p 0.95 (GPU sampling); t2048-mma / ttft-mma: t2048 / ttft with
# IGNIS_ATTENTION=mma (the mma.sync prefill kernel instead of wgmma, for A/B runs); t2048-nores: t2048 without
# the scheduler's admission reserve (--kv-reserve-tokens 0). Suffixes add precision flags to any step:
# +fp8 = --quantization fp8 (FP8 W8A8 projections), +kv8 = --kv-cache-dtype fp8, +int4 / +int8 =
# --quantization int4 / int8-wo (integer weight-only, round to nearest, group 128); e.g. b1+fp8, t128-512+fp8+kv8.
# t2048-b8 / t2048-b64: 2048/128 with at most 8 / 64 sequences in flight (8 x 8 / 4 x 64 requests).
set -uo pipefail
BIN=${1:?bin dir}
OUT=${2:?output dir}
shift 2
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(b1 b1-cublas t128 t2048 ttft t128-temp)
N=${N:-1000}
IGNIS="$BIN/ignis"
M="$OUT/model"
mkdir -p "$M"
cp bench/configs/llama-3.1-8b/config.json "$M/config.json"
COMMON=(--model "$M" --load-format dummy --no-progress)

run() {  # name, timeout, env..., -- args...
  local name=$1$SUFFIX limit=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  echo "== $name: ignis $*"
  env "${envs[@]}" timeout "$limit" "$IGNIS" "$@" "${COMMON[@]}" "${PREC[@]}" --json "$OUT/$name.json" > "$OUT/$name.txt" 2>&1
  echo "   rc=$? $(grep -m1 'output tokens/s\|output throughput' "$OUT/$name.txt" || true)"
}

for step in "${STEPS[@]}"; do
  s=${step%%+*}
  SUFFIX=${step#"$s"}
  PREC=()
  case $SUFFIX in *+fp8*) PREC+=(--quantization fp8) ;; esac
  case $SUFFIX in *+kv8*) PREC+=(--kv-cache-dtype fp8) ;; esac
  case $SUFFIX in *+int4*) PREC+=(--quantization int4) ;; esac
  case $SUFFIX in *+int8*) PREC+=(--quantization int8-wo) ;; esac
  case $s in
    b1) run b1 300 IGNIS_GEMV=1 -- bench latency --num-requests 8 --input-mean 128 --output-mean 256 ;;
    b1-cublas) run b1-cublas 300 IGNIS_GEMV=0 -- bench latency --num-requests 8 --input-mean 128 --output-mean 256 ;;
    b1-nopdl) run b1-nopdl 300 IGNIS_PDL=0 -- bench latency --num-requests 8 --input-mean 128 --output-mean 256 ;;
    t128) run t128 400 X=1 -- bench throughput --num-requests "$N" --input-mean 128 --output-mean 128 \
            --max-batch-size 256 --max-num-tokens 8192 ;;
    t128-512) run t128-512 400 X=1 -- bench throughput --num-requests "$N" --input-mean 128 --output-mean 128 \
            --max-batch-size 512 --max-num-tokens 8192 ;;
    t128-temp) run t128-temp 400 X=1 -- bench throughput --num-requests "$N" --input-mean 128 --output-mean 128 \
            --max-batch-size 256 --max-num-tokens 8192 --temperature 0.8 ;;
    t2048) run t2048 500 X=1 -- bench throughput --num-requests "$N" --input-mean 2048 --output-mean 128 \
            --max-batch-size 256 --max-num-tokens 8192 ;;
    t2048-b8) run t2048-b8 400 X=1 -- bench throughput --num-requests 64 --input-mean 2048 --output-mean 128 \
            --max-batch-size 8 --max-num-tokens 8192 ;;
    t2048-b64) run t2048-b64 400 X=1 -- bench throughput --num-requests 256 --input-mean 2048 --output-mean 128 \
            --max-batch-size 64 --max-num-tokens 8192 ;;
    t2048-nores) run t2048-nores 500 X=1 -- bench throughput --num-requests "$N" --input-mean 2048 --output-mean 128 \
            --max-batch-size 256 --max-num-tokens 8192 --kv-reserve-tokens 0 ;;
    t500) run t500 590 X=1 -- bench throughput --num-requests "$N" --input-mean 500 --output-mean 2000 \
            --max-batch-size 256 --max-num-tokens 8192 ;;
    t2048-mma) run t2048-mma 500 IGNIS_ATTENTION=mma -- bench throughput --num-requests "$N" --input-mean 2048 \
            --output-mean 128 --max-batch-size 256 --max-num-tokens 8192 ;;
    ttft) run ttft 300 X=1 -- bench latency --num-requests 6 --input-mean 2048 --output-mean 2 --max-num-tokens 8192 ;;
    ttft-mma) run ttft-mma 300 IGNIS_ATTENTION=mma -- bench latency --num-requests 6 --input-mean 2048 --output-mean 2 \
            --max-num-tokens 8192 ;;
    *) echo "unknown step $s" ;;
  esac
done

python3 - "$OUT" "${STEPS[@]}" <<'PY'
import json, os, sys
out = sys.argv[1]
print(f"\n{'step':<16} {'req':>5} {'fail':>4} {'out tok/s':>10} {'TTFT p50 ms':>12} {'TPOT p50 ms':>12} {'decode GB/s':>12} {'% copy bw':>9}  copy GB/s")
for s in sys.argv[2:]:
    p = os.path.join(out, s + ".json")
    if not os.path.exists(p):
        print(f"{s:<16} (no result)"); continue
    j = json.load(open(p))
    bw = j.get("decode_bandwidth_gbps"); fr = j.get("decode_bandwidth_fraction")
    cbw = f"{bw / fr:.0f}" if bw and fr else "-"
    print(f"{s:<16} {j['completed']:>5} {j['failed']:>4} {j['output_tokens_per_s']:>10.1f} {j['ttft_s']['p50']*1e3:>12.2f} "
          f"{j['tpot_s']['p50']*1e3:>12.3f} {bw or 0:>12.1f} {(fr or 0)*100:>9.1f}  {cbw}")
PY

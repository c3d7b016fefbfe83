#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: GPU tests, compute-sanitizer memcheck on the
# kernel tests, the 8B-shape transformers comparison and a short benchmark; ends with a summary.
#
#   scripts/gpu-check.sh [outdir]        (outdir default: $OUT or ./gpu-check-out)
#
# Binaries: build-gpu/ignis-gpu.tar.xz (carried, made by scripts/pack-gpu-build.sh), else it tries to
# build on the machine (needs fmt, nlohmann-json, CLI11, pcre2, openblas, gtest dev packages).
# Env: SKIP_BENCH=1, SKIP_SANITIZER=1, SKIP_COMPARE=1, COMPARE_LAYERS (default 4),
#      BENCH_LAYERS (default 32), BENCH_STEPS (256), BENCH_REQUESTS (512).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUTDIR=${1:-${OUT:-$ROOT/gpu-check-out}}
mkdir -p "$OUTDIR"
BIN=$ROOT/build-gpu/bin
if [ -f "$ROOT/build-gpu/ignis-gpu.tar.xz" ]; then  # packed by scripts/pack-gpu-build.sh
  mkdir -p /tmp/ignis-gpu && tar -C /tmp/ignis-gpu -xJf "$ROOT/build-gpu/ignis-gpu.tar.xz" && BIN=/tmp/ignis-gpu/bin
fi
declare -a SUMMARY

add() { SUMMARY+=("$(printf '%-34s %-6s %s' "$1" "$2" "$3")"); }

if [ ! -x "$BIN/test_gpu_all" ]; then
  BIN=$ROOT/build-gpu/bin
  echo "gpu-check: no carried build-gpu/bin; building on this machine" | tee -a "$OUTDIR/build.log"
  if cmake -S . -B build-gpu-local -G Ninja -DIGNIS_CUDA=ON >>"$OUTDIR/build.log" 2>&1 &&
     cmake --build build-gpu-local --target test_gpu_all ignis_gpu_bench ignis_gpu_logits -j 16 >>"$OUTDIR/build.log" 2>&1; then
    mkdir -p build-gpu/bin
    cp build-gpu-local/tests/gpu/test_gpu_all build-gpu-local/bin/ignis_gpu_* build-gpu/bin/
    add build PASS "built on the GPU machine"
  else
    tail -30 "$OUTDIR/build.log"
    add build FAIL "see build.log (carry build-gpu from scripts/pack-gpu-build.sh instead)"
    printf '%s\n' "${SUMMARY[@]}"
    exit 1
  fi
fi

# Libraries: packed ones first, then CUDA's (toolkit or the pip wheels next to torch).
LIBS=/tmp/ignis-gpu/lib
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && LIBS=$LIBS:$d; done
PYCUBLAS=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
[ -n "$PYCUBLAS" ] && LIBS=$LIBS:$PYCUBLAS
PYNCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null || true)
[ -n "$PYNCCL" ] && LIBS=$LIBS:$PYNCCL  # pack-gpu-build.sh leaves libnccl out (218 MB)
export LD_LIBRARY_PATH=$LIBS:${LD_LIBRARY_PATH:-}
export IGNIS_TEST_DATA_DIR=$ROOT/tests/data
nvidia-smi -L 2>&1 | tee "$OUTDIR/device.txt"
if ldd "$BIN/test_gpu_all" | grep -q "not found"; then
  ldd "$BIN/test_gpu_all" | grep "not found"
  add libraries FAIL "missing shared libraries (ldd above)"
fi

run_step() {  # name, timeout, command...
  local name=$1 to=$2; shift 2
  local t0=$(date +%s)
  timeout "$to" "$@" >"$OUTDIR/$name.log" 2>&1
  local rc=$? dt=$(( $(date +%s) - t0 ))
  tail -25 "$OUTDIR/$name.log"
  if grep -q "no CUDA device" "$OUTDIR/$name.log"; then add "$name" FAIL "tests skipped: no CUDA device seen";
  elif [ $rc -eq 0 ]; then add "$name" PASS "${dt}s"; else add "$name" FAIL "rc=$rc ${dt}s, see $name.log"; fi
  return $rc
}

run_step gpu_kernels 300 "$BIN/test_gpu_all" --gtest_filter='GpuKernels.*:GpuAttention*:GpuSampling*'
run_step gpu_fp8 300 "$BIN/test_gpu_all" --gtest_filter='GpuFp8*'
run_step gpu_model 300 "$BIN/test_gpu_all" --gtest_filter='GpuModel.*'
run_step gpu_spec 300 "$BIN/test_gpu_all" --gtest_filter='GpuSpec*'
# Integer weight-only layouts on the CUDA backend (tests/quant, its own binary).
[ -x "$BIN/test_gpu_int" ] && run_step gpu_int 300 "$BIN/test_gpu_int"
if [ -z "${SKIP_SANITIZER:-}" ] && command -v compute-sanitizer >/dev/null; then
  run_step memcheck 400 compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN/test_gpu_all" \
    --gtest_filter='GpuKernels.*:GpuAttention.PrefillDecodeMixedShapes:GpuAttention.SlidingWindow:GpuAttention.TinyHeadDims:GpuAttention.DecodeTilesLargeScoresAndEmptySplits'
fi
if [ -z "${SKIP_COMPARE:-}" ]; then
  run_step compare_8b 400 env PYTHONUNBUFFERED=1 python3 tools/golden/compare_8b.py --bin "$BIN/ignis_gpu_logits" \
    --out /tmp/ignis-compare-8b --layers "${COMPARE_LAYERS:-4}"
  grep -E "rel_err|top1" "$OUTDIR/compare_8b.log" | sed 's/^/  /' >"$OUTDIR/compare_8b.summary"
fi
if [ -z "${SKIP_BENCH:-}" ] && [ -x "$BIN/ignis_gpu_bench" ]; then
  run_step bench 500 "$BIN/ignis_gpu_bench" --layers "${BENCH_LAYERS:-32}" --decode-steps "${BENCH_STEPS:-256}" \
    --requests "${BENCH_REQUESTS:-512}"
fi
if [ -x "$BIN/ignis" ] && [ -f models/demo/tokenizer.json ]; then
  # Perplexity of the demo models on the GPU must agree with PyTorch's within 0.5% (issue 8).
  for m in demo demo-draft; do run_step "eval_$m" 120 python3 tests/demo/check_eval.py "$BIN/ignis" "models/$m" cuda; done
fi
if [ -z "${SKIP_ENGINE:-}" ] && [ -x "$BIN/ignis" ]; then
  # Engine-level figures (scheduler + KV manager + CudaModel), Llama-3.1-8B shape, dummy bf16 weights.
  M8=/tmp/ignis-llama8b && mkdir -p $M8 && cp bench/configs/llama-3.1-8b/config.json $M8/
  run_step engine_throughput 300 "$BIN/ignis" bench throughput --model $M8 --load-format dummy --device cuda \
    --num-requests "${ENGINE_REQUESTS:-512}" --input-mean 128 --output-mean 128 --max-batch-size 256 \
    --max-num-tokens 8192 --no-progress --json "$OUTDIR/engine_throughput.json"
  run_step engine_latency 300 "$BIN/ignis" bench latency --model $M8 --load-format dummy --device cuda \
    --num-requests 3 --input-mean 128 --output-mean 256 --no-progress --json "$OUTDIR/engine_latency.json"
fi

echo
echo "================ ignis gpu-check summary ================"
echo "device: $(head -1 "$OUTDIR/device.txt")"
printf '%s\n' "${SUMMARY[@]}"
[ -f "$OUTDIR/compare_8b.summary" ] && { echo "8B-shape comparison:"; cat "$OUTDIR/compare_8b.summary"; }
if [ -f "$OUTDIR/bench.log" ]; then
  echo "benchmark:"
  grep -E "^(copy_bandwidth_gbs|decode_b1|offline)" "$OUTDIR/bench.log" | awk '{printf "  %-34s %s\n", $1, $2}'
fi
echo "logs: $OUTDIR"
printf '%s\n' "${SUMMARY[@]}" | grep -q " FAIL " && exit 1
exit 0

#!/usr/bin/env bash
# Integer weight-only on the GPU machine (issue 17): the kernel and model tests, the GEMV table of
# ignis_gemm_bench --int 1, and (phase "engine") the engine targets of bf16 / int4 / int8-wo through
# bench/gpu/run_targets.sh. Usage, repository root on the GPU machine, with build-gpu/ignis-gpu.tar.xz
# from scripts/pack-gpu-build.sh:
#   bench/gpu/run_int.sh OUT_DIR [tests] [gemv] [engine STEP...]
set -uo pipefail
OUT=${1:?out dir}
shift
mkdir -p "$OUT" /tmp/ignis-gpu
[ -x /tmp/ignis-gpu/bin/ignis ] || tar -C /tmp/ignis-gpu -xJf build-gpu/ignis-gpu.tar.xz
BIN=/tmp/ignis-gpu/bin
LIBS=/tmp/ignis-gpu/lib
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && LIBS=$LIBS:$d; done
PYCUBLAS=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
[ -n "$PYCUBLAS" ] && LIBS=$LIBS:$PYCUBLAS
export LD_LIBRARY_PATH=$LIBS:${LD_LIBRARY_PATH:-}
export IGNIS_TEST_DATA_DIR=$PWD/tests/data
while [ $# -gt 0 ]; do
  case $1 in
    tests)
      timeout 400 "$BIN/test_gpu_all" > "$OUT/gpu_all.log" 2>&1; echo "test_gpu_all rc=$?"
      grep -E "^\[  (PASSED|FAILED)|FAILED  \]|mismatch|relative error" "$OUT/gpu_all.log" | head -20
      timeout 300 "$BIN/test_gpu_int" > "$OUT/gpu_int.log" 2>&1; echo "test_gpu_int rc=$?"
      grep -E "^\[  (PASSED|FAILED)|FAILED  \]|Failure|rel" "$OUT/gpu_int.log" | head -20 ;;
    gemv)
      timeout 300 "$BIN/ignis_gemm_bench" --int 1 --fp8 0 --bf16 0 --iters 50 > "$OUT/int_gemv.txt" 2>&1
      echo "ignis_gemm_bench rc=$?"; cat "$OUT/int_gemv.txt" ;;
    engine)
      shift
      bash bench/gpu/run_targets.sh "$BIN" "$OUT/targets" "$@" 2>&1 | tail -20
      break ;;
  esac
  shift
done

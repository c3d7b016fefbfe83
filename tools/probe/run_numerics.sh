#!/usr/bin/env bash
# GPU machine: ceilings + where ignis's bf16 logits lose accuracy against fp32 transformers (issue 16 item 7).
#   bash tools/probe/run_numerics.sh OUTDIR      (build-gpu carried, with build-gpu/gemm_rounding)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${1:-${OUT:-/tmp/numerics}}
mkdir -p "$OUTDIR" /tmp/ignis-gpu && tar -C /tmp/ignis-gpu -xJf build-gpu/ignis-gpu.tar.xz
BIN=/tmp/ignis-gpu/bin
PYCUBLAS=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
export LD_LIBRARY_PATH=/tmp/ignis-gpu/lib:/usr/local/cuda/lib64:$PYCUBLAS:${LD_LIBRARY_PATH:-}
nvidia-smi -L
python3 tools/probe/ceilings.py 2>&1 | tee "$OUTDIR/ceilings.txt"
[ -x build-gpu/gemm_rounding ] && build-gpu/gemm_rounding 2>&1 | tee "$OUTDIR/gemm_rounding.txt"
PYTHONUNBUFFERED=1 python3 tools/golden/compare_8b.py --bin "$BIN/ignis_gpu_logits" --out /tmp/cmp8b --layers 4 \
  --variant simple:IGNIS_ATTENTION=simple --variant mma:IGNIS_ATTENTION=mma --variant nogemv:IGNIS_GEMV=0 \
  2>&1 | grep -v "^running" | tee "$OUTDIR/compare.txt" | tail -12

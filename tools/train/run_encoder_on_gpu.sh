#!/usr/bin/env bash
# One GPU-machine job: trains the default sentence encoder (tools/train/train_encoder.py) and
# returns it under $OUT/encoder-mini. Input: gpuin/prose (moby-dick.txt, sotu/*.txt) carried
# from this checkout (scripts/prepare-encoder-corpus.sh writes it).
#   bash tools/train/run_encoder_on_gpu.sh [mlm-minutes contrastive-minutes]
set -uo pipefail
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 tools/train/train_encoder.py --prose gpuin/prose --out /tmp/ignis_enc \
    --mlm-minutes "${1:-2.5}" --contrastive-minutes "${2:-3}" 2>&1 | grep -v "step [0-9]*[1-9]00 " | tail -40
cp -r /tmp/ignis_enc/encoder-mini "$OUT/" && ls -la "$OUT/encoder-mini"

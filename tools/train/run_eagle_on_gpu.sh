#!/usr/bin/env bash
# One GPU-machine job: trains the EAGLE head for models/demo (tools/train/train_eagle.py), runs the 8B
# padding's self-check on it (tools/fixture/pad_eagle_8b.py --check) and returns it under $OUT/eagle-demo.
# MODEL_DIR (default models/demo; e.g. /tmp/m/demo when the demo travelled xz-compressed beside a
# device-slim tree) must hold the demo's weights; the tokenizer is MODEL_DIR/tokenizer.json, else
# .devcarry/assets/tokenizer-mistral/models (as run_on_gpu.sh).
#   bash tools/train/run_eagle_on_gpu.sh [MODEL_DIR]                 # the full run (6000 steps or 3 min of training, ~4 min in all)
#   bash tools/train/run_eagle_on_gpu.sh [MODEL_DIR] --steps 20      # smoke run (seconds); train_eagle.py flags pass through
set -uo pipefail
export PYTHONUNBUFFERED=1
MODEL=models/demo
if [ $# -gt 0 ] && [ -d "$1" ]; then MODEL=$1; shift; fi
TOK=$MODEL
[ -f "$TOK/tokenizer.json" ] || TOK=.devcarry/assets/tokenizer-mistral/models
W=/tmp/ignis_eagle
rm -rf $W && mkdir -p $W
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== train the EAGLE head ($MODEL, tokenizer $TOK)"
python3 tools/train/train_eagle.py --model "$MODEL" --tokenizer "$TOK" --out $W/eagle-demo --max-train-mb 40 "$@" \
    2>&1 | grep -v "^step .*[1-9]00/" | tail -40
echo "== pad_eagle_8b.py --check"
python3 tools/fixture/pad_eagle_8b.py --head $W/eagle-demo --demo "$MODEL" --check 2>&1 | tail -5
mkdir -p "$OUT" && cp -r $W/eagle-demo "$OUT/" && ls -la "$OUT/eagle-demo"

#!/usr/bin/env bash
# make demo: complete a Python snippet with the demo model (on the GPU when one is present).
set -euo pipefail
IGNIS=${1:-build/bin/ignis}
MODEL=${2:-models/demo}
"$IGNIS" info --model "$MODEL" | head -n 4
echo "---- prompt + greedy completion (ignis generate) ----"
"$IGNIS" generate --model "$MODEL" --max-tokens 96 --temperature 0 \
  --prompt $'import os\n\n\ndef list_files(path):\n'

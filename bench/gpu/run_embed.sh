#!/usr/bin/env bash
# GPU machine: embedding throughput of a bge-small-shaped encoder (random weights), ignis's CUDA
# encoder against sentence-transformers (fp32 and fp16) on the same 2,048 texts (40-380 words of
# Moby-Dick each), then ignis's CPU encoder on the first 256. Needs build-gpu (ONLY="ignis_encoder_bench ...")
# and gpuin/prose/moby-dick.txt carried.
set -uo pipefail
rm -rf /tmp/ignis-gpu && mkdir -p /tmp/ignis-gpu && tar -C /tmp/ignis-gpu -xJf build-gpu/ignis-gpu.tar.xz
NVLIB=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib"))' 2>/dev/null)
export LD_LIBRARY_PATH=/tmp/ignis-gpu/lib:/usr/local/cuda/lib64:$NVLIB
M=/tmp/bge-small-shape T=/tmp/embed-texts.json
python3 bench/peers/st_embed.py --dir $M --make --tokenizer models/encoder-mini --texts $T \
    --corpus gpuin/prose/moby-dick.txt --n 2048 2>&1 | grep -v Warning | tail -2
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
/tmp/ignis-gpu/bin/ignis_encoder_bench --model $M --texts $T --device cuda --batch 256
python3 bench/peers/st_embed.py --dir $M --texts $T --bench --batch 256 2>&1 | grep -E "^sentence|Error" 
/tmp/ignis-gpu/bin/ignis_encoder_bench --model models/encoder-mini --texts $T --device cuda --batch 256
python3 -c "import json; json.dump(json.load(open('$T'))[:256], open('/tmp/t256.json','w'))"
/tmp/ignis-gpu/bin/ignis_encoder_bench --model $M --texts /tmp/t256.json --device cpu --batch 64 --repeat 1

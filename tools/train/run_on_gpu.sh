#!/usr/bin/env bash
# One GPU-machine job (used by the lead through the device tool): generates the transformers /
# tokenizers goldens and trains the demo models. Inputs: .devcarry/assets (tokenizer.json files,
# moby-dick text) carried from this checkout. Outputs under $OUT (8 files at most).
#   bash tools/train/run_on_gpu.sh "demo-draft:1.8 demo:4.6"
set -uo pipefail
export PYTHONUNBUFFERED=1
MODELS=${1:-"demo-draft:1.8 demo:4.6"}
A=.devcarry/assets
W=/tmp/ignis_job
rm -rf $W && mkdir -p $W/meta
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== tiny transformers goldens"
python3 tools/golden/make_tiny_models.py --out $W/meta/models 2>&1 | tail -15
echo "== tokenizer goldens"
python3 tools/golden/tokenizer_goldens.py --assets $A --corpus tests/data/tokenizer/corpus.json --out $W/meta/tokenizer 2>&1 | tail -6
echo "== HF tokenizers encode speed (1 thread)"
RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false python3 tools/golden/tokenizer_goldens.py --assets $A --bench $A/moby-dick/data/data.txt 2>&1 | tail -4
for spec in $MODELS; do
  name=${spec%%:*}; mins=${spec##*:}
  echo "== train $name ($mins min)"
  python3 tools/train/train.py --tokenizer $A/tokenizer-mistral/models --out $W/train --model $name --minutes $mins \
      --max-train-mb 150 2>&1 | grep -v "^step .*[1-9]00/" | tail -40
  mkdir -p $W/meta/$name $OUT/$name
  (cd $W/train/$name && cp *.json *.txt $W/meta/$name/ && cp *.safetensors $OUT/$name/)
done
tar czf $OUT/meta.tgz -C $W/meta .
ls -la $OUT $OUT/*

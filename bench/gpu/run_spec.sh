#!/usr/bin/env bash
# Issue 18's speculative-decoding workloads on the GPU machine, each bounded by `timeout`: the padded 8B
# fixture of models/demo (tools/fixture/make_padded_8b.py; built once into $FIXTURE), held-out Python code
# prompts (`ignis bench dataset --corpus models/demo/heldout.txt`, 256 in / 256 out) and the edit-style
# workload (each code prompt followed by its first 16 tokens again, 200 out: the continuation repeats the
# prompt, what prompt lookup is for). Every step is `ignis bench latency --compare-no-spec` (the same
# engine without speculation first): it prints the speed-up and how many greedy outputs are identical.
# Usage, repository root on the GPU machine:
#   bench/gpu/run_spec.sh BIN_DIR OUT_DIR [STEP...]
# Steps (default: draft ngram): draft = --speculative-model models/demo-draft --num-speculative-tokens 8
# (the policy adapts K); ngram = the edit workload with --speculative ngram --num-speculative-tokens 8.
# Suffix +inv adds --batch-invariant (both runs of the step), e.g. draft+inv. proof = the fixture's check:
# held-out perplexity of models/demo and of the fixture (`ignis eval --device cuda --ctx 512`), within 0.1%.
# Env: FIXTURE (default /tmp/demo-8b), N (prompts, default 8), DATA (folder of code.jsonl / edit.jsonl,
# written there from models/demo when absent; default OUT_DIR).
set -uo pipefail
BIN=${1:?bin dir}
OUT=${2:?output dir}
shift 2
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(draft ngram)
FIXTURE=${FIXTURE:-/tmp/demo-8b}
N=${N:-8}
DATA=${DATA:-$OUT}
IGNIS="$BIN/ignis"
mkdir -p "$OUT"
if [ ! -f "$FIXTURE/config.json" ]; then
  python3 tools/fixture/make_padded_8b.py --demo models/demo --out "$FIXTURE" --device cuda > "$OUT/fixture.txt" 2>&1 ||
    { echo "fixture failed"; tail -5 "$OUT/fixture.txt"; exit 1; }
fi
if [ ! -f "$DATA/code.jsonl" ]; then
  mkdir -p "$DATA"
  "$IGNIS" bench dataset --corpus models/demo/heldout.txt --tokenizer models/demo --num-requests "$N" --input-mean 256 \
    --input-stdev 0 --output-mean 256 --output-stdev 0 --seed 1 -o "$DATA/code.jsonl" > /dev/null
  python3 - "$DATA/code.jsonl" "$DATA/edit.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for line in open(sys.argv[1]):
        ids = json.loads(line)["prompt_ids"]
        f.write(json.dumps({"prompt_ids": ids + ids[:16], "output_len": 200}) + "\n")
PY
fi
for step in "${STEPS[@]}"; do
  s=${step%%+*}
  if [ "$s" = proof ]; then
    for m in models/demo "$FIXTURE"; do
      timeout 300 "$IGNIS" eval --model "$m" --device cuda --text models/demo/heldout.txt --ctx 512 --json \
        > "$OUT/eval-$(basename "$m").json" 2>/dev/null
    done
    python3 - "$OUT/eval-demo.json" "$OUT/eval-$(basename "$FIXTURE").json" <<'PY'
import json, sys
a, b = (json.loads(open(f).read().strip().splitlines()[-1])["perplexity"] for f in sys.argv[1:3])
print(f"== proof: perplexity demo {a:.4f}, fixture {b:.4f}, {100 * abs(b - a) / a:.3f}% apart (<= 0.1%: {abs(b - a) <= 1e-3 * a})")
PY
    continue
  fi
  extra=()
  [[ $step == *+inv* ]] && extra+=(--batch-invariant)
  case $s in
    draft) args=(--dataset "$DATA/code.jsonl" --speculative-model models/demo-draft --num-speculative-tokens 8) ;;
    ngram) args=(--dataset "$DATA/edit.jsonl" --speculative ngram --num-speculative-tokens 8) ;;
    *) echo "unknown step $step"; continue ;;
  esac
  echo "== $step: ignis bench latency --model $FIXTURE --device cuda ${args[*]} ${extra[*]} --compare-no-spec"
  timeout 300 "$IGNIS" bench latency --model "$FIXTURE" --device cuda --no-progress "${args[@]}" "${extra[@]}" \
    --compare-no-spec --json "$OUT/$step.json" > "$OUT/$step.txt" 2>&1
  echo "   rc=$?"
  grep -E "output tokens/s|vs no speculation|greedy output|acceptance|accepted per" "$OUT/$step.txt" | tail -6
done

#!/usr/bin/env bash
# Lookahead decoding's (W, N, G) sweep with `ignis bench latency`: each grid point runs the same
# workload with --speculative lookahead --compare-no-spec (the no-speculation baseline on the same
# engine), then a table (W N G, tree tokens per step, speedup, acceptance, accepted per verified
# step, greedy outputs identical) sorted by speedup, best last. Usage:
#   bench/lookahead_sweep.sh IGNIS OUT_DIR [ignis bench latency args: --model DIR, workload...]
# GRID: space-separated W,N,G points (default: a small grid around TensorRT-LLM's (8, 8, 8)).
# Example (CPU, models/demo): bench/lookahead_sweep.sh build/bin/ignis /tmp/la --model models/demo \
#   --device cpu --num-requests 4 --input-mean 64 --output-mean 64
set -uo pipefail
IGNIS=${1:?ignis binary}
OUT=${2:?output dir}
shift 2
GRID=${GRID:-"2,3,2 4,3,4 4,4,4 5,4,5 8,4,8 8,8,8 4,8,4"}
mkdir -p "$OUT"
for p in $GRID; do
  IFS=, read -r W N G <<<"$p"
  echo "== W=$W N=$N G=$G" >&2
  timeout "${STEP_TIMEOUT:-1800}" "$IGNIS" bench latency "$@" --speculative lookahead --speculative-policy fixed \
    --lookahead-window "$W" --lookahead-ngram "$N" --lookahead-verify "$G" --compare-no-spec --no-progress \
    --json "$OUT/la_${W}_${N}_${G}.json" >"$OUT/la_${W}_${N}_${G}.log" 2>&1 ||
    echo "   failed (rc $?): see $OUT/la_${W}_${N}_${G}.log" >&2
done
python3 - "$OUT" <<'EOF'
import glob, json, os, sys
rows = []
for f in glob.glob(os.path.join(sys.argv[1], "la_*_*_*.json")):
    w, n, g = map(int, os.path.basename(f)[3:-5].split("_"))
    try:
        j = json.load(open(f))
    except Exception:
        continue
    rows.append((j.get("speedup_vs_no_spec") or 0, w, n, g, j))
rows.sort(key=lambda r: r[0])
print(f"{'W':>3} {'N':>3} {'G':>3} {'tree':>5} {'speedup':>8} {'accept%':>8} {'acc/step':>8} identical")
for s, w, n, g, j in rows:
    acc = j.get("spec_acceptance_rate")
    per = j.get("spec_mean_accepted_per_step")
    print(f"{w:>3} {n:>3} {g:>3} {(w + g) * (n - 1):>5} {s:>8.3f} {100 * (acc or 0):>8.1f} {per or 0:>8.2f} "
          f"{j.get('greedy_identical', '?')} of {j.get('greedy_compared', '?')}")
EOF

#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang + ASan + UBSan in build-fuzz and
# runs each for SECONDS (default 300) over its seed corpus tests/fuzz_corpus/<target>/.
# New inputs go to build-fuzz/corpus/<target>/ (not committed); crashes to
# build-fuzz/crashes/<target>/. Exit status is non-zero on any finding.
#   usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: fuzz_safetensors fuzz_config fuzz_quant_config fuzz_rag_parse)
#   env:   FUZZ_JOBS (parallel fuzzing processes per target, default 1), BUILD_DIR (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-300}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_safetensors fuzz_config fuzz_quant_config fuzz_rag_parse)
BUILD_DIR="${BUILD_DIR:-build-fuzz}"
JOBS="${FUZZ_JOBS:-1}"

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DIGNIS_CUDA=OFF -DIGNIS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" --target "${TARGETS[@]}" -j2

status=0
for t in "${TARGETS[@]}"; do
  corpus="$BUILD_DIR/corpus/$t"
  crashes="$BUILD_DIR/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  echo "== $t: ${SECONDS_PER_TARGET}s over tests/fuzz_corpus/$t (+ $corpus)"
  args=(-max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -dict=fuzz/json.dict -max_len=65536
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/")
  if [ "$JOBS" -gt 1 ]; then args+=(-jobs="$JOBS" -workers="$JOBS"); fi
  if ! "$BUILD_DIR/fuzz/$t" "${args[@]}" "$corpus" "tests/fuzz_corpus/$t"; then
    echo "== $t: FINDING (see $crashes)" >&2
    status=1
  fi
done
exit $status

#!/usr/bin/env bash
# Bounded soak of `ignis serve` (not in CI): mixed streaming, cancelling, malformed and idle
# clients against one server for DURATION seconds; RSS, threads, open fds and KV blocks in use
# sampled every SAMPLE seconds into a CSV, then a verdict on whether they stayed flat.
#
#   bash scripts/soak.sh [IGNIS_BIN] [MODEL_DIR]        # defaults: build/bin/ignis models/demo
#   DURATION=1800 SAMPLE=60 CLIENTS=8 OUT=soak.csv SERVE_ARGS="--device cpu" STREAM_TIMEOUT=120 bash scripts/soak.sh
# A complete stream that the client gave up on (curl time-out) is counted apart from one that ended without [DONE].
#
# Needs curl and bash's /dev/tcp. Flat means: after the first sample (warm-up), the last
# sample's threads, fds and KV blocks are within SLACK of the warm-up's, and RSS grew by less
# than RSS_SLACK_MB. Exit 0 when flat and the server survived, 1 otherwise.
set -euo pipefail
BIN=${1:-build/bin/ignis}
MODEL=${2:-models/demo}
DURATION=${DURATION:-1800}
SAMPLE=${SAMPLE:-60}
CLIENTS=${CLIENTS:-8}
OUT=${OUT:-soak.csv}
SLACK=${SLACK:-8}
RSS_SLACK_MB=${RSS_SLACK_MB:-64}
SERVE_ARGS=${SERVE_ARGS:-}

[ -x "$BIN" ] || { echo "soak: $BIN is not an executable (build first, or pass IGNIS_BIN)" >&2; exit 2; }
[ -d "$MODEL" ] || { echo "soak: $MODEL is not a model folder" >&2; exit 2; }
command -v curl >/dev/null || { echo "soak: needs curl" >&2; exit 2; }

work=$(mktemp -d)
log=$work/serve.log
# shellcheck disable=SC2086
"$BIN" serve --model "$MODEL" --host 127.0.0.1 --port 0 --no-access-log $SERVE_ARGS >"$log" 2>&1 &
srv=$!
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$srv" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

url=""
for _ in $(seq 1 600); do  # up to 60 s to load
  url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -1 | sed 's/listening on //') || true
  [ -n "$url" ] && break
  kill -0 "$srv" 2>/dev/null || { echo "soak: server exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "soak: server did not start" >&2; cat "$log" >&2; exit 1; }
host=${url#http://}; port=${host##*:}
echo "soak: $url, ${DURATION}s, $CLIENTS clients of each kind, sample every ${SAMPLE}s -> $OUT"

end=$(( $(date +%s) + DURATION ))
body() { printf '{"prompt":"soak %s","max_tokens":%d,"ignore_eos":true,"stream":%s}' "$1" "$2" "$3"; }
streamer() {  # complete streams
  local i=0
  while [ "$(date +%s)" -lt "$end" ]; do
    local out rc
    out=$(curl -sN --max-time "${STREAM_TIMEOUT:-120}" -H 'content-type: application/json' -d "$(body "s$1-$i" 48 true)" \
      "$url/v1/completions") && rc=0 || rc=$?
    if ! grep -q '^data: \[DONE\]' <<<"$out"; then  # curl 28: the client's 120 s ran out (a slow server, not a cut stream)
      if [ "$rc" = 28 ]; then echo "soak: stream $1-$i timed out in the client (curl 28)" >>"$work/timeouts"
      else echo "soak: stream $1-$i did not end with [DONE] (curl $rc)" >>"$work/errors"; fi
    fi
    i=$((i + 1))
  done
}
canceller() {  # long streams cut after a moment (client disconnects)
  local i=0
  while [ "$(date +%s)" -lt "$end" ]; do
    curl -sN --max-time 0.$(( RANDOM % 9 + 1 )) -H 'content-type: application/json' \
      -d "$(body "c$1-$i" 4000 true)" "$url/v1/completions" >/dev/null 2>&1 || true
    i=$((i + 1))
  done
}
malformed() {  # garbage, oversized headers, half-sent requests, bad JSON
  local i=0
  while [ "$(date +%s)" -lt "$end" ]; do
    case $((i % 4)) in
      0) { exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GARBAGE\r\n\r\n' >&3 && timeout 2 cat <&3 >/dev/null; exec 3>&-; } 2>/dev/null || true ;;
      1) { exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.1\r\nX: %s\r\n\r\n' "$(head -c 40000 /dev/zero | tr '\0' a)" >&3 && timeout 2 cat <&3 >/dev/null; exec 3>&-; } 2>/dev/null || true ;;
      2) { exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"pro' >&3; exec 3>&-; } 2>/dev/null || true ;;
      3) curl -s --max-time 5 -H 'content-type: application/json' -d '{"prompt": [1, 2,' "$url/v1/completions" >/dev/null || true ;;
    esac
    i=$((i + 1))
    sleep 0.2
  done
}
idler() {  # sockets that connect and say nothing, held a while, then dropped
  while [ "$(date +%s)" -lt "$end" ]; do
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; sleep $(( RANDOM % 20 + 1 )); exec 3>&-; } 2>/dev/null || sleep 1
  done
}
for k in $(seq 1 "$CLIENTS"); do
  streamer "$k" & pids+=($!)
  canceller "$k" & pids+=($!)
  malformed "$k" & pids+=($!)
  idler "$k" & pids+=($!)
done

metric() { curl -s --max-time 5 "$url/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
echo "t_s,rss_mb,threads,fds,kv_blocks_used,health" >"$OUT"
t0=$(date +%s)
while :; do
  now=$(date +%s)
  kill -0 "$srv" 2>/dev/null || { echo "soak: the server died" >&2; cat "$log" >&2; exit 1; }
  rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$srv/status")
  thr=$(awk '/^Threads/ { print $2 }' "/proc/$srv/status")
  fds=$(ls "/proc/$srv/fd" | wc -l)
  kv=$(metric ignis_kv_blocks_used)
  health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/health" || echo 000)
  echo "$((now - t0)),$rss,$thr,$fds,${kv:-nan},$health" | tee -a "$OUT"
  [ "$now" -ge "$end" ] && break
  sleep "$(( SAMPLE < end - now ? SAMPLE : end - now ))"
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
sleep 3  # cancelled requests free their blocks at the next engine step
echo "$(( $(date +%s) - t0 )),$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$srv/status"),$(awk '/^Threads/ { print $2 }' "/proc/$srv/status"),$(ls "/proc/$srv/fd" | wc -l),$(metric ignis_kv_blocks_used),idle" | tee -a "$OUT"

errors=$( [ -f "$work/errors" ] && wc -l <"$work/errors" || echo 0)
timeouts=$( [ -f "$work/timeouts" ] && wc -l <"$work/timeouts" || echo 0)
[ -f "$work/errors" ] && head -5 "$work/errors"
verdict=$(awk -F, -v s="$SLACK" -v r="$RSS_SLACK_MB" 'NR == 3 { rss = $2; thr = $3; fd = $4 } END {
  flat = ($2 - rss < r) && ($3 - thr <= s) && ($4 - fd <= s) && ($5 == 0)
  printf "%s: rss %.1f -> %.1f MB, threads %d -> %d, fds %d -> %d, kv blocks at rest %s", flat ? "flat" : "NOT flat", rss, $2, thr, $3, fd, $4, $5
  exit flat ? 0 : 1 }' "$OUT") && flat=1 || flat=0
echo "soak: $verdict; incomplete streams: $errors; client time-outs: $timeouts; $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n), $(nproc) cores"
[ "$flat" = 1 ] && [ "$errors" = 0 ]

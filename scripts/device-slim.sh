#!/usr/bin/env bash
# The device tool sends the working tree (tracked + untracked-not-ignored files + carried paths) and
# refuses more than 64 MiB; the shipped models alone are 72 MB. `device-slim.sh on` takes models/demo,
# models/demo-draft and models/chat-demo out of the index and ignores them (the files stay on disk), so a call that does
# not need them can carry a full GPU build; `device-slim.sh off` puts them back (git reset of the index).
# Run `off` before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
EX=.git/info/exclude
case ${1:-} in
  on|bench)  # bench: also tests/data (for calls that carry the demo models)
    git rm -r -q --cached models/demo models/demo-draft models/chat-demo
    if [ "$1" = bench ]; then git rm -r -q --cached tests/data; fi
    mkdir -p "$(dirname "$EX")"
    grep -qx "/models/demo/" "$EX" || printf '/models/demo/\n/models/demo-draft/\n/models/chat-demo/\n/tests/data/\n' >> "$EX"
    echo "device-slim: models/demo* untracked and ignored for the device call" ;;
  off)
    sed -i '\#^/models/demo/$#d; \#^/models/demo-draft/$#d; \#^/models/chat-demo/$#d; \#^/tests/data/$#d' "$EX"
    git reset -q -- models/demo models/demo-draft models/chat-demo tests/data
    git status --short models | head -3
    echo "device-slim: models/demo* tracked again" ;;
  *) echo "usage: $0 on|bench|off" >&2; exit 2 ;;
esac

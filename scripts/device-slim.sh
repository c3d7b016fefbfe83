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
  on|bench|lean)  # bench: also tests/data (for calls that carry the demo models); lean: also models/encoder-mini
    git rm -r -q --cached models/demo models/demo-draft models/chat-demo
    if [ "$1" != on ]; then git rm -r -q --cached tests/data; fi
    if [ "$1" = lean ]; then git rm -r -q --cached models/encoder-mini; fi
    mkdir -p "$(dirname "$EX")"
    grep -qx "/models/demo/" "$EX" || printf '/models/demo/\n/models/demo-draft/\n/models/chat-demo/\n/tests/data/\n/models/encoder-mini/\n' >> "$EX"
    echo "device-slim: models/demo* untracked and ignored for the device call" ;;
  off)
    sed -i '\#^/models/encoder-mini/$#d; \#^/models/demo/$#d; \#^/models/demo-draft/$#d; \#^/models/chat-demo/$#d; \#^/tests/data/$#d' "$EX"
    git reset -q -- models/demo models/demo-draft models/chat-demo models/encoder-mini tests/data
    git status --short models | head -3
    echo "device-slim: models/demo* tracked again" ;;
  *) echo "usage: $0 on|bench|lean|off" >&2; exit 2 ;;
esac

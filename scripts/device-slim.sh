#!/usr/bin/env bash
# The device tool sends the working tree (tracked + untracked-not-ignored files + carried paths) and
# refuses more than 64 MiB; the demo models alone are 41 MB. `device-slim.sh on` takes models/demo and
# models/demo-draft out of the index and ignores them (the files stay on disk), so a call that does
# not need them can carry a full GPU build; `device-slim.sh off` puts them back (git reset of the index).
# Run `off` before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
EX=.git/info/exclude
case ${1:-} in
  on)
    git rm -r -q --cached models/demo models/demo-draft
    grep -qx "/models/demo/" "$EX" || printf '/models/demo/\n/models/demo-draft/\n' >> "$EX"
    echo "device-slim: models/demo* untracked and ignored for the device call" ;;
  off)
    sed -i '\#^/models/demo/$#d; \#^/models/demo-draft/$#d' "$EX"
    git reset -q -- models/demo models/demo-draft
    git status --short models | head -3
    echo "device-slim: models/demo* tracked again" ;;
  *) echo "usage: $0 on|off" >&2; exit 2 ;;
esac

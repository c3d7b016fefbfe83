#!/usr/bin/env bash
# Installs the pinned npm clients of tests/server/package.json into $1 (a folder in
# the build tree, outside git). Quick when already installed.
set -euo pipefail
dest=$1
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dest"
if [ -f "$dest/.ok" ] && cmp -s "$src/package.json" "$dest/package.json"; then exit 0; fi
cp "$src/package.json" "$dest/package.json"
# puppeteer-core never downloads a browser; the test uses Debian's /usr/bin/chromium.
(cd "$dest" && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
touch "$dest/.ok"

#!/usr/bin/env bash
# Installs what ignis needs to build and test on Debian 12 (run as root).
# Idempotent and quick when everything is already there.
set -euo pipefail
PKGS=(build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
      nlohmann-json3-dev libpcre2-dev libicu-dev libcli11-dev libfmt-dev libgtest-dev libgmock-dev
      libbenchmark-dev libopenblas-dev libcurl4-openssl-dev python3 python3-jinja2 nodejs npm clang libclang-rt-14-dev
      chromium libpoppler-cpp-dev libzip-dev libsqlite3-dev libfaiss-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (e.g. a preinstalled Node.js): accept those.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 || filtered+=("$p") ;;
    npm) command -v npm >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
if [ ${#filtered[@]} -gt 0 ]; then
  echo "setup: installing ${filtered[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}"
fi

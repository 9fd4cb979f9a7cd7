#!/usr/bin/env bash
# Installs the Debian packages tollgate needs that are missing (as root, Debian 12), then
# configures and builds the release build in ./build.  Safe to run again: it installs
# nothing that is already there and rebuilds only what changed.
#
# usage: bash deploy/setup.sh [EXTRA_PACKAGE...]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev python3 curl ca-certificates
          libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libcjson-dev check
          libsqlite3-dev libpq-dev "$@")
# node and npm run the official-SDK test; a machine that already has them (any source, e.g.
# NodeSource) keeps its own, so Debian's packages are asked for only when they are absent.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install packages (try: sudo bash $0)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build

#!/usr/bin/env bash
# Installs the Debian packages PulseDB-C builds and tests with (only what is
# missing), then the Python test tools into build/venv when asked (--test).
set -euo pipefail

# debootstrap: deploy/base-image.sh, the compose test's base image without a registry.
# g++ and libhnswlib-dev: common/ann.cpp, storage's approximate search index
# (hnswlib, header-only C++).
# libyaml-dev: the build step that turns docs/openapi.yaml into the JSON the
# gateway serves.
PACKAGES=(cmake make gcc g++ pkg-config libzmq3-dev libczmq-dev libmsgpack-dev liblmdb-dev
          libcmocka-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libhnswlib-dev
          libyaml-dev
          python3 python3-venv curl debootstrap)

# --fuzz adds Debian 12's clang (14) and the libFuzzer + sanitizer runtimes
# it links (scripts/fuzz.sh).
[ "${1:-}" = "--fuzz" ] && PACKAGES+=(clang libclang-rt-14-dev)
# --test adds Chromium: the status page test loads the page in it, headless.
[ "${1:-}" = "--test" ] && PACKAGES+=(chromium)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "deps: installing ${missing[*]}"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--test" ]; then
  root="$(cd "$(dirname "$0")/.." && pwd)"
  venv="$root/build/venv"
  if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$root/build"
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$root/tests/requirements.txt"
fi

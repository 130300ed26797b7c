#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine: the npm packages and the Debian packages
# the end-to-end tests drive (the real az CLI). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ -d node_modules/.bin ]] || npm install

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v az >/dev/null 2>&1 || missing+=(azure-cli)
# The disk-format tests build small FAT and GPT images with the real tools.
command -v mkfs.vfat >/dev/null 2>&1 || missing+=(dosfstools)
command -v mcopy >/dev/null 2>&1 || missing+=(mtools)
command -v sgdisk >/dev/null 2>&1 || missing+=(gdisk)
if ((${#missing[@]})); then
  echo "setup:test: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The disk corpus (real Debian disks, 4 GiB sparse each) for the format tests: built once, reused.
bash scripts/corpus.sh
echo "setup:test: ready"

#!/usr/bin/env bash
# Installs edgefw's build and test dependencies from Debian 12 packages.
# Called by the Makefile when something is missing; safe to run again.
set -euo pipefail

packages=(
  build-essential clang llvm lld pkg-config make
  libbpf-dev libxdp-dev libelf-dev zlib1g-dev bpftool linux-libc-dev
  libcriterion-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libfmt-dev libpcap-dev libmicrohttpd-dev libssl-dev
  iproute2 clang-format jq
  xdp-tools
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "edgefw: missing packages: ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "edgefw: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

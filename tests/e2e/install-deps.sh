#!/usr/bin/env bash
# Installs what the e2e tests and the demo run (Debian 12 packages), without starting any of
# the services on the host: policy-rc.d refuses every service start during the install.
set -eu
pkgs=(coturn sipsak kamailio nginx-light curl openssl socat nftables iproute2 jq dnsmasq-base
  bind9-dnsutils ethtool)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "e2e: missing packages: ${missing[*]} (run as root)" >&2; exit 1; }
echo "e2e: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
prc=/usr/sbin/policy-rc.d
made=0
if [ ! -e $prc ]; then
  printf '#!/bin/sh\nexit 101\n' >$prc && chmod 755 $prc && made=1
fi
trap '[ $made = 1 ] && rm -f $prc' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# A system without policy-rc.d support (systemd presets) may still have started them.
for s in nginx coturn kamailio; do
  command -v systemctl >/dev/null 2>&1 && systemctl disable --now "$s" >/dev/null 2>&1 || true
done

#!/usr/bin/env bash
# Installs the Debian 12 packages IPOP needs to build, test, demo and benchmark (idempotent).
set -euo pipefail
PKGS=(
  g++ clang clang-format libclang-rt-14-dev meson ninja-build pkg-config
  liburing-dev libssl-dev libboost-program-options-dev libipsec-mb-dev
  libgtest-dev libgmock-dev libbenchmark-dev dpdk-dev libdpdk-dev
  iproute2 iputils-ping iperf3 tcpdump procps python3 ethtool
  busybox isc-dhcp-client bind9-dnsutils prometheus
  systemd groff-base
  wireguard-go wireguard-tools nebula python3-matplotlib
  nftables conntrack
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

#!/usr/bin/env bash
# End-to-end throughput of the bare veth path, kernel VXLAN, wireguard-go and IPOP (io_uring and
# DPDK backends), measured side by side in one run between network namespaces. Kept for existing
# docs and habits; it is bench/compare.sh restricted to those paths, without the chart (which
# belongs to docs/performance.md). Usage (root): bench/e2e_throughput.sh [--seconds S] [--rounds R]
exec bash "$(dirname "$0")/compare.sh" --paths native,vxlan,wireguard-go,ipop,ipop-dpdk --chart none "$@"

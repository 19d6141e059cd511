# Shared by the DPDK integration tests (test_dpdk.sh, test_vhost.sh), sourced after
# tools/netns/lib.sh. Skips are decided by what is installed, never by asking the code under test.

# dpdk_require PMD...: this ipop-dataplane links DPDK's EAL, and the EAL's plugin directory (the
# path compiled into librte_eal, where it loads drivers from) holds librte_net_<PMD>.so for each
# PMD named; skips otherwise.
dpdk_require() {
  local eal dir pmd
  eal=$(ldd "$IPOP_BUILD/dataplane/ipop-dataplane" | awk '/librte_eal/ {print $3}')
  [[ -n $eal ]] || skip "ipop-dataplane built without DPDK (meson -Ddpdk=enabled)"
  dir=$(strings "$eal" | grep -m1 -E '^/.*/dpdk/pmds-[0-9.]+$')
  [[ -n $dir && -d $dir ]] || skip "librte_eal ($eal) names no DPDK driver directory that exists"
  for pmd in "$@"; do
    compgen -G "$dir/librte_net_$pmd.so*" >/dev/null ||
      skip "DPDK driver net_$pmd not installed in $dir"
  done
}

# dpdk_remove_runtime PREFIX: the EAL runtime directory of a process started with
# --file-prefix=PREFIX (the EAL leaves it behind).
dpdk_remove_runtime() {
  [[ -n $1 ]] && rm -rf "/var/run/dpdk/$1"
}

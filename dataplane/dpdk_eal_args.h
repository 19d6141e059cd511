// The DPDK EAL command line the dataplane starts with: the user's dataplane.eal-args plus what a
// node needs and the user did not say (docs/dpdk.md, "EAL arguments"). Pure: unit-tested.
//
//   --file-prefix=ipop-<node>      a runtime directory of its own (several nodes on one host)
//   --no-pci                       unless the user allows PCI devices or the underlay is one: a
//                                  node never probes NICs nobody named
//   -a <pci> | --vdev=<devargs>    the underlay port; --vdev for the host port (TAP PMD named
//                                  node.tap, vhost-user) unless headless
//   --lcores=(0-N)@(cpus)          node.workers + 1 lcores floating over the process's CPUs (the
//                                  first is the main lcore, which only supervises)
//   --in-memory                    with free hugepages (nothing left in hugetlbfs after a crash);
//   --no-huge -m <MB>              without them (slower page walks, fine for tests)
//   --log-level=notice             EAL's start-up chatter off
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shared/config.h"

namespace ipop::dp {

struct EalPlan {
  std::vector<std::string> args;  // argv[1..] for rte_eal_init
  std::string underlay_name;      // the ethdev name to look the underlay port up by
  std::string host_name;          // empty: headless
  bool host_is_vhost = false;
  bool host_is_tap = false;        // a TAP PMD
  std::string host_tap_iface;      // its kernel-side interface
  std::vector<std::string> notes;  // what was decided for the user, one line each
};

struct EalHost {
  uint32_t free_hugepages = 0;  // of the default size, with a hugetlbfs mounted
  std::string cpus;             // the process's CPUs as an EAL cpuset, e.g. "0-1" or "0,2"
};

// False + *error when dataplane.eal-args cannot be split or contradicts what the node needs.
bool PlanEal(const NodeConfig& cfg, const EalHost& host, EalPlan* plan, std::string* error);

// What PlanEal needs to know about this machine: hugepages (/proc/meminfo, /proc/mounts) and
// the CPU affinity.
EalHost ProbeEalHost();

// "0-3" / "0,2,5" for a CPU list (sorted).
std::string FormatCpuSet(const std::vector<int>& cpus);

// The number of mbufs a node with `workers` workers needs (descriptors of every queue, the
// bursts in flight, the per-lcore caches) and their data room for `mtu`.
uint32_t MbufCount(uint32_t workers);
uint32_t MbufDataRoom(uint32_t mtu);

}  // namespace ipop::dp

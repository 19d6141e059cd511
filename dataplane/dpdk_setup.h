// Start-up and shut-down of the DPDK backend: EAL, the mbuf pool, the ports (underlay, host,
// exception) configured with one queue per worker, and launching workers on EAL lcores. Every
// failure comes back as a sentence naming the step, the device and DPDK's reason. No DPDK header
// here: only dpdk_setup.cc is built with libdpdk's flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/dpdk_io.h"
#include "shared/config.h"

namespace ipop::dp {

struct DpdkPortInfo {
  uint16_t id = dpdk::kNoPort;
  std::string name;
  std::string driver;
  uint8_t mac[6] = {};
};

struct DpdkEnv {
  DpdkPortInfo underlay;
  DpdkPortInfo host;       // id kNoPort: headless
  DpdkPortInfo exception;  // id kNoPort: other traffic dropped
  void* pool = nullptr;    // rte_mempool*
  bool udp_csum_offload = false;
  bool host_is_vhost = false;
  uint8_t host_mac[6] = {};             // the kernel's side of a TAP PMD: where delivered frames go
  std::vector<unsigned> worker_lcores;  // one per worker
  std::vector<std::string> lines;       // what was set up, for the start-up log
  bool eal_up = false;
};

// EAL, pool and ports for `cfg` (dataplane.backend = dpdk). False + *error on the first failure;
// call StopDpdk either way.
bool StartDpdk(const NodeConfig& cfg, DpdkEnv* env, std::string* error);
// Stops and closes the ports (a TAP PMD removes its TAP, AF_XDP its XDP program) and the EAL.
void StopDpdk(DpdkEnv* env);

// Runs fn(arg) on a worker lcore; false + *error when the lcore is busy.
bool LaunchOnLcore(unsigned lcore, int (*fn)(void*), void* arg, std::string* error);
// Returns once fn returned on `lcore`, sleeping meanwhile (main waits here for the whole run).
void WaitLcore(unsigned lcore);

}  // namespace ipop::dp

// Compiled with libdpdk's flags (dpdk_setup.h).
#include "dataplane/dpdk_setup.h"

#include <net/if.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "dataplane/dpdk_eal_args.h"

namespace ipop::dp {
namespace {

constexpr uint16_t kDescriptors = 1024;

std::string Errno(int e) {
  return std::string(rte_strerror(e < 0 ? -e : e));
}

std::string MacText(const uint8_t m[6]) {
  char b[18];
  std::snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

// The kernel side of a TAP: its MAC (read), IPv6 off (no router solicitations and neighbour
// discovery on an interface that carries IPv4 only), and optionally a MAC set.
bool KernelMac(const std::string& ifname, uint8_t mac[6], const uint8_t* set, std::string* error) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname.c_str());
  bool ok = true;
  if (set != nullptr) {
    ifr.ifr_hwaddr.sa_family = 1;  // ARPHRD_ETHER
    std::memcpy(ifr.ifr_hwaddr.sa_data, set, 6);
    if (ioctl(fd, SIOCSIFHWADDR, &ifr) != 0) {
      *error = "setting the MAC of " + ifname + ": " + std::strerror(errno);
      ok = false;
    }
  }
  if (ok && ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
    *error = "reading the MAC of " + ifname + ": " + std::strerror(errno);
    ok = false;
  }
  if (ok) std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  close(fd);
  std::ofstream(("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6").c_str()) << "1\n";
  return ok;
}

struct PortWant {
  const char* role;  // "underlay port", ...
  uint16_t queues;
  uint32_t mtu;  // the IP MTU it must carry (0: leave it)
  bool rss;      // spread received flows over the queues
  bool csum;     // ask for IPv4/UDP checksum offloads
};

bool ConfigurePort(uint16_t id, const PortWant& want, rte_mempool* pool, DpdkPortInfo* info,
                   bool* udp_csum, std::string* error) {
  rte_eth_dev_info dev{};
  int rc = rte_eth_dev_info_get(id, &dev);
  const std::string what = std::string(want.role) + " " + info->name;
  if (rc != 0) {
    *error = what + ": rte_eth_dev_info_get: " + Errno(rc);
    return false;
  }
  info->driver = dev.driver_name != nullptr ? dev.driver_name : "?";
  if (dev.max_rx_queues < want.queues || dev.max_tx_queues < want.queues) {
    *error = what + " (" + info->driver + ") has " + std::to_string(dev.max_rx_queues) +
             " receive and " + std::to_string(dev.max_tx_queues) + " transmit queues, " +
             std::to_string(want.queues) +
             " are needed (one per worker: lower node.workers, or give the device more queues, "
             "e.g. qpairs= for net_af_packet, queue_count= for net_af_xdp)";
    return false;
  }
  rte_eth_conf conf{};
  if (want.rss && want.queues > 1 && dev.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & dev.flow_type_rss_offloads;
  }
  bool csum_tx = false;
  if (want.csum) {
    const uint64_t tx = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    if ((dev.tx_offload_capa & tx) == tx) {
      conf.txmode.offloads |= tx;
      csum_tx = true;
    }
    const uint64_t rx = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
    if ((dev.rx_offload_capa & rx) == rx) conf.rxmode.offloads |= rx;
  }
  rc = rte_eth_dev_configure(id, want.queues, want.queues, &conf);
  if (rc != 0) {
    *error = what + " (" + info->driver + "): rte_eth_dev_configure with " +
             std::to_string(want.queues) + " queue(s): " + Errno(rc);
    return false;
  }
  uint16_t nb_rx = kDescriptors, nb_tx = kDescriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(id, &nb_rx, &nb_tx);
  const int socket = rte_eth_dev_socket_id(id) >= 0 ? rte_eth_dev_socket_id(id) : 0;
  for (uint16_t q = 0; q < want.queues; ++q) {
    rc = rte_eth_rx_queue_setup(id, q, nb_rx, unsigned(socket), nullptr, pool);
    if (rc != 0) {
      *error = what + ": receive queue " + std::to_string(q) + ": " + Errno(rc);
      return false;
    }
    rc = rte_eth_tx_queue_setup(id, q, nb_tx, unsigned(socket), nullptr);
    if (rc != 0) {
      *error = what + ": transmit queue " + std::to_string(q) + ": " + Errno(rc);
      return false;
    }
  }
  if (want.mtu != 0) {
    uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(id, &mtu) != 0 || mtu != want.mtu) {
      rc = rte_eth_dev_set_mtu(id, uint16_t(want.mtu));
      if (rc != 0 && (mtu == 0 || mtu < want.mtu)) {
        *error = what + ": MTU " + std::to_string(want.mtu) + " refused (" + Errno(rc) +
                 "), the port has " + std::to_string(mtu);
        return false;
      }
    }
  }
  rc = rte_eth_dev_start(id);
  if (rc != 0) {
    *error = what + " (" + info->driver + "): rte_eth_dev_start: " + Errno(rc);
    return false;
  }
  rte_ether_addr mac{};
  rte_eth_macaddr_get(id, &mac);
  std::memcpy(info->mac, mac.addr_bytes, 6);
  if (udp_csum != nullptr) *udp_csum = csum_tx;
  return true;
}

bool FindPort(const std::string& name, const char* role, DpdkPortInfo* info, std::string* error) {
  info->name = name;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &info->id) != 0) {
    *error = std::string(role) + " " + name +
             ": no such ethdev after EAL start (see the EAL messages above: a driver that "
             "failed to probe it, a PCI device not bound to vfio-pci, a missing iface)";
    return false;
  }
  return true;
}

}  // namespace

bool StartDpdk(const NodeConfig& cfg, DpdkEnv* env, std::string* error) {
  EalPlan plan;
  if (!PlanEal(cfg, ProbeEalHost(), &plan, error)) return false;
  std::vector<std::string> argv_s;
  argv_s.push_back("ipop-dataplane");
  argv_s.insert(argv_s.end(), plan.args.begin(), plan.args.end());
  std::vector<char*> argv;
  std::string line = "EAL";
  for (std::string& s : argv_s) {
    argv.push_back(s.data());
    if (&s != &argv_s[0]) line += " " + s;
  }
  argv.push_back(nullptr);
  env->lines.push_back(line);
  for (const std::string& n : plan.notes) env->lines.push_back(n);
  if (rte_eal_init(int(argv_s.size()), argv.data()) < 0) {
    *error = "DPDK EAL start failed: " + Errno(rte_errno) + " (arguments: " + line.substr(4) +
             "; docs/dpdk.md lists what each needs)";
    return false;
  }
  env->eal_up = true;

  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (env->worker_lcores.size() < cfg.workers) env->worker_lcores.push_back(lcore);
  }
  if (env->worker_lcores.size() < cfg.workers) {
    *error = "EAL has " + std::to_string(rte_lcore_count()) +
             " lcore(s); node.workers = " + std::to_string(cfg.workers) + " needs " +
             std::to_string(cfg.workers + 1) +
             " (the first only supervises): fix -l/--lcores in dataplane.eal-args";
    return false;
  }

  const uint32_t n_mbufs = MbufCount(cfg.workers);
  const uint32_t room = MbufDataRoom(cfg.mtu);
  rte_mempool* pool =
      rte_pktmbuf_pool_create("ipop_mbufs", n_mbufs, 256, 0, uint16_t(room), int(rte_socket_id()));
  if (pool == nullptr) {
    *error = "mbuf pool of " + std::to_string(n_mbufs) + " x " + std::to_string(room) +
             " bytes: " + Errno(rte_errno) +
             " (too little EAL memory: raise -m, or reserve hugepages)";
    return false;
  }
  env->pool = pool;

  const uint16_t queues = uint16_t(cfg.workers);
  // IPv4 + UDP + RELAY + DATA header + MTU + tag must fit the underlay's IP MTU.
  const uint32_t underlay_mtu = std::max<uint32_t>(1500, cfg.mtu + 20 + 8 + 24 + 16 + 16);
  if (!FindPort(plan.underlay_name, "underlay port", &env->underlay, error)) return false;
  if (!ConfigurePort(env->underlay.id, PortWant{"underlay port", queues, underlay_mtu, true, true},
                     pool, &env->underlay, &env->udp_csum_offload, error))
    return false;
  env->lines.push_back("underlay port " + env->underlay.name + " (" + env->underlay.driver +
                       "), MAC " + MacText(env->underlay.mac) + ", " + std::to_string(queues) +
                       " queue(s)");

  if (!plan.host_name.empty()) {
    if (!FindPort(plan.host_name, "host port", &env->host, error)) return false;
    // A TAP PMD carries the overlay's frames at the node's MTU, like the io_uring TAP.
    if (!ConfigurePort(env->host.id,
                       PortWant{"host port", queues, plan.host_is_tap ? cfg.mtu : 0, false, false},
                       pool, &env->host, nullptr, error))
      return false;
    env->host_is_vhost = plan.host_is_vhost;
    std::string kernel;
    if (plan.host_is_tap) {
      const std::string& ifname = plan.host_tap_iface;
      if (!KernelMac(ifname, env->host_mac, nullptr, error)) return false;
      kernel = ", kernel side " + ifname + " " + MacText(env->host_mac);
    }
    env->lines.push_back("host port " + env->host.name + " (" + env->host.driver + ")" + kernel +
                         (plan.host_is_vhost ? ", frames to the MAC the guest sends from" : ""));
  } else {
    env->lines.push_back("headless: no host port");
  }

  if (cfg.dp_exception != "drop") {
    // The kernel's side gets the underlay port's MAC, so what it sends through us is answered
    // to an address the underlay port receives.
    const std::string devargs =
        "net_tap_exception,iface=" + cfg.dp_exception + ",mac=" + MacText(env->underlay.mac);
    const int rc = rte_dev_probe(devargs.c_str());
    if (rc != 0) {
      *error = "exception port " + devargs + ": " + Errno(rc);
      return false;
    }
    if (!FindPort("net_tap_exception", "exception port", &env->exception, error)) return false;
    if (!ConfigurePort(env->exception.id, PortWant{"exception port", 1, 0, false, false}, pool,
                       &env->exception, nullptr, error))
      return false;
    uint8_t mac[6];
    if (!KernelMac(cfg.dp_exception, mac, env->underlay.mac, error)) return false;
    env->lines.push_back("exception port " + cfg.dp_exception +
                         ": other underlay traffic and fragments go to the kernel there");
  } else {
    env->lines.push_back("underlay traffic not for the overlay: dropped and counted");
  }
  return true;
}

void StopDpdk(DpdkEnv* env) {
  for (DpdkPortInfo* p : {&env->exception, &env->host, &env->underlay}) {
    if (p->id == dpdk::kNoPort) continue;
    rte_eth_dev_stop(p->id);
    rte_eth_dev_close(p->id);
    p->id = dpdk::kNoPort;
  }
  if (env->pool != nullptr) {
    rte_mempool_free(static_cast<rte_mempool*>(env->pool));
    env->pool = nullptr;
  }
  if (env->eal_up) {
    rte_eal_cleanup();
    env->eal_up = false;
  }
}

bool LaunchOnLcore(unsigned lcore, int (*fn)(void*), void* arg, std::string* error) {
  const int rc = rte_eal_remote_launch(fn, arg, lcore);
  if (rc != 0) {
    *error = "lcore " + std::to_string(lcore) + ": " + Errno(rc);
    return false;
  }
  return true;
}

void WaitLcore(unsigned lcore) {
  // rte_eal_wait_lcore spins (rte_pause) until the lcore is done, and main waits here for the
  // whole run: that alone kept an idle node at half a core. Sleep until it is done instead.
  while (rte_eal_get_lcore_state(lcore) == RUNNING) usleep(50000);
  rte_eal_wait_lcore(lcore);
}

}  // namespace ipop::dp

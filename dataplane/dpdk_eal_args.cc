#include "dataplane/dpdk_eal_args.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "shared/shm_layout.h"

namespace ipop::dp {
namespace {

constexpr uint32_t kDescriptors = 1024;  // per rx and tx queue
constexpr uint32_t kMbufHeadroom = 128;  // RTE_PKTMBUF_HEADROOM of Debian's build

bool Has(const std::vector<std::string>& args, std::initializer_list<const char*> names) {
  for (const std::string& a : args) {
    for (const char* n : names) {
      const std::string name(n);
      if (a == name || a.rfind(name + "=", 0) == 0) return true;
      // Short options take their value attached too ("-l0-1").
      if (name.size() == 2 && name[0] == '-' && name[1] != '-' && a.rfind(name, 0) == 0)
        return true;
    }
  }
  return false;
}

// A PCI address, full (0000:03:00.0) or short (03:00.0).
bool IsPciAddress(const std::string& s) {
  static const std::regex re("^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$");
  return std::regex_match(s, re);
}

}  // namespace

uint32_t MbufCount(uint32_t workers) {
  // Per worker: rx and tx descriptors of the host and underlay queues, a burst's worth in each of
  // its queues and handoffs, the stash; plus one exception queue and the mempool caches.
  const uint32_t per_worker = 4 * kDescriptors + 2048;
  return std::max<uint32_t>(8191, workers * per_worker + 2 * kDescriptors + 512 * (workers + 1));
}

uint32_t MbufDataRoom(uint32_t mtu) {
  // The largest thing an mbuf holds: a received relayed datagram, Ethernet + IPv4 + UDP + RELAY +
  // DATA header + MTU + tag, behind the headroom; room for a handed-over copy at kIpOffset - 16.
  const uint64_t frame = 14 + 20 + 8 + 24 + 16 + uint64_t{mtu} + 16;
  return kMbufHeadroom + uint32_t(std::max<uint64_t>(2048, shm::AlignUp(frame + 64, 64)));
}

std::string FormatCpuSet(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

EalHost ProbeEalHost() {
  EalHost h;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  uint32_t free_pages = 0;
  while (meminfo >> key >> value) {
    if (key == "HugePages_Free:") free_pages = uint32_t(value);
    meminfo.ignore(256, '\n');
  }
  std::ifstream mounts("/proc/mounts");
  std::string line;
  bool hugetlbfs = false;
  while (std::getline(mounts, line)) {
    std::istringstream f(line);
    std::string dev, dir, type;
    f >> dev >> dir >> type;
    if (type == "hugetlbfs") hugetlbfs = true;
  }
  h.free_hugepages = hugetlbfs ? free_pages : 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  if (cpus.empty()) cpus.push_back(0);
  h.cpus = FormatCpuSet(cpus);
  return h;
}

bool PlanEal(const NodeConfig& cfg, const EalHost& host, EalPlan* plan, std::string* error) {
  std::vector<std::string> user;
  {
    std::istringstream in(cfg.dp_eal_args);
    std::string w;
    while (in >> w) user.push_back(w);
  }
  for (const std::string& w : user) {
    if (w.find_first_of("\"'\\") != std::string::npos) {
      *error = "dataplane.eal-args: '" + w +
               "' has a quote or backslash; arguments are split at "
               "spaces only";
      return false;
    }
  }
  std::vector<std::string>& a = plan->args;
  a = user;
  if (!Has(user, {"--file-prefix"})) a.push_back("--file-prefix=ipop-" + cfg.name);
  if (!Has(user, {"--log-level"})) a.push_back("--log-level=notice");

  const std::string& ul = cfg.dp_underlay_port;
  if (IsPciAddress(ul)) {
    plan->underlay_name = ul.size() == 7 ? "0000:" + ul : ul;
    a.push_back("-a");
    a.push_back(ul);
  } else if (ul.rfind("net_", 0) == 0) {
    plan->underlay_name = ul.substr(0, ul.find(','));
    a.push_back("--vdev=" + ul);
    if (!Has(user, {"-a", "--allow", "-b", "--block", "--no-pci"})) a.push_back("--no-pci");
  } else {
    *error = "dataplane.underlay-port: '" + ul +
             "' is neither a PCI address (0000:03:00.0) nor "
             "vdev devargs (net_af_xdp0,iface=eth1)";
    return false;
  }

  const std::string queues = std::to_string(cfg.workers);
  const std::string& hp = cfg.dp_host_port;
  if (hp == "tap") {
    plan->host_name = "net_tap_ipop";
    plan->host_is_tap = true;
    plan->host_tap_iface = cfg.tap;
    a.push_back("--vdev=net_tap_ipop,iface=" + cfg.tap);
  } else if (hp.rfind("vhost:", 0) == 0) {
    plan->host_name = "net_vhost_ipop";
    plan->host_is_vhost = true;
    a.push_back("--vdev=net_vhost_ipop,iface=" + hp.substr(6) + ",queues=" + queues);
  } else if (hp != "none") {
    plan->host_name = hp.substr(0, hp.find(','));
    plan->host_is_vhost = hp.rfind("net_vhost", 0) == 0;
    plan->host_is_tap = hp.rfind("net_tap", 0) == 0;
    if (plan->host_is_tap) {
      const size_t at = hp.find(",iface=");
      if (at == std::string::npos) {
        *error = "dataplane.host-port: '" + hp +
                 "' names no iface=: the node needs to know the "
                 "TAP the host sees";
        return false;
      }
      plan->host_tap_iface = hp.substr(at + 7, hp.find(',', at + 7) - (at + 7));
    }
    a.push_back("--vdev=" + hp);
  }
  if (!plan->host_name.empty() && plan->host_name == plan->underlay_name) {
    *error = "dataplane.host-port and dataplane.underlay-port name the same device '" +
             plan->host_name + "'";
    return false;
  }

  if (!Has(user, {"-l", "-c", "--lcores"})) {
    a.push_back("--lcores=(0-" + std::to_string(cfg.workers) + ")@(" + host.cpus + ")");
  }
  if (!Has(user, {"--no-huge", "--in-memory", "-m", "--socket-mem", "--legacy-mem"})) {
    const uint64_t mb =
        (uint64_t{MbufCount(cfg.workers)} * (MbufDataRoom(cfg.mtu) + 256) >> 20) + 128;
    if (host.free_hugepages > 0) {
      a.push_back("--in-memory");
      plan->notes.push_back("hugepages: " + std::to_string(host.free_hugepages) +
                            " free, EAL runs --in-memory");
    } else {
      a.push_back("--no-huge");
      a.push_back("-m");
      a.push_back(std::to_string(mb));
      plan->notes.push_back("no free hugepages (or no hugetlbfs mounted): EAL runs --no-huge -m " +
                            std::to_string(mb) + " (docs/dpdk.md, \"Hugepages\")");
    }
  }
  return true;
}

}  // namespace ipop::dp

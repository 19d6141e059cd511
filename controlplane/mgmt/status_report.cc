#include "controlplane/mgmt/status_report.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

namespace ipop::cp {
namespace {

void Append(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Append(std::string& out, const char* fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n > 0) out.append(line, size_t(n) < sizeof(line) ? size_t(n) : sizeof(line) - 1);
}

constexpr int kKeyWidth = 28;

}  // namespace

std::string FormatStatus(const NodeStatus& s) {
  std::string out;
  Append(out, "%-*s %s\n", kKeyWidth, "node", s.node.c_str());
  Append(out, "%-*s %s\n", kKeyWidth, "network", s.network.c_str());
  Append(out, "%-*s %s/%u\n", kKeyWidth, "vip", FormatIpv4(s.vip).c_str(), s.prefix_len);
  if (!s.address.empty()) Append(out, "%-*s %s\n", kKeyWidth, "address", s.address.c_str());
  Append(out, "%-*s %s\n", kKeyWidth, "tap", s.tap.c_str());
  Append(out, "%-*s %s\n", kKeyWidth, "tap-address", s.tap_address.c_str());
  Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "table-seq", s.table_seq);
  Append(out, "%-*s %d\n", kKeyWidth, "dataplane-pid", s.dp_pid);
  Append(out, "%-*s %s\n", kKeyWidth, "dataplane-alive", s.dp_alive ? "yes" : "no");
  Append(out, "%-*s %016" PRIx64 "\n", kKeyWidth, "dataplane-instance", s.dp_instance);
  if (s.dp_heartbeat_known)
    Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "dataplane-heartbeat-age-ms",
           s.dp_heartbeat_age_ns / 1'000'000);
  else
    Append(out, "%-*s -\n", kKeyWidth, "dataplane-heartbeat-age-ms");
  Append(out, "%-*s %u\n", kKeyWidth, "dataplane-workers-running", s.dp_workers_running);
  Append(out, "%-*s %zu\n", kKeyWidth, "peers-up", s.peers_up);
  Append(out, "%-*s %zu\n", kKeyWidth, "peers-total", s.peers_total);
  Append(out, "%-*s %d\n", kKeyWidth, "controlplane-pid", s.cp_pid);
  Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "controlplane-attach-count", s.cp_attach_count);
  Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "uptime-s", s.uptime_ns / 1'000'000'000);
  return out;
}

std::string FormatPeers(const std::vector<PeerSessions::PeerStatus>& peers,
                        const std::vector<PeerTraffic>& traffic) {
  std::string out;
  for (size_t i = 0; i < peers.size(); ++i) {
    const PeerSessions::PeerStatus& p = peers[i];
    const PeerTraffic t = i < traffic.size() ? traffic[i] : PeerTraffic{};
    char age[24] = "-";
    if (p.heard) std::snprintf(age, sizeof(age), "%" PRIu64, p.last_hello_age_ns / 1'000'000);
    const char* tx = p.tx_ready ? "yes" : (p.tx_inherited ? "inherited" : "no");
    // The published transmit key's id and age: a rekey shows as a new id and the age restarting.
    // An inherited key has no age this process knows.
    char key[24] = "-";
    char key_age[24] = "-";
    if (p.tx_key_id != 0) {
      std::snprintf(key, sizeof(key), "%016" PRIx64, p.tx_key_id);
      if (!p.tx_inherited)
        std::snprintf(key_age, sizeof(key_age), "%" PRIu64, p.tx_key_age_ns / 1'000'000'000);
    }
    Append(out,
           "peer %-15s endpoint %-22s %-4s last-hello-ms %-6s tx-ready %-9s tx-key %-16s "
           "key-age-s %-5s rx-packets %" PRIu64 " rx-bytes %" PRIu64 " tx-packets %" PRIu64
           " tx-bytes %" PRIu64 "\n",
           FormatIpv4(p.vip).c_str(), p.endpoint.ToString().c_str(), p.up ? "up" : "down", age, tx,
           key, key_age, t.rx_packets, t.rx_bytes, t.tx_packets, t.tx_bytes);
  }
  return out;
}

std::string FormatCounters(const uint64_t (&drops)[kNumDropReasons],
                           const uint64_t (&stats)[kNumStats], const CpCounters& cp, bool all) {
  std::string out;
  for (uint32_t i = 0; i < kNumDropReasons; ++i)
    if (all || drops[i] != 0)
      Append(out, "drop  %-32s %" PRIu64 "\n", kDropReasonNames[i], drops[i]);
  for (uint32_t i = 0; i < kNumStats; ++i)
    if (all || stats[i] != 0) Append(out, "stat  %-32s %" PRIu64 "\n", kStatNames[i], stats[i]);
  for (uint32_t i = 0; i < kNumCpCounters; ++i)
    if (all || cp.value[i] != 0)
      Append(out, "cp    %-32s %" PRIu64 "\n", kCpCounterNames[i], cp.value[i]);
  return out;
}

}  // namespace ipop::cp

#include "controlplane/mgmt/render_peers.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <utility>

#include "controlplane/mgmt/json_writer.h"
#include "controlplane/mgmt/render_text.h"
#include "controlplane/overlay/address.h"

namespace ipop::cp {

// "direct (punched in 812 ms)" or "relayed via 3f2a... (punch failed: both symmetric, retry in
// 20 s)".
std::string PathText(const PeerPath& path) {
  std::string s = path.relayed ? "relayed" : "direct";
  if (path.relayed)
    s += " via " + (path.via.IsZero() ? std::string("?") : path.via.ToHex().substr(0, 16));
  if (!path.why.empty()) s += " (" + path.why + ")";
  return s;
}

std::string RenderPeers(const std::vector<PeerRow>& peers) {
  std::string out;
  for (const PeerRow& row : peers) {
    const PeerSessions::PeerStatus& p = row.status;
    const PeerTraffic& t = row.traffic;
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
    // Certificate mode: who the peer is, as its verified certificate says.
    if (!p.cert_name.empty()) {
      out.pop_back();
      out += " cert-name " + p.cert_name + "\n";
    }
    // The path on a line of its own, so scripts reading the columns above are unaffected.
    if (p.learned) out += "  path " + PathText(row.path) + "\n";
  }
  return out;
}

std::string RenderRoutes(const RoutesReport& r) {
  // Prefix, then the rest of the line; the prefix column is as wide as the widest prefix.
  std::vector<std::pair<std::string, std::string>> lines;
  for (const PeerSessions::PeerStatus& p : r.peers) {
    std::string rest;
    if (p.relayed) {
      rest = "relayed to node " + overlay::RingAddress::FromBytes(p.node).ToHex();
    } else {
      rest = "direct " + p.endpoint.ToString();
    }
    rest += p.learned ? " learned" : " static";
    rest += p.up ? " up" : " down";
    if (!p.relayed && p.node_known)
      rest += " node " + overlay::RingAddress::FromBytes(p.node).ToHex();
    lines.emplace_back(FormatIpv4(p.vip) + "/32", rest);
  }
  for (const PrefixRouteRow& row : r.prefix_routes) {
    const PeerSessions::PrefixRoute& p = row.route;
    std::string rest = "via " + FormatIpv4(p.via) + " (announced)";
    if (row.kernel_route) rest += " kernel-route";
    lines.emplace_back(FormatIpv4(p.prefix) + "/" + std::to_string(p.length), rest);
  }
  size_t width = 0;
  for (const auto& [prefix, rest] : lines) width = std::max(width, prefix.size());
  std::string out;
  for (const auto& [prefix, rest] : lines)
    out += "route " + prefix + std::string(width - prefix.size() + 1, ' ') + rest + "\n";
  for (const PrefixConfig& p : r.announced)
    out += "announce " + FormatIpv4(p.prefix) + "/" + std::to_string(p.length) + "\n";
  if (out.empty()) out = "no routes\n";
  return out;
}

}  // namespace ipop::cp

namespace ipop::cp {
namespace {

std::string NodeHex(const NodeAddress& node) {
  return overlay::RingAddress::FromBytes(node).ToHex();
}

std::string Prefix(uint32_t prefix, unsigned length) {
  return FormatIpv4(prefix) + "/" + std::to_string(length);
}

}  // namespace

std::string RenderPeersJson(const std::vector<PeerRow>& peers) {
  JsonWriter w;
  w.BeginObject().Key("peers").BeginArray();
  for (const PeerRow& row : peers) {
    const PeerSessions::PeerStatus& p = row.status;
    const PeerTraffic& t = row.traffic;
    w.BeginObject();
    w.Field("vip", FormatIpv4(p.vip)).Field("endpoint", p.endpoint.ToString());
    w.Field("up", p.up).Key("last_hello_ms");
    if (p.heard)
      w.Uint(p.last_hello_age_ns / 1'000'000);
    else
      w.Null();
    w.Field("tx_ready", p.tx_ready ? "yes" : (p.tx_inherited ? "inherited" : "no"));
    w.Key("tx_key");
    char key[24];
    std::snprintf(key, sizeof(key), "%016" PRIx64, uint64_t{p.tx_key_id});
    if (p.tx_key_id != 0)
      w.String(key);
    else
      w.Null();
    w.Key("key_age_s");
    if (p.tx_key_id != 0 && !p.tx_inherited)
      w.Uint(p.tx_key_age_ns / 1'000'000'000);
    else
      w.Null();
    w.Field("learned", p.learned).Field("path", p.relayed ? "relayed" : "direct");
    if (!p.cert_name.empty()) w.Field("cert_name", p.cert_name);
    w.Key("node");
    if (p.node_known)
      w.String(NodeHex(p.node));
    else
      w.Null();
    w.Key("relay_via");
    if (p.relayed && !row.path.via.IsZero())
      w.String(row.path.via.ToHex());
    else
      w.Null();
    w.Field("path_why", row.path.why).Field("peer_nat", row.path.peer_nat);
    w.Field("rx_packets", t.rx_packets).Field("rx_bytes", t.rx_bytes);
    w.Field("tx_packets", t.tx_packets).Field("tx_bytes", t.tx_bytes);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Finish();
}

std::string RenderRoutesJson(const RoutesReport& r) {
  JsonWriter w;
  w.BeginObject().Key("routes").BeginArray();
  for (const PeerSessions::PeerStatus& p : r.peers) {
    w.BeginObject().Field("prefix", Prefix(p.vip, 32));
    w.Field("path", p.relayed ? "relayed" : "direct");
    w.Key("endpoint");
    if (p.relayed)
      w.Null();
    else
      w.String(p.endpoint.ToString());
    w.Key("node");
    if (p.relayed || p.node_known)
      w.String(NodeHex(p.node));
    else
      w.Null();
    w.Field("learned", p.learned).Field("up", p.up).EndObject();
  }
  w.EndArray().Key("prefix_routes").BeginArray();
  for (const PrefixRouteRow& row : r.prefix_routes) {
    w.BeginObject().Field("prefix", Prefix(row.route.prefix, row.route.length));
    w.Field("via", FormatIpv4(row.route.via)).Field("kernel_route", row.kernel_route).EndObject();
  }
  w.EndArray().Key("announced").BeginArray();
  for (const PrefixConfig& p : r.announced) w.String(Prefix(p.prefix, p.length));
  w.EndArray().EndObject();
  return w.Finish();
}

}  // namespace ipop::cp

// Node configuration: Boost.Program_options reads the INI file and the flags into strings, and
// this file validates each value itself so that every error names its key, says what was wrong
// and what is expected. Start-up fails fast on the first error (STYLE.md 9).
#include "shared/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "shared/credential_file.h"

namespace ipop {
namespace po = boost::program_options;
namespace {

// Thrown inside this file only, caught by ParseConfig*; the text is the final error message.
struct ConfigError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& key, const std::string& what) {
  throw ConfigError{key + ": " + what};
}

struct KeySpec {
  const char* key;
  const char* help;
};

// Every key of the file; each is also a --flag. "peer" is repeatable and sits before any section.
constexpr KeySpec kKeys[] = {
    {"node.name", "node name, [A-Za-z0-9_-]{1,32} (required)"},
    {"node.vip",
     "static virtual IPv4 address with prefix, e.g. 10.77.0.1/24 (default: allocated from "
     "network.pool through the DHT)"},
    {"node.tap", "TAP interface name, at most 15 characters (default ipop0)"},
    {"node.listen", "underlay UDP address a.b.c.d:port or [v6]:port (default 0.0.0.0:5800)"},
    {"node.mtu", "inner MTU of the TAP, 576..9000 (default 1400)"},
    {"node.workers", "dataplane worker threads, 1..16 (default 1)"},
    {"node.shm", "shared-memory object name (default /ipop-<name>)"},
    {"node.mgmt-socket", "management socket path (default /run/ipop/<name>.sock)"},
    {"node.state-dir",
     "directory for state kept across restarts: learned revocations (default "
     "/var/lib/ipop/<name>)"},
    {"node.assign-address", "control plane assigns node.vip to the TAP, true|false (default true)"},
    {"node.log-level", "debug|info|warn|error (default info)"},
    {"network.name", "virtual network name, [A-Za-z0-9_-]{1,32} (required)"},
    {"network.secret", "network key, 64 hex characters (this or network.secret-file required)"},
    {"network.secret-file", "file holding the 64-hex-character network key"},
    {"network.router-pubkey-file",
     "PEM Ed25519 public key of the router authority: accept only announcements it signed"},
    {"node.router-key-file", "PEM Ed25519 private key that signs this node's announcements"},
    {"network.ca-file",
     "certificate mode: the network's trusted root CA certificate(s), PEM (docs/pki.md); "
     "network.secret is then not needed"},
    {"network.revocations-file",
     "certificate mode: revocations (ipop-cert revoke) known from the start, PEM (optional)"},
    {"node.cert-file",
     "certificate mode: this node's certificate, then its issuing CA certificate if any, PEM"},
    {"node.key-file", "certificate mode: this node's PEM Ed25519 private key, mode 0600"},
    {"network.subnet",
     "the network's address range a.b.c.d/len, e.g. 10.250.0.0/16 (required without node.vip)"},
    {"network.pool",
     "addresses handed out, a.b.c.d-a.b.c.e inside network.subnet (default: all its hosts)"},
    {"network.lease-s",
     "address lease: a dead node's address is free after this, 10..86400 (default 600)"},
    {"network.cipher", "aes-256-gcm|chacha20-poly1305 (default aes-256-gcm)"},
    {"network.service-ip",
     "the node's DHCP/DNS/router address on the TAP, inside node.vip's subnet (default: its "
     "last host address)"},
    {"network.dns-suffix", "DNS zone of C-names and node names (default ipop)"},
    {"network.dns-forward",
     "names outside the DNS zone: refuse|resolv-conf|\"IP[:port] ...\" upstreams (default "
     "refuse)"},
    {"node.dhcp", "answer DHCP on the TAP with node.vip, true|false (default true)"},
    {"network.crypto-backend",
     "AES-256-GCM implementation in the dataplane, auto|openssl|ipsec-mb (default auto)"},
    {"network.hello-interval-ms", "HELLO period, 10..60000 (default 1000)"},
    {"network.peer-timeout-ms",
     "peer declared down after this silence, 100..600000 (default 5000)"},
    {"network.rekey-interval-s",
     "new session keys (fresh X25519 exchange) this often, 1..86400 (default 120)"},
    {"network.rekey-after-packets",
     "new session keys after this many packets sealed with one key, 1000..2^60 (default 2^32)"},
    {"overlay.enabled", "join the structured overlay, true|false (default true)"},
    {"overlay.secret",
     "overlay credential, 64 hex characters, the same on every node of every network sharing "
     "the overlay (default: derived from network.secret)"},
    {"overlay.secret-file", "file holding the 64-hex-character overlay credential"},
    {"overlay.address",
     "160-bit overlay address, 40 hex digits (default SHA-1 of network and node name); not with "
     "network.ca-file (the address comes from the node's certified key)"},
    {"overlay.ca-file",
     "certificate mode: root CA certificates trusted for overlay membership (default "
     "network.ca-file)"},
    {"overlay.shortcut-pps",
     "relayed packets per second to a peer that make a direct link, 1..1000000 (default 10)"},
    {"overlay.keepalive-s",
     "an idle overlay link is probed after this long, which also holds its NAT mappings open, "
     "5..120 (default 15; keep it under the NATs' UDP timeout, often 30 s)"},
    {"overlay.far-links-per-log2",
     "far links per log2 of the overlay size, 0..8 (default 1; 0 keeps only ring links)"},
    {"overlay.peer-idle-s",
     "forget a peer learned through the overlay after this long unused, 10..86400 (default 120)"},
    {"dataplane.burst", "packets per burst, 1..256 (default 32)"},
    {"dataplane.spin-us", "busy-poll time after the last work, 0..1000000 (default 50)"},
    {"dataplane.idle-wait-ms", "longest block while idle, 0..1000 (default 100)"},
    {"dataplane.attach-timeout-ms", "wait for the shm region, 0..600000 (default 15000)"},
    {"dataplane.backend", "io_uring|dpdk (default io_uring; dpdk: docs/dpdk.md)"},
    {"dataplane.eal-args", "dpdk: extra DPDK EAL arguments, space-separated, e.g. \"-l 2-3\""},
    {"dataplane.underlay-port",
     "dpdk: the underlay ethdev, a PCI address (0000:03:00.0) or vdev devargs "
     "(net_af_xdp0,iface=eth1) (required with dpdk)"},
    {"dataplane.host-port",
     "dpdk: tap (a TAP PMD named node.tap) | vhost:PATH (a vhost-user socket for a VM) | none "
     "(headless) | vdev devargs (default tap)"},
    {"dataplane.underlay-prefix",
     "dpdk: prefix length of node.listen's subnet, 1..32 (default 24)"},
    {"dataplane.underlay-gateway",
     "dpdk: IPv4 router for off-link peers (default: the MAC datagrams from off-link peers came "
     "from)"},
    {"dataplane.underlay-exception",
     "dpdk: other underlay traffic and IPv4 fragments: drop, or the name of a TAP toward the "
     "kernel (default drop)"},
    {"dataplane.idle-poll-us",
     "dpdk: longest sleep between port polls while idle, 10..100000 (default 5000)"},
    {"controlplane.poll-ms", "punt-ring poll period while messages flow, 1..1000 (default 2)"},
    {"controlplane.idle-poll-ms",
     "punt-ring poll period when nothing arrived for 50 ms, 1..1000 (default 25)"},
    {"metrics.listen",
     "serve Prometheus metrics over HTTP at GET /metrics on HOST:PORT, e.g. 127.0.0.1:9323 "
     "(default off)"},
    {"metrics.allow-remote",
     "let metrics.listen be a non-loopback address (the endpoint has no authentication), "
     "true|false (default false)"},
};
constexpr const char* kPeerHelp = "static peer \"VIP HOST:PORT\", repeatable";
constexpr const char* kAnnounceHelp =
    "router mode: a subnet behind this node, a.b.c.d/len, repeatable; members route it here";
constexpr const char* kFirewallInboundHelp =
    "[firewall] rule for flows a peer opens: allow|deny any|cidr:A/L|name:NODE|group:GROUP "
    "tcp|udp|icmp|any [PORTS], repeatable, first match wins (docs/firewall.md)";
constexpr const char* kFirewallOutboundHelp =
    "[firewall] rule for flows this node opens to a peer; same grammar as firewall.inbound";
constexpr const char* kBootstrapHelp =
    "overlay bootstrap entry HOST:PORT, repeatable (default: the static peers' endpoints)";

po::options_description FileOptions() {
  po::options_description desc("Configuration (file keys; each is also a --flag)");
  for (const KeySpec& k : kKeys) desc.add_options()(k.key, po::value<std::string>(), k.help);
  desc.add_options()("peer", po::value<std::vector<std::string>>(), kPeerHelp);
  desc.add_options()("bootstrap", po::value<std::vector<std::string>>(), kBootstrapHelp);
  desc.add_options()("announce", po::value<std::vector<std::string>>(), kAnnounceHelp);
  desc.add_options()("firewall.inbound", po::value<std::vector<std::string>>(),
                     kFirewallInboundHelp);
  desc.add_options()("firewall.outbound", po::value<std::vector<std::string>>(),
                     kFirewallOutboundHelp);
  return desc;
}

po::options_description GenericOptions() {
  po::options_description desc("Generic");
  desc.add_options()("help", "print this help and exit")("config", po::value<std::string>(),
                                                         "configuration file (INI)");
  return desc;
}

// Boost names options "--node.mtu" on the command line and "node.mtu" in files; report the key.
std::string KeyOf(const po::error_with_option_name& e) {
  std::string name = e.get_option_name();
  while (!name.empty() && name.front() == '-') name.erase(0, 1);
  return name.empty() ? std::string("config") : name;
}

// Never calls what() on error_with_option_name: Boost 1.74 expands its %placeholders% in a loop
// that never ends when the offending text itself contains one (found by fuzz_config).
std::string BoostErrorText(const po::error& e) {
  if (const auto* u = dynamic_cast<const po::unknown_option*>(&e)) {
    const std::string key = KeyOf(*u);
    const auto ends_with = [&](std::string_view tail) {
      return key.size() > tail.size() &&
             key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
    };
    if (ends_with(".peer") || ends_with(".bootstrap") || ends_with(".announce"))
      return key +
             ": unknown key, peer, bootstrap and announce lines must come before any [section]";
    return key + ": unknown key, expected one of the keys listed by --help";
  }
  if (const auto* m = dynamic_cast<const po::multiple_occurrences*>(&e))
    return KeyOf(*m) + ": given more than once, expected a single value";
  if (const auto* s = dynamic_cast<const po::invalid_config_file_syntax*>(&e)) {
    std::string line = s->tokens();
    if (line.size() > 80) line = line.substr(0, 80) + "...";
    return "config: invalid line '" + line + "', expected 'key = value' or '[section]'";
  }
  if (const auto* r = dynamic_cast<const po::invalid_syntax*>(&e)) {
    switch (r->kind()) {
      case po::invalid_syntax::missing_parameter:
        return KeyOf(*r) + ": no value given, expected --" + KeyOf(*r) + " VALUE";
      case po::invalid_syntax::extra_parameter:
        return KeyOf(*r) + ": takes no value";
      default:
        return KeyOf(*r) + ": malformed flag, expected --key VALUE or --key=VALUE";
    }
  }
  if (const auto* n = dynamic_cast<const po::error_with_option_name*>(&e))
    return KeyOf(*n) + ": invalid value";
  return std::string("config: ") + e.what();
}

// ---- value parsers: each throws ConfigError naming the key ----
class Values;
void ParseFirewall(const Values& v, NodeConfig& c);

class Values {
 public:
  explicit Values(const po::variables_map& vm) : vm_(vm) {}

  const std::string* Get(const char* key) const {
    auto it = vm_.find(key);
    if (it == vm_.end() || it->second.empty()) return nullptr;
    return &it->second.as<std::string>();
  }
  const std::string& Required(const char* key, const char* expected) const {
    const std::string* v = Get(key);
    if (v == nullptr || v->empty()) Fail(key, std::string("missing, expected ") + expected);
    return *v;
  }
  void Uint(const char* key, uint32_t lo, uint32_t hi, uint32_t& out) const {
    uint64_t n = out;
    Uint64(key, lo, hi, n);
    out = uint32_t(n);
  }
  void Uint64(const char* key, uint64_t lo, uint64_t hi, uint64_t& out) const {
    const std::string* v = Get(key);
    if (v == nullptr) return;
    const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    // Digits only: no sign, no hex, no trailing text; at most 19 digits cannot overflow uint64.
    if (v->empty() || v->size() > 19 || v->find_first_not_of("0123456789") != std::string::npos)
      Fail(key, "'" + *v + "' is not a number, expected an integer " + range);
    const uint64_t n = std::stoull(*v);
    if (n < lo || n > hi) Fail(key, *v + " is out of range " + range);
    out = n;
  }
  std::vector<std::string> List(const char* key) const {
    auto it = vm_.find(key);
    if (it == vm_.end() || it->second.empty()) return {};
    return it->second.as<std::vector<std::string>>();
  }

 private:
  const po::variables_map& vm_;
};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

void CheckName(const char* key, const std::string& v) {
  if (v.size() > 32) Fail(key, "'" + v + "' is longer than 32 characters");
  for (char c : v)
    if (!IsNameChar(c))
      Fail(key, "'" + v + "' contains an invalid character, expected only A-Z a-z 0-9 _ -");
}

void CheckTap(const std::string& v) {
  // IFNAMSIZ is 16 including the terminating NUL; '/' and ':' are not allowed by the kernel.
  if (v.empty() || v.size() > 15)
    Fail("node.tap", "'" + v + "' must be 1..15 characters (Linux interface name)");
  for (char c : v)
    if (!IsNameChar(c) && c != '.')
      Fail("node.tap", "'" + v + "' contains an invalid character, expected A-Z a-z 0-9 _ - .");
}

void ParseVip(const std::string& v, NodeConfig& c) {
  const char* key = "node.vip";
  const std::string expected = ", expected a.b.c.d/len such as 10.77.0.1/24";
  const size_t slash = v.find('/');
  if (slash == std::string::npos) Fail(key, "'" + v + "' has no prefix length" + expected);
  const auto addr = ParseIpv4(v.substr(0, slash));
  const std::string len = v.substr(slash + 1);
  if (!addr) Fail(key, "'" + v + "' is not an IPv4 address" + expected);
  if (len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos)
    Fail(key, "'" + v + "' has a malformed prefix length" + expected);
  const uint32_t plen = uint32_t(std::stoul(len));
  if (plen < 1 || plen > 32) Fail(key, "prefix length " + len + " is out of range 1..32");
  if (plen <= 30) {
    const uint32_t host_mask = ~uint32_t{0} >> plen;
    if ((*addr & host_mask) == 0 || (*addr & host_mask) == host_mask)
      Fail(key, "'" + v + "' is the network or broadcast address, expected a host address");
  }
  c.vip = *addr;
  c.prefix_len = plen;
  c.subnet = plen == 0 ? 0 : *addr & (~uint32_t{0} << (32 - plen));
}

// "a.b.c.d/len" with no host bits set.
void ParseSubnet(const std::string& v, NodeConfig& c) {
  const char* key = "network.subnet";
  const std::string expected = ", expected a.b.c.d/len such as 10.250.0.0/16";
  const size_t slash = v.find('/');
  const auto addr = slash == std::string::npos ? std::nullopt : ParseIpv4(v.substr(0, slash));
  const std::string len = slash == std::string::npos ? "" : v.substr(slash + 1);
  if (!addr || len.empty() || len.size() > 2 ||
      len.find_first_not_of("0123456789") != std::string::npos)
    Fail(key, "'" + v + "' is not a subnet" + expected);
  const uint32_t plen = uint32_t(std::stoul(len));
  if (plen < 8 || plen > 30) Fail(key, "prefix length " + len + " is out of range 8..30");
  const uint32_t mask = ~uint32_t{0} << (32 - plen);
  if ((*addr & ~mask) != 0)
    Fail(key, "'" + v + "' has host bits set, expected " + FormatIpv4(*addr & mask) + "/" + len);
  if (c.vip != 0 && ((c.vip & mask) != *addr || c.prefix_len != plen))
    Fail(key, "'" + v + "' does not match node.vip " + FormatIpv4(c.vip) + "/" +
                  std::to_string(c.prefix_len) + ", expected node.vip inside it with length " +
                  len);
  c.subnet = *addr;
  c.prefix_len = plen;
}

// "a.b.c.d-a.b.c.e", both host addresses of the subnet, first <= last.
void ParsePool(const std::string* v, NodeConfig& c) {
  const char* key = "network.pool";
  const uint32_t host_mask = ~uint32_t{0} >> c.prefix_len;
  const uint32_t first_host = c.subnet + 1, last_host = (c.subnet | host_mask) - 1;
  c.pool_first = first_host;
  c.pool_last = last_host;
  if (v == nullptr) return;
  const size_t dash = v->find('-');
  const auto first = dash == std::string::npos ? std::nullopt : ParseIpv4(v->substr(0, dash));
  const auto last = dash == std::string::npos ? std::nullopt : ParseIpv4(v->substr(dash + 1));
  if (!first || !last)
    Fail(key,
         "'" + *v + "' is malformed, expected a.b.c.d-a.b.c.e such as 10.250.0.10-10.250.0.99");
  if (*first > *last) Fail(key, "'" + *v + "' starts after it ends");
  if (*first < first_host || *last > last_host)
    Fail(key, "'" + *v + "' is not inside the host addresses of network.subnet (" +
                  FormatIpv4(first_host) + "-" + FormatIpv4(last_host) + ")");
  c.pool_first = *first;
  c.pool_last = *last;
}

int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void ParseSecretHex(const char* key, const std::string& hex, std::array<uint8_t, 32>& out) {
  if (hex.size() != 64)
    Fail(key, "has " + std::to_string(hex.size()) + " characters, expected 64 hex characters");
  uint8_t acc = 0;
  for (size_t i = 0; i < 32; ++i) {
    const int hi = HexNibble(hex[2 * i]), lo = HexNibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) Fail(key, "contains a non-hex character, expected 64 hex characters");
    out[i] = uint8_t(hi << 4 | lo);
    acc |= out[i];
  }
  if (acc == 0) Fail(key, "is all zero, expected a random 256-bit key (openssl rand -hex 32)");
}

// Only a small regular file that no other user can read or replace is accepted
// (credential_file.h); a FIFO, a device or /dev/zero must not hang or flood us.
std::string ReadSecretFile(const char* key, const std::string& path) {
  const CredentialFile file = ReadCredentialFile(path, 4096);
  if (!file.error.empty()) Fail(key, file.error);
  const std::string& text = file.text;
  const size_t b = text.find_first_not_of(" \t\r\n");
  const size_t e = text.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
}

void ParsePeers(const std::vector<std::string>& specs, NodeConfig& c) {
  const char* key = "peer";
  const std::string expected = ", expected \"VIP HOST:PORT\" such as 10.77.0.2 192.0.2.7:5800";
  std::set<uint32_t> seen;
  for (const std::string& spec : specs) {
    std::istringstream in(spec);
    std::string vip_text, ep_text, extra;
    in >> vip_text >> ep_text;
    if (vip_text.empty() || ep_text.empty() || (in >> extra))
      Fail(key, "'" + spec + "' is malformed" + expected);
    const auto vip = ParseIpv4(vip_text);
    if (!vip || *vip == 0) Fail(key, "'" + spec + "' has a bad virtual IPv4 address" + expected);
    const auto ep = ParseEndpoint(ep_text);
    if (!ep || ep->port == 0) Fail(key, "'" + spec + "' has a bad underlay endpoint" + expected);
    if (*vip == c.vip) Fail(key, "'" + spec + "' uses this node's own node.vip");
    if (!seen.insert(*vip).second)
      Fail(key, "'" + spec + "': virtual IP " + vip_text + " is listed twice");
    c.peers.push_back(PeerConfig{*vip, *ep});
  }
  if (c.peers.size() > shm::kMaxPeers)
    Fail(key, std::to_string(c.peers.size()) + " peers, expected at most " +
                  std::to_string(shm::kMaxPeers));
}

void ParseBool(const char* key, const std::string* s, bool& out) {
  if (!s) return;
  if (*s == "true" || *s == "yes" || *s == "1") {
    out = true;
  } else if (*s == "false" || *s == "no" || *s == "0") {
    out = false;
  } else {
    Fail(key, "'" + *s + "' is not a boolean, expected true or false");
  }
}

// A list of hundreds of entries is normal for a large overlay; duplicates are dropped quietly.
constexpr size_t kMaxBootstrap = 4096;

void ParseOverlay(const Values& v, NodeConfig& c) {
  ParseBool("overlay.enabled", v.Get("overlay.enabled"), c.overlay);
  const std::string* secret = v.Get("overlay.secret");
  const std::string* secret_file = v.Get("overlay.secret-file");
  if (secret && secret_file)
    Fail("overlay.secret", "given together with overlay.secret-file, expected only one");
  if (secret) ParseSecretHex("overlay.secret", *secret, c.overlay_secret);
  if (secret_file)
    ParseSecretHex("overlay.secret-file", ReadSecretFile("overlay.secret-file", *secret_file),
                   c.overlay_secret);
  c.overlay_secret_set = secret || secret_file;
  if (const auto* s = v.Get("overlay.address")) {
    if (s->size() != 40)
      Fail("overlay.address",
           "has " + std::to_string(s->size()) + " characters, expected 40 hex digits (160 bits)");
    for (size_t i = 0; i < 20; ++i) {
      const int hi = HexNibble((*s)[2 * i]), lo = HexNibble((*s)[2 * i + 1]);
      if (hi < 0 || lo < 0) Fail("overlay.address", "contains a non-hex character");
      c.overlay_address[i] = uint8_t(hi << 4 | lo);
    }
    c.overlay_address_set = true;
  }
  v.Uint("overlay.shortcut-pps", 1, 1000000, c.shortcut_pps);
  v.Uint("overlay.keepalive-s", 5, 120, c.keepalive_s);
  v.Uint("overlay.peer-idle-s", 10, 86400, c.dynamic_peer_idle_s);
  if (const auto* s = v.Get("overlay.far-links-per-log2")) {
    const char* key = "overlay.far-links-per-log2";
    if (s->empty() || s->size() > 8 || s->find_first_not_of("0123456789.") != std::string::npos ||
        std::count(s->begin(), s->end(), '.') > 1 || s->front() == '.')
      Fail(key, "'" + *s + "' is not a number, expected a decimal 0..8 such as 1 or 0.5");
    const double d = std::stod(*s);
    if (d > 8.0) Fail(key, *s + " is out of range 0..8");
    c.far_links_per_log2 = d;
  }
  const std::string expected = ", expected HOST:PORT such as 192.0.2.7:5800";
  for (const std::string& text : v.List("bootstrap")) {
    const auto ep = ParseEndpoint(text);
    if (!ep || ep->port == 0) Fail("bootstrap", "'" + text + "' is not an endpoint" + expected);
    if (std::find(c.bootstrap.begin(), c.bootstrap.end(), *ep) == c.bootstrap.end())
      c.bootstrap.push_back(*ep);
  }
  if (c.bootstrap.size() > kMaxBootstrap)
    Fail("bootstrap", std::to_string(c.bootstrap.size()) + " entries, expected at most " +
                          std::to_string(kMaxBootstrap));
}

// The DPDK backend owns the underlay's IPv4 address itself (no kernel address to pick one from),
// so node.listen must name it.
void ParseDataplaneBackend(const Values& v, NodeConfig& c) {
  if (const auto* s = v.Get("dataplane.backend")) {
    if (*s == "io_uring" || *s == "io-uring") {
      c.dp_backend = DataplaneBackend::kIoUring;
    } else if (*s == "dpdk") {
      c.dp_backend = DataplaneBackend::kDpdk;
    } else {
      Fail("dataplane.backend", "'" + *s + "' is unknown, expected io_uring or dpdk");
    }
  }
  if (const auto* s = v.Get("dataplane.eal-args")) c.dp_eal_args = *s;
  if (const auto* s = v.Get("dataplane.underlay-port")) c.dp_underlay_port = *s;
  if (const auto* s = v.Get("dataplane.host-port")) {
    if (s->empty() ||
        (*s != "tap" && *s != "none" && s->rfind("vhost:", 0) != 0 && s->rfind("net_", 0) != 0))
      Fail("dataplane.host-port",
           "'" + *s + "' is unknown, expected tap, vhost:PATH, none or vdev devargs (net_...)");
    if (*s == "vhost:")
      Fail("dataplane.host-port", "'vhost:' names no socket, expected vhost:PATH");
    c.dp_host_port = *s;
  }
  v.Uint("dataplane.underlay-prefix", 1, 32, c.dp_underlay_prefix);
  if (const auto* s = v.Get("dataplane.underlay-gateway")) {
    const auto a = ParseIpv4(*s);
    if (!a || *a == 0)
      Fail("dataplane.underlay-gateway", "'" + *s + "' is not an IPv4 address, expected a.b.c.d");
    c.dp_underlay_gateway = *a;
  }
  if (const auto* s = v.Get("dataplane.underlay-exception")) {
    if (s->empty() || s->size() > 15)
      Fail("dataplane.underlay-exception",
           "'" + *s + "' must be drop or a TAP name of 1..15 characters");
    c.dp_exception = *s;
  }
  v.Uint("dataplane.idle-poll-us", 10, 100000, c.dp_idle_poll_us);
  if (c.dp_backend != DataplaneBackend::kDpdk) return;
  if (c.dp_underlay_port.empty())
    Fail("dataplane.underlay-port",
         "missing: the DPDK backend needs its underlay port, e.g. 0000:03:00.0 or "
         "net_af_xdp0,iface=eth1");
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const uint8_t* a = c.listen.addr;
  if (std::memcmp(a, kMapped, sizeof(kMapped)) != 0 || (a[12] | a[13] | a[14] | a[15]) == 0)
    Fail("node.listen",
         "the DPDK backend owns its underlay address: set node.listen to it, e.g. "
         "192.0.2.10:5800 (an IPv4 address, not 0.0.0.0)");
  if (c.dp_underlay_gateway != 0) {
    const uint32_t self =
        uint32_t(a[12]) << 24 | uint32_t(a[13]) << 16 | uint32_t(a[14]) << 8 | a[15];
    const uint32_t mask = ~uint32_t{0} << (32 - c.dp_underlay_prefix);
    if ((self & mask) != (c.dp_underlay_gateway & mask) || self == c.dp_underlay_gateway)
      Fail("dataplane.underlay-gateway",
           FormatIpv4(c.dp_underlay_gateway) + " is not another address of node.listen's /" +
               std::to_string(c.dp_underlay_prefix) + ", expected an on-link router");
  }
}

void ParseAnnounce(const Values& v, NodeConfig& c) {
  const char* key = "announce";
  for (const std::string& text : v.List(key)) {
    const size_t slash = text.find('/');
    const auto addr = slash == std::string::npos ? std::nullopt : ParseIpv4(text.substr(0, slash));
    const std::string len = slash == std::string::npos ? "" : text.substr(slash + 1);
    if (!addr || len.empty() || len.size() > 2 ||
        len.find_first_not_of("0123456789") != std::string::npos || std::stoul(len) < 1 ||
        std::stoul(len) > 32)
      Fail(key, "'" + text + "' is not a subnet, expected a.b.c.d/len such as 192.168.50.0/24");
    PrefixConfig p;
    p.length = uint8_t(std::stoul(len));
    const uint32_t mask = ~uint32_t{0} << (32 - p.length);
    p.prefix = *addr & mask;
    const uint32_t wider = std::min<uint32_t>(p.length, c.prefix_len);
    const uint32_t wmask = wider == 0 ? 0 : ~uint32_t{0} << (32 - wider);
    if ((p.prefix & wmask) == (c.subnet & wmask))
      Fail(key,
           "'" + text + "' overlaps the network's subnet; announce only subnets behind the node");
    c.announce.push_back(p);
  }
  if (c.announce.size() > 64)
    Fail(key, std::to_string(c.announce.size()) + " subnets, expected at most 64");
}

// "refuse", "resolv-conf", or upstreams separated by spaces or commas: a.b.c.d, a.b.c.d:port,
// [v6]:port or a bare v6 address (port 53 when none is given).
void ParseDnsForward(const std::string& text, NodeConfig& c) {
  const char* key = "network.dns-forward";
  if (text == "refuse") {
    c.dns_forward = NodeConfig::DnsForward::kRefuse;
    return;
  }
  if (text == "resolv-conf") {
    c.dns_forward = NodeConfig::DnsForward::kResolvConf;
    return;
  }
  std::vector<Endpoint> list;
  std::string word;
  std::istringstream in(text);
  while (std::getline(in, word, ',')) {
    std::istringstream words(word);
    std::string w;
    while (words >> w) {
      std::optional<Endpoint> ep;
      if (const auto v4 = ParseIpv4(w)) {
        ep = ParseEndpoint(w + ":53");
      } else if (w.find('[') == std::string::npos && w.find(':') != w.rfind(':')) {
        ep = ParseEndpoint("[" + w + "]:53");  // bare IPv6
      } else {
        ep = ParseEndpoint(w);
      }
      if (!ep || ep->port == 0)
        Fail(key, "'" + w + "' is not an upstream, expected refuse, resolv-conf or IP[:port] " +
                      "entries such as 192.0.2.53 or [2001:db8::53]:53");
      if (std::find(list.begin(), list.end(), *ep) == list.end()) list.push_back(*ep);
    }
  }
  if (list.empty()) Fail(key, "empty, expected refuse, resolv-conf or IP[:port] entries");
  if (list.size() > 8) Fail(key, std::to_string(list.size()) + " upstreams, expected at most 8");
  c.dns_forward = NodeConfig::DnsForward::kServers;
  c.dns_upstreams = std::move(list);
}

void ParseRouterKeys(const Values& v, NodeConfig& c) {
  for (auto [key, field] : {std::pair{"network.router-pubkey-file", &c.router_pubkey_file},
                            std::pair{"node.router-key-file", &c.router_key_file}}) {
    const std::string* s = v.Get(key);
    if (s == nullptr) continue;
    if (s->empty() || s->size() > 4096) Fail(key, "expected the path of a PEM key file");
    *field = *s;
  }
  // The control plane reads the keys; the private key's permissions are checked here as well so
  // that a key other users can read stops the node before anything starts.
  if (!c.router_key_file.empty()) {
    const CredentialFile key = ReadCredentialFile(c.router_key_file, kMaxKeyFileBytes);
    if (!key.error.empty()) Fail("node.router-key-file", key.error);
  }
}

// Certificate mode (docs/pki.md): only the paths are checked here; the control plane reads and
// verifies the files at start (controlplane/identity/node_identity.h), naming each bad file.
void ParseCertificateMode(const Values& v, NodeConfig& c) {
  for (auto [key, field] :
       {std::pair{"network.ca-file", &c.ca_file},
        std::pair{"network.revocations-file", &c.revocations_file},
        std::pair{"node.cert-file", &c.cert_file}, std::pair{"node.key-file", &c.key_file},
        std::pair{"overlay.ca-file", &c.overlay_ca_file}}) {
    const std::string* s = v.Get(key);
    if (s == nullptr) continue;
    if (s->empty() || s->size() > 4096) Fail(key, "expected the path of a PEM file");
    *field = *s;
  }
  if (!c.cert_mode()) {
    for (const char* key :
         {"node.cert-file", "node.key-file", "network.revocations-file", "overlay.ca-file"})
      if (v.Get(key) != nullptr)
        Fail(key, "given without network.ca-file; certificate mode needs the network's CA");
    return;
  }
  if (c.cert_file.empty())
    Fail("node.cert-file", "missing, expected this node's certificate (network.ca-file is set)");
  if (c.key_file.empty())
    Fail("node.key-file", "missing, expected this node's private key (network.ca-file is set)");
  if (v.Get("overlay.address") != nullptr)
    Fail("overlay.address",
         "not allowed with network.ca-file: in certificate mode the overlay address is derived "
         "from the node's certified key");
  if (c.overlay_ca_file.empty()) c.overlay_ca_file = c.ca_file;
}

bool IsLoopback(const Endpoint& ep) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(ep.addr, kMapped, sizeof(kMapped)) == 0) return ep.addr[12] == 127;
  return std::memcmp(ep.addr, kV6Loopback, sizeof(kV6Loopback)) == 0;
}

// The exporter answers anyone who can reach it, without authentication: loopback unless the
// operator says otherwise.
void ParseMetrics(const Values& v, NodeConfig& c) {
  ParseBool("metrics.allow-remote", v.Get("metrics.allow-remote"), c.metrics_allow_remote);
  const std::string* s = v.Get("metrics.listen");
  if (s == nullptr) return;
  const auto ep = ParseEndpoint(*s);
  if (!ep || ep->port == 0)
    Fail("metrics.listen", "'" + *s + "' is malformed, expected a.b.c.d:port or [v6]:port");
  if (!IsLoopback(*ep) && !c.metrics_allow_remote)
    Fail("metrics.listen", "'" + *s +
                               "' is not a loopback address and the endpoint has no "
                               "authentication; use 127.0.0.1 or [::1], or set "
                               "metrics.allow-remote = true");
  c.metrics_listen = *ep;
}

void ParseServices(const Values& v, NodeConfig& c) {
  ParseBool("node.dhcp", v.Get("node.dhcp"), c.dhcp);
  const uint32_t host_mask = c.prefix_len >= 32 ? 0 : ~uint32_t{0} >> c.prefix_len;
  const uint32_t net = c.subnet;
  if (c.prefix_len <= 30) {
    c.service_ip = (net | host_mask) - 1;  // last host address
    if (c.service_ip == c.vip) c.service_ip -= 1;
  }
  if (const auto* s = v.Get("network.service-ip")) {
    const auto ip = ParseIpv4(*s);
    if (!ip) Fail("network.service-ip", "'" + *s + "' is not an IPv4 address");
    if (c.prefix_len > 30 || (*ip & ~host_mask) != net || *ip == net || *ip == (net | host_mask))
      Fail("network.service-ip", "'" + *s + "' is not a host address of the network's subnet");
    if (c.vip != 0 && *ip == c.vip) Fail("network.service-ip", "'" + *s + "' is node.vip itself");
    c.service_ip = *ip;
  }
  if (const auto* s = v.Get("network.dns-suffix")) {
    if (s->empty() || s->size() > 64 || s->front() == '.' || s->back() == '.' ||
        s->find("..") != std::string::npos)
      Fail("network.dns-suffix", "'" + *s + "' is not a DNS name such as ipop or vpn.example");
    for (char ch : *s)
      if (!IsNameChar(ch) && ch != '.')
        Fail("network.dns-suffix", "'" + *s + "' contains an invalid character");
    c.dns_suffix = *s;
  }
  if (const auto* s = v.Get("network.dns-forward")) ParseDnsForward(*s, c);
  ParseRouterKeys(v, c);
}

NodeConfig Validate(const po::variables_map& vm) {
  const Values v(vm);
  NodeConfig c;
  c.name = v.Required("node.name", "a node name such as node-1");
  CheckName("node.name", c.name);
  if (const auto* s = v.Get("node.vip")) ParseVip(*s, c);
  c.network = v.Required("network.name", "a network name such as lab");
  CheckName("network.name", c.network);
  if (const auto* s = v.Get("network.subnet")) {
    ParseSubnet(*s, c);
  } else if (c.vip == 0) {
    Fail("network.subnet",
         "missing, expected the network's range such as 10.250.0.0/16 (or a static node.vip)");
  }
  if (c.vip == 0) ParsePool(v.Get("network.pool"), c);
  if (c.vip != 0 && v.Get("network.pool"))
    Fail("network.pool", "given with a static node.vip; remove one of them");
  v.Uint("network.lease-s", 10, 86400, c.lease_s);

  if (const auto* s = v.Get("node.tap")) c.tap = *s;
  CheckTap(c.tap);
  c.listen = *ParseEndpoint("0.0.0.0:5800");
  if (const auto* s = v.Get("node.listen")) {
    const auto ep = ParseEndpoint(*s);
    if (!ep || ep->port == 0)
      Fail("node.listen", "'" + *s + "' is malformed, expected a.b.c.d:port or [v6]:port");
    c.listen = *ep;
  }
  v.Uint("node.mtu", 576, 9000, c.mtu);
  v.Uint("node.workers", 1, shm::kMaxWorkers, c.workers);

  c.shm_name = "/ipop-" + c.name;
  if (const auto* s = v.Get("node.shm")) c.shm_name = *s;
  if (c.shm_name.size() < 2 || c.shm_name.size() > 255 || c.shm_name[0] != '/' ||
      c.shm_name.find('/', 1) != std::string::npos)
    Fail("node.shm", "'" + c.shm_name + "' is malformed, expected /name without further '/'");
  c.mgmt_socket = "/run/ipop/" + c.name + ".sock";
  if (const auto* s = v.Get("node.mgmt-socket")) c.mgmt_socket = *s;
  if (c.mgmt_socket.empty() || c.mgmt_socket.size() > 107)
    Fail("node.mgmt-socket", "'" + c.mgmt_socket + "' must be 1..107 characters (sun_path)");
  c.state_dir = "/var/lib/ipop/" + c.name;
  if (const auto* s = v.Get("node.state-dir")) c.state_dir = *s;
  if (c.state_dir.empty() || c.state_dir.size() > 4000 || c.state_dir[0] != '/')
    Fail("node.state-dir", "'" + c.state_dir + "' must be an absolute path");

  ParseBool("node.assign-address", v.Get("node.assign-address"), c.assign_address);
  ParseMetrics(v, c);
  if (const auto* s = v.Get("node.log-level")) {
    if (*s != "debug" && *s != "info" && *s != "warn" && *s != "error")
      Fail("node.log-level", "'" + *s + "' is unknown, expected debug, info, warn or error");
    c.log_level = *s;
  }

  ParseCertificateMode(v, c);
  const std::string* secret = v.Get("network.secret");
  const std::string* secret_file = v.Get("network.secret-file");
  if (secret && secret_file)
    Fail("network.secret", "given together with network.secret-file, expected only one");
  if (secret) {
    ParseSecretHex("network.secret", *secret, c.secret);
  } else if (secret_file) {
    ParseSecretHex("network.secret-file", ReadSecretFile("network.secret-file", *secret_file),
                   c.secret);
  } else if (!c.cert_mode()) {
    Fail("network.secret",
         "missing, expected 64 hex characters, network.secret-file, or network.ca-file "
         "(certificate mode)");
  }
  if (const auto* s = v.Get("network.cipher")) {
    if (*s == "aes-256-gcm") {
      c.cipher = shm::Cipher::kAes256Gcm;
    } else if (*s == "chacha20-poly1305") {
      c.cipher = shm::Cipher::kChaCha20Poly1305;
    } else {
      Fail("network.cipher", "'" + *s + "' is unknown, expected aes-256-gcm or chacha20-poly1305");
    }
  }
  if (const auto* s = v.Get("network.crypto-backend")) {
    if (*s == "auto") {
      c.crypto_backend = CryptoBackend::kAuto;
    } else if (*s == "openssl") {
      c.crypto_backend = CryptoBackend::kOpenSsl;
    } else if (*s == "ipsec-mb") {
      c.crypto_backend = CryptoBackend::kIpsecMb;
    } else {
      Fail("network.crypto-backend", "'" + *s + "' is unknown, expected auto, openssl or ipsec-mb");
    }
  }
  v.Uint("network.hello-interval-ms", 10, 60000, c.hello_interval_ms);
  v.Uint("network.peer-timeout-ms", 100, 600000, c.peer_timeout_ms);
  v.Uint("network.rekey-interval-s", 1, 86400, c.rekey_interval_s);
  v.Uint64("network.rekey-after-packets", 1000, uint64_t{1} << 60, c.rekey_after_messages);
  if (c.peer_timeout_ms < 2 * c.hello_interval_ms)
    Fail("network.peer-timeout-ms",
         std::to_string(c.peer_timeout_ms) + " is too short, expected at least twice " +
             "network.hello-interval-ms (" + std::to_string(2 * c.hello_interval_ms) + ")");

  v.Uint("dataplane.burst", 1, 256, c.dp_burst);
  v.Uint("dataplane.spin-us", 0, 1000000, c.dp_spin_us);
  v.Uint("dataplane.idle-wait-ms", 0, 1000, c.dp_idle_wait_ms);
  v.Uint("dataplane.attach-timeout-ms", 0, 600000, c.dp_attach_timeout_ms);
  ParseDataplaneBackend(v, c);
  v.Uint("controlplane.poll-ms", 1, 1000, c.cp_poll_ms);
  v.Uint("controlplane.idle-poll-ms", 1, 1000, c.cp_idle_poll_ms);
  if (c.cp_idle_poll_ms < c.cp_poll_ms)
    Fail("controlplane.idle-poll-ms",
         std::to_string(c.cp_idle_poll_ms) + " is shorter than controlplane.poll-ms (" +
             std::to_string(c.cp_poll_ms) + "), expected at least that");

  ParsePeers(v.List("peer"), c);
  ParseOverlay(v, c);
  // Overlay messages are still authenticated by the overlay credential, in both modes: a node in
  // certificate mode must not run an overlay keyed by nothing.
  if (c.cert_mode() && c.overlay && !c.overlay_secret_set && !secret && !secret_file)
    Fail("overlay.secret",
         "missing: in certificate mode overlay messages are still authenticated with "
         "overlay.secret-file (or network.secret-file) until overlay links carry certificates; "
         "give one, or set overlay.enabled = false");
  ParseServices(v, c);
  ParseAnnounce(v, c);
  ParseFirewall(v, c);
  return c;
}

void ParseFirewall(const Values& v, NodeConfig& c) {
  for (const auto& [key, direction] :
       {std::pair{"firewall.inbound", shm::FwDirection::kInbound},
        std::pair{"firewall.outbound", shm::FwDirection::kOutbound}}) {
    for (const std::string& text : v.List(key)) {
      std::string error;
      std::optional<fw::Rule> rule = fw::ParseRule(direction, text, &error);
      if (!rule) Fail(key, "rule '" + text + "': " + error);
      c.firewall.push_back(std::move(*rule));
    }
  }
  if (c.firewall.size() > shm::kMaxFwRules)
    Fail("firewall", std::to_string(c.firewall.size()) + " rules, expected at most " +
                         std::to_string(shm::kMaxFwRules) + " (inbound and outbound together)");
}

constexpr const char* kInlineSecretKeys[] = {"network.secret", "overlay.secret"};

// An inline secret is accepted (existing configs keep working) but warned about where other
// local users can read it: on the command line (ps, /proc/PID/cmdline) or in a config file with
// group or other read permission. network.secret-file refuses such files outright.
std::vector<std::string> InlineSecretWarnings(const po::variables_map& cmd, const std::string& file,
                                              const std::vector<const char*>& inline_in_file) {
  std::vector<std::string> out;
  for (const char* key : kInlineSecretKeys) {
    if (cmd.count(key) == 0) continue;
    out.push_back(std::string(key) + " is given on the command line, where every local user can " +
                  "read it (ps, /proc/PID/cmdline); it is a credential: put it in " + key +
                  "-file (mode 0600) instead");
  }
  struct stat st {};
  if (inline_in_file.empty() || ::stat(file.c_str(), &st) != 0) return out;
  if ((st.st_mode & (S_IRGRP | S_IROTH)) == 0) return out;
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", unsigned(st.st_mode) & 07777);
  for (const char* key : inline_in_file) {
    out.push_back(std::string(key) + " is written in '" + file +
                  "', which is readable by group or other (mode " + mode +
                  "); it is a credential: chmod 600 " + file + ", or move it to " + key +
                  "-file (mode 0600)");
  }
  return out;
}

// Runs `parse` (which fills the variables map) and validation; converts every exception to text.
ConfigResult Run(const std::function<void(po::variables_map&)>& parse, std::string config_file) {
  ConfigResult r;
  try {
    po::variables_map vm;
    parse(vm);
    po::notify(vm);
    r.config = Validate(vm);
    r.config->config_file = std::move(config_file);
  } catch (const ConfigError& e) {
    r.error = e.message;
  } catch (const po::error& e) {
    r.error = BoostErrorText(e);
  } catch (const std::exception& e) {
    r.error = std::string("config: ") + e.what();
  }
  return r;
}

}  // namespace

ConfigResult ParseConfigText(const std::string& text) {
  return Run(
      [&](po::variables_map& vm) {
        std::istringstream in(text);
        po::store(po::parse_config_file(in, FileOptions(), false), vm);
      },
      "");
}

ConfigResult ParseConfig(int argc, const char* const* argv) {
  ConfigResult r;
  po::options_description all;
  po::variables_map cmd;
  try {
    all.add(GenericOptions()).add(FileOptions());
    // No abbreviations: a typo must be an error, not a guess.
    const int style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    const po::parsed_options parsed =
        po::command_line_parser(argc, argv).options(all).style(style).run();
    // Boost would silently drop a stray word, e.g. the second half of an unquoted --peer value.
    const auto stray = po::collect_unrecognized(parsed.options, po::include_positional);
    if (!stray.empty()) {
      r.error = "config: unexpected argument '" + stray.front() +
                "', expected --key value (quote values with spaces: --peer \"VIP HOST:PORT\")";
      return r;
    }
    po::store(parsed, cmd);
  } catch (const po::error& e) {
    r.error = BoostErrorText(e);
    return r;
  } catch (const std::exception& e) {
    r.error = std::string("config: ") + e.what();
    return r;
  }
  if (cmd.count("help")) {
    std::ostringstream out;
    out << "Usage: " << (argc > 0 && argv[0] ? argv[0] : "ipop")
        << " [--config FILE] [--key value]...\n"
        << all;
    r.help = out.str();
    return r;
  }
  std::string file;
  if (cmd.count("config")) file = cmd["config"].as<std::string>();
  std::vector<const char*> inline_in_file;
  r = Run(
      [&](po::variables_map& vm) {
        // Flags are stored first: Boost keeps the first value of a key, so flags win, and a
        // --peer list replaces the file's peers instead of merging with them.
        vm = cmd;
        if (file.empty()) return;
        std::ifstream in(file);
        if (!in) Fail("config", "cannot open '" + file + "': " + std::strerror(errno));
        po::store(po::parse_config_file(in, FileOptions(), false), vm);
        for (const char* key : kInlineSecretKeys)
          if (cmd.count(key) == 0 && vm.count(key) != 0) inline_in_file.push_back(key);
      },
      file);
  if (r.config) r.warnings = InlineSecretWarnings(cmd, file, inline_in_file);
  return r;
}

}  // namespace ipop

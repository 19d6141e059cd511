// Node configuration shared by both processes: a config file (INI, Boost.Program_options) plus
// command-line flags; flags win. Errors name the offending key.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/endpoint.h"
#include "shared/firewall.h"
#include "shared/shm_layout.h"

namespace ipop {

// Which library seals AES-256-GCM in the dataplane; ChaCha20-Poly1305 is always OpenSSL.
enum class CryptoBackend : uint8_t { kAuto, kOpenSsl, kIpsecMb };

// What the dataplane drives its packets with (docs/dpdk.md): io_uring over a TAP and a UDP socket,
// or DPDK ethdev ports whose underlay Ethernet/ARP/IPv4/UDP it runs itself.
enum class DataplaneBackend : uint8_t { kIoUring, kDpdk };

// A subnet behind this node (router mode), announced to the other members.
struct PrefixConfig {
  uint32_t prefix = 0;  // host order, masked
  uint8_t length = 0;   // 1..32
};

struct PeerConfig {
  uint32_t vip = 0;  // host order
  Endpoint endpoint;
};

struct NodeConfig {
  std::string name;  // node.name (required)
  // node.vip "a.b.c.d/len": a static address (claimed in the DHT like an allocated one); 0 when
  // absent: the address is allocated from network.pool through the DHT (docs/networks.md)
  uint32_t vip = 0;
  uint32_t prefix_len = 24;  // of the network's subnet
  uint32_t subnet = 0;       // network.subnet (host order, masked), or node.vip's subnet
  // network.pool "a.b.c.d-a.b.c.e" inside the subnet; default all its host addresses
  uint32_t pool_first = 0, pool_last = 0;
  uint32_t lease_s = 600;     // network.lease-s: address lease, DHT record TTL and DHCP lease
  std::string tap = "ipop0";  // node.tap
  Endpoint listen;            // node.listen, default 0.0.0.0:5800
  uint32_t mtu = 1400;        // node.mtu (inner MTU of the TAP), 576..9000
  uint32_t workers = 1;       // node.workers, 1..kMaxWorkers
  std::string shm_name;       // node.shm, default "/ipop-<name>"
  std::string mgmt_socket;    // node.mgmt-socket, default "/run/ipop/<name>.sock"
  std::string state_dir;      // node.state-dir, default "/var/lib/ipop/<name>" (revocations)
  // metrics.listen: where the Prometheus exporter listens (docs/metrics.md); none: off. Only a
  // loopback address unless metrics.allow-remote.
  std::optional<Endpoint> metrics_listen;
  bool metrics_allow_remote = false;
  bool assign_address = true;  // node.assign-address: control plane sets vip on the TAP
  shm::Cipher cipher = shm::Cipher::kAes256Gcm;  // network.cipher: aes-256-gcm | chacha20-poly1305
  // network.crypto-backend: auto | openssl | ipsec-mb (dataplane only; auto = ipsec-mb when
  // built in and its self-test passes, else openssl)
  CryptoBackend crypto_backend = CryptoBackend::kAuto;
  std::string network;               // network.name (required)
  std::array<uint8_t, 32> secret{};  // network.secret (64 hex) or network.secret-file
  // Router mode authorization (docs/operations.md): network.router-pubkey-file, the PEM Ed25519
  // public key whose signature members require on announcements; node.router-key-file, the
  // gateway's PEM private key that signs them. Empty: unset. Read by the control plane at start.
  std::string router_pubkey_file;
  std::string router_key_file;
  // Certificate mode (docs/pki.md), on when network.ca-file is set: paths of network.ca-file,
  // network.revocations-file, node.cert-file, node.key-file, overlay.ca-file (default
  // network.ca-file). The control plane reads them (controlplane/identity/node_identity.h).
  std::string ca_file;
  std::string revocations_file;
  std::string cert_file;
  std::string key_file;
  std::string overlay_ca_file;
  bool cert_mode() const { return !ca_file.empty(); }
  // network.service-ip: the node's own address on the TAP for DHCP, DNS and as the router the
  // host is told about; default the last host address of node.vip's subnet; 0 = none (/31, /32)
  uint32_t service_ip = 0;
  std::string dns_suffix = "ipop";  // network.dns-suffix: zone of C-names and node names
  // network.dns-forward: names outside the zone are refused (default), sent to the nameservers of
  // the node's /etc/resolv.conf, or to a list of upstreams "IP[:port] ..." (docs/dns.md)
  enum class DnsForward : uint8_t { kRefuse, kResolvConf, kServers };
  DnsForward dns_forward = DnsForward::kRefuse;
  std::vector<Endpoint> dns_upstreams;  // kServers: at most 8
  bool dhcp = true;                     // node.dhcp: answer DHCP on the TAP with node.vip
  uint32_t hello_interval_ms = 1000;    // network.hello-interval-ms
  uint32_t peer_timeout_ms = 5000;      // network.peer-timeout-ms
  // network.rekey-interval-s / network.rekey-after-packets: a session gets fresh keys (a new
  // ephemeral X25519 exchange) after this long or this many packets sealed, whichever is first
  uint32_t rekey_interval_s = 120;
  uint64_t rekey_after_messages = uint64_t{1} << 32;
  std::vector<PeerConfig> peers;  // peer = "VIP HOST:PORT", repeatable
  // [overlay] (docs/overlay.md)
  std::vector<Endpoint> bootstrap;     // bootstrap = "HOST:PORT", repeatable
  std::vector<PrefixConfig> announce;  // announce = "a.b.c.d/len", repeatable (router mode)
  bool overlay = true;                 // overlay.enabled
  // overlay.secret / overlay.secret-file: the credential of the overlay, shared by every node of
  // every network on it; unset: derived from network.secret (an overlay of one network)
  std::array<uint8_t, 32> overlay_secret{};
  bool overlay_secret_set = false;
  // overlay.address: 40 hex digits; empty = SHA-1 of "ipop node" || network.name || node.name
  std::array<uint8_t, 20> overlay_address{};
  bool overlay_address_set = false;
  uint32_t shortcut_pps = 10;  // overlay.shortcut-pps: relayed packets/s that make a direct link
  uint32_t dynamic_peer_idle_s = 120;  // overlay.peer-idle-s: forget an unused dynamic peer
  // overlay.far-links-per-log2: Symphony far links per log2(estimated size), 0..8 (0: ring only)
  double far_links_per_log2 = 1.0;
  uint32_t keepalive_s = 15;  // overlay.keepalive-s: idle links probed (holds NAT mappings)
  // [firewall] inbound = RULE / outbound = RULE, repeatable, in order (docs/firewall.md):
  // inbound rules first, then outbound; at most shm::kMaxFwRules in all
  std::vector<fw::Rule> firewall;
  // [dataplane]
  uint32_t dp_burst = 32;                 // dataplane.burst: packets per burst, 1..256
  uint32_t dp_spin_us = 50;               // dataplane.spin-us: busy-poll this long after last work
  uint32_t dp_idle_wait_ms = 100;         // dataplane.idle-wait-ms: max block while idle
  uint32_t dp_attach_timeout_ms = 15000;  // dataplane.attach-timeout-ms: wait for the shm region
  DataplaneBackend dp_backend = DataplaneBackend::kIoUring;  // dataplane.backend
  // DPDK backend (docs/dpdk.md); ignored by io_uring.
  std::string dp_eal_args;       // dataplane.eal-args: extra EAL arguments, space-separated
  std::string dp_underlay_port;  // dataplane.underlay-port: a PCI address or vdev devargs
  // dataplane.host-port: "tap" (a TAP PMD named node.tap), "vhost:PATH" (a vhost-user socket),
  // "none" (headless), or vdev devargs
  std::string dp_host_port = "tap";
  uint32_t dp_underlay_prefix = 24;  // dataplane.underlay-prefix: node.listen's on-link prefix
  uint32_t dp_underlay_gateway = 0;  // dataplane.underlay-gateway (host order; 0: learned)
  // dataplane.underlay-exception: "drop", or the name of a TAP the kernel gets the underlay's
  // other traffic (and IPv4 fragments) through
  std::string dp_exception = "drop";
  uint32_t dp_idle_poll_us = 5000;  // dataplane.idle-poll-us: longest sleep between polls
  // [controlplane]
  uint32_t cp_poll_ms = 2;         // controlplane.poll-ms: punt-ring poll period while busy
  uint32_t cp_idle_poll_ms = 25;   // controlplane.idle-poll-ms: poll period when idle
  std::string log_level = "info";  // node.log-level: debug | info | warn | error
  std::string config_file;         // where the file came from, for reloads
};

struct ConfigResult {
  std::optional<NodeConfig> config;
  std::string error;  // set when config is empty and not help
  std::string help;   // set when --help was given: print it and exit 0
  // With a config: what is accepted but unsafe (an inline secret other users can read); the
  // control plane logs each line at start and on reload.
  std::vector<std::string> warnings;
};

// argv[0] is ignored. `--config FILE` names the file; every file key is also a flag
// (--node.vip, --peer ...). Unknown keys are errors. An inline secret (network.secret,
// overlay.secret) given as a flag, or in a file readable by group or other, is a warning.
ConfigResult ParseConfig(int argc, const char* const* argv);
// Parses file text only (unit tests, reload): same validation.
ConfigResult ParseConfigText(const std::string& text);

}  // namespace ipop

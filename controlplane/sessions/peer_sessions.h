// Per-peer HELLO state and the forwarding table it produces (docs/control-protocol.md).
//
// Flow of one peer pair:
//   - We hold an ephemeral X25519 key pair per peer, made fresh for every session: when the peer
//     is added (configured, learned, re-learned), on every rekey, and when our dataplane restarts.
//     Every hello interval we send HELLO(our key for this peer, echo of the peer's public key,
//     our receiver index for the peer). A HELLO that reveals a public key we did not know is
//     answered at once.
//   - As soon as we know the peer's public key we derive both direction keys, allocate a receiver
//     index and install the receive session: the peer may start sending on it right away.
//   - We transmit with the new key only once the peer echoed OUR current public key (so it has
//     derived the same key and installed its receive session) and told us its index for us.
//   - Make-before-break: a replaced receive session stays in the table until the new one is
//     confirmed and then for a grace period of 2 x peer timeout; a replaced transmit key stays
//     published until the new one is ready.
//   - Rekey: once a transmit key is rekey_interval_ms old or has sealed rekey_after_messages
//     packets, we make a fresh key pair for that peer and handshake again (make-before-break).
//     A peer that shows a new public key while ours already keyed a session gets a fresh one of
//     ours too, so every session key comes from two key pairs used for nothing else.
// The invariant this gives (docs/control-protocol.md, "Nonces"): a key pair is used for exactly
// one pair of derived keys and a transmit key is published in exactly one table slot, whose
// dataplane counter never goes back; so no (key, nonce) pair can seal twice, across forgotten and
// re-learned peers, reloads, rekeys and restarts.
// Replayed HELLOs are refused by a ReplayGuard that outlives the peers it saw (forgetting a peer
// does not forget its timestamps).
// A restarted control plane inherits the running generation (peers still configured keep their
// entries and sessions) so the dataplane keeps forwarding while the new handshakes run.
// No sockets, no shared memory: time, randomness, crypto and output come in through interfaces.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "controlplane/identity/certificate.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/cp_counters.h"
#include "controlplane/runtime/log.h"
#include "controlplane/runtime/port.h"
#include "controlplane/runtime/random_source.h"
#include "controlplane/sessions/cert_hello_authenticator.h"
#include "controlplane/sessions/control_protocol.h"
#include "controlplane/sessions/hello_authenticator.h"
#include "controlplane/sessions/hello_relay.h"
#include "controlplane/sessions/key_derivation.h"
#include "controlplane/sessions/receiver_index_allocator.h"
#include "controlplane/sessions/replay_guard.h"
#include "shared/config.h"
#include "shared/table.h"

namespace ipop::cp {

struct PeerSessionsOptions {
  uint32_t local_vip = 0;  // host order
  uint32_t local_prefix_len = 24;
  uint32_t mtu = 1400;
  std::string network;
  shm::Cipher cipher = shm::Cipher::kAes256Gcm;
  uint32_t hello_interval_ms = 1000;
  uint32_t peer_timeout_ms = 5000;
  std::vector<PeerConfig> peers;
  // Accept authenticated HELLOs from VIPs that are not configured (overlay members) and keep
  // such learned peers until they go unused for learned_idle_ms.
  bool learn_peers = false;
  uint32_t learned_idle_ms = 120'000;
  // Rekey every session after this long or this many sealed packets, whichever comes first.
  uint32_t rekey_interval_ms = 120'000;
  uint64_t rekey_after_messages = uint64_t{1} << 32;
  // Peers whose HELLO timestamps the replay guard remembers (least recently heard evicted).
  size_t replay_senders = 4096;
  // The dataplane instance running when this control plane starts (RegionHeader::dp_instance):
  // inherited receive sessions are kept only if it is the one they were published for.
  uint64_t running_dp_instance = 0;

  static PeerSessionsOptions FromConfig(const NodeConfig& cfg);
};

struct ReconfigureSummary {
  uint32_t added = 0, removed = 0, changed = 0;
};

class PeerSessions {
 public:
  // Replaced receive sessions kept per peer besides the current one; older ones are evicted.
  static constexpr size_t kMaxRetiring = 2;

  // `inherit` is the generation the dataplane forwards with when this control plane starts
  // (nullptr if none): entries of peers still configured are adopted unchanged.
  PeerSessions(const PeerSessionsOptions& options, Clock& clock, RandomSource& random,
               const HelloAuthenticator& auth, const SessionKeySource& keys, Port& port,
               CpCounters& counters, const shm::Generation* inherit = nullptr);

  // Call every loop with RegionHeader::dp_instance. A new instance restarted its counters, so
  // every transmit key must change: we make a new key pair and re-handshake with everyone.
  void ObserveDataplaneInstance(uint64_t dp_instance);
  // Packets the dataplane sealed for a table slot so far (summed over workers, never going
  // back); without it only time triggers rekeys.
  using TxPacketsFn = std::function<uint64_t(uint32_t slot)>;
  void SetTxPackets(TxPacketsFn fn) { tx_packets_ = std::move(fn); }
  // A CONTROL datagram punted by the dataplane, received from `from`; or, with `via_overlay`, a
  // HELLO routed through the overlay from that node (`from` is the endpoint it reported).
  void OnControlDatagram(const Endpoint& from, std::span<const uint8_t> datagram,
                         const NodeAddress* via_overlay = nullptr);

  // Overlay peers (docs/overlay.md, "Data peers"). A learned peer is reached directly at its
  // endpoint or, `relayed`, through the overlay to its node: HELLOs as routed messages, data in
  // RELAY datagrams the dataplanes forward. Configured peers are never changed by these calls.
  void SetHelloRelay(HelloRelay* relay) { relay_ = relay; }
  // This node's address (allocated through the DHT, so it may come late, go and change): 0 sends
  // no HELLO; a different address than the sessions were made for starts every peer over.
  void SetLocalVip(uint32_t vip);
  uint32_t local_vip() const { return options_.local_vip; }
  // false if the VIP is ours, already known, or no slot is free.
  bool AddLearnedPeer(uint32_t vip, const NodeAddress& node, const Endpoint& endpoint,
                      bool relayed);
  void SetPath(uint32_t vip, bool relayed, const Endpoint& endpoint);
  // Drops a learned peer (its address moved to another node); false if none or configured.
  bool ForgetLearnedPeer(uint32_t vip);
  // Traffic flowed to or from the peer: a learned peer in use is not forgotten.
  void MarkUsed(uint32_t vip);
  // Router mode: subnets other members announced, each routed to the peer `via` (a VIP) while
  // that peer is known. Replaces the previous set.
  struct PrefixRoute {
    uint32_t prefix = 0;
    uint8_t length = 0;
    uint32_t via = 0;
    bool operator==(const PrefixRoute&) const = default;
  };
  void SetPrefixRoutes(std::vector<PrefixRoute> routes);
  const std::vector<PrefixRoute>& prefix_routes() const { return prefix_routes_; }
  // Sends due HELLOs, updates liveness, retires sessions whose grace period ended.
  void Tick();
  // New peer list and timers (reload). Peers are matched by VIP; a changed endpoint counts as a
  // change and is used at once.
  ReconfigureSummary Reconfigure(const std::vector<PeerConfig>& peers, uint32_t hello_interval_ms,
                                 uint32_t peer_timeout_ms);

  // True when BuildSpec() would differ from the last published table.
  bool spec_changed() const { return dirty_; }
  shm::TableSpec BuildSpec() const;
  void MarkPublished() { dirty_ = false; }

  struct PeerStatus {
    uint32_t vip = 0;
    uint32_t slot = 0;  // peer id in the table (index of WorkerCounters::peer)
    Endpoint endpoint;
    bool up = false;
    bool heard = false;              // any HELLO accepted since start
    uint64_t last_hello_age_ns = 0;  // valid when heard
    bool tx_ready = false;           // transmit key from a handshake of this process
    bool tx_published = false;       // some transmit key is published (maybe inherited)
    bool tx_inherited = false;
    uint32_t rx_index = 0;       // current receive session, 0 if none
    uint64_t tx_key_id = 0;      // published transmit key, 0 if none
    uint64_t tx_key_age_ns = 0;  // since the current transmit key became ready (0: inherited)
    uint32_t tx_remote_index = 0;
    uint32_t retiring = 0;  // old receive sessions still installed
    bool learned = false;   // from the overlay, not the config
    bool relayed = false;   // data goes through the overlay
    bool node_known = false;
    NodeAddress node{};     // the peer's overlay node, when known
    std::string cert_name;  // certificate mode: the name in the peer's verified certificate
  };
  std::vector<PeerStatus> Status() const;
  // Certificate mode: the verified certificate of the peer at `vip` (name, groups, VIPs), from
  // its last accepted HELLO; null in PSK mode or before one.
  const identity::Certificate* PeerCertificate(uint32_t vip) const;
  // Certificate mode: ends every session with a peer whose certificate has key id `subject` (a
  // revoked certificate): learned peers are forgotten, configured ones start over and must show
  // a valid chain again. Returns how many peers were affected.
  size_t DropSubject(const identity::KeyId& subject);
  size_t peers_up() const;
  size_t peer_count() const { return peers_.size(); }
  // Our current public key for peer `vip` (zeros if none).
  PublicKey local_public(uint32_t vip) const;
  uint64_t dp_instance() const { return dp_instance_; }
  const PeerSessionsOptions& options() const { return options_; }

 private:
  struct RxSession {
    uint32_t index = 0;
    DirectionKey key;
    shm::Cipher cipher = shm::Cipher::kAes256Gcm;
    uint64_t expires_ns = 0;  // retiring only: 0 = until the current session is confirmed
  };
  struct TxState {
    bool ready = false;
    DirectionKey key;
    shm::Cipher cipher = shm::Cipher::kAes256Gcm;
    uint32_t remote_index = 0;
    uint64_t dp_instance = 0;  // dataplane instance the key was first published for
    bool inherited = false;
  };
  struct Peer {
    uint32_t vip = 0;
    uint32_t slot = 0;
    Endpoint configured;  // from the config: always greeted as well
    Endpoint endpoint;    // where we send: configured, inherited or learned by roaming
    bool public_known = false;
    PublicKey public_key{};  // the peer's current ephemeral key
    bool ts_known = false;
    uint64_t last_ts = 0;  // peer's timestamp of the last accepted HELLO
    bool heard = false;
    bool up = false;
    uint64_t last_heard_ns = 0;
    X25519KeyPair local_key;       // ours for this peer: fresh per session (see the top)
    bool local_key_spent = false;  // a transmit key derived from it became ready
    bool keys_derived = false;
    SessionKeys keys;        // for (our current key pair, peer's public key)
    bool confirmed = false;  // peer echoed our current public key since keys were derived
    std::optional<RxSession> rx;
    std::vector<RxSession> retiring;  // oldest first
    TxState tx;
    uint64_t tx_since_ns = 0;        // the current transmit key became ready (rekey timer)
    uint64_t tx_packets_at_key = 0;  // the slot's sealed packets then (rekey by volume)
    uint64_t next_hello_ns = 0;
    uint64_t last_immediate_ns = 0;
    bool immediate_sent = false;
    bool learned = false;
    bool relayed = false;
    bool node_known = false;
    NodeAddress node{};
    uint64_t last_used_ns = 0;  // learned peers: creation or last traffic
    // Certificate mode: the peer's verified certificate and the chain it came in (used to check
    // HELLOs that leave the chain out); whether its last HELLO echoed our current key (it holds
    // our chain), and when and which generation of our chain we last sent it.
    std::optional<identity::Certificate> cert;
    std::vector<uint8_t> chain;
    bool echoes_current = false;
    uint64_t chain_sent_ns = 0;
    uint64_t chain_sent_generation = 0;
  };

  void AddPeer(const PeerConfig& pc, std::optional<uint32_t> slot);
  void ErasePeer(std::map<uint32_t, Peer>::iterator it);
  void AdoptGeneration(const shm::Generation& g);
  void NewLocalKey(Peer& p);
  void Rekey(Peer& p, const char* why);
  void StartOver();
  void InstallRx(Peer& p);
  void RetireRx(Peer& p, RxSession s);
  void OnHello(const Endpoint& from, const Hello& h, const NodeAddress* via_overlay,
               const CertHelloVerdict* cert, std::span<const uint8_t> chain);
  // Certificate mode: whether the next HELLO to `p` carries our chain.
  bool ChainDue(const Peer& p, uint64_t now) const;
  Peer* Learn(uint32_t vip, const Endpoint& endpoint, const NodeAddress* node, bool relayed,
              std::optional<uint32_t> slot);
  void SendHello(Peer& p);
  uint64_t NextTimestamp();
  uint64_t grace_ns() const { return 2ull * options_.peer_timeout_ms * 1'000'000ull; }
  uint64_t timeout_ns() const { return uint64_t{options_.peer_timeout_ms} * 1'000'000ull; }
  uint64_t interval_ns() const { return uint64_t{options_.hello_interval_ms} * 1'000'000ull; }
  uint64_t rekey_ns() const { return uint64_t{options_.rekey_interval_ms} * 1'000'000ull; }

  PeerSessionsOptions options_;
  Clock& clock_;
  RandomSource& random_;
  const HelloAuthenticator& auth_;
  const CertHelloAuthenticator* cert_auth_;  // certificate mode; null in PSK mode
  const SessionKeySource& keys_;
  Port& port_;
  CpCounters& counters_;
  uint64_t network_hash_;
  uint8_t gateway_mac_[6];

  uint64_t dp_instance_ = 0;
  uint64_t last_sent_ts_ = 0;
  std::map<uint32_t, Peer> peers_;  // by VIP
  std::vector<bool> slot_used_;
  ReceiverIndexAllocator indexes_;
  bool dirty_ = true;
  RateLimiter packet_log_;
  HelloRelay* relay_ = nullptr;
  std::vector<PrefixRoute> prefix_routes_;
  uint32_t bound_vip_ = 0;   // the local VIP the current sessions were keyed for
  ReplayGuard hello_guard_;  // by sender VIP; outlives forgotten peers
  TxPacketsFn tx_packets_;
};

}  // namespace ipop::cp

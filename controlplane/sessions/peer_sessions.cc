#include "controlplane/sessions/peer_sessions.h"

#include <openssl/crypto.h>

#include <cstddef>
#include <cstring>

#include "controlplane/sessions/network_id.h"

namespace ipop::cp {
namespace {

uint32_t RandomU32(RandomSource& random) {
  uint8_t b[4];
  random.Fill(b);
  return wire::LoadBe32(b);
}

// Key material leaves memory with the session that held it.
void Wipe(DirectionKey& k) {
  OPENSSL_cleanse(&k, sizeof(k));
}

bool ValidCipher(uint8_t c) {
  return c == uint8_t(shm::Cipher::kAes256Gcm) || c == uint8_t(shm::Cipher::kChaCha20Poly1305);
}

CpCounter CounterFor(HelloError e) {
  switch (e) {
    case HelloError::kTooShort:
      return CpCounter::hello_too_short;
    case HelloError::kTrailingBytes:
      return CpCounter::hello_trailing_bytes;
    case HelloError::kBadHeader:
      return CpCounter::hello_bad_header;
    case HelloError::kBadType:
      return CpCounter::hello_bad_type;
    case HelloError::kBadReserved:
      return CpCounter::hello_bad_reserved;
    case HelloError::kWrongNetwork:
      return CpCounter::hello_wrong_network;
    case HelloError::kBadMac:
    case HelloError::kNone:
      return CpCounter::hello_bad_mac;
    case HelloError::kZeroPublicKey:
      return CpCounter::hello_zero_public_key;
    case HelloError::kNoChain:
      return CpCounter::hello_chain_missing;
    case HelloError::kBadChain:
      return CpCounter::hello_bad_chain;
    case HelloError::kVipNotAllowed:
      return CpCounter::hello_vip_not_allowed;
    case HelloError::kCertRefused:
      return CpCounter::hello_cert_invalid;  // refined by CounterFor(ChainError)
  }
  return CpCounter::hello_bad_mac;
}

CpCounter CounterFor(identity::ChainError e) {
  switch (e) {
    case identity::ChainError::kUnknownIssuer:
    case identity::ChainError::kRootNotTrusted:
      return CpCounter::hello_cert_unknown_issuer;
    case identity::ChainError::kExpired:
      return CpCounter::hello_cert_expired;
    case identity::ChainError::kNotYetValid:
      return CpCounter::hello_cert_not_yet_valid;
    case identity::ChainError::kRevoked:
      return CpCounter::hello_cert_revoked;
    case identity::ChainError::kWrongNetwork:
      return CpCounter::hello_cert_wrong_network;
    default:
      return CpCounter::hello_cert_invalid;
  }
}

// Our chain rides along again this often even to peers that hold it, so a peer that lost it
// (or holds an older one that expired) is never stuck refusing chain-less HELLOs for long.
constexpr uint64_t kChainRefreshNs = 30'000'000'000ull;

}  // namespace

PeerSessionsOptions PeerSessionsOptions::FromConfig(const NodeConfig& cfg) {
  PeerSessionsOptions o;
  o.local_vip = cfg.vip;
  o.local_prefix_len = cfg.prefix_len;
  o.mtu = cfg.mtu;
  o.network = cfg.network;
  o.cipher = cfg.cipher;
  o.hello_interval_ms = cfg.hello_interval_ms;
  o.peer_timeout_ms = cfg.peer_timeout_ms;
  o.peers = cfg.peers;
  o.learn_peers = cfg.overlay;
  o.learned_idle_ms = cfg.dynamic_peer_idle_s * 1000;
  o.rekey_interval_ms = cfg.rekey_interval_s * 1000;
  o.rekey_after_messages = cfg.rekey_after_messages;
  return o;
}

PeerSessions::PeerSessions(const PeerSessionsOptions& options, Clock& clock, RandomSource& random,
                           const HelloAuthenticator& auth, const SessionKeySource& keys, Port& port,
                           CpCounters& counters, const shm::Generation* inherit)
    : options_(options),
      clock_(clock),
      random_(random),
      auth_(auth),
      cert_auth_(auth.carries_chain() ? dynamic_cast<const CertHelloAuthenticator*>(&auth)
                                      : nullptr),
      keys_(keys),
      port_(port),
      counters_(counters),
      network_hash_(NetworkHash(options.network)),
      slot_used_(shm::kMaxPeers, false),
      indexes_(RandomU32(random)),
      hello_guard_(clock.WallNs(), options.replay_senders) {
  if (options_.hello_interval_ms == 0) options_.hello_interval_ms = 1;
  GatewayMac(options_.network, gateway_mac_);
  // Inherited peers first so they keep their slots (their dataplane counters stay theirs).
  if (inherit != nullptr) AdoptGeneration(*inherit);
  bound_vip_ = inherit != nullptr ? inherit->hdr.local_vip : options_.local_vip;
  for (const PeerConfig& pc : options_.peers)
    if (peers_.find(pc.vip) == peers_.end()) AddPeer(pc, std::nullopt);
  if (options_.local_vip != 0 && bound_vip_ != options_.local_vip) StartOver();
  if (options_.local_vip != 0) bound_vip_ = options_.local_vip;
}

void PeerSessions::SetLocalVip(uint32_t vip) {
  if (vip == options_.local_vip) return;
  options_.local_vip = vip;
  dirty_ = true;
  if (vip == 0) return;  // withdrawn: Tick sends nothing until an address is back
  if (auto it = peers_.find(vip); it != peers_.end()) ErasePeer(it);
  if (bound_vip_ != 0 && bound_vip_ != vip) StartOver();
  bound_vip_ = vip;
}

// Sessions are keyed for (our VIP, the peer's VIP) and peers know us by our old address: a new
// address means new handshakes with everyone, under new key pairs.
void PeerSessions::StartOver() {
  IPOP_LOG_INFO("local address %s -> %s: new key pairs, %zu peers start over",
                FormatIpv4(bound_vip_).c_str(), FormatIpv4(options_.local_vip).c_str(),
                peers_.size());
  for (auto it = peers_.begin(); it != peers_.end();) ErasePeer(it++);
  counters_.Bump(CpCounter::local_rekeys);
  for (const PeerConfig& pc : options_.peers)
    if (pc.vip != options_.local_vip) AddPeer(pc, std::nullopt);
}

// The old pair is destroyed (its private key cleared) as the new one replaces it. If libcrypto
// fails the pair stays empty: every derivation fails and is counted, and HELLOs carry a zero key
// that peers reject, so nothing is ever sealed with a predictable key.
void PeerSessions::NewLocalKey(Peer& p) {
  p.local_key_spent = false;
  if (!p.local_key.Generate(random_)) {
    counters_.Bump(CpCounter::key_derivation_failed);
    IPOP_LOG_ERROR("could not make an X25519 key pair for peer %s; it cannot be keyed",
                   FormatIpv4(p.vip).c_str());
  }
}

PublicKey PeerSessions::local_public(uint32_t vip) const {
  const auto it = peers_.find(vip);
  return it == peers_.end() ? PublicKey{} : it->second.local_key.public_key();
}

void PeerSessions::AddPeer(const PeerConfig& pc, std::optional<uint32_t> slot) {
  if (pc.vip == options_.local_vip || pc.vip == 0) {
    IPOP_LOG_WARN("peer %s is this node's own address; ignored", FormatIpv4(pc.vip).c_str());
    return;
  }
  if (!slot) {
    for (uint32_t s = 0; s < slot_used_.size(); ++s) {
      if (!slot_used_[s]) {
        slot = s;
        break;
      }
    }
    if (!slot) {
      IPOP_LOG_ERROR("more than %u peers configured; %s ignored", shm::kMaxPeers,
                     FormatIpv4(pc.vip).c_str());
      return;
    }
  }
  slot_used_[*slot] = true;
  Peer p;
  p.vip = pc.vip;
  p.slot = *slot;
  p.configured = pc.endpoint;
  p.endpoint = pc.endpoint;
  p.next_hello_ns = clock_.NowNs();  // greet new peers on the next Tick
  NewLocalKey(p);  // a peer added again never meets the keys of its earlier sessions
  peers_.emplace(pc.vip, std::move(p));
  dirty_ = true;
}

PeerSessions::Peer* PeerSessions::Learn(uint32_t vip, const Endpoint& endpoint,
                                        const NodeAddress* node, bool relayed,
                                        std::optional<uint32_t> slot) {
  if (!options_.learn_peers || vip == options_.local_vip || vip == 0 || peers_.count(vip) != 0)
    return nullptr;
  AddPeer(PeerConfig{vip, endpoint}, slot);
  auto it = peers_.find(vip);
  if (it == peers_.end()) return nullptr;
  Peer& p = it->second;
  p.learned = true;
  p.node_known = node != nullptr;
  if (node != nullptr) p.node = *node;
  p.relayed = relayed && node != nullptr;
  p.last_used_ns = clock_.NowNs();
  counters_.Bump(CpCounter::peers_learned);
  IPOP_LOG_INFO("peer %s learned through the overlay, %s %s", FormatIpv4(vip).c_str(),
                p.relayed ? "relayed; node at" : "direct at", endpoint.ToString().c_str());
  return &p;
}

bool PeerSessions::AddLearnedPeer(uint32_t vip, const NodeAddress& node, const Endpoint& endpoint,
                                  bool relayed) {
  return Learn(vip, endpoint, &node, relayed, std::nullopt) != nullptr;
}

void PeerSessions::SetPath(uint32_t vip, bool relayed, const Endpoint& endpoint) {
  auto it = peers_.find(vip);
  if (it == peers_.end() || !it->second.learned) return;
  Peer& p = it->second;
  if (relayed && !p.node_known) return;
  const bool moved = !relayed && p.endpoint != endpoint;
  if (p.relayed == relayed && !moved) return;
  if (p.relayed != relayed) {
    counters_.Bump(CpCounter::path_changes);
    IPOP_LOG_INFO(
        "peer %s now %s", FormatIpv4(vip).c_str(),
        relayed ? "relayed through the overlay" : ("direct at " + endpoint.ToString()).c_str());
  }
  p.relayed = relayed;
  if (!relayed) {
    p.endpoint = endpoint;
    p.configured = endpoint;
  }
  // Greet over the new path at once: the keys stay, only the way packets travel changes.
  p.next_hello_ns = clock_.NowNs();
  dirty_ = true;
}

void PeerSessions::SetPrefixRoutes(std::vector<PrefixRoute> routes) {
  if (routes == prefix_routes_) return;
  prefix_routes_ = std::move(routes);
  dirty_ = true;
}

bool PeerSessions::ForgetLearnedPeer(uint32_t vip) {
  auto it = peers_.find(vip);
  if (it == peers_.end() || !it->second.learned) return false;
  counters_.Bump(CpCounter::peers_forgotten);
  ErasePeer(it);
  return true;
}

void PeerSessions::MarkUsed(uint32_t vip) {
  auto it = peers_.find(vip);
  if (it != peers_.end()) it->second.last_used_ns = clock_.NowNs();
}

void PeerSessions::ErasePeer(std::map<uint32_t, Peer>::iterator it) {
  Peer& p = it->second;
  if (p.rx) {
    indexes_.Release(p.rx->index);
    Wipe(p.rx->key);
  }
  for (RxSession& s : p.retiring) {
    indexes_.Release(s.index);
    Wipe(s.key);
  }
  Wipe(p.keys.tx);
  Wipe(p.keys.rx);
  Wipe(p.tx.key);
  slot_used_[p.slot] = false;
  peers_.erase(it);
  dirty_ = true;
}

// Everything read here comes from shared memory another process wrote: every count, index and
// enum is checked, and only entries of peers still in our config are kept.
void PeerSessions::AdoptGeneration(const shm::Generation& g) {
  const uint32_t n_peers = g.hdr.n_peers;
  if (n_peers > shm::kMaxPeers) {
    counters_.Bump(CpCounter::inherit_rejected);
    IPOP_LOG_WARN("running table claims %u peers (max %u); not inherited", n_peers, shm::kMaxPeers);
    return;
  }
  std::vector<bool> adopted(n_peers, false);
  for (uint32_t i = 0; i < n_peers; ++i) {
    const shm::PeerEntry& e = g.peers[i];
    if ((e.flags & shm::kPeerValid) == 0) continue;
    const PeerConfig* pc = nullptr;
    for (const PeerConfig& c : options_.peers)
      if (c.vip == e.vip) pc = &c;
    if ((pc == nullptr && !options_.learn_peers) || peers_.count(e.vip) != 0 ||
        e.vip == options_.local_vip || !ValidCipher(e.cipher)) {
      counters_.Bump(CpCounter::inherit_rejected);  // removed from the config, or malformed
      continue;
    }
    if (pc != nullptr) {
      AddPeer(*pc, i);
    } else {
      // A peer the previous control plane learned through the overlay: keep it forwarding.
      Endpoint ep;
      std::memcpy(ep.addr, e.underlay_addr, sizeof(ep.addr));
      ep.port = e.underlay_port;
      NodeAddress node;
      std::memcpy(node.data(), e.relay_dst, node.size());
      const bool relayed = (e.flags & shm::kPeerRelayed) != 0;
      Learn(e.vip, ep, relayed ? &node : nullptr, relayed, i);
    }
    auto added = peers_.find(e.vip);
    if (added == peers_.end()) {  // AddPeer refused it (e.g. the node's own address)
      counters_.Bump(CpCounter::inherit_rejected);
      continue;
    }
    Peer& p = added->second;
    std::memcpy(p.endpoint.addr, e.underlay_addr, sizeof(p.endpoint.addr));
    p.endpoint.port = e.underlay_port;
    if ((e.flags & shm::kPeerTxReady) != 0) {
      p.tx.ready = true;
      p.tx.inherited = true;
      std::memcpy(p.tx.key.key, e.tx_key, sizeof(e.tx_key));
      std::memcpy(p.tx.key.salt, e.tx_salt, sizeof(e.tx_salt));
      p.tx.key.key_id = e.tx_key_id;
      p.tx.cipher = shm::Cipher(e.cipher);
      p.tx.remote_index = e.tx_remote_index;
      p.tx.dp_instance = e.dp_instance;
    }
    adopted[i] = true;
    counters_.Bump(CpCounter::inherited_peers);
  }
  // Receive sessions only for the dataplane that holds their replay windows.
  const bool same_dataplane =
      g.hdr.dp_instance != 0 && g.hdr.dp_instance == options_.running_dp_instance;
  for (uint32_t index = 1; index < shm::kMaxSessions; ++index) {
    const shm::SessionEntry& s = g.sessions[index];
    if ((s.flags & shm::kSessionValid) == 0) continue;
    if (!same_dataplane) {
      counters_.Bump(CpCounter::rx_sessions_flushed);
      continue;
    }
    if (s.peer >= n_peers || !adopted[s.peer] || !ValidCipher(s.cipher)) {
      counters_.Bump(CpCounter::inherit_rejected);
      continue;
    }
    Peer& p = peers_.at(g.peers[s.peer].vip);
    if (p.retiring.size() >= kMaxRetiring || !indexes_.Reserve(index)) {
      counters_.Bump(CpCounter::inherit_rejected);
      continue;
    }
    RxSession rx;
    rx.index = index;
    std::memcpy(rx.key.key, s.rx_key, sizeof(s.rx_key));
    std::memcpy(rx.key.salt, s.rx_salt, sizeof(s.rx_salt));
    rx.key.key_id = s.key_id;
    rx.cipher = shm::Cipher(s.cipher);
    rx.expires_ns = 0;  // kept until our new session with this peer is confirmed
    p.retiring.push_back(rx);
    counters_.Bump(CpCounter::inherited_sessions);
  }
}

void PeerSessions::RetireRx(Peer& p, RxSession s) {
  s.expires_ns = 0;
  if (p.retiring.size() >= kMaxRetiring) {
    indexes_.Release(p.retiring.front().index);
    Wipe(p.retiring.front().key);
    p.retiring.erase(p.retiring.begin());
    counters_.Bump(CpCounter::rx_sessions_evicted);
  }
  p.retiring.push_back(s);
}

// Derives the keys for (our key pair, the peer's public key) and installs the receive side under a
// fresh index; the previous receive session, if any, starts retiring.
void PeerSessions::InstallRx(Peer& p) {
  p.confirmed = false;
  p.keys_derived = false;
  SessionKeyInput in;
  in.local = &p.local_key;
  in.peer_public = p.public_key;
  in.local_vip = options_.local_vip;
  in.peer_vip = p.vip;
  if (cert_auth_ != nullptr) {
    in.local_key_id = cert_auth_->identity().key_id();
    if (p.cert) in.peer_key_id = p.cert->key_id();
  }
  SessionKeys derived;
  if (!keys_.Derive(in, &derived)) {
    counters_.Bump(CpCounter::key_derivation_failed);
    IPOP_LOG_ERROR("key derivation for peer %s failed", FormatIpv4(p.vip).c_str());
    return;
  }
  const uint32_t index = indexes_.Allocate();
  if (index == 0) {
    counters_.Bump(CpCounter::index_exhausted);
    IPOP_LOG_ERROR("no free receiver index for peer %s", FormatIpv4(p.vip).c_str());
    return;
  }
  if (p.rx) RetireRx(p, *p.rx);
  RxSession rx;
  rx.index = index;
  rx.key = derived.rx;
  rx.cipher = options_.cipher;
  p.rx = rx;
  p.keys = derived;
  p.keys_derived = true;
  counters_.Bump(CpCounter::rx_sessions_installed);
  dirty_ = true;
}

void PeerSessions::ObserveDataplaneInstance(uint64_t dp_instance) {
  if (dp_instance == dp_instance_) return;
  const uint64_t previous = dp_instance_;
  dp_instance_ = dp_instance;
  if (previous == 0) {
    // Keys published while no dataplane ran were never used to seal anything (a dataplane only
    // seals with entries bound to its own instance), so they may be bound to the new one.
    for (auto& [vip, p] : peers_) {
      if (p.tx.ready && p.tx.dp_instance == 0) {
        p.tx.dp_instance = dp_instance;
        dirty_ = true;
      }
    }
    return;
  }
  // The dataplane restarted (or went away): its transmit counters start again from zero, so
  // no key it may have used can be used again. New key pairs change every key.
  counters_.Bump(CpCounter::local_rekeys);
  IPOP_LOG_INFO(
      "dataplane instance changed (%016llx -> %016llx): new key pairs, re-keying %zu peers",
      (unsigned long long)previous, (unsigned long long)dp_instance, peers_.size());
  // The new dataplane's replay windows start empty: a receive session kept from before would
  // accept a replay of any packet recorded under it once more. So no make-before-break here; the
  // peers switch to the new sessions within a round trip of the HELLOs sent right away.
  const uint64_t now = clock_.NowNs();
  for (auto& [vip, p] : peers_) {
    uint64_t flushed = p.retiring.size();
    for (RxSession& s : p.retiring) {
      indexes_.Release(s.index);
      Wipe(s.key);
    }
    p.retiring.clear();
    if (p.rx) {
      indexes_.Release(p.rx->index);
      Wipe(p.rx->key);
      p.rx.reset();
      ++flushed;
    }
    counters_.Bump(CpCounter::rx_sessions_flushed, flushed);
    NewLocalKey(p);
    if (p.public_known) InstallRx(p);
    p.next_hello_ns = now;
  }
  dirty_ = true;
}

void PeerSessions::OnControlDatagram(const Endpoint& from, std::span<const uint8_t> datagram,
                                     const NodeAddress* via_overlay) {
  counters_.Bump(CpCounter::hello_received);
  if (via_overlay != nullptr) counters_.Bump(CpCounter::hello_via_overlay);
  Hello h;
  CertHelloVerdict verdict;
  std::span<const uint8_t> chain;
  HelloError err;
  if (cert_auth_ != nullptr) {
    err = DecodeCertHello(
        datagram, network_hash_, *cert_auth_,
        [this](uint32_t vip) {
          const auto it = peers_.find(vip);
          return it == peers_.end() ? std::span<const uint8_t>{}
                                    : std::span<const uint8_t>(it->second.chain);
        },
        &h, &verdict, &chain);
  } else {
    err = DecodeHello(datagram, network_hash_, auth_, &h);
  }
  if (err != HelloError::kNone) {
    counters_.Bump(err == HelloError::kCertRefused ? CounterFor(verdict.chain_error)
                                                   : CounterFor(err));
    uint64_t suppressed = 0;
    if (LogEnabled(LogLevel::kDebug) && packet_log_.Allow(clock_.NowNs(), &suppressed))
      IPOP_LOG_DEBUG("dropped control datagram from %s: %s (%llu similar suppressed)",
                     from.ToString().c_str(), HelloErrorName(err), (unsigned long long)suppressed);
    return;
  }
  OnHello(from, h, via_overlay, cert_auth_ != nullptr ? &verdict : nullptr, chain);
}

void PeerSessions::OnHello(const Endpoint& from, const Hello& h, const NodeAddress* via_overlay,
                           const CertHelloVerdict* cert, std::span<const uint8_t> chain) {
  const uint64_t now = clock_.NowNs();
  uint64_t suppressed = 0;
  if (h.receiver_vip != options_.local_vip) {
    counters_.Bump(CpCounter::hello_wrong_receiver);
    return;
  }
  // Before anything moves: a HELLO is accepted once, whether or not we still know its sender.
  const ReplayVerdict fresh =
      hello_guard_.Check(ReplayGuard::KeyOfVip(h.sender_vip), h.timestamp_ns, clock_.WallNs());
  if (fresh != ReplayVerdict::kFresh) {
    counters_.Bump(fresh == ReplayVerdict::kReplayed ? CpCounter::hello_stale
                   : fresh == ReplayVerdict::kTooOld ? CpCounter::hello_too_old
                                                     : CpCounter::hello_clock_ahead);
    if (fresh == ReplayVerdict::kAhead && packet_log_.Allow(now, &suppressed))
      IPOP_LOG_WARN(
          "HELLO from %s (vip %s) is stamped %.0f s in our future; synchronise the clocks",
          from.ToString().c_str(), FormatIpv4(h.sender_vip).c_str(),
          double(h.timestamp_ns - clock_.WallNs()) / 1e9);
    return;
  }
  auto it = peers_.find(h.sender_vip);
  if (it == peers_.end() && options_.learn_peers && h.cipher == uint8_t(options_.cipher)) {
    // An overlay member greets us first (it resolved our VIP): authenticated, so learn it on the
    // path the HELLO took.
    if (Learn(h.sender_vip, from, via_overlay, via_overlay != nullptr, std::nullopt) != nullptr)
      it = peers_.find(h.sender_vip);
  }
  if (it == peers_.end()) {
    counters_.Bump(CpCounter::hello_unknown_peer);
    if (packet_log_.Allow(now, &suppressed))
      IPOP_LOG_WARN("HELLO from %s (vip %s) which is not a configured peer",
                    from.ToString().c_str(), FormatIpv4(h.sender_vip).c_str());
    return;
  }
  Peer& p = it->second;
  if (h.cipher != uint8_t(options_.cipher)) {
    counters_.Bump(CpCounter::hello_cipher_mismatch);
    if (packet_log_.Allow(now, &suppressed))
      IPOP_LOG_WARN("peer %s uses another network.cipher (%u); fix the configs",
                    FormatIpv4(p.vip).c_str(), unsigned(h.cipher));
    return;
  }
  // Strictly newer than anything accepted from this peer: a replayed HELLO can neither bring back
  // an old public key (old keys) nor keep a dead peer "up" nor redirect its endpoint.
  if (p.ts_known && h.timestamp_ns <= p.last_ts) {
    counters_.Bump(CpCounter::hello_stale);
    return;
  }
  p.ts_known = true;
  p.last_ts = h.timestamp_ns;
  // Certificate mode: the peer's certificate is the one this HELLO was verified with. Another
  // certified key at this VIP (a pool address moved) must not inherit the old key's sessions.
  bool new_subject = false;
  if (cert != nullptr && cert->cert) {
    new_subject = !p.cert || p.cert->key_id() != cert->cert->key_id();
    p.cert = cert->cert;
    if (!chain.empty()) p.chain.assign(chain.begin(), chain.end());
  }
  p.echoes_current = !IsZero(h.echo_public) && h.echo_public == p.local_key.public_key();
  p.heard = true;
  p.last_heard_ns = now;
  counters_.Bump(CpCounter::hello_accepted);
  if (!p.up) {
    p.up = true;
    counters_.Bump(CpCounter::peer_up);
    IPOP_LOG_INFO("peer %s up at %s", FormatIpv4(p.vip).c_str(), from.ToString().c_str());
  }
  if (via_overlay != nullptr) {
    // Routed HELLOs say which node the peer is; its data path is SetPath's business.
    if (!p.node_known || p.node != *via_overlay) {
      p.node_known = true;
      p.node = *via_overlay;
      dirty_ = p.relayed || dirty_;
    }
    if (p.learned && p.relayed) p.endpoint = from;  // where a shortcut would go
  } else if (p.learned && p.relayed) {
    // Direct HELLO from a relayed peer: remember the address; SetPath switches when linked.
    p.endpoint = from;
  } else if (from != p.endpoint) {
    counters_.Bump(CpCounter::endpoint_changes);
    if (packet_log_.Allow(now, &suppressed))
      IPOP_LOG_INFO("peer %s moved from %s to %s", FormatIpv4(p.vip).c_str(),
                    p.endpoint.ToString().c_str(), from.ToString().c_str());
    p.endpoint = from;
    dirty_ = true;
  }

  bool reply_now = false;
  bool key_news = false;
  if (!p.public_known || p.public_key != h.sender_public || new_subject) {
    if (p.public_known) {
      counters_.Bump(CpCounter::peer_key_changes);
      IPOP_LOG_DEBUG("peer %s restarted or rekeyed (new public key); re-keying",
                     FormatIpv4(p.vip).c_str());
    }
    if (p.local_key_spent) {
      // Ours already keyed a session: answer with a fresh one too (forward secrecy for both).
      NewLocalKey(p);
      counters_.Bump(CpCounter::rekeys_answered);
    }
    p.public_known = true;
    p.public_key = h.sender_public;
    InstallRx(p);
    key_news = true;
  }

  const bool echoes_us = h.echo_public == p.local_key.public_key();
  if (echoes_us && h.sender_receiver_index != 0 && p.keys_derived) {
    const bool new_key = !p.tx.ready || p.tx.key.key_id != p.keys.tx.key_id || p.tx.inherited;
    if (new_key || p.tx.remote_index != h.sender_receiver_index) {
      if (new_key) {
        p.tx.key = p.keys.tx;
        p.tx.cipher = options_.cipher;
        p.tx.dp_instance = dp_instance_;
        p.tx.inherited = false;
        p.local_key_spent = true;
        p.tx_since_ns = now;
        p.tx_packets_at_key = tx_packets_ ? tx_packets_(p.slot) : 0;
        counters_.Bump(CpCounter::tx_keys_ready);
      }
      p.tx.ready = true;
      p.tx.remote_index = h.sender_receiver_index;
      dirty_ = true;
    }
    if (!p.confirmed) {
      p.confirmed = true;
      for (RxSession& s : p.retiring)
        if (s.expires_ns == 0) s.expires_ns = now + grace_ns();
    }
  } else if (!echoes_us) {
    reply_now = true;  // the peer cannot derive our key yet
  }

  // News of a public key is answered at once: only the real peer can produce it (authenticated, and
  // a replay is stale), so it is bounded by genuine restarts. Other reasons are rate-limited so a
  // burst of valid HELLOs costs at most a few replies per interval.
  if (reply_now && p.immediate_sent && now - p.last_immediate_ns < interval_ns() / 8)
    reply_now = false;
  if (key_news || reply_now) {
    p.immediate_sent = true;
    p.last_immediate_ns = now;
    counters_.Bump(CpCounter::hello_immediate_replies);
    SendHello(p);
    p.next_hello_ns = now + interval_ns();
  }
}

uint64_t PeerSessions::NextTimestamp() {
  uint64_t ts = clock_.WallNs();
  if (ts <= last_sent_ts_) ts = last_sent_ts_ + 1;
  last_sent_ts_ = ts;
  return ts;
}

void PeerSessions::SendHello(Peer& p) {
  Hello h;
  h.cipher = uint8_t(options_.cipher);
  h.sender_vip = options_.local_vip;
  h.receiver_vip = p.vip;
  h.sender_public = p.local_key.public_key();
  if (p.public_known) h.echo_public = p.public_key;
  h.sender_receiver_index = p.rx ? p.rx->index : 0;
  h.timestamp_ns = NextTimestamp();
  uint8_t buf[kMaxCertHelloSize];
  std::span<const uint8_t> chain;
  if (cert_auth_ != nullptr && ChainDue(p, clock_.NowNs())) {
    chain = cert_auth_->chain();
    p.chain_sent_ns = clock_.NowNs();
    p.chain_sent_generation = cert_auth_->chain_generation();
  }
  const size_t n = EncodeHello(h, network_hash_, auth_, buf, chain);
  if (n == 0) {
    counters_.Bump(CpCounter::hello_send_failed);
    return;
  }
  if (p.relayed && p.node_known && relay_ != nullptr) {
    if (relay_->SendHello(p.node, {buf, n}))
      counters_.Bump(CpCounter::hello_sent);
    else
      counters_.Bump(CpCounter::hello_send_failed);
    return;
  }
  // The configured endpoint is greeted too while we send elsewhere (roamed or inherited), so a
  // peer whose learned address went stale is found again.
  const bool both = !p.learned && p.endpoint != p.configured;
  for (const Endpoint* to : {&p.endpoint, both ? &p.configured : nullptr}) {
    if (to == nullptr) continue;
    if (port_.SendUnderlay(*to, {buf, n}))
      counters_.Bump(CpCounter::hello_sent);
    else
      counters_.Bump(CpCounter::hello_send_failed);
  }
}

// The chain is left out only while the peer shows it holds ours: its last HELLO echoed our
// current key, it got this generation of our chain (a renewal is sent at once), recently.
bool PeerSessions::ChainDue(const Peer& p, uint64_t now) const {
  return !p.echoes_current || p.chain_sent_generation != cert_auth_->chain_generation() ||
         p.chain_sent_ns == 0 || now - p.chain_sent_ns >= kChainRefreshNs;
}

const identity::Certificate* PeerSessions::PeerCertificate(uint32_t vip) const {
  const auto it = peers_.find(vip);
  return it == peers_.end() || !it->second.cert ? nullptr : &*it->second.cert;
}

size_t PeerSessions::DropSubject(const identity::KeyId& subject) {
  std::vector<PeerConfig> restart;
  size_t dropped = 0;
  for (auto it = peers_.begin(); it != peers_.end();) {
    const Peer& p = it->second;
    if (!p.cert || p.cert->key_id() != subject) {
      ++it;
      continue;
    }
    IPOP_LOG_INFO("peer %s ('%s'): certificate no longer accepted, sessions dropped",
                  FormatIpv4(p.vip).c_str(), p.cert->fields.name.c_str());
    if (!p.learned) restart.push_back(PeerConfig{p.vip, p.configured});
    ErasePeer(it++);
    ++dropped;
  }
  for (const PeerConfig& pc : restart) AddPeer(pc, std::nullopt);
  return dropped;
}

// A fresh key pair for this peer and a new handshake; the current transmit key and receive
// session stay until the new ones are confirmed (make-before-break, as for a restarted peer).
void PeerSessions::Rekey(Peer& p, const char* why) {
  counters_.Bump(CpCounter::session_rekeys);
  IPOP_LOG_DEBUG("peer %s: rekey (%s)", FormatIpv4(p.vip).c_str(), why);
  NewLocalKey(p);
  if (p.public_known) InstallRx(p);
  SendHello(p);
  p.next_hello_ns = clock_.NowNs() + interval_ns();
}

void PeerSessions::Tick() {
  const uint64_t now = clock_.NowNs();
  const uint64_t idle_ns = uint64_t{options_.learned_idle_ms} * 1'000'000ull;
  for (auto it = peers_.begin(); it != peers_.end();) {
    Peer& q = it->second;
    // Only traffic counts as use: HELLOs alone would keep every pair that ever talked forever.
    // If the other side still sends, its HELLO makes us learn it again.
    if (q.learned && now - q.last_used_ns > idle_ns) {
      IPOP_LOG_INFO("peer %s forgotten: unused for %u s", FormatIpv4(q.vip).c_str(),
                    options_.learned_idle_ms / 1000);
      counters_.Bump(CpCounter::peers_forgotten);
      ErasePeer(it++);
    } else {
      ++it;
    }
  }
  for (auto& [vip, p] : peers_) {
    if (p.up && now - p.last_heard_ns > timeout_ns()) {
      p.up = false;
      counters_.Bump(CpCounter::peer_down);
      IPOP_LOG_WARN("peer %s down: no HELLO for %u ms", FormatIpv4(p.vip).c_str(),
                    options_.peer_timeout_ms);
    }
    // A key is at least two hello intervals old before it is replaced: by then the peer has our
    // echo of its new key (sent at once, or with the next HELLO if that one was lost) and seals
    // with the new key, so the session it used before may go. Rekeys in quicker succession
    // would retire sessions faster than the peer leaves them (kMaxRetiring).
    const uint64_t age = now - p.tx_since_ns;
    if (p.tx.ready && !p.tx.inherited && p.confirmed && p.local_key_spent &&
        options_.local_vip != 0 && age >= 2 * interval_ns()) {
      if (age >= rekey_ns())
        Rekey(p, "age");
      else if (tx_packets_ &&
               tx_packets_(p.slot) - p.tx_packets_at_key >= options_.rekey_after_messages)
        Rekey(p, "volume");
    }
    for (size_t i = 0; i < p.retiring.size();) {
      if (p.retiring[i].expires_ns != 0 && now >= p.retiring[i].expires_ns) {
        indexes_.Release(p.retiring[i].index);
        Wipe(p.retiring[i].key);
        p.retiring.erase(p.retiring.begin() + ptrdiff_t(i));
        counters_.Bump(CpCounter::rx_sessions_retired);
        dirty_ = true;
      } else {
        ++i;
      }
    }
    if (now >= p.next_hello_ns && options_.local_vip != 0) {
      SendHello(p);
      p.next_hello_ns = now + interval_ns();
    }
  }
}

ReconfigureSummary PeerSessions::Reconfigure(const std::vector<PeerConfig>& peers,
                                             uint32_t hello_interval_ms, uint32_t peer_timeout_ms) {
  ReconfigureSummary sum;
  options_.hello_interval_ms = hello_interval_ms == 0 ? 1 : hello_interval_ms;
  options_.peer_timeout_ms = peer_timeout_ms;
  options_.peers = peers;
  for (auto it = peers_.begin(); it != peers_.end();) {
    bool keep = it->second.learned;
    for (const PeerConfig& pc : peers) keep = keep || pc.vip == it->first;
    if (keep) {
      ++it;
    } else {
      IPOP_LOG_INFO("peer %s removed", FormatIpv4(it->first).c_str());
      ErasePeer(it++);
      ++sum.removed;
    }
  }
  const uint64_t now = clock_.NowNs();
  for (const PeerConfig& pc : peers) {
    auto it = peers_.find(pc.vip);
    if (it == peers_.end()) {
      const size_t before = peers_.size();
      AddPeer(pc, std::nullopt);
      if (peers_.size() != before) {
        IPOP_LOG_INFO("peer %s added at %s", FormatIpv4(pc.vip).c_str(),
                      pc.endpoint.ToString().c_str());
        ++sum.added;
      }
    } else if (it->second.learned || it->second.configured != pc.endpoint) {
      Peer& p = it->second;
      p.learned = false;  // configured from now on
      p.relayed = false;
      IPOP_LOG_INFO("peer %s endpoint %s -> %s", FormatIpv4(pc.vip).c_str(),
                    p.configured.ToString().c_str(), pc.endpoint.ToString().c_str());
      p.configured = pc.endpoint;
      p.endpoint = pc.endpoint;
      p.next_hello_ns = now;
      dirty_ = true;
      ++sum.changed;
    }
  }
  return sum;
}

shm::TableSpec PeerSessions::BuildSpec() const {
  shm::TableSpec spec;
  spec.local_vip = options_.local_vip;
  spec.local_prefix_len = options_.local_prefix_len;
  spec.mtu = options_.mtu;
  spec.dp_instance = dp_instance_;
  std::memcpy(spec.gateway_mac, gateway_mac_, sizeof(gateway_mac_));
  uint32_t n_slots = 0;
  for (const auto& [vip, p] : peers_) n_slots = p.slot + 1 > n_slots ? p.slot + 1 : n_slots;
  spec.peers.assign(n_slots, shm::PeerEntry{});  // unused slots stay zero (not valid)
  auto add_session = [&spec](const RxSession& s, uint32_t slot) {
    shm::SessionSpec ss{};
    ss.receiver_index = s.index;
    ss.entry.flags = shm::kSessionValid;
    ss.entry.peer = slot;
    ss.entry.key_id = s.key.key_id;
    std::memcpy(ss.entry.rx_key, s.key.key, sizeof(ss.entry.rx_key));
    std::memcpy(ss.entry.rx_salt, s.key.salt, sizeof(ss.entry.rx_salt));
    ss.entry.cipher = uint8_t(s.cipher);
    spec.sessions.push_back(ss);
  };
  for (const auto& [vip, p] : peers_) {
    shm::PeerEntry& e = spec.peers[p.slot];
    e.flags = shm::kPeerValid | (p.tx.ready ? uint32_t{shm::kPeerTxReady} : 0u);
    if (p.relayed && p.node_known) {
      e.flags |= shm::kPeerRelayed;
      std::memcpy(e.relay_dst, p.node.data(), sizeof(e.relay_dst));
    }
    e.vip = p.vip;
    std::memcpy(e.underlay_addr, p.endpoint.addr, sizeof(e.underlay_addr));
    e.underlay_port = p.endpoint.port;
    e.cipher = uint8_t(p.tx.ready ? p.tx.cipher : options_.cipher);
    if (p.tx.ready) {
      e.tx_remote_index = p.tx.remote_index;
      e.tx_key_id = p.tx.key.key_id;
      e.dp_instance = p.tx.dp_instance;
      std::memcpy(e.tx_key, p.tx.key.key, sizeof(e.tx_key));
      std::memcpy(e.tx_salt, p.tx.key.salt, sizeof(e.tx_salt));
    }
    if (p.rx) add_session(*p.rx, p.slot);
    for (const RxSession& s : p.retiring) add_session(s, p.slot);
    spec.routes.push_back(shm::RouteSpec{p.vip, 32, p.slot});
  }
  for (const PrefixRoute& r : prefix_routes_) {
    const auto it = peers_.find(r.via);
    if (it != peers_.end())
      spec.routes.push_back(shm::RouteSpec{r.prefix, r.length, it->second.slot});
  }
  return spec;
}

std::vector<PeerSessions::PeerStatus> PeerSessions::Status() const {
  const uint64_t now = clock_.NowNs();
  std::vector<PeerStatus> out;
  out.reserve(peers_.size());
  for (const auto& [vip, p] : peers_) {
    PeerStatus s;
    s.vip = p.vip;
    s.slot = p.slot;
    s.endpoint = p.endpoint;
    s.up = p.up;
    s.heard = p.heard;
    s.last_hello_age_ns = p.heard && now > p.last_heard_ns ? now - p.last_heard_ns : 0;
    s.tx_ready = p.tx.ready && !p.tx.inherited && p.confirmed;
    s.tx_published = p.tx.ready;
    s.tx_inherited = p.tx.ready && p.tx.inherited;
    s.rx_index = p.rx ? p.rx->index : 0;
    s.tx_key_id = p.tx.ready ? p.tx.key.key_id : 0;
    s.tx_key_age_ns = p.tx.ready && !p.tx.inherited ? now - p.tx_since_ns : 0;
    s.tx_remote_index = p.tx.ready ? p.tx.remote_index : 0;
    s.retiring = uint32_t(p.retiring.size());
    s.learned = p.learned;
    s.relayed = p.relayed;
    s.node_known = p.node_known;
    s.node = p.node;
    if (p.cert) s.cert_name = p.cert->fields.name;
    out.push_back(s);
  }
  return out;
}

size_t PeerSessions::peers_up() const {
  size_t n = 0;
  for (const auto& [vip, p] : peers_) n += p.up ? 1 : 0;
  return n;
}

}  // namespace ipop::cp

// Named control-plane counters of the node's own work (HELLOs, sessions, ARP, punts, table
// publication), exported as module "node" (runtime/counter_registry.h). The control plane is
// single-threaded, so these are plain integers owned by the ControlPlane and
// lent by reference to the logic classes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "controlplane/runtime/counter_registry.h"

namespace ipop::cp {

// X(name, description)
#define IPOP_CP_COUNTERS(X)                                                                        \
  X(hello_sent, "HELLOs handed to the port")                                                       \
  X(hello_send_failed, "HELLOs the port refused (inject ring full)")                               \
  X(hello_received, "CONTROL datagrams offered to the HELLO decoder")                              \
  X(hello_accepted, "authenticated, fresh HELLOs from configured peers")                           \
  X(hello_too_short, "HELLO shorter than its fixed layout")                                        \
  X(hello_trailing_bytes, "HELLO longer than its fixed layout")                                    \
  X(hello_bad_header, "wire header not a CONTROL packet with index 0 and counter 0")               \
  X(hello_bad_type, "control message type is not HELLO")                                           \
  X(hello_bad_reserved, "reserved HELLO bytes not zero")                                           \
  X(hello_wrong_network, "HELLO for another network name")                                         \
  X(hello_bad_mac, "HELLO authenticator did not verify (wrong secret, signature or tampered)")     \
  X(hello_zero_public_key, "HELLO with an all-zero sender public key")                             \
  X(hello_chain_missing, "certificate mode: HELLO without a chain from a sender we hold none for") \
  X(hello_bad_chain, "certificate mode: HELLO whose chain bytes are no certificate chain")         \
  X(hello_vip_not_allowed, "certificate mode: HELLO from a VIP its certificate does not allow")    \
  X(hello_cert_unknown_issuer, "certificate mode: HELLO chain not from a trusted CA")              \
  X(hello_cert_expired, "certificate mode: HELLO chain with an expired certificate")               \
  X(hello_cert_not_yet_valid, "certificate mode: HELLO chain with a certificate not yet valid")    \
  X(hello_cert_revoked, "certificate mode: HELLO chain with a revoked certificate")                \
  X(hello_cert_wrong_network, "certificate mode: HELLO chain for another network")                 \
  X(hello_cert_invalid, "certificate mode: HELLO chain refused otherwise (signature, scope, CA)")  \
  X(hello_cipher_mismatch, "HELLO from a peer configured with another network.cipher")             \
  X(hello_unknown_peer, "HELLO from a virtual IP that is not a configured peer")                   \
  X(hello_wrong_receiver, "HELLO addressed to another virtual IP")                                 \
  X(hello_stale, "HELLO already accepted once, or older than the sender's newer ones (replay)")    \
  X(hello_too_old, "HELLO stamped before this process started (or before an evicted sender)")      \
  X(hello_clock_ahead, "HELLO stamped minutes in our future: the sender's clock is wrong")         \
  X(hello_immediate_replies, "HELLOs sent at once to converge after a public key change")          \
  X(peer_key_changes, "peers seen with a new public key (peer restarted or rekeyed)")              \
  X(peer_up, "peer liveness transitions to up")                                                    \
  X(peer_down, "peer liveness transitions to down")                                                \
  X(peers_learned, "peers added from the overlay (VIP directory or an authenticated HELLO)")       \
  X(peers_forgotten, "learned peers removed after overlay.peer-idle-s without traffic")            \
  X(hello_via_overlay, "HELLOs received as routed overlay messages")                               \
  X(path_changes, "learned peers switched between relayed and direct")                             \
  X(endpoint_changes, "peer underlay endpoints updated by a HELLO from a new source")              \
  X(tx_keys_ready, "transmit keys derived after the peer echoed our public key")                   \
  X(rx_sessions_installed, "receive sessions installed")                                           \
  X(rx_sessions_retired, "old receive sessions removed after their grace period")                  \
  X(rx_sessions_evicted, "old receive sessions dropped early (too many pending)")                  \
  X(rx_sessions_flushed, "receive sessions dropped at once because the dataplane restarted")       \
  X(index_exhausted, "no free receiver index for a new session")                                   \
  X(key_derivation_failed, "session key derivation failed")                                        \
  X(local_rekeys, "all key pairs replaced (dataplane restarted or local address changed)")         \
  X(session_rekeys, "sessions rekeyed with a fresh key pair on age or sealed-packet count")        \
  X(rekeys_answered, "fresh key pairs made because a peer rekeyed a session")                      \
  X(inherited_peers, "peer entries adopted from the running table at start-up")                    \
  X(inherited_sessions, "receive sessions adopted from the running table at start-up")             \
  X(inherit_rejected, "entries of the running table ignored (invalid or peer not configured)")     \
  X(arp_answered, "ARP requests answered with the gateway MAC")                                    \
  X(arp_ignored, "ARP frames not answered (not a request, unknown target, probe)")                 \
  X(arp_malformed, "ARP frames with bad lengths or hardware/protocol types")                       \
  X(arp_reply_failed, "ARP replies the port refused")                                              \
  X(tap_not_arp, "punted TAP frames that are not ARP")                                             \
  X(punt_not_control, "punted underlay datagrams that are not CONTROL packets")                    \
  X(punt_unknown_kind, "punt ring entries of an unknown kind")                                     \
  X(punt_ring_corrupt, "punt rings found inconsistent and reset")                                  \
  X(publish_ok, "table generations published")                                                     \
  X(publish_failed, "table publications that failed (retried)")

enum class CpCounter : uint32_t {
#define IPOP_X(name, desc) name,
  IPOP_CP_COUNTERS(IPOP_X)
#undef IPOP_X
};

#define IPOP_X(name, desc) +1
inline constexpr uint32_t kNumCpCounters = 0 IPOP_CP_COUNTERS(IPOP_X);
#undef IPOP_X

inline constexpr const char* kCpCounterNames[] = {
#define IPOP_X(name, desc) #name,
    IPOP_CP_COUNTERS(IPOP_X)
#undef IPOP_X
};

struct CpCounters {
  uint64_t value[kNumCpCounters] = {};
  void Bump(CpCounter c, uint64_t n = 1) { value[uint32_t(c)] += n; }
  uint64_t Get(CpCounter c) const { return value[uint32_t(c)]; }
};

inline constexpr CounterDesc kCpCounterDescs[] = {
#define IPOP_X(name, desc)                       \
  CounterDesc{#name, desc, MetricKind::kCounter, \
              offsetof(CpCounters, value) + sizeof(uint64_t) * uint32_t(CpCounter::name)},
    IPOP_CP_COUNTERS(IPOP_X)
#undef IPOP_X
};
static_assert(CoversEveryField<CpCounters>(kCpCounterDescs));

}  // namespace ipop::cp

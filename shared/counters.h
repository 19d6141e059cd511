// Named dataplane counters. Every drop has a reason here; the control plane exports them by name
// (ipopctl counters). Per-worker blocks live in shared memory; each is written by one worker only.
#pragma once

#include <atomic>
#include <cstdint>

namespace ipop {

// X(name, description)
#define IPOP_DROP_REASONS(X)                                                                       \
  X(tap_short_frame, "frame from TAP shorter than an Ethernet header")                             \
  X(tap_bad_ipv4, "IPv4 header from TAP malformed or truncated")                                   \
  X(tap_unsupported_ethertype, "ethertype other than IPv4/ARP from TAP (e.g. IPv6)")               \
  X(mcast_no_group, "multicast/broadcast from TAP to a group not in the table yet")                \
  X(mcast_no_members, "multicast/broadcast to a group no other member joined")                     \
  X(mcast_fanout_cut, "copies of a group frame not made: no buffer or burst room")                 \
  X(no_route, "no forwarding-table entry for the destination virtual IP")                          \
  X(peer_not_ready, "route found but the peer has no usable tx session")                           \
  X(stale_key, "tx key was published for an earlier dataplane instance")                           \
  X(too_big, "inner packet larger than the overlay MTU allows")                                    \
  X(seal_failed, "AEAD seal failed")                                                               \
  X(udp_send_failed, "underlay send failed")                                                       \
  X(udp_short, "underlay datagram shorter than the header")                                        \
  X(udp_bad_version, "underlay datagram with an unknown version")                                  \
  X(udp_bad_type, "underlay datagram with an unknown type")                                        \
  X(udp_bad_reserved, "underlay datagram with a non-zero reserved byte")                           \
  X(unknown_session, "receiver index names no valid session")                                      \
  X(replay, "counter already seen or too old for the replay window")                               \
  X(auth_failed, "AEAD open failed (tampered, wrong key)")                                         \
  X(inner_bad_ipv4, "decrypted payload is not a well-formed IPv4 packet")                          \
  X(src_not_allowed, "inner source address not routed to the sending peer")                        \
  X(tap_write_failed, "write to TAP failed")                                                       \
  X(punt_ring_full, "punt ring full; the control plane is slow or absent")                         \
  X(punt_tap_limited, "TAP frame over the host's punt budget")                                     \
  X(punt_ring_reserved, "CONTROL/HANDSHAKE: rest of the punt ring kept for TAP")                   \
  X(punt_source_limited, "CONTROL/HANDSHAKE over its source address's budget")                     \
  X(punt_untracked_limited, "CONTROL/HANDSHAKE over untracked sources' budget")                    \
  X(punt_underlay_limited, "CONTROL/HANDSHAKE over the worker's underlay budget")                  \
  X(inject_bad_entry, "malformed inject ring entry from the control plane")                        \
  X(ring_corrupt, "inject ring indices inconsistent; ring was reset")                              \
  X(table_invalid, "published table generation failed validation; kept the last")                  \
  X(buffer_exhausted, "receive buffer ring ran out of buffers")                                    \
  X(relay_malformed, "RELAY datagram whose inner datagram is not DATA")                            \
  X(relay_no_route, "no overlay link nearer the relay destination than us")                        \
  X(relay_hop_limit, "RELAY datagram that already crossed the hop limit")                          \
  X(relay_source_limited, "RELAY to pass on over its source's budget")                             \
  X(relay_untracked_limited, "RELAY to pass on over untracked sources' budget")                    \
  X(handoff_failed, "datagram for another worker's session not handed over: ring full or too big") \
  X(underlay_bad_frame, "DPDK underlay: Ethernet/IPv4/UDP malformed or checksum wrong")            \
  X(underlay_not_ours, "DPDK underlay: not for the overlay, no exception port to the kernel")      \
  X(underlay_fragment, "DPDK underlay: IPv4 fragment, no exception port to the kernel")            \
  X(underlay_no_neighbour, "DPDK underlay: next hop's MAC not known yet (ARP request sent)")       \
  X(underlay_unreachable, "DPDK underlay: IPv6 or off-link endpoint without a gateway")            \
  X(port_tx_full, "DPDK: a port's transmit queue took fewer packets than offered")                 \
  X(fw_inbound_denied, "firewall: packet from a peer opening a flow no inbound rule allows")       \
  X(fw_outbound_denied, "firewall: packet to a peer opening a flow no outbound rule allows")

// X(name, description)
#define IPOP_STATS(X)                                                                            \
  X(tap_rx_frames, "frames read from TAP")                                                       \
  X(tap_tx_frames, "frames written to TAP")                                                      \
  X(udp_rx_datagrams, "datagrams received on the underlay")                                      \
  X(udp_tx_datagrams, "datagrams sent on the underlay")                                          \
  X(udp_rx_bytes, "underlay bytes received")                                                     \
  X(udp_tx_bytes, "underlay bytes sent")                                                         \
  X(punted, "messages punted to the control plane")                                              \
  X(injected, "messages injected by the control plane")                                          \
  X(arp_local_replies, "ARP answered by the dataplane while the control plane was absent")       \
  X(table_switches, "forwarding-table generations adopted")                                      \
  X(rekeys, "crypto contexts re-initialised for new key ids")                                    \
  X(loop_iterations, "event-loop iterations")                                                    \
  X(idle_waits, "times the worker blocked waiting for work")                                     \
  X(inject_wakeups, "times the control plane woke the blocked worker for injected messages")     \
  X(icmp_too_big_sent, "ICMP fragmentation-needed sent to the TAP for oversize packets")         \
  X(icmp_too_big_limited, "ICMP fragmentation-needed suppressed by the rate limit")              \
  X(mss_clamped, "TCP SYN / SYN-ACK MSS options lowered to the overlay MTU - 40")                \
  X(relay_sent, "DATA sent in a RELAY header to a peer with no direct path")                     \
  X(relay_delivered, "RELAY datagrams for this node, unwrapped for the DATA path")               \
  X(relay_forwarded, "RELAY datagrams passed on toward their destination")                       \
  X(mcast_tx_frames, "multicast/broadcast frames from TAP sent to a group's members")            \
  X(mcast_tx_copies, "datagrams made of them, one per member")                                   \
  X(mcast_punted, "frames to a group without a table entry shown to the control plane")          \
  X(handoff_out, "datagrams copied to the worker owning their session")                          \
  X(handoff_in, "datagrams received from another worker for a session this one owns")            \
  X(dns_tcp_punted, "TCP segments to port 53 of the service address shown to the control plane") \
  X(arp_requests_sent, "DPDK underlay: ARP requests sent for next hops")                         \
  X(arp_replies_sent, "DPDK underlay: ARP requests for our underlay address answered")           \
  X(exception_to_kernel, "DPDK underlay: frames not for the overlay passed to the kernel")       \
  X(exception_from_kernel, "DPDK underlay: frames the kernel sent through the exception port")   \
  X(fw_flows_evicted, "firewall: live flows evicted from a full connection-table set")

enum class DropReason : uint32_t {
#define IPOP_X(name, desc) name,
  IPOP_DROP_REASONS(IPOP_X)
#undef IPOP_X
};
enum class Stat : uint32_t {
#define IPOP_X(name, desc) name,
  IPOP_STATS(IPOP_X)
#undef IPOP_X
};

#define IPOP_X(name, desc) +1
inline constexpr uint32_t kNumDropReasons = 0 IPOP_DROP_REASONS(IPOP_X);
inline constexpr uint32_t kNumStats = 0 IPOP_STATS(IPOP_X);
#undef IPOP_X

inline constexpr const char* kDropReasonNames[] = {
#define IPOP_X(name, desc) #name,
    IPOP_DROP_REASONS(IPOP_X)
#undef IPOP_X
};
inline constexpr const char* kStatNames[] = {
#define IPOP_X(name, desc) #name,
    IPOP_STATS(IPOP_X)
#undef IPOP_X
};

// Per-peer traffic, read by the control plane (a later issue creates shortcuts from it).
struct PeerCounters {
  std::atomic<uint64_t> tx_packets, tx_bytes, rx_packets, rx_bytes;
};

// Single-writer increment: plain load + store, no locked RMW on the hot path.
inline void Bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace ipop

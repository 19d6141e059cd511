// The underlay's Ethernet, ARP, IPv4 and UDP, for a backend that owns its NIC (DPDK). With
// io_uring the kernel does all of this behind the UDP socket; a DPDK port hands us raw frames, so
// the dataplane answers ARP for its own underlay address, resolves next hops, and wraps and
// unwraps IPv4/UDP itself. Two port-level stages, pure functions like the pipeline's (no I/O):
//
//   receive: frame -> [ARP: answer requests for our address, learn on-link senders]
//            -> [IPv4/UDP to our address and port: strip to the overlay datagram]
//            -> [fragments and everything else: to the kernel (exception port) or dropped]
//   send:    overlay datagram -> next hop (on-link: the destination; else the gateway, from the
//            config or learned from datagrams of off-link sources) -> Ethernet/IPv4/UDP in front,
//            checksums in software or left to the port
//
// The overlay never fragments (DF set, the MTU leaves room for the headers), so fragments that
// reach us are not ours to reassemble.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/neighbour_table.h"
#include "dataplane/packet.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

inline constexpr uint32_t kUnderlayHeaders = 14 + 20 + 8;  // Ethernet + IPv4 + UDP
inline constexpr uint32_t kArpFrameSize = 60;              // 42 bytes, padded to Ethernet's minimum

struct UnderlayAddress {
  uint32_t ip = 0;  // host order
  uint32_t prefix_len = 24;
  uint32_t gateway = 0;  // 0: none configured (the learned router, NeighbourTable)
  uint16_t port = 0;     // the overlay's UDP port
  uint8_t mac[6] = {};
  bool OnLink(uint32_t addr) const {
    const uint32_t mask = prefix_len == 0 ? 0 : ~0u << (32 - prefix_len);
    return (addr & mask) == (ip & mask);
  }
};

// For each frame received on the underlay port (data at the Ethernet header):
//   IPv4/UDP to our address and port, unfragmented -> kForward: data/len = the UDP payload,
//     addr/port = the source (IPv4-mapped). The source's MAC is learnt: as its own if on-link,
//     else as the router's.
//   ARP request for our address -> kReflect: rewritten in place into the reply.
//   ARP requests and replies from on-link senders teach `neighbours` their MAC.
//   IPv4 fragment to our address -> kPunt with `exception` (for the kernel), else dropped
//     underlay_fragment.
//   anything else well formed (other addresses, protocols, ports, ethertypes; ARP not asking for
//     us) -> kPunt with `exception`, else dropped underlay_not_ours.
//   malformed Ethernet/IPv4/UDP, a wrong IPv4 header checksum, a UDP length that does not fit,
//     a wrong UDP checksum (unless the port vouched for it, kPacketL4CsumGood) -> dropped
//     underlay_bad_frame.
// Compacts the kForward ones to the front and returns their number.
size_t ReceiveUnderlayFrames(PacketSpan frames, const UnderlayAddress& self,
                             NeighbourTable& neighbours, bool exception,
                             shm::WorkerCounters& counters);

// A datagram queued for the underlay: the backend's buffer, the overlay datagram at data/len
// with `headroom` writable bytes in front, and its destination.
struct UnderlayOut {
  BufHandle buf;
  uint8_t* data;
  uint32_t len;
  uint32_t headroom;
  uint32_t dst_ip;  // host order
  uint16_t dst_port;
  uint8_t flags;  // kPacketTxUdpCsum after EncapUnderlay
};

// Wraps each datagram in Ethernet/IPv4/UDP in place (data/len then cover the frame): source our
// address and port, DF set, TTL 64, IPv4 id from *ip_id. The IPv4 header checksum is computed
// here; the UDP checksum too unless `udp_csum_offload` (then kPacketTxUdpCsum). Datagrams whose
// next hop has no known MAC are dropped (underlay_no_neighbour) and the next hop is added to
// `arp_wanted` (once, while there is room); destinations this underlay cannot reach (off-link
// without any router) are dropped underlay_unreachable. Ready datagrams are moved to the front
// in order, dropped ones after them; returns the number ready.
struct ArpWanted {
  uint32_t ip[8];
  uint32_t n = 0;
  void Add(uint32_t a) {
    for (uint32_t i = 0; i < n; ++i)
      if (ip[i] == a) return;
    if (n < 8) ip[n++] = a;
  }
};
size_t EncapUnderlay(std::span<UnderlayOut> out, const UnderlayAddress& self,
                     const NeighbourTable& neighbours, bool udp_csum_offload, uint16_t* ip_id,
                     ArpWanted* arp_wanted, shm::WorkerCounters& counters);

// Writes a broadcast ARP request "who has `target`, tell self" (kArpFrameSize bytes) to `out`.
void BuildArpRequest(const UnderlayAddress& self, uint32_t target, uint8_t* out);

}  // namespace ipop::dp

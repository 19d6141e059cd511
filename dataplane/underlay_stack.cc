#include "dataplane/underlay_stack.h"

#include <cstring>

#include "shared/checksum.h"
#include "shared/counters.h"
#include "shared/ether.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

constexpr uint8_t kProtoUdp = 17;
constexpr uint32_t kEth = 14;
constexpr uint32_t kArpBody = 28;

bool IsOurMacOrGroup(const uint8_t* dst, const uint8_t mac[6]) {
  return (dst[0] & 1) != 0 || std::memcmp(dst, mac, 6) == 0;  // group bit: broadcast, multicast
}

// Learns the source of a datagram: an on-link sender at its own MAC, anything else behind the
// router whose MAC it came from. Remembers the last pair, so a burst of one flow writes nothing.
class SourceLearner {
 public:
  SourceLearner(const UnderlayAddress& self, NeighbourTable& n) : self_(self), n_(n) {}
  void Learn(uint32_t ip, const uint8_t* mac) {
    if (ip == last_ip_ && std::memcmp(mac, last_mac_, 6) == 0) return;
    last_ip_ = ip;
    std::memcpy(last_mac_, mac, 6);
    if (self_.OnLink(ip)) {
      n_.Learn(ip, mac);
    } else {
      n_.LearnRouter(mac);
    }
  }

 private:
  const UnderlayAddress& self_;
  NeighbourTable& n_;
  uint32_t last_ip_ = 0;
  uint8_t last_mac_[6] = {};
};

// An ARP frame (len >= kEth + kArpBody checked). Returns the verdict it leaves in p (kReflect for
// our reply, kDone when consumed, kPunt when not ours and `exception`) or drops it.
void ReceiveArp(Packet& p, const UnderlayAddress& self, NeighbourTable& neighbours, bool exception,
                shm::WorkerCounters& counters) {
  uint8_t* a = p.data + kEth;
  if (ether::LoadBe16(a) != ether::kArpHwEthernet || ether::LoadBe16(a + 2) != ether::kTypeIpv4 ||
      a[4] != 6 || a[5] != 4) [[unlikely]] {
    Drop(p, DropReason::underlay_bad_frame, counters.drop);
    return;
  }
  const uint16_t op = ether::LoadBe16(a + 6);
  uint8_t sender_mac[6];
  std::memcpy(sender_mac, a + 8, 6);
  const uint32_t sender_ip = wire::LoadBe32(a + 14);
  const uint32_t target_ip = wire::LoadBe32(a + 24);
  // Requests and replies both tell us where their sender is (RFC 826's merge step); only
  // on-link senders can be our next hops.
  if (sender_ip != 0 && sender_ip != self.ip && self.OnLink(sender_ip) && (sender_mac[0] & 1) == 0)
    neighbours.Learn(sender_ip, sender_mac);
  if (op == ether::kArpOpRequest && target_ip == self.ip) {
    if (p.len + p.tailroom < kArpFrameSize) [[unlikely]] {
      Drop(p, DropReason::underlay_bad_frame, counters.drop);
      return;
    }
    uint8_t* f = p.data;
    std::memcpy(f, sender_mac, 6);  // unicast back to the requester (RFC 826)
    std::memcpy(f + 6, self.mac, 6);
    ether::StoreBe16(a + 6, ether::kArpOpReply);
    std::memcpy(a + 8, self.mac, 6);
    wire::StoreBe32(a + 14, self.ip);
    std::memcpy(a + 18, sender_mac, 6);
    wire::StoreBe32(a + 24, sender_ip);
    std::memset(f + kEth + kArpBody, 0, kArpFrameSize - kEth - kArpBody);
    p.tailroom = p.len + p.tailroom - kArpFrameSize;
    p.len = kArpFrameSize;
    p.verdict = Verdict::kReflect;
    Bump(counters.stat[uint32_t(Stat::arp_replies_sent)]);
    return;
  }
  if (op == ether::kArpOpReply && target_ip == self.ip && !exception) {
    p.verdict = Verdict::kDone;  // learnt above: that was all it was for
    return;
  }
  if (exception) {
    p.verdict = Verdict::kPunt;  // the kernel's own neighbours, other addresses it holds
  } else {
    Drop(p, DropReason::underlay_not_ours, counters.drop);
  }
}

}  // namespace

size_t ReceiveUnderlayFrames(PacketSpan frames, const UnderlayAddress& self,
                             NeighbourTable& neighbours, bool exception,
                             shm::WorkerCounters& counters) {
  std::atomic<uint64_t>* drops = counters.drop;
  const DropReason not_ours = DropReason::underlay_not_ours;
  SourceLearner learner(self, neighbours);
  size_t n = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i + 2 < frames.size()) __builtin_prefetch(frames[i + 2]->data);
    Packet& p = *frames[i];
    const auto other = [&](DropReason reason) {
      if (exception) {
        p.verdict = Verdict::kPunt;
      } else {
        Drop(p, reason, drops);
      }
    };
    if (p.len < kEth) [[unlikely]] {
      Drop(p, DropReason::underlay_bad_frame, drops);
      continue;
    }
    const uint8_t* eth = p.data;
    const uint16_t type = ether::LoadBe16(eth + 12);
    if (type == ether::kTypeArp) [[unlikely]] {
      if (p.len < kEth + kArpBody) {
        Drop(p, DropReason::underlay_bad_frame, drops);
      } else {
        ReceiveArp(p, self, neighbours, exception, counters);
      }
      continue;
    }
    if (!IsOurMacOrGroup(eth, self.mac)) [[unlikely]] {
      Drop(p, not_ours, drops);  // a promiscuous port's view of other hosts' traffic
      continue;
    }
    if (type != ether::kTypeIpv4) [[unlikely]] {
      other(not_ours);
      continue;
    }
    uint8_t* ip = p.data + kEth;
    const uint32_t avail = p.len - kEth;
    if (avail < 20 || (ip[0] >> 4) != 4) [[unlikely]] {
      Drop(p, DropReason::underlay_bad_frame, drops);
      continue;
    }
    const uint32_t ihl = uint32_t(ip[0] & 0x0f) * 4;
    const uint32_t total = ether::LoadBe16(ip + 2);
    if (ihl < 20 || total < ihl || total > avail || ChecksumFold(ChecksumAdd(0, ip, ihl)) != 0xffff)
        [[unlikely]] {
      Drop(p, DropReason::underlay_bad_frame, drops);
      continue;
    }
    if (wire::LoadBe32(ip + 16) != self.ip) [[unlikely]] {
      other(not_ours);
      continue;
    }
    if ((ether::LoadBe16(ip + 6) & 0x3fff) != 0) [[unlikely]] {  // MF or a fragment offset
      other(DropReason::underlay_fragment);
      continue;
    }
    if (ip[9] != kProtoUdp) [[unlikely]] {
      other(not_ours);
      continue;
    }
    uint8_t* udp = ip + ihl;
    const uint32_t udp_len = total - ihl;
    if (udp_len < 8 || ether::LoadBe16(udp + 4) != udp_len) [[unlikely]] {
      Drop(p, DropReason::underlay_bad_frame, drops);
      continue;
    }
    if (ether::LoadBe16(udp + 2) != self.port) [[unlikely]] {
      other(not_ours);
      continue;
    }
    // A zero UDP checksum means "none" (RFC 768); the AEAD tag authenticates the payload either
    // way, the checksum guards the addresses and ports the control plane answers to.
    const bool csum_set = udp[6] != 0 || udp[7] != 0;
    if (((p.flags & kPacketL4CsumBad) != 0 ||
         (csum_set && (p.flags & kPacketL4CsumGood) == 0 &&
          ChecksumFold(ChecksumAdd(PseudoHeaderSum(ip, kProtoUdp, uint16_t(udp_len)), udp,
                                   udp_len)) != 0xffff))) [[unlikely]] {
      Drop(p, DropReason::underlay_bad_frame, drops);
      continue;
    }
    const uint32_t src = wire::LoadBe32(ip + 12);
    learner.Learn(src, eth + 6);
    const uint32_t strip = kEth + ihl + 8;
    p.tailroom += p.len - (kEth + total);  // Ethernet padding
    p.data += strip;
    p.headroom += strip;
    p.len = udp_len - 8;
    std::memset(p.addr, 0, 10);
    p.addr[10] = p.addr[11] = 0xff;
    std::memcpy(p.addr + 12, ip + 12, 4);
    p.port = ether::LoadBe16(udp);
    frames[n++] = &p;
  }
  return n;
}

size_t EncapUnderlay(std::span<UnderlayOut> out, const UnderlayAddress& self,
                     const NeighbourTable& neighbours, bool udp_csum_offload, uint16_t* ip_id,
                     ArpWanted* arp_wanted, shm::WorkerCounters& counters) {
  std::atomic<uint64_t>* drops = counters.drop;
  uint32_t last_hop = 0;
  uint8_t last_mac[6];
  bool have_last = false;
  size_t n = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    UnderlayOut& o = out[i];
    const uint32_t hop = self.OnLink(o.dst_ip) ? o.dst_ip : self.gateway;
    if (!have_last || hop != last_hop) {
      const bool known =
          hop != 0 ? neighbours.Lookup(hop, last_mac) : neighbours.LearnedRouter(last_mac);
      if (!known) [[unlikely]] {
        if (hop != 0) {
          arp_wanted->Add(hop);
          Bump(drops[uint32_t(DropReason::underlay_no_neighbour)]);
        } else {
          Bump(drops[uint32_t(DropReason::underlay_unreachable)]);
        }
        have_last = false;
        continue;  // stays behind the ready ones: they are swapped in front of it
      }
      last_hop = hop;
      have_last = true;
    }
    if (o.headroom < kUnderlayHeaders || o.len > 0xffff - 28) [[unlikely]] {
      Bump(drops[uint32_t(DropReason::udp_send_failed)]);  // a buffer laid out without room
      continue;
    }
    uint8_t* f = o.data - kUnderlayHeaders;
    ether::WriteEthernetHeader(f, last_mac, self.mac, ether::kTypeIpv4);
    uint8_t* ip = f + kEth;
    const uint16_t udp_len = uint16_t(8 + o.len);
    ip[0] = 0x45;
    ip[1] = 0;
    ether::StoreBe16(ip + 2, uint16_t(20 + udp_len));
    ether::StoreBe16(ip + 4, (*ip_id)++);
    ether::StoreBe16(ip + 6, 0x4000);  // DF: the overlay never fragments
    ip[8] = 64;
    ip[9] = kProtoUdp;
    wire::StoreBe32(ip + 12, self.ip);
    wire::StoreBe32(ip + 16, o.dst_ip);
    RefreshIpv4Checksum(ip, 20);
    uint8_t* udp = ip + 20;
    ether::StoreBe16(udp, self.port);
    ether::StoreBe16(udp + 2, o.dst_port);
    ether::StoreBe16(udp + 4, udp_len);
    const uint64_t pseudo = PseudoHeaderSum(ip, kProtoUdp, udp_len);
    if (udp_csum_offload) {
      const uint16_t partial = ChecksumFold(pseudo);  // what the NIC completes
      std::memcpy(udp + 6, &partial, 2);
      o.flags |= kPacketTxUdpCsum;
    } else {
      udp[6] = udp[7] = 0;
      uint16_t c = uint16_t(~ChecksumFold(ChecksumAdd(pseudo, udp, udp_len)));
      if (c == 0) c = 0xffff;  // 0 would mean "no checksum" (RFC 768)
      std::memcpy(udp + 6, &c, 2);
    }
    o.data = f;
    o.len += kUnderlayHeaders;
    o.headroom -= kUnderlayHeaders;
    if (n != i) std::swap(out[n], out[i]);
    ++n;
  }
  return n;
}

void BuildArpRequest(const UnderlayAddress& self, uint32_t target, uint8_t* out) {
  std::memset(out, 0, kArpFrameSize);
  ether::WriteEthernetHeader(out, ether::kBroadcastMac, self.mac, ether::kTypeArp);
  uint8_t* a = out + kEth;
  ether::StoreBe16(a, ether::kArpHwEthernet);
  ether::StoreBe16(a + 2, ether::kTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  ether::StoreBe16(a + 6, ether::kArpOpRequest);
  std::memcpy(a + 8, self.mac, 6);
  wire::StoreBe32(a + 14, self.ip);
  wire::StoreBe32(a + 24, target);  // target hardware address stays zero
}

}  // namespace ipop::dp

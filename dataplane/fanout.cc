#include "dataplane/fanout.h"

#include <algorithm>
#include <cstring>

#include "shared/ether.h"
#include "shared/shm_layout.h"

namespace ipop::dp {
namespace {

// The entry a kFanOut frame names, or nullptr if the index is out of range (shm may be garbage).
const shm::GroupEntry* EntryOf(const Packet& p, const shm::Generation& g) {
  const uint32_t n = std::min<uint32_t>(g.hdr.n_groups, shm::kMaxGroups);
  return p.peer < n ? &g.groups[p.peer] : nullptr;
}

// The entry's members that name a valid peer, at most kMaxGroupMembers; returns their count.
uint32_t ValidMembers(const shm::GroupEntry& e, const shm::Generation& g,
                      uint32_t out[shm::kMaxGroupMembers]) {
  const uint32_t n_peers = std::min(g.hdr.n_peers, shm::kMaxPeers);
  const uint32_t n = std::min<uint32_t>(e.n_members, shm::kMaxGroupMembers);
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t peer = e.members[i];
    if (peer < n_peers && (g.peers[peer].flags & shm::kPeerValid) != 0) out[k++] = peer;
  }
  return k;
}

}  // namespace

size_t FanOutCopiesWanted(PacketSpan frames, const OutboundContext& ctx) {
  const shm::Generation& g = *ctx.generation;
  size_t wanted = 0;
  for (const Packet* p : frames) {
    const shm::GroupEntry* e = EntryOf(*p, g);
    if (e == nullptr) continue;
    const uint32_t n = std::min<uint32_t>(e->n_members, shm::kMaxGroupMembers);
    wanted += n > 0 ? n - 1 : 0;
  }
  return wanted;
}

FanOutResult FanOutGroups(PacketSpan frames, const OutboundContext& ctx,
                          std::span<const CopyBuffer> free_buffers, Packet* out,
                          size_t out_capacity) {
  const shm::Generation& g = *ctx.generation;
  std::atomic<uint64_t>* drops = ctx.counters->drop;
  constexpr uint32_t kFrameOffset = kIpOffset - uint32_t(ether::kHeaderSize);
  FanOutResult r;
  size_t free_left = free_buffers.size();
  for (Packet* fp : frames) {
    Packet& frame = *fp;
    const shm::GroupEntry* entry = EntryOf(frame, g);
    uint32_t members[shm::kMaxGroupMembers];
    const uint32_t n = entry != nullptr ? ValidMembers(*entry, g, members) : 0;
    // Frames for the group count even when nobody can take them: the control plane keeps
    // looking for members while the sender sends.
    if (entry != nullptr) Bump(ctx.counters->group[entry->counter % shm::kMaxGroups].tx_frames);
    if (n == 0) {
      Drop(frame, DropReason::mcast_no_members, drops);
      continue;
    }
    if (r.packets == out_capacity) [[unlikely]] {
      frame.verdict = Verdict::kDrop;
      frame.drop = DropReason::mcast_fanout_cut;
      Bump(drops[uint32_t(DropReason::mcast_fanout_cut)], n);
      continue;
    }
    shm::GroupCounters& gc = ctx.counters->group[entry->counter % shm::kMaxGroups];
    Bump(ctx.counters->stat[uint32_t(Stat::mcast_tx_frames)]);
    // Copies first: they read the frame before its own packet is sealed in place.
    uint32_t made = 1;
    for (uint32_t m = 1; m < n; ++m) {
      const bool room =
          r.packets + made < out_capacity && free_left > 0 &&
          free_buffers[free_left - 1].size >= kFrameOffset + frame.len + kOutboundTailroom;
      if (!room) [[unlikely]] {
        Bump(drops[uint32_t(DropReason::mcast_fanout_cut)], n - m);
        break;
      }
      const CopyBuffer& b = free_buffers[--free_left];
      ++r.buffers_used;
      Packet& copy = out[r.packets + made++];
      copy = Packet{};
      copy.data = b.mem + kFrameOffset;
      std::memcpy(copy.data, frame.data, frame.len);
      copy.len = frame.len;
      copy.headroom = kFrameOffset;
      copy.tailroom = b.size - kFrameOffset - frame.len;
      copy.buf = b.id;
      copy.peer = members[m];
    }
    Packet& first = out[r.packets];
    first = frame;
    first.verdict = Verdict::kForward;
    first.peer = members[0];
    frame.verdict = Verdict::kForward;  // its buffer went with `first`
    r.packets += made;
    Bump(gc.tx_copies, made);
    Bump(ctx.counters->stat[uint32_t(Stat::mcast_tx_copies)], made);
  }
  return r;
}

}  // namespace ipop::dp

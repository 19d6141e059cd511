// Fuzzes what the dataplane reads from shared memory written by another process: the region
// header (ShmRegion::Validate) and a table generation (ValidateGeneration, LookupPeer,
// LookupGroup). The input is both a region image and the head of a Generation; LookupPeer must
// stay inside the generation and return only kNoPeer or an in-range valid peer, and LookupGroup
// only kNoGroup or an entry below min(n_groups, kMaxGroups) holding the group, whatever the
// contents.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shared/table.h"

namespace {

using namespace ipop::shm;

void Require(bool ok) {
  if (!ok) std::abort();
}

void CheckRegion(const uint8_t* data, size_t size) {
  RegionLayout layout{};
  const std::string err = ShmRegion::Validate(data, size, &layout);
  if (err.empty()) {
    Require(layout.n_workers >= 1 && layout.n_workers <= kMaxWorkers);
    Require(layout.region_size <= size);
  }
  // Same verdict from an unaligned copy: Validate must not depend on alignment.
  std::vector<uint8_t> shifted(size + 1);
  if (size > 0) std::memcpy(shifted.data() + 1, data, size);
  Require(ShmRegion::Validate(shifted.data() + 1, size, nullptr) == err);
}

void CheckLookup(const Generation& g, uint32_t vip) {
  const uint32_t peer = LookupPeer(g, vip);
  if (peer == kNoPeer) return;
  Require(peer < g.hdr.n_peers && peer < kMaxPeers);
  Require((g.peers[peer].flags & kPeerValid) != 0);
}

void CheckGroup(const Generation& g, uint32_t group) {
  const uint32_t i = LookupGroup(g, group);
  if (i == kNoGroup) return;
  Require(i < g.hdr.n_groups && i < kMaxGroups);
  Require(g.groups[i].group == group);
}

void TileInto(void* dst, size_t dst_size, const uint8_t* data, size_t size) {
  auto* out = static_cast<uint8_t*>(dst);
  for (size_t done = 0; done < dst_size;) {
    const size_t n = std::min(size, dst_size - done);
    std::memcpy(out + done, data, n);
    done += n;
  }
}

void CheckGeneration(const uint8_t* data, size_t size) {
  if (size < sizeof(GenerationHeader)) return;
  // One heap generation reused across runs: zeroing it is much cheaper than allocating.
  static Generation* const g = new Generation;
  std::memset(static_cast<void*>(g), 0, sizeof(Generation));
  std::memcpy(static_cast<void*>(g), data, std::min(size, sizeof(Generation)));
  // Odd last byte: repeat the input over the route tables too, so probes meet garbage buckets
  // (a zero-padded table is all "occupied" buckets for vip 0 with peer 0).
  if (data[size - 1] & 1) {
    TileInto(g->routes, sizeof(g->routes), data, size);
    TileInto(g->prefixes, sizeof(g->prefixes), data, size);
    TileInto(g->groups, sizeof(g->groups), data, size);
  }
  ValidateGeneration(*g, g->hdr.seq);
  ValidateGeneration(*g, 0);
  CheckLookup(*g, g->hdr.local_vip);
  CheckLookup(*g, 0);
  CheckLookup(*g, 0xffffffffu);
  CheckLookup(*g, g->routes[0].vip);
  CheckLookup(*g, g->prefixes[0].prefix | 1);
  CheckGroup(*g, 0xffffffffu);
  CheckGroup(*g, g->groups[0].group);
  CheckGroup(*g, g->groups[kMaxGroups - 1].group);
  for (size_t off = 0; off + 4 <= std::min<size_t>(size, 64); off += 4) {
    uint32_t vip;
    std::memcpy(&vip, data + off, 4);
    CheckLookup(*g, vip);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckRegion(data, size);
  CheckGeneration(data, size);
  return 0;
}

// Forwarding-table generations: publication by the control plane, adoption and QSBR reporting by
// the dataplane workers, and the per-packet lookup. The ordering argument is in
// docs/shared-memory.md ("Publication and reclamation"); the comments here point at its steps.
#include "shared/table.h"

#include <openssl/crypto.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>

#include "shared/firewall.h"
#include "shared/ring_distance.h"

namespace ipop::shm {
namespace {

constexpr uint32_t kMinMtu = 576;
constexpr uint32_t kMaxMtu = 9000;
constexpr uint32_t kBucketMask = kRouteBuckets - 1;

// Mask for a prefix length 0..32 without the undefined 32-bit shift by 32.
constexpr uint32_t PrefixMask(uint32_t len) {
  return uint32_t(~uint64_t{0} << (32 - len));
}

bool DataplaneAlive(const RegionHeader& h) {
  const int32_t pid = h.dp_pid.load(std::memory_order_acquire);
  if (pid <= 0) return false;  // 0 = none; negative would address a process group
  return kill(pid, 0) == 0 || errno != ESRCH;
}

void SleepOneMs() {
  timespec ts{0, 1'000'000L};
  nanosleep(&ts, nullptr);
}

std::string SlowestWorker(const RegionHeader& h, uint32_t n_workers) {
  uint32_t slowest = 0;
  uint64_t min_seq = kOffline;
  for (uint32_t w = 0; w < n_workers; ++w) {
    const uint64_t q = h.workers[w].quiescent_seq.load(std::memory_order_relaxed);
    if (q < min_seq) {
      min_seq = q;
      slowest = w;
    }
  }
  return "worker " + std::to_string(slowest) + " (at generation " + std::to_string(min_seq) + ")";
}

// The spec turned into the arrays the slot will hold, built off to the side so that a rejected
// spec never touches shared memory.
struct BuiltRoutes {
  std::vector<RouteBucket> buckets;
  std::vector<PrefixRoute> prefixes;
};

bool BuildRoutes(const TableSpec& spec, BuiltRoutes* out, std::string* error) {
  out->buckets.assign(kRouteBuckets, RouteBucket{0, kNoPeer});
  out->prefixes.clear();
  uint32_t n_host_routes = 0;
  for (const RouteSpec& r : spec.routes) {
    if (r.length > 32) {
      *error = "route prefix length " + std::to_string(r.length) + " > 32";
      return false;
    }
    if (r.peer >= spec.peers.size()) {
      *error =
          "route peer " + std::to_string(r.peer) + " >= peers " + std::to_string(spec.peers.size());
      return false;
    }
    if (r.length < 32) {
      out->prefixes.push_back(PrefixRoute{r.prefix & PrefixMask(r.length), r.length, {}, r.peer});
      continue;
    }
    // Keep probe chains short: the reader's miss cost grows sharply past half full.
    if (++n_host_routes > kRouteBuckets / 2) {
      *error = "too many /32 routes (limit " + std::to_string(kRouteBuckets / 2) + ")";
      return false;
    }
    for (uint32_t b = RouteHash(r.prefix);; b = (b + 1) & kBucketMask) {
      RouteBucket& bucket = out->buckets[b];
      if (bucket.peer == kNoPeer) {
        bucket = RouteBucket{r.prefix, r.peer};
        break;
      }
      if (bucket.vip == r.prefix) {
        *error = "duplicate /32 route " + std::to_string(r.prefix);
        return false;
      }
    }
  }
  if (out->prefixes.size() > kMaxPrefixes) {
    *error = "too many non-/32 routes: " + std::to_string(out->prefixes.size()) + " > " +
             std::to_string(kMaxPrefixes);
    return false;
  }
  std::stable_sort(out->prefixes.begin(), out->prefixes.end(),
                   [](const PrefixRoute& a, const PrefixRoute& b) { return a.length > b.length; });
  for (size_t i = 1; i < out->prefixes.size(); ++i) {
    const PrefixRoute& a = out->prefixes[i - 1];
    const PrefixRoute& b = out->prefixes[i];
    if (a.length == b.length && a.prefix == b.prefix) {
      *error = "duplicate route " + std::to_string(a.prefix) + "/" + std::to_string(a.length);
      return false;
    }
  }
  return true;
}

bool CheckSpec(const TableSpec& spec, std::string* error) {
  if (const char* why = nullptr; !fw::ValidateTable(spec.firewall, &why)) {
    *error = std::string("firewall table: ") + why;
    return false;
  }
  if (spec.peers.size() > kMaxPeers) {
    *error =
        "too many peers: " + std::to_string(spec.peers.size()) + " > " + std::to_string(kMaxPeers);
    return false;
  }
  if (spec.links.size() > kMaxLinks) {
    *error = "too many overlay links: " + std::to_string(spec.links.size()) +
             " > kMaxLinks = " + std::to_string(kMaxLinks);
    return false;
  }
  if (spec.groups.size() > kMaxGroups) {
    *error = "too many multicast groups: " + std::to_string(spec.groups.size()) + " > " +
             std::to_string(kMaxGroups);
    return false;
  }
  std::vector<bool> counter_used(kMaxGroups, false);
  for (size_t i = 0; i < spec.groups.size(); ++i) {
    const GroupEntry& e = spec.groups[i];
    const std::string name = "multicast group " + std::to_string(e.group);
    if (e.n_members > kMaxGroupMembers) {
      *error = name + " has " + std::to_string(e.n_members) + " members > " +
               std::to_string(kMaxGroupMembers);
      return false;
    }
    for (uint32_t m = 0; m < e.n_members; ++m) {
      if (e.members[m] >= spec.peers.size()) {
        *error = name + " names peer " + std::to_string(e.members[m]) + " >= peers " +
                 std::to_string(spec.peers.size());
        return false;
      }
    }
    if (e.counter >= kMaxGroups || counter_used[e.counter]) {
      *error = name + " has counter " + std::to_string(e.counter) +
               " (taken or >= " + std::to_string(kMaxGroups) + ")";
      return false;
    }
    counter_used[e.counter] = true;
    for (size_t j = 0; j < i; ++j) {
      if (spec.groups[j].group == e.group) {
        *error = "duplicate " + name;
        return false;
      }
    }
  }
  if (spec.local_prefix_len > 32) {
    *error = "local_prefix_len " + std::to_string(spec.local_prefix_len) + " > 32";
    return false;
  }
  if (spec.mtu < kMinMtu || spec.mtu > kMaxMtu) {
    *error = "mtu " + std::to_string(spec.mtu) + " not in " + std::to_string(kMinMtu) + ".." +
             std::to_string(kMaxMtu);
    return false;
  }
  std::vector<bool> used(kMaxSessions, false);
  for (const SessionSpec& s : spec.sessions) {
    if (s.receiver_index < 1 || s.receiver_index >= kMaxSessions) {
      *error = "session receiver_index " + std::to_string(s.receiver_index) + " not in 1.." +
               std::to_string(kMaxSessions - 1);
      return false;
    }
    if (used[s.receiver_index]) {
      *error = "duplicate session receiver_index " + std::to_string(s.receiver_index);
      return false;
    }
    used[s.receiver_index] = true;
    if ((s.entry.flags & kSessionValid) && s.entry.peer >= spec.peers.size()) {
      *error = "session " + std::to_string(s.receiver_index) + " names peer " +
               std::to_string(s.entry.peer) + " >= peers " + std::to_string(spec.peers.size());
      return false;
    }
  }
  return true;
}

}  // namespace

// ---- Writer (control plane) ----

TableWriter::TableWriter(ShmRegion& region) : region_(region) {
  // A previous control plane may have published generations that workers still hold, and its
  // retire sequences died with it. Treat every non-active slot as retired by the current
  // publication: it is reused only after every worker has adopted that publication.
  const uint64_t a = region_.header().active.load(std::memory_order_seq_cst);
  if (a != 0) {
    for (uint32_t s = 0; s < kNumGenerations; ++s) retire_seq_[s] = ActiveSeq(a);
  }
}

bool TableWriter::Publish(const TableSpec& spec, std::string* error, int timeout_ms) {
  BuiltRoutes routes;
  if (!CheckSpec(spec, error) || !BuildRoutes(spec, &routes, error)) return false;

  RegionHeader& h = region_.header();
  const uint32_t n_workers = region_.layout().n_workers;
  const uint64_t old_active = h.active.load(std::memory_order_seq_cst);
  const uint64_t seq = ActiveSeq(old_active) + 1;
  const uint32_t old_slot = old_active != 0 ? ActiveSlot(old_active) : kNumGenerations;

  // Oldest retirement first: it is the likeliest to have been passed by every worker.
  uint32_t order[kNumGenerations];
  for (uint32_t s = 0; s < kNumGenerations; ++s) order[s] = s;
  std::stable_sort(order, order + kNumGenerations,
                   [&](uint32_t a, uint32_t b) { return retire_seq_[a] < retire_seq_[b]; });

  const uint64_t deadline = MonotonicNs() + uint64_t(std::max(timeout_ms, 0)) * 1'000'000u;
  uint32_t slot = kNumGenerations;
  while (true) {
    for (uint32_t s : order) {
      if (s != old_slot && Reclaimable(s)) {
        slot = s;
        break;
      }
    }
    if (slot != kNumGenerations) break;
    if (MonotonicNs() >= deadline) {
      *error = "no table slot reclaimable within " + std::to_string(timeout_ms) +
               " ms: " + SlowestWorker(h, n_workers) + " of live dataplane pid " +
               std::to_string(h.dp_pid.load(std::memory_order_relaxed)) +
               " still holds an older generation";
      return false;
    }
    SleepOneMs();
  }

  Generation& g = *region_.generation(slot);
  g.hdr = GenerationHeader{};
  g.hdr.n_peers = uint32_t(spec.peers.size());
  g.hdr.n_prefixes = uint32_t(routes.prefixes.size());
  g.hdr.local_vip = spec.local_vip;
  g.hdr.local_prefix_len = spec.local_prefix_len;
  g.hdr.dp_instance = spec.dp_instance;
  g.hdr.mtu = spec.mtu;
  std::copy(std::begin(spec.gateway_mac), std::end(spec.gateway_mac), g.hdr.gateway_mac);
  std::fill(std::begin(g.peers), std::end(g.peers), PeerEntry{});
  std::copy(spec.peers.begin(), spec.peers.end(), g.peers);
  std::fill(std::begin(g.sessions), std::end(g.sessions), SessionEntry{});
  for (const SessionSpec& s : spec.sessions) g.sessions[s.receiver_index] = s.entry;
  std::copy(routes.buckets.begin(), routes.buckets.end(), g.routes);
  std::fill(std::begin(g.prefixes), std::end(g.prefixes), PrefixRoute{});
  std::copy(routes.prefixes.begin(), routes.prefixes.end(), g.prefixes);
  g.hdr.n_links = uint32_t(spec.links.size());
  std::copy(spec.self_ring.begin(), spec.self_ring.end(), g.hdr.self_ring);
  g.hdr.service_ip = spec.service_ip;
  std::fill(std::begin(g.links), std::end(g.links), LinkEntry{});
  std::copy(spec.links.begin(), spec.links.end(), g.links);
  g.hdr.n_groups = uint16_t(spec.groups.size());
  std::fill(std::begin(g.groups), std::end(g.groups), GroupEntry{});
  std::copy(spec.groups.begin(), spec.groups.end(), g.groups);
  g.firewall = spec.firewall;
  g.hdr.seq = seq;
  scrubbed_[slot] = false;

  // Release (as part of seq_cst) publishes the slot contents to readers that acquire `active`;
  // seq_cst also orders it before our later quiescent_seq loads (step 3).
  h.active.store(PackActive(seq, slot), std::memory_order_seq_cst);
  if (old_slot < kNumGenerations) retire_seq_[old_slot] = seq;
  return true;
}

bool TableWriter::Reclaimable(uint32_t slot) const {
  const RegionHeader& h = region_.header();
  if (!DataplaneAlive(h)) return true;
  for (uint32_t w = 0; w < region_.layout().n_workers; ++w) {
    // seq_cst pairs with TableReader::GoOnline (step 3 of the ordering argument).
    const uint64_t q = h.workers[w].quiescent_seq.load(std::memory_order_seq_cst);
    if (q != kOffline && q < retire_seq_[slot]) return false;
  }
  return true;
}

uint32_t TableWriter::ScrubRetired() {
  const uint64_t a = region_.header().active.load(std::memory_order_seq_cst);
  const uint32_t active = a != 0 ? ActiveSlot(a) : kNumGenerations;
  uint32_t n = 0;
  for (uint32_t s = 0; s < kNumGenerations; ++s) {
    // retire_seq_ 0: never held a generation since this writer (or its predecessor) began.
    if (s == active || scrubbed_[s] || retire_seq_[s] == 0 || !Reclaimable(s)) continue;
    Generation& g = *region_.generation(s);
    for (PeerEntry& p : g.peers) {
      OPENSSL_cleanse(p.tx_key, sizeof(p.tx_key));
      OPENSSL_cleanse(p.tx_salt, sizeof(p.tx_salt));
    }
    for (SessionEntry& e : g.sessions) {
      OPENSSL_cleanse(e.rx_key, sizeof(e.rx_key));
      OPENSSL_cleanse(e.rx_salt, sizeof(e.rx_salt));
    }
    scrubbed_[s] = true;
    ++n;
  }
  return n;
}

const Generation* TableWriter::Active() const {
  const uint64_t a = region_.header().active.load(std::memory_order_acquire);
  if (a == 0 || ActiveSlot(a) >= kNumGenerations) return nullptr;
  return region_.generation(ActiveSlot(a));
}

uint64_t TableWriter::seq() const {
  return ActiveSeq(region_.header().active.load(std::memory_order_acquire));
}

// ---- Reader (one per dataplane worker) ----

TableReader::TableReader(ShmRegion& region, uint32_t worker) : region_(region), worker_(worker) {}

const Generation* TableReader::BeginBurst() {
  if (!online_) [[unlikely]] {
    GoOnline();
  } else {
    const uint64_t a = region_.header().active.load(std::memory_order_acquire);
    if (a != last_active_) [[unlikely]]
      Adopt(a);
  }
  // A switch adopted in GoOnline() (after an idle wait) is reported by the next burst too.
  switched_ = adopted_since_burst_;
  adopted_since_burst_ = false;
  return cur_;
}

void TableReader::Adopt(uint64_t a) {
  last_active_ = a;
  if (a == 0) {
    // Only a fresh or rewritten header reads 0; nothing is published there.
    cur_ = nullptr;
    held_active_ = 0;
    seq_ = 0;
    return;
  }
  const uint32_t slot = ActiveSlot(a);
  if (slot >= kNumGenerations || !ValidateGeneration(*region_.generation(slot), ActiveSeq(a))) {
    ++invalid_;  // keep the last generation: our quiescent_seq still protects its slot
    return;
  }
  cur_ = region_.generation(slot);
  held_active_ = a;
  seq_ = ActiveSeq(a);
  adopted_since_burst_ = true;
  // Release: every read of the previous generation happens before the writer's acquire load
  // that sees this value and reuses the previous slot (step 2).
  region_.header().workers[worker_].quiescent_seq.store(seq_, std::memory_order_release);
}

void TableReader::GoOffline() {
  online_ = false;
  region_.header().workers[worker_].quiescent_seq.store(kOffline, std::memory_order_release);
}

void TableReader::GoOnline() {
  RegionHeader& h = region_.header();
  // Dekker pairing with TableWriter::Publish (step 3): we store our claim, then load `active`;
  // the writer stores `active`, then loads our claim; all four are seq_cst. Either the writer's
  // load sees our claim (and keeps every slot retired after it), or it precedes our store in the
  // single total order, and then our load of `active` below sees that publication or a later
  // one, so we never pick up a slot the writer is reusing. The claim is the active seq we saw
  // first; what we adopt below is at least that new, so the claim never overstates.
  const uint64_t claim = ActiveSeq(h.active.load(std::memory_order_seq_cst));
  h.workers[worker_].quiescent_seq.store(claim, std::memory_order_seq_cst);
  online_ = true;
  const uint64_t a = h.active.load(std::memory_order_seq_cst);
  if (a == held_active_ && a != 0) {
    // Still the active publication, so its slot was never eligible for reuse while we slept.
    last_active_ = a;
    h.workers[worker_].quiescent_seq.store(seq_, std::memory_order_release);
    return;
  }
  // While offline our slot may have been reused: never fall back to it.
  cur_ = nullptr;
  held_active_ = 0;
  seq_ = 0;
  Adopt(a);
}

bool ValidateGeneration(const Generation& g, uint64_t expected_seq) {
  const GenerationHeader& h = g.hdr;
  return h.seq == expected_seq && h.n_peers <= kMaxPeers && h.n_prefixes <= kMaxPrefixes &&
         h.n_links <= kMaxLinks && h.n_groups <= kMaxGroups && h.local_prefix_len <= 32 &&
         h.mtu >= kMinMtu && h.mtu <= kMaxMtu && fw::ValidateTable(g.firewall);
}

uint32_t LookupPeer(const Generation& g, uint32_t vip) {
  // Every count read here is re-bounded locally: the generation may be garbage.
  uint32_t peer = kNoPeer;
  uint32_t b = RouteHash(vip);
  for (uint32_t probes = 0; probes < kRouteBuckets; ++probes, b = (b + 1) & kBucketMask) {
    const RouteBucket& bucket = g.routes[b];
    if (bucket.peer == kNoPeer) break;
    if (bucket.vip == vip) {
      peer = bucket.peer;
      break;
    }
  }
  if (peer == kNoPeer) [[unlikely]] {
    const uint32_t n = std::min(g.hdr.n_prefixes, kMaxPrefixes);
    for (uint32_t i = 0; i < n; ++i) {
      const PrefixRoute& p = g.prefixes[i];
      const uint32_t len = p.length;
      if (len <= 32 && (vip & PrefixMask(len)) == p.prefix) {
        peer = p.peer;
        break;
      }
    }
  }
  if (peer >= g.hdr.n_peers || peer >= kMaxPeers) return kNoPeer;
  return (g.peers[peer].flags & kPeerValid) ? peer : kNoPeer;
}

uint32_t LookupGroup(const Generation& g, uint32_t group) {
  const uint32_t n = std::min<uint32_t>(g.hdr.n_groups, kMaxGroups);  // may be garbage
  for (uint32_t i = 0; i < n; ++i)
    if (g.groups[i].group == group) return i;
  return kNoGroup;
}

uint32_t NextHopLink(const Generation& g, const uint8_t dst[kRingBytes]) {
  static_assert(ring::kAddressBytes == kRingBytes);
  const ring::U160 key = ring::Load(dst);
  // The best candidate so far, starting from this node: a link must beat it to be chosen.
  ring::U160 best = ring::Load(g.hdr.self_ring);
  ring::U160 best_distance = ring::Distance(best, key);
  uint32_t best_link = kNoLink;
  // Re-bounded locally: the generation may be garbage.
  const uint32_t n = std::min(g.hdr.n_links, kMaxLinks);
  for (uint32_t i = 0; i < n; ++i) {
    const LinkEntry& link = g.links[i];
    if ((link.flags & kLinkValid) == 0) continue;
    const ring::U160 addr = ring::Load(link.ring);
    const ring::U160 d = ring::Distance(addr, key);
    // ring::CloserTo(key, addr, best) with best's distance kept from the last win.
    if (ring::Less(d, best_distance) || (d == best_distance && ring::Less(addr, best))) {
      best = addr;
      best_distance = d;
      best_link = i;
    }
  }
  return best_link;
}

}  // namespace ipop::shm

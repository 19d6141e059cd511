// The DPDK underlay's ARP cache: next-hop IPv4 address -> MAC. The kernel keeps this for the
// io_uring backend; a dataplane that owns its NIC keeps its own (underlay_stack.h learns into it,
// encapsulation reads it per packet).
//
// One table per process, shared by the workers: an ARP reply lands on one worker's queue, and
// every worker sends to the same next hops. Fixed size (open addressing over kSlots entries, a
// probe run of kProbe), no allocation after construction. Readers never wait: each entry is a
// seqlock (an odd sequence while a writer changes it; a reader retries when the sequence moved).
// Writers are rare (ARP frames, the first datagram from a new next hop) and take a spin flag, so
// two writers never interleave on one entry. Entries are refreshed whenever the neighbour is
// heard from again and never expire otherwise; a neighbour that changes its MAC announces it
// (gratuitous ARP) or answers the next request.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

namespace ipop::dp {

class NeighbourTable {
 public:
  static constexpr uint32_t kSlots = 256;  // power of two
  static constexpr uint32_t kProbe = 8;
  static constexpr uint64_t kRequestEveryNs = 200'000'000;  // ARP requests per next hop

  // The MAC of `ip` (host order) if known.
  bool Lookup(uint32_t ip, uint8_t mac[6]) const {
    for (uint32_t i = 0; i < kProbe; ++i) {
      const Entry& e = slots_[(Hash(ip) + i) & (kSlots - 1)];
      for (;;) {
        const uint32_t s1 = e.seq.load(std::memory_order_acquire);
        if (s1 & 1) continue;  // a writer is in the middle of it
        const uint32_t key = e.ip.load(std::memory_order_relaxed);
        const uint64_t m = e.mac.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (e.seq.load(std::memory_order_relaxed) != s1) continue;
        if (key != ip || (m & kValid) == 0) break;
        UnpackMac(m, mac);
        return true;
      }
    }
    return false;
  }

  // Records that `ip` is at `mac` (from an ARP frame or a datagram of an on-link sender).
  void Learn(uint32_t ip, const uint8_t mac[6]) {
    const uint64_t packed = PackMac(mac) | kValid;
    Entry* e = Slot(ip);
    if (e->ip.load(std::memory_order_relaxed) == ip &&
        e->mac.load(std::memory_order_relaxed) == packed)
      return;  // the common case: nothing changed, no write
    Lock();
    Write(*Slot(ip), ip, packed, 0);
    Unlock();
  }

  // True when an ARP request for `ip` should go out now: at most one per kRequestEveryNs per
  // address, whoever asks. Records the request.
  bool ShouldRequest(uint32_t ip, uint64_t now_ns) {
    Entry* e = Slot(ip);
    if (e->ip.load(std::memory_order_relaxed) == ip &&
        now_ns - e->requested_ns.load(std::memory_order_relaxed) < kRequestEveryNs)
      return false;
    Lock();
    e = Slot(ip);
    bool send = true;
    if (e->ip.load(std::memory_order_relaxed) == ip) {
      send = now_ns - e->requested_ns.load(std::memory_order_relaxed) >= kRequestEveryNs;
      if (send) e->requested_ns.store(now_ns, std::memory_order_relaxed);
    } else {
      Write(*e, ip, 0, now_ns);  // an unresolved entry that remembers the request
    }
    Unlock();
    return send;
  }

  // The MAC that datagrams from off-link sources came from: the router toward them, when no
  // gateway is configured. False until one arrived.
  bool LearnedRouter(uint8_t mac[6]) const {
    const uint64_t m = router_.load(std::memory_order_relaxed);
    if ((m & kValid) == 0) return false;
    UnpackMac(m, mac);
    return true;
  }
  void LearnRouter(const uint8_t mac[6]) {
    const uint64_t packed = PackMac(mac) | kValid;
    if (router_.load(std::memory_order_relaxed) != packed)
      router_.store(packed, std::memory_order_relaxed);
  }

 private:
  static constexpr uint64_t kValid = uint64_t{1} << 48;
  struct alignas(32) Entry {
    std::atomic<uint32_t> seq{0};
    std::atomic<uint32_t> ip{0};
    std::atomic<uint64_t> mac{0};  // 48-bit MAC | kValid, 0 while unresolved
    std::atomic<uint64_t> requested_ns{0};
  };

  static uint32_t Hash(uint32_t ip) { return (ip * 0x9e3779b1u) >> 24; }
  static uint64_t PackMac(const uint8_t mac[6]) {
    uint64_t v = 0;
    std::memcpy(&v, mac, 6);
    return v;
  }
  static void UnpackMac(uint64_t v, uint8_t mac[6]) { std::memcpy(mac, &v, 6); }

  // The entry of `ip`, else a free one of its probe run, else the run's first (replaced).
  Entry* Slot(uint32_t ip) {
    Entry* free_entry = nullptr;
    for (uint32_t i = 0; i < kProbe; ++i) {
      Entry& e = slots_[(Hash(ip) + i) & (kSlots - 1)];
      const uint32_t key = e.ip.load(std::memory_order_relaxed);
      if (key == ip) return &e;
      if (key == 0 && free_entry == nullptr) free_entry = &e;
    }
    return free_entry != nullptr ? free_entry : &slots_[Hash(ip) & (kSlots - 1)];
  }
  void Write(Entry& e, uint32_t ip, uint64_t mac, uint64_t requested_ns) {
    const uint32_t s = e.seq.load(std::memory_order_relaxed);
    e.seq.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    // A new address starts unresolved; a known one keeps its MAC until a new one is learnt.
    if (mac != 0 || e.ip.load(std::memory_order_relaxed) != ip)
      e.mac.store(mac, std::memory_order_relaxed);
    e.ip.store(ip, std::memory_order_relaxed);
    if (requested_ns != 0) e.requested_ns.store(requested_ns, std::memory_order_relaxed);
    e.seq.store(s + 2, std::memory_order_release);
  }
  void Lock() {
    while (lock_.exchange(true, std::memory_order_acquire)) {
    }
  }
  void Unlock() { lock_.store(false, std::memory_order_release); }

  Entry slots_[kSlots];
  std::atomic<uint64_t> router_{0};
  std::atomic<bool> lock_{false};
};

}  // namespace ipop::dp

// Transmit nonces shared by every worker of one dataplane process.
//
// AES-GCM and ChaCha20-Poly1305 break if one (key, nonce) pair seals twice, and with several
// workers a peer's tx key is used by all of them at once. Each peer slot has one counter in
// process memory; a worker takes a block of kBlock consecutive values from it with one atomic
// fetch_add and seals with them one by one, so two workers can never use the same value. The
// counter never goes back while the process lives - not when the peer's key changes, not when the
// slot is reused - so no value is ever used twice under any key (a restarted dataplane gets a new
// instance id and therefore new keys, docs/architecture.md).
//
// Why the receiver's single replay window still accepts everything: a worker drops the rest of
// its block and takes a fresh one when the peer's counter has moved more than kStale past its
// next value (another worker sent a lot meanwhile). So every sealed value is at most kStale
// below any value sealed before it (plus what the other workers take during one burst), and the
// receiver's window of ReplayWindow::kWindow values leaves kWindow - kStale for reordering on
// the underlay. Sender and receiver worker counts do not matter: the receiver sees one counter.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/replay_window.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

// The part of the peer's counter a worker holds: [next, end).
struct NonceRange {
  uint64_t next = 0;
  uint64_t end = 0;
};

class TxNonceSpace {
 public:
  static constexpr uint64_t kBlock = 256;  // one fetch_add per this many packets per peer
  static constexpr uint64_t kStale = ReplayWindow::kWindow / 2;
  static_assert(kBlock < kStale);

  explicit TxNonceSpace(uint32_t n_peers = shm::kMaxPeers);
  TxNonceSpace(const TxNonceSpace&) = delete;
  TxNonceSpace& operator=(const TxNonceSpace&) = delete;

  // The next nonce of `peer` (< n_peers, checked by the caller) for the worker holding `range`.
  // False only when the counter is exhausted (2^64 values; a rekey comes long before).
  bool Next(uint32_t peer, NonceRange& range, uint64_t* nonce) {
    std::atomic<uint64_t>& issued = slots_[peer].issued;
    // Relaxed: fetch_add alone makes the blocks disjoint; the load only decides staleness.
    if (range.next == range.end || issued.load(std::memory_order_relaxed) - range.next > kStale)
        [[unlikely]] {
      const uint64_t start = issued.fetch_add(kBlock, std::memory_order_relaxed);
      if (start > ~uint64_t{0} - kBlock) [[unlikely]]
        return false;
      range.next = start;
      range.end = start + kBlock;
    }
    *nonce = range.next++;
    return true;
  }

  // Values handed out so far for `peer` (tests, diagnostics).
  uint64_t issued(uint32_t peer) const { return slots_[peer].issued.load(); }

 private:
  struct alignas(64) Slot {  // one cache line per peer: workers sealing for different peers
    std::atomic<uint64_t> issued{0};  // do not share lines
  };
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace ipop::dp

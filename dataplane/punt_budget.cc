#include "dataplane/punt_budget.h"

namespace ipop::dp {

bool PuntBudget::Admit(shm::PuntKind kind, const Packet& p, uint32_t ring_free,
                       uint32_t ring_capacity, uint64_t now_ns, DropReason* why) {
  if (ring_free == 0) {
    *why = DropReason::punt_ring_full;
    return false;
  }
  if (kind == shm::PuntKind::kTapFrame) {
    if (tap_.Take(now_ns)) return true;
    *why = DropReason::punt_tap_limited;
    return false;
  }
  // Cheapest refusal first, and before any token is spent: a ring the control plane does not
  // drain fast enough makes every bucket irrelevant.
  if (ring_free <= ring_capacity / 4) {
    *why = DropReason::punt_ring_reserved;
    return false;
  }
  switch (sources_.Take(p.addr, now_ns)) {
    case SourceLimiter::Result::kAllowed:
      break;
    case SourceLimiter::Result::kSourceLimited:
      *why = DropReason::punt_source_limited;
      return false;
    case SourceLimiter::Result::kUntrackedLimited:
      *why = DropReason::punt_untracked_limited;
      return false;
  }
  if (underlay_.Take(now_ns)) return true;
  *why = DropReason::punt_underlay_limited;
  return false;
}

}  // namespace ipop::dp

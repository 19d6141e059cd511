#include "controlplane/sessions/replay_guard.h"

#include <algorithm>
#include <cstring>

namespace ipop::cp {

const char* ReplayVerdictName(ReplayVerdict v) {
  switch (v) {
    case ReplayVerdict::kFresh:
      return "fresh";
    case ReplayVerdict::kReplayed:
      return "replayed";
    case ReplayVerdict::kTooOld:
      return "too-old";
    case ReplayVerdict::kAhead:
      return "clock-ahead";
  }
  return "?";
}

ReplayGuard::ReplayGuard(uint64_t start_wall_ns, size_t max_senders)
    : floor_(start_wall_ns > kStartSkewNs ? start_wall_ns - kStartSkewNs : 0),
      max_senders_(std::max<size_t>(max_senders, 1)) {}

ReplayGuard::Key ReplayGuard::KeyOf(std::span<const uint8_t> bytes) {
  Key k{};
  std::memcpy(k.data(), bytes.data(), std::min(bytes.size(), k.size()));
  return k;
}

ReplayGuard::Key ReplayGuard::KeyOfVip(uint32_t vip) {
  const uint8_t b[4] = {uint8_t(vip >> 24), uint8_t(vip >> 16), uint8_t(vip >> 8), uint8_t(vip)};
  return KeyOf(b);
}

void ReplayGuard::EvictOldest() {
  auto oldest = senders_.begin();
  for (auto it = senders_.begin(); it != senders_.end(); ++it)
    if (it->second.last_seen_wall < oldest->second.last_seen_wall) oldest = it;
  floor_ = std::max(floor_, oldest->second.highest);
  senders_.erase(oldest);
}

ReplayVerdict ReplayGuard::Check(const Key& sender, uint64_t ts, uint64_t now_wall_ns) {
  if (ts > now_wall_ns && ts - now_wall_ns > kAheadNs) return ReplayVerdict::kAhead;
  if (ts <= floor_) return ReplayVerdict::kTooOld;
  auto it = senders_.find(sender);
  if (it == senders_.end()) {
    if (senders_.size() >= max_senders_) {
      EvictOldest();
      if (ts <= floor_) return ReplayVerdict::kTooOld;
    }
    it = senders_.emplace(sender, Sender{}).first;
  }
  Sender& s = it->second;
  if (ts <= s.highest) {
    if (s.highest - ts > kReorderNs) return ReplayVerdict::kReplayed;
    uint64_t oldest_kept = ~uint64_t{0};
    bool full = true;
    for (uint64_t r : s.recent) {
      if (r == ts) return ReplayVerdict::kReplayed;
      if (r == 0)
        full = false;
      else
        oldest_kept = std::min(oldest_kept, r);
    }
    // Older than every remembered one: it may be a copy of one the ring no longer holds.
    if (full && ts < oldest_kept) return ReplayVerdict::kReplayed;
  }
  s.highest = std::max(s.highest, ts);
  s.recent[s.next] = ts;
  s.next = (s.next + 1) % kHistory;
  s.last_seen_wall = now_wall_ns;
  return ReplayVerdict::kFresh;
}

}  // namespace ipop::cp

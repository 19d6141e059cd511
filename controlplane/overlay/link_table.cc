#include "controlplane/overlay/link_table.h"

#include <algorithm>

namespace ipop::cp::overlay {

size_t LinkTable::CountWithRole(uint8_t role) const {
  size_t n = 0;
  for (const Link& l : links_) n += (l.roles & role) ? 1 : 0;
  return n;
}

size_t LinkTable::PositionOf(const RingAddress& a) const {
  return size_t(
      std::lower_bound(links_.begin(), links_.end(), a,
                       [](const Link& l, const RingAddress& x) { return l.address < x; }) -
      links_.begin());
}

Link* LinkTable::Find(const RingAddress& a) {
  const size_t i = PositionOf(a);
  return i < links_.size() && links_[i].address == a ? &links_[i] : nullptr;
}
const Link* LinkTable::Find(const RingAddress& a) const {
  const size_t i = PositionOf(a);
  return i < links_.size() && links_[i].address == a ? &links_[i] : nullptr;
}

Link& LinkTable::Upsert(const RingAddress& a, const Endpoint& ep, uint8_t roles, uint64_t now_ns) {
  const size_t i = PositionOf(a);
  if (i < links_.size() && links_[i].address == a) {
    Link& l = links_[i];
    l.endpoint = ep;
    l.roles |= roles;
    UpdateSurplus(l, now_ns);
    Heard(l, now_ns);
    return l;
  }
  Link l;
  l.address = a;
  l.endpoint = ep;
  l.roles = roles;
  l.created_ns = now_ns;
  l.last_heard_ns = now_ns;
  UpdateSurplus(l, now_ns);
  return *links_.insert(links_.begin() + std::ptrdiff_t(i), l);
}

bool LinkTable::Remove(const RingAddress& a) {
  const size_t i = PositionOf(a);
  if (i >= links_.size() || links_[i].address != a) return false;
  links_.erase(links_.begin() + std::ptrdiff_t(i));
  return true;
}

void LinkTable::Heard(Link& l, uint64_t now_ns) {
  l.last_heard_ns = now_ns;
  l.missed_probes = 0;
}

void LinkTable::UpdateSurplus(Link& l, uint64_t now_ns) {
  if (l.roles != 0) {
    l.surplus_since_ns = 0;
  } else if (l.surplus_since_ns == 0) {
    l.surplus_since_ns = now_ns;
  }
}

void LinkTable::ClearRole(const RingAddress& a, uint8_t role, uint64_t now_ns) {
  if (Link* l = Find(a)) {
    l->roles &= uint8_t(~role);
    UpdateSurplus(*l, now_ns);
  }
}

std::vector<const Link*> LinkTable::Successors(size_t n) const {
  std::vector<const Link*> out;
  const size_t total = links_.size();
  // The first link above self, wrapping; self is never in the table.
  const size_t start = PositionOf(self_);
  for (size_t k = 0; k < std::min(n, total); ++k) out.push_back(&links_[(start + k) % total]);
  return out;
}

std::vector<const Link*> LinkTable::Predecessors(size_t n) const {
  std::vector<const Link*> out;
  const size_t total = links_.size();
  const size_t start = PositionOf(self_);  // links_[start - 1] is the first below self
  for (size_t k = 1; k <= std::min(n, total); ++k)
    out.push_back(&links_[(start + total - k) % total]);
  return out;
}

bool LinkTable::RecomputeNear(uint64_t now_ns) {
  const size_t total = links_.size();
  std::vector<uint8_t> near(total, 0);
  const size_t start = PositionOf(self_);
  for (size_t k = 0; k < std::min(near_per_side_, total); ++k) {
    near[(start + k) % total] = 1;
    near[(start + total - 1 - k) % total] = 1;
  }
  bool changed = false;
  for (size_t i = 0; i < total; ++i) {
    Link& l = links_[i];
    const bool was = l.roles & kRoleNear;
    if (was == bool(near[i])) continue;
    changed = true;
    if (near[i]) {
      l.roles |= kRoleNear;
    } else {
      l.roles &= uint8_t(~kRoleNear);
    }
    UpdateSurplus(l, now_ns);
  }
  return changed;
}

bool LinkTable::WouldBeNear(const RingAddress& a) const {
  if (a == self_) return false;
  const auto succ = Successors(near_per_side_);
  const auto pred = Predecessors(near_per_side_);
  if (succ.size() < near_per_side_ || pred.size() < near_per_side_) return true;
  if (ClockwiseDistance(self_, a) < ClockwiseDistance(self_, succ.back()->address)) return true;
  return ClockwiseDistance(a, self_) < ClockwiseDistance(pred.back()->address, self_);
}

double LinkTable::EstimateSize() const {
  const auto succ = Successors(near_per_side_);
  const auto pred = Predecessors(near_per_side_);
  if (succ.empty() || pred.empty()) return 1.0 + double(links_.size());
  const double span = ClockwiseDistance(pred.back()->address, succ.back()->address).ToFraction();
  const double gaps = double(succ.size() + pred.size());
  if (span <= 0) return 1.0 + double(links_.size());
  return std::max(1.0 + double(links_.size()), gaps / span);
}

void LinkTable::CheckLiveness(uint64_t now_ns, LivenessActions* out) {
  for (Link& l : links_) {
    if (l.missed_probes == 0) {
      if (now_ns < l.last_heard_ns + timers_.probe_idle_ns) continue;
    } else if (now_ns < l.last_probe_ns + timers_.probe_interval_ns) {
      continue;
    }
    if (l.missed_probes >= timers_.dead_after_missed) {
      out->dead.push_back(l.address);
      continue;
    }
    ++l.missed_probes;
    l.last_probe_ns = now_ns;
    out->probe.push_back(l.address);
  }
}

std::vector<RingAddress> LinkTable::Surplus(uint64_t now_ns) const {
  std::vector<RingAddress> out;
  for (const Link& l : links_)
    if (l.roles == 0 && l.surplus_since_ns != 0 &&
        now_ns >= l.surplus_since_ns + timers_.surplus_grace_ns)
      out.push_back(l.address);
  return out;
}

std::vector<RingAddress> LinkTable::FarOutBeyond(size_t target) const {
  std::vector<const Link*> far;
  for (const Link& l : links_)
    if (l.roles & kRoleFarOut) far.push_back(&l);
  if (far.size() <= target) return {};
  std::sort(far.begin(), far.end(),
            [](const Link* a, const Link* b) { return a->created_ns < b->created_ns; });
  std::vector<RingAddress> out;
  for (size_t i = 0; i < far.size() - target; ++i) out.push_back(far[i]->address);
  return out;
}

}  // namespace ipop::cp::overlay

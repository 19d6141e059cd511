#include "controlplane/overlay/nat_observer.h"

#include <algorithm>
#include <cstring>

namespace ipop::cp::overlay {
namespace {

bool SameAddress(const Endpoint& a, const Endpoint& b) {
  return std::memcmp(a.addr, b.addr, sizeof(a.addr)) == 0;
}

}  // namespace

const char* NatClassName(NatClass c) {
  switch (c) {
    case NatClass::kUnknown:
      return "unknown";
    case NatClass::kNone:
      return "none";
    case NatClass::kEndpointIndependent:
      return "endpoint-independent";
    case NatClass::kAddressPortDependent:
      return "address/port-dependent";
  }
  return "unknown";
}

bool BothSymmetric(NatClass a, NatClass b) {
  return a == NatClass::kAddressPortDependent && b == NatClass::kAddressPortDependent;
}

bool NatObserver::Report(const RingAddress& reporter, const Endpoint& reporter_endpoint,
                         const Endpoint& observed, uint64_t now_ns) {
  auto it = std::find_if(reports_.begin(), reports_.end(),
                         [&](const Entry& e) { return e.reporter == reporter; });
  bool moved = false;
  if (it != reports_.end()) {
    // The same node now sees us elsewhere while it stayed put: our mapping changed, so what the
    // others said describes the old one.
    moved =
        Live(*it, now_ns) && it->observed != observed && it->reporter_endpoint == reporter_endpoint;
    reports_.erase(it);
  }
  if (moved) {
    ++epoch_;
    ++rebindings_;
  }
  if (reports_.size() >= kMaxReports) reports_.erase(reports_.begin());  // oldest first
  reports_.push_back({reporter, reporter_endpoint, observed, now_ns, epoch_});
  return moved;
}

NatClass NatObserver::Classify(uint64_t now_ns) const {
  const Entry* first = nullptr;
  bool all_local = true;
  bool two_addresses = false;
  for (const Entry& e : reports_) {
    if (!Live(e, now_ns)) continue;
    all_local = all_local && e.observed == local_;
    if (first == nullptr) {
      first = &e;
      continue;
    }
    if (!SameAddress(first->reporter_endpoint, e.reporter_endpoint)) {
      if (first->observed != e.observed) return NatClass::kAddressPortDependent;
      two_addresses = true;
    }
  }
  if (first == nullptr) return NatClass::kUnknown;
  if (all_local) return NatClass::kNone;
  return two_addresses ? NatClass::kEndpointIndependent : NatClass::kUnknown;
}

std::optional<Endpoint> NatObserver::Reflexive(uint64_t now_ns) const {
  for (auto it = reports_.rbegin(); it != reports_.rend(); ++it)
    if (Live(*it, now_ns)) return it->observed;
  return std::nullopt;
}

std::vector<Candidate> NatObserver::Candidates(uint64_t now_ns) const {
  std::vector<Candidate> out;
  if (local_.port != 0) out.push_back({CandidateKind::kLocal, local_});
  if (const auto r = Reflexive(now_ns); r && *r != local_)
    out.push_back({CandidateKind::kReflexive, *r});
  return out;
}

}  // namespace ipop::cp::overlay

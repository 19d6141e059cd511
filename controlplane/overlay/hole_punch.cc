#include "controlplane/overlay/hole_punch.h"

#include <algorithm>

#include "controlplane/overlay/messages.h"
#include "shared/wire.h"

namespace ipop::cp::overlay {

const char* PunchStateName(PunchState s) {
  switch (s) {
    case PunchState::kIdle:
      return "idle";
    case PunchState::kPunching:
      return "punching";
    case PunchState::kDirect:
      return "direct";
    case PunchState::kFailed:
      return "failed";
  }
  return "idle";
}

const char* PunchWhyName(PunchWhy w) {
  switch (w) {
    case PunchWhy::kNone:
      return "";
    case PunchWhy::kNoAnswer:
      return "no answer";
    case PunchWhy::kBothSymmetric:
      return "both symmetric";
    case PunchWhy::kNoRoute:
      return "no overlay route";
  }
  return "";
}

std::vector<uint8_t> EncodePunch(const PunchMessage& m) {
  const size_t n = std::min(m.candidates.size(), kMaxCandidates);
  std::vector<uint8_t> v(kPunchFixedSize + n * kEndpointSize);
  v[0] = m.answer ? 2 : 1;
  v[1] = uint8_t(m.nat);
  v[2] = uint8_t(n);
  wire::StoreBe64(v.data() + 4, m.token);
  for (size_t i = 0; i < n; ++i)
    StoreEndpoint(v.data() + kPunchFixedSize + i * kEndpointSize, m.candidates[i]);
  return v;
}

std::optional<PunchMessage> DecodePunch(std::span<const uint8_t> p) {
  if (p.size() < kPunchFixedSize) return std::nullopt;
  const size_t n = p[2];
  if ((p[0] != 1 && p[0] != 2) || p[1] > uint8_t(NatClass::kAddressPortDependent) || n == 0 ||
      n > kMaxCandidates || p[3] != 0 || p.size() != kPunchFixedSize + n * kEndpointSize)
    return std::nullopt;
  PunchMessage m;
  m.answer = p[0] == 2;
  m.nat = NatClass(p[1]);
  m.token = wire::LoadBe64(p.data() + 4);
  for (size_t i = 0; i < n; ++i) {
    const Endpoint e = LoadEndpoint(p.data() + kPunchFixedSize + i * kEndpointSize);
    if (e.port == 0) return std::nullopt;
    m.candidates.push_back(e);
  }
  return m;
}

HolePunch::Peer* HolePunch::Get(const RingAddress& a) {
  const uint64_t now = clock_.NowNs();
  auto it = peers_.find(a);
  if (it == peers_.end()) {
    if (peers_.size() >= options_.max_peers) {
      // Forget the peer least recently touched that is not punching right now.
      auto victim = peers_.end();
      for (auto i = peers_.begin(); i != peers_.end(); ++i)
        if (i->second.status.state != PunchState::kPunching &&
            (victim == peers_.end() || i->second.last_touched_ns < victim->second.last_touched_ns))
          victim = i;
      if (victim == peers_.end()) return nullptr;
      peers_.erase(victim);
    }
    it = peers_.emplace(a, Peer{}).first;
  }
  it->second.last_touched_ns = now;
  return &it->second;
}

void HolePunch::AddCandidates(Peer& p, std::span<const Endpoint> c) {
  for (const Endpoint& e : c) {
    if (e.port == 0 || std::find(p.candidates.begin(), p.candidates.end(), e) != p.candidates.end())
      continue;
    if (p.candidates.size() >= 2 * kMaxCandidates) p.candidates.erase(p.candidates.begin());
    p.candidates.push_back(e);
  }
}

void HolePunch::Want(const RingAddress& a, const Endpoint& hint) {
  Peer* p = Get(a);
  if (p == nullptr) return;
  AddCandidates(*p, {&hint, 1});
  if (env_.Linked(a)) {
    p->status.state = PunchState::kDirect;
    return;
  }
  const uint64_t now = clock_.NowNs();
  if (p->status.state == PunchState::kPunching) return;
  if (p->status.state == PunchState::kFailed && now < p->retry_at_ns) return;
  Start(a, *p);
}

void HolePunch::Restart(const RingAddress& a, const Endpoint& hint) {
  Peer* p = Get(a);
  if (p == nullptr) return;
  AddCandidates(*p, {&hint, 1});
  if (p->status.state == PunchState::kPunching) return;
  ++counters_.restarts;
  p->backoff_ns = 0;
  Start(a, *p);
  p->repair = true;
}

// A run is done once the link exists and, for a repair, has been heard since the run began.
bool HolePunch::Done(const RingAddress& a, const Peer& p) const {
  if (!env_.Linked(a)) return false;
  return !p.repair || env_.HeardNs(a) >= p.started_ns;
}

void HolePunch::SendOffer(const RingAddress& a, Peer& p, bool answer) {
  PunchMessage m{answer, env_.OurClass(), p.token, env_.OurCandidates()};
  p.offered = m.candidates;
  if (m.candidates.empty() || !env_.SendPunch(a, EncodePunch(m))) {
    // Without an overlay route the peer cannot learn our candidates; our probes alone may still
    // work (a peer that can be reached from anywhere).
    if (!answer) p.status.why = PunchWhy::kNoRoute;
    return;
  }
  if (!answer) ++counters_.offers_sent;
}

void HolePunch::Start(const RingAddress& a, Peer& p) {
  const uint64_t now = clock_.NowNs();
  ++counters_.runs;
  ++p.status.attempts;
  uint8_t b[8];
  random_.Fill(b);
  p.token = wire::LoadBe64(b) | 1;
  p.started_ns = now;
  p.status.state = PunchState::kPunching;
  p.status.why = PunchWhy::kNone;
  p.repair = false;
  p.window_end_ns = now + options_.window_ns;
  SendOffer(a, p, false);
  Probing(a, p, now);
}

void HolePunch::Probing(const RingAddress& a, Peer& p, uint64_t now) {
  p.next_probe_ns = now + options_.probe_interval_ns;
  if (!p.candidates.empty()) env_.Probe(a, p.candidates);
}

void HolePunch::OnMessage(const RingAddress& source, std::span<const uint8_t> payload) {
  const std::optional<PunchMessage> m = DecodePunch(payload);
  if (!m) {
    ++counters_.bad_messages;
    return;
  }
  Peer* p = Get(source);
  if (p == nullptr) return;
  const uint64_t now = clock_.NowNs();
  p->status.peer_nat = m->nat;
  AddCandidates(*p, m->candidates);
  if (m->answer) {
    ++counters_.answers_received;
    if (p->status.state == PunchState::kPunching && m->token == p->token) Probing(source, *p, now);
    return;
  }
  ++counters_.offers_received;
  // A node linked to us never offers (it would be direct): an offer over a link older than a
  // punch window means the peer dropped its side (a rebinding it noticed first). A younger link
  // is this very punch's, reached before its offer.
  if (env_.Linked(source) && now - env_.LinkedSinceNs(source) > options_.window_ns) {
    ++counters_.restarts;
    env_.LinkBroken(source);
  }
  // The other side probes now (a new link, or repairing one that broke): so must we, or its
  // probes meet a closed NAT on our side. A run already going keeps its window (an offer cannot
  // stretch our probing).
  if (p->status.state != PunchState::kPunching) {
    p->status.state = PunchState::kPunching;
    p->status.why = PunchWhy::kNone;
    p->started_ns = now;
    p->window_end_ns = now + options_.window_ns;
    p->repair = env_.Linked(source);
  }
  p->token = m->token;
  SendOffer(source, *p, true);
  Probing(source, *p, now);
}

void HolePunch::Tick() {
  const uint64_t now = clock_.NowNs();
  for (auto& [a, p] : peers_) {
    if (p.status.state == PunchState::kDirect) {
      if (!env_.Linked(a)) p.status.state = PunchState::kIdle;
      continue;
    }
    if (p.status.state != PunchState::kPunching) continue;
    if (Done(a, p)) {
      ++counters_.succeeded;
      p.status.state = PunchState::kDirect;
      p.status.why = PunchWhy::kNone;
      p.status.last_direct_after_ns = now - p.started_ns;
      p.backoff_ns = 0;
      continue;
    }
    if (now >= p.window_end_ns) {
      ++counters_.failed;
      p.status.state = PunchState::kFailed;
      if (BothSymmetric(env_.OurClass(), p.status.peer_nat)) {
        p.status.why = PunchWhy::kBothSymmetric;
        ++counters_.failed_both_symmetric;
      } else if (p.status.why != PunchWhy::kNoRoute) {
        p.status.why = PunchWhy::kNoAnswer;
      }
      p.backoff_ns = p.backoff_ns == 0 ? options_.retry_min_ns
                                       : std::min(2 * p.backoff_ns, options_.retry_max_ns);
      p.retry_at_ns = now + p.backoff_ns;
      continue;
    }
    // Our candidates changed while we punch (a link just reported our new mapping): the peer
    // must probe the new ones, or its NAT stays closed to us.
    if (env_.OurCandidates() != p.offered) SendOffer(a, p, p.status.attempts == 0);
    if (now >= p.next_probe_ns) Probing(a, p, now);
  }
}

std::optional<HolePunch::Status> HolePunch::StatusOf(const RingAddress& a) const {
  const auto it = peers_.find(a);
  if (it == peers_.end()) return std::nullopt;
  Status s = it->second.status;
  const uint64_t now = clock_.NowNs();
  if (s.state == PunchState::kFailed)
    s.retry_in_ns = it->second.retry_at_ns > now ? it->second.retry_at_ns - now : 0;
  return s;
}

}  // namespace ipop::cp::overlay

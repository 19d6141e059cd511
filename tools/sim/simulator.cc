#include "tools/sim/simulator.h"

#include <algorithm>
#include <cstring>

namespace ipop::sim {

using cp::overlay::DecideRoute;
using cp::overlay::kFirstAppPayload;
using cp::overlay::Routed;
using cp::overlay::RouteDecision;

uint64_t SimRandom::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void SimRandom::Fill(std::span<uint8_t> out) {
  size_t i = 0;
  while (i < out.size()) {
    uint64_t w = Next();
    for (int k = 0; k < 8 && i < out.size(); ++k, w >>= 8) out[i++] = uint8_t(w);
  }
}

class SimTransport final : public cp::overlay::OverlayTransport {
 public:
  SimTransport(Simulator& sim, size_t index) : sim_(sim), index_(index) {}
  bool Send(const Endpoint& to, const RingAddress&, std::span<const uint8_t> datagram) override {
    sim_.Transmit(index_, to, datagram);
    return true;
  }

 private:
  Simulator& sim_;
  size_t index_;
};

struct Simulator::NodeSlot {
  NodeSlot(Simulator& sim, size_t index, const RingAddress& address, const Endpoint& ep,
           const OverlayOptions& options, uint64_t seed)
      : random(seed),
        transport(sim, index),
        node(address, ep, options, sim.clock_, random, transport),
        dht(node, sim.clock_, random, sim.options_.dht) {}
  SimRandom random;
  SimTransport transport;
  OverlayNode node;
  cp::DhtService dht;
  Endpoint endpoint;
  bool alive = false;  // started and not crashed
  uint64_t wake_ns = UINT64_MAX;
};

Simulator::Simulator(const SimOptions& options) : options_(options), random_(options.seed) {}
Simulator::~Simulator() = default;

uint64_t Simulator::EndpointKey(const Endpoint& e) {
  return (uint64_t{e.addr[12]} << 40) | (uint64_t{e.addr[13]} << 32) |
         (uint64_t{e.addr[14]} << 24) | (uint64_t{e.addr[15]} << 16) | e.port;
}

size_t Simulator::AddNode(uint64_t start_ns, const std::vector<Endpoint>& bootstrap) {
  const size_t i = nodes_.size();
  Endpoint ep;
  ep.addr[10] = ep.addr[11] = 0xff;
  ep.addr[12] = 10;
  ep.addr[13] = uint8_t(i >> 16);
  ep.addr[14] = uint8_t(i >> 8);
  ep.addr[15] = uint8_t(i);
  ep.port = 5800;
  OverlayOptions o = options_.overlay;
  o.bootstrap = bootstrap;
  const RingAddress address = RingAddress::Random(random_);
  nodes_.push_back(std::make_unique<NodeSlot>(*this, i, address, ep, o, random_.Next()));
  nodes_.back()->endpoint = ep;
  by_endpoint_[EndpointKey(ep)] = uint32_t(i);
  OverlayNode& n = nodes_.back()->node;
  cp::DhtService& d = nodes_.back()->dht;
  n.SetDeliverHandler([this, i, &d](const Routed& r) {
    if (!d.OnRouted(r)) OnLookupDelivered(i, r);
  });
  Push(start_ns, uint32_t(i), kStart);
  return i;
}

bool Simulator::alive(size_t i) const {
  return nodes_[i]->alive;
}
const OverlayNode& Simulator::node(size_t i) const {
  return nodes_[i]->node;
}
cp::DhtService& Simulator::dht(size_t i) {
  return nodes_[i]->dht;
}
Endpoint Simulator::endpoint(size_t i) const {
  return nodes_[i]->endpoint;
}

std::vector<size_t> Simulator::LiveNodes() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->alive) out.push_back(i);
  return out;
}

void Simulator::Crash(size_t i) {
  NodeSlot& s = *nodes_[i];
  s.alive = false;
  by_endpoint_.erase(EndpointKey(s.endpoint));
}

void Simulator::Move(size_t i) {
  NodeSlot& s = *nodes_[i];
  by_endpoint_.erase(EndpointKey(s.endpoint));
  s.endpoint.port = uint16_t(++next_port_);
  by_endpoint_[EndpointKey(s.endpoint)] = uint32_t(i);
  s.node.SetSelfEndpoint(s.endpoint);
  ScheduleWake(i);
}

void Simulator::Push(uint64_t time_ns, uint32_t node, uint32_t packet) {
  queue_.push({time_ns, seq_++, node, packet});
}

uint64_t Simulator::PairLatencyNs(size_t a, size_t b) const {
  // A fixed latency per unordered pair, derived from the seed: the underlay has a geometry.
  uint64_t lo = std::min(a, b), hi = std::max(a, b);
  SimRandom h(options_.seed ^ (lo * 0x9E3779B97F4A7C15ull) ^ (hi << 32 | hi >> 32));
  const double ms =
      options_.latency_min_ms + h.Unit() * (options_.latency_max_ms - options_.latency_min_ms);
  return uint64_t(ms * 1e6);
}

void Simulator::Transmit(size_t from, const Endpoint& to, std::span<const uint8_t> datagram) {
  ++datagrams_sent_;
  const auto it = by_endpoint_.find(EndpointKey(to));
  if (it == by_endpoint_.end() || (!group_.empty() && group_[from] != group_[it->second]) ||
      (options_.loss > 0 && random_.Unit() < options_.loss)) {
    ++datagrams_dropped_;
    return;
  }
  uint32_t p;
  if (!free_packets_.empty()) {
    p = free_packets_.back();
    free_packets_.pop_back();
  } else {
    p = uint32_t(packets_.size());
    packets_.emplace_back();
  }
  packets_[p].from = nodes_[from]->endpoint;
  packets_[p].bytes.assign(datagram.begin(), datagram.end());
  Push(clock_.now_ns + PairLatencyNs(from, it->second), it->second, p);
}

void Simulator::ScheduleWake(size_t i) {
  NodeSlot& s = *nodes_[i];
  const uint64_t w = std::max(std::min(s.node.next_wake_ns(), s.dht.next_wake_ns()), clock_.now_ns);
  if (w < s.wake_ns || s.wake_ns < clock_.now_ns) {
    s.wake_ns = w;
    Push(w, uint32_t(i), kTick);
  }
}

void Simulator::RunUntil(uint64_t t_ns) {
  while (!queue_.empty() && queue_.top().time_ns <= t_ns) {
    const Event e = queue_.top();
    queue_.pop();
    ++events_;
    clock_.now_ns = e.time_ns;
    NodeSlot& s = *nodes_[e.node];
    if (e.packet == kStart) {
      s.alive = true;
      s.node.Start();
    } else if (e.packet == kTick) {
      if (!s.alive || e.time_ns != s.wake_ns) continue;  // superseded
      s.wake_ns = UINT64_MAX;
      // One wake serves both timers; each runs only when it is due, so the overlay keeps its
      // own rhythm.
      if (e.time_ns >= s.node.next_wake_ns()) s.node.Tick();
      if (e.time_ns >= s.dht.next_wake_ns()) s.dht.Tick();
    } else {
      Packet& pk = packets_[e.packet];
      if (s.alive) s.node.OnDatagram(pk.from, pk.bytes);
      free_packets_.push_back(e.packet);
    }
    if (s.alive) ScheduleWake(e.node);
  }
  clock_.now_ns = std::max(clock_.now_ns, t_ns);
}

bool Simulator::RingConsistent(const std::vector<size_t>& members_in, size_t* bad) const {
  std::vector<size_t> members = members_in.empty() ? LiveNodes() : members_in;
  std::sort(members.begin(), members.end(), [&](size_t a, size_t b) {
    return nodes_[a]->node.address() < nodes_[b]->node.address();
  });
  size_t wrong = 0;
  const size_t n = members.size();
  for (size_t k = 0; k < n && n > 1; ++k) {
    const OverlayNode& node = nodes_[members[k]]->node;
    const cp::overlay::Link* s = node.successor();
    const cp::overlay::Link* p = node.predecessor();
    if (!s || !p || s->address != nodes_[members[(k + 1) % n]]->node.address() ||
        p->address != nodes_[members[(k + n - 1) % n]]->node.address())
      ++wrong;
  }
  if (bad) *bad = wrong;
  return wrong == 0;
}

size_t Simulator::TrueClosest(const RingAddress& key) const {
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->alive) continue;
    if (best == SIZE_MAX ||
        cp::overlay::CloserTo(key, nodes_[i]->node.address(), nodes_[best]->node.address()))
      best = i;
  }
  return best;
}

std::optional<std::pair<size_t, unsigned>> Simulator::WalkRoute(size_t src, const RingAddress& key,
                                                                DeliveryMode mode) const {
  size_t cur = src;
  const RingAddress source = nodes_[src]->node.address();
  const uint8_t limit = options_.overlay.hop_limit;
  for (unsigned hops = 0;; ++hops) {
    const RouteDecision d =
        DecideRoute(nodes_[cur]->node.links(), key, mode, 0, source, uint8_t(hops), limit);
    using A = RouteDecision::Action;
    if (d.action == A::kDeliver || d.action == A::kDeliverAndCopy) return std::make_pair(cur, hops);
    if (d.action != A::kForward) return std::nullopt;
    const cp::overlay::Link* l = nodes_[cur]->node.links().Find(d.next);
    const auto it = by_endpoint_.find(EndpointKey(l->endpoint));
    if (it == by_endpoint_.end() || !nodes_[it->second]->alive) return std::nullopt;
    cur = it->second;
  }
}

void Simulator::IssueLookup(const std::vector<size_t>& live) {
  if (live.empty()) return;
  const size_t src = live[random_.Next() % live.size()];
  if (!nodes_[src]->alive) return;
  Lookup lk;
  lk.key = RingAddress::Random(random_);
  lookups_.push_back(lk);
  uint8_t id[8];
  const uint64_t index = lookups_.size() - 1;
  std::memcpy(id, &index, sizeof(id));
  nodes_[src]->node.SendRouted(lk.key, DeliveryMode::kNearest, kFirstAppPayload, id);
  ScheduleWake(src);
}

LookupStats Simulator::RunLookups(size_t count, uint64_t spread_ns, uint64_t settle_ns) {
  lookups_.clear();
  const std::vector<size_t> live = LiveNodes();
  const uint64_t start = clock_.now_ns;
  for (size_t k = 0; k < count; ++k) {
    RunUntil(start + spread_ns * k / count);
    IssueLookup(live);
  }
  RunUntil(start + spread_ns + settle_ns);
  return TakeLookupStats();
}

LookupStats Simulator::TakeLookupStats() {
  LookupStats st;
  st.issued = lookups_.size();
  std::vector<unsigned> hops;
  for (const Lookup& lk : lookups_) {
    if (lk.delivered_at < 0) continue;
    ++st.delivered;
    st.correct += lk.correct ? 1 : 0;
    hops.push_back(lk.hops);
  }
  if (!hops.empty()) {
    std::sort(hops.begin(), hops.end());
    double sum = 0;
    for (unsigned h : hops) sum += h;
    st.hops_mean = sum / double(hops.size());
    st.hops_p99 = hops[std::min(hops.size() - 1, hops.size() * 99 / 100)];
    st.hops_max = hops.back();
  }
  lookups_.clear();
  return st;
}

void Simulator::OnLookupDelivered(size_t at, const Routed& r) {
  if (r.payload_type != kFirstAppPayload || r.payload.size() != 8) return;
  uint64_t index;
  std::memcpy(&index, r.payload.data(), 8);
  if (index >= lookups_.size()) return;
  Lookup& lk = lookups_[index];
  if (lk.delivered_at >= 0) return;
  lk.delivered_at = int(at);
  lk.hops = r.hops;
  lk.correct = TrueClosest(lk.key) == at;
}

size_t Simulator::MeanStateBytes() const {
  size_t sum = 0, n = 0;
  for (const auto& s : nodes_)
    if (s->alive) {
      sum += s->node.StateBytes() + s->dht.StateBytes();
      ++n;
    }
  return n ? sum / n : 0;
}

}  // namespace ipop::sim

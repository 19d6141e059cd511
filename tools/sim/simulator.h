// A deterministic discrete-event simulator for the overlay: many OverlayNode instances in one
// process, one simulated clock, a simulated underlay (per-pair latency, optional loss, optional
// partition into groups). The nodes run the real overlay code; only time, randomness and the
// network are simulated. The same seed gives the same run.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "controlplane/dht/dht_service.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/random_source.h"

namespace ipop::sim {

using cp::overlay::DeliveryMode;
using cp::overlay::OverlayNode;
using cp::overlay::OverlayOptions;
using cp::overlay::RingAddress;

// splitmix64: cheap, seedable, good enough for a simulation.
class SimRandom final : public cp::RandomSource {
 public:
  explicit SimRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  double Unit() { return double(Next() >> 11) * 0x1.0p-53; }
  void Fill(std::span<uint8_t> out) override;

 private:
  uint64_t state_;
};

class SimClock final : public cp::Clock {
 public:
  uint64_t NowNs() const override { return now_ns; }
  uint64_t WallNs() const override { return now_ns; }
  uint64_t now_ns = 0;
};

struct SimOptions {
  uint64_t seed = 1;
  double latency_min_ms = 5;  // one-way latency of a node pair, fixed per pair, uniform in range
  double latency_max_ms = 80;
  double loss = 0;         // probability that a datagram is lost
  OverlayOptions overlay;  // bootstrap list is per node
  cp::DhtServiceOptions dht;
};

struct LookupStats {
  size_t issued = 0, delivered = 0, correct = 0;
  double hops_mean = 0;
  unsigned hops_p99 = 0, hops_max = 0;
};

class Simulator {
 public:
  explicit Simulator(const SimOptions& options);
  ~Simulator();

  // Adds a node with a random address; it starts at `start_ns` with `bootstrap` as its list.
  size_t AddNode(uint64_t start_ns, const std::vector<Endpoint>& bootstrap);
  void Crash(size_t i);  // vanishes without a word
  void Move(size_t i);   // takes a new underlay endpoint
  // Datagrams between nodes of different groups are dropped; empty = no partition.
  void SetPartition(std::vector<uint8_t> group_of_node) { group_ = std::move(group_of_node); }
  void RunUntil(uint64_t t_ns);

  uint64_t now_ns() const { return clock_.now_ns; }
  size_t size() const { return nodes_.size(); }
  bool alive(size_t i) const;
  const OverlayNode& node(size_t i) const;
  // The node's DHT service (every node runs one; idle it sends nothing). After calling a client
  // operation on it, call Poke(i) so its timers are scheduled.
  cp::DhtService& dht(size_t i);
  void Poke(size_t i) { ScheduleWake(i); }
  Endpoint endpoint(size_t i) const;
  std::vector<size_t> LiveNodes() const;

  // True if every node in `members` (all live ones when empty) has the true ring successor and
  // predecessor among them as its nearest links. `bad` gets the number of nodes that do not.
  bool RingConsistent(const std::vector<size_t>& members = {}, size_t* bad = nullptr) const;
  // Follows DecideRoute through the nodes' link tables without sending anything. Returns the
  // delivering node and the hop count, or nullopt if the message would be dropped.
  std::optional<std::pair<size_t, unsigned>> WalkRoute(size_t src, const RingAddress& key,
                                                       DeliveryMode mode) const;
  // The live node closest to `key` (reference answer: a sorted scan of all addresses).
  size_t TrueClosest(const RingAddress& key) const;

  // Sends `count` real routed lookups (nearest delivery, random keys, random live sources) spread
  // over `spread_ns`, runs until `spread_ns + settle_ns` later and reports what was delivered.
  LookupStats RunLookups(size_t count, uint64_t spread_ns, uint64_t settle_ns);
  // The same piecewise, for scenarios that run the clock themselves: one lookup from a random
  // member of `live` now; stats of all lookups issued since the last call.
  void IssueLookup(const std::vector<size_t>& live);
  LookupStats TakeLookupStats();

  uint64_t datagrams_sent() const { return datagrams_sent_; }
  uint64_t datagrams_dropped() const { return datagrams_dropped_; }
  uint64_t events() const { return events_; }
  size_t MeanStateBytes() const;
  SimRandom& random() { return random_; }

 private:
  struct NodeSlot;
  struct Event {
    uint64_t time_ns;
    uint64_t seq;
    uint32_t node;
    uint32_t packet;  // kTick for a timer event
    bool operator>(const Event& o) const {
      return time_ns != o.time_ns ? time_ns > o.time_ns : seq > o.seq;
    }
  };
  struct Packet {
    Endpoint from;
    std::vector<uint8_t> bytes;
  };
  static constexpr uint32_t kTick = UINT32_MAX;
  static constexpr uint32_t kStart = UINT32_MAX - 1;

  friend class SimTransport;
  void Transmit(size_t from, const Endpoint& to, std::span<const uint8_t> datagram);
  void Push(uint64_t time_ns, uint32_t node, uint32_t packet);
  void ScheduleWake(size_t i);
  uint64_t PairLatencyNs(size_t a, size_t b) const;
  static uint64_t EndpointKey(const Endpoint& e);
  void OnLookupDelivered(size_t at, const cp::overlay::Routed& r);

  SimOptions options_;
  SimClock clock_;
  SimRandom random_;
  std::vector<std::unique_ptr<NodeSlot>> nodes_;
  std::unordered_map<uint64_t, uint32_t> by_endpoint_;
  std::vector<uint8_t> group_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  std::vector<Packet> packets_;
  std::vector<uint32_t> free_packets_;
  uint64_t seq_ = 0;
  uint64_t datagrams_sent_ = 0, datagrams_dropped_ = 0, events_ = 0;
  uint32_t next_port_ = 5800;

  struct Lookup {
    RingAddress key;
    int delivered_at = -1;
    unsigned hops = 0;
    bool correct = false;
  };
  std::vector<Lookup> lookups_;
};

}  // namespace ipop::sim

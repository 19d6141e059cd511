// One dataplane worker: runs the outbound and inbound stage chains on each burst its backend's
// ports deliver. The backend is a compile-time parameter (VPP's nodes see only vlib_buffer): the
// stages and this loop see packet views (packet.h); a backend supplies only its ports, which
// turn their buffers into views and back.
//
//   Worker<UringPorts>  a TAP queue and a UDP socket on io_uring (uring_ports.h; the default)
//   Worker<DpdkPorts>   a host ethdev (TAP PMD, vhost-user) and an underlay ethdev whose
//                       Ethernet/ARP/IPv4/UDP the dataplane runs itself (dpdk_ports.h)
//
// Loop (one iteration = one burst):
//   heartbeat -> adopt newest table generation (rescan keys on switch)
//   -> ports.Receive: host frames (TAP reads with TSO super-frames cut into segments, or a host
//      port's rx burst) and underlay datagrams (UDP receives, or the underlay port's rx burst
//      after ARP and IPv4/UDP decapsulation); finished sends return their buffers
//   -> host frames: classify [punt within the host's budget, punt_budget.h] -> lookup -> seal
//      -> [wrap RELAY] -> ports.SendUnderlay (relayed datagrams to the first relay hop);
//      multicast/broadcast frames: fan out (one copy per group member, spare buffers)
//      -> lookup -> seal -> [wrap RELAY] -> ports.SendUnderlay
//   -> underlay datagrams (+ datagrams other workers handed over; those of sessions another worker
//      owns are handed to it, session_owner.h): parse [CONTROL/HANDSHAKE: punt within the
//      source's and the underlay's budget] [RELAY: ours -> unwrap; another's, within the
//      source's budget -> ports.SendUnderlay to the next hop]
//      -> session -> open -> deliver -> ports.SendHostBurst (the io_uring TAP coalesces TCP)
//   -> drain the inject ring -> ports.Flush: one submission / tx burst for everything queued
//   -> adaptive polling: keep spinning while work arrived in the last spin-us; otherwise report
//      offline (QSBR) and block in ports.Block up to idle-wait-ms (woken by the control plane's
//      injects and other workers' handoffs where the backend can wait on them).
//
// The Ports contract (every call on the worker's thread; "takes" = the port owns the buffer now):
//   using Options                        backend-specific options
//   Ports(const Options&, const PortsContext&)
//   bool Init(std::string* error)        allocates and arms everything
//   uint32_t host_capacity(), underlay_capacity()   packets one Receive may produce at most
//   uint32_t spare_size()                bytes of a spare buffer
//   bool Receive(RxBatch&)               fills the batch; true when it did any work
//   bool Pending()                       received work waits for the next burst (backpressure)
//   bool LearnedHostMac(mac)             the host side's MAC when the port learnt it (a vhost-user
//                                        guest's); false: WorkerOptions::host_mac
//   void SendUnderlay(Packet&, addr, port)   a datagram at data/len; takes it
//   void SendHost(Packet&)               one plain Ethernet frame; takes it
//   void SendHostBurst(PacketSpan)       frames DeliverInner produced; takes them
//   bool AllocSpare(Packet&)             a free buffer as a view: data at its start, len 0
//   void Release(const Packet&)          gives a buffer back
//   void Flush()                         end of burst: submit / transmit what is queued
//   bool inject_wake()                   Block can be ended by the control plane's futex wake
//   void ArmHandoffWake(int fd), ArmInjectWake(word, expected), Block(ms)
//   std::string Describe()
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/crypto_state.h"
#include "dataplane/fanout.h"
#include "dataplane/firewall.h"
#include "dataplane/handoff.h"
#include "dataplane/packet.h"
#include "dataplane/punt_budget.h"
#include "dataplane/source_limiter.h"
#include "shared/ether.h"
#include "shared/shm_region.h"
#include "shared/table.h"
#include "shared/token_bucket.h"

namespace ipop::dp {

// ICMP "fragmentation needed" replies per second and burst (Linux's icmp_ratelimit default
// allows about one per second per destination; one TCP connection needs just one).
inline constexpr uint32_t kIcmpTooBigPerSecond = 100;
inline constexpr uint32_t kIcmpTooBigBurst = 10;
// Frames to a multicast group the table does not know yet, shown to the control plane so it looks
// the group up: a sender's first packets, not a flood.
inline constexpr uint32_t kGroupPuntsPerSecond = 20;
inline constexpr uint32_t kGroupPuntBurst = 10;
// Member packets made of multicast/broadcast frames per burst (copies beyond are counted).
inline constexpr uint32_t kMaxFanOutPerBurst = 256;
// Datagrams taken from the handoff rings per burst, into spare buffers of their own (injects and
// relayed copies use the others); twice a burst's worth, so one burst's may still be in flight.
inline constexpr uint32_t kMaxHandoffPerBurst = 512;
inline constexpr uint32_t kHandoffSpares = 2 * kMaxHandoffPerBurst;
// Injects and relayed copies use a few spare buffers; multicast copies up to a burst's fan-out.
inline constexpr uint32_t kSpareBuffers = 64 + kMaxFanOutPerBurst;

// Longest block while idle when the control plane cannot wake the worker (kernels without
// io_uring futex waits): its injected messages wait at most this long.
inline constexpr uint32_t kIdleWaitWithoutWakeMs = 5;

struct WorkerOptions {
  uint32_t index = 0;
  uint32_t n_workers = 1;  // workers of this process; datagrams are steered by session owner
  TxNonceSpace* nonces = nullptr;   // shared by all workers (tx_nonce.h); null: a private one
  HandoffRings* handoff = nullptr;  // with n_workers > 1 (handoff.h)
  // The connection tables of all workers (firewall.h); nullptr: the worker makes its own.
  FlowTables* flow_tables = nullptr;
  uint32_t burst = 32;
  uint32_t spin_us = 50;
  uint32_t idle_wait_ms = 100;  // capped at kIdleWaitWithoutWakeMs without inject wake-ups
  uint32_t mtu = 1400;
  uint64_t dp_instance = 0;
  uint8_t host_mac[ether::kMacSize] = {};  // destination MAC of frames delivered to the host
  bool allow_inject_wake = true;           // false: no futex wake-ups, idle waits capped (tests)
};

// What the worker tells its ports at construction.
struct PortsContext {
  uint32_t index = 0;  // worker index: queue of each port
  uint32_t burst = 32;
  uint32_t mtu = 1400;
  uint32_t spares = kSpareBuffers;  // spare buffers the worker may hold at once
  shm::WorkerCounters* counters = nullptr;
};

// One Receive's output, into the worker's arrays.
struct RxBatch {
  Packet* host = nullptr;  // Ethernet frames from the host side (data at the Ethernet header)
  uint32_t host_cap = 0;
  uint32_t n_host = 0;
  Packet* underlay = nullptr;  // overlay datagrams (data at the wire header, addr/port = source)
  uint32_t underlay_cap = 0;
  uint32_t n_underlay = 0;
  // Every datagram received may have to go to one other worker's handoff ring: the port receives
  // no more than the fullest ring to another worker can take.
  uint32_t handoff_room = ~0u;
};

template <typename Ports>
class Worker {
 public:
  Worker(shm::ShmRegion& region, const WorkerOptions& options,
         const typename Ports::Options& port_options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Allocates everything the loop uses and arms the ports; must run on the worker's thread.
  bool Init(std::string* error);
  // Runs until `stop` is set; then reports the worker offline.
  void Run(const std::atomic<bool>& stop);
  std::string describe_io() const;

 private:
  void Adopt(const shm::Generation* g);
  void RunOutboundBurst();
  void RunFanOut(uint32_t n_frames);
  void RunInboundBurst();
  bool DrainHandoff();
  void SteerToOwners();
  bool HandoffPending();
  uint32_t HandoffRoom() const;  // free slots of the fullest ring to another worker
  bool DrainInject();
  void SendToPeer(Packet& p);
  void ForwardRelayed(Packet& p, bool tail_reused);
  void Count(Stat s, uint64_t n = 1) { Bump(counters_.stat[uint32_t(s)], n); }
  void CountDrop(DropReason r, uint64_t n = 1) { Bump(counters_.drop[uint32_t(r)], n); }

  shm::ShmRegion& region_;
  WorkerOptions opt_;
  shm::WorkerCounters& counters_;
  Ports ports_;
  shm::TableReader reader_;
  SpscRingView punt_;
  SpscRingView inject_;
  CryptoState crypto_;
  TokenBucket icmp_limit_{kIcmpTooBigPerSecond, kIcmpTooBigBurst};
  TokenBucket group_punt_limit_{kGroupPuntsPerSecond, kGroupPuntBurst};
  BurstClock clock_;  // for the limiters: read once per burst, only when one needs it
  std::unique_ptr<PuntBudget> punt_budget_;
  std::unique_ptr<SourceLimiter> relay_limit_;  // RELAY datagrams passed on, per source
  std::unique_ptr<ConnTable> own_flows_;        // without WorkerOptions::flow_tables
  std::unique_ptr<Firewall> firewall_;
  Firewall* ActiveFirewall();  // for this burst's stages: nullptr without rules

  std::unique_ptr<shm::Generation> empty_;  // used until the control plane publishes
  const shm::Generation* gen_ = nullptr;
  uint64_t gen_seq_ = 0;
  uint64_t invalid_seen_ = 0;

  RxBatch rx_;
  std::unique_ptr<Packet[]> host_pkts_;
  std::unique_ptr<Packet[]> udp_pkts_;
  std::unique_ptr<Packet*[]> span_;
  std::unique_ptr<Packet*[]> fanout_frames_;  // kFanOut frames of the current burst
  std::unique_ptr<Packet[]> fanout_pkts_;     // their member packets
  std::unique_ptr<Packet*[]> fanout_span_;
  std::vector<CopyBuffer> fanout_free_;    // capacity reserved: never reallocates
  std::vector<SpscRingView> handoff_out_;  // [owner]: to that worker (own index: unused)
  std::vector<SpscRingView> handoff_in_;   // from every other worker
  uint32_t handoff_notify_ = 0;            // bit w: pushed to worker w this burst
};

}  // namespace ipop::dp

// One dataplane worker: an io_uring event loop that owns a buffer pool, a TAP queue and the
// underlay socket, and runs the outbound and inbound stage chains on each burst of completions.
//
// Loop (one iteration = one burst):
//   heartbeat -> adopt newest table generation (rescan keys on switch)
//   -> reap completions: TAP reads and UDP receives become descriptors, finished sends/writes
//      return their buffers
//   -> tap_rx: [split TSO super-frames] -> classify [punt within the host's budget, punt_budget.h]
//      -> lookup -> seal -> [wrap RELAY]
//      -> udp_tx (GSO batches; relayed datagrams go to the first relay hop's endpoint);
//      multicast/broadcast frames: fan out (one copy per group member, spare buffers)
//      -> lookup -> seal -> [wrap RELAY] -> udp_tx
//   -> udp_rx (+ datagrams other workers handed over; those of sessions another worker owns are
//      handed to it, session_owner.h): parse [CONTROL/HANDSHAKE: punt within the source's and
//      the underlay's budget, punt_budget.h] [RELAY: ours -> unwrap; another's, within the
//      source's budget -> udp_tx to the next hop]
//      -> session -> open -> deliver -> [coalesce TCP] -> tap_tx
//   -> drain the inject ring -> republish returned buffers, re-arm receives
//   -> one io_uring_enter for everything queued
//   -> adaptive polling: keep spinning while work arrived in the last spin-us; otherwise report
//      offline (QSBR) and block up to idle-wait-ms.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/buffer_pool.h"
#include "dataplane/crypto_state.h"
#include "dataplane/fanout.h"
#include "dataplane/handoff.h"
#include "dataplane/packet.h"
#include "dataplane/punt_budget.h"
#include "dataplane/source_limiter.h"
#include "dataplane/tap_offload.h"
#include "dataplane/tap_tx.h"
#include "dataplane/udp_socket.h"
#include "dataplane/udp_tx.h"
#include "dataplane/uring_io.h"
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

// Longest block while idle when the control plane cannot wake the worker (kernels without
// io_uring futex waits): its injected messages wait at most this long.
inline constexpr uint32_t kIdleWaitWithoutWakeMs = 5;

struct WorkerOptions {
  uint32_t index = 0;
  uint32_t n_workers = 1;  // workers of this process; datagrams are steered by session owner
  TxNonceSpace* nonces = nullptr;   // shared by all workers (tx_nonce.h); null: a private one
  HandoffRings* handoff = nullptr;  // with n_workers > 1 (handoff.h)
  uint32_t burst = 32;
  uint32_t spin_us = 50;
  uint32_t idle_wait_ms = 100;  // capped at kIdleWaitWithoutWakeMs without inject wake-ups
  uint32_t mtu = 1400;
  uint64_t dp_instance = 0;
  int tap_fd = -1;
  bool tap_vnet_hdr = false;  // TAP reads/writes carry a virtio-net header
  bool tap_tso = false;       // TAP reads may be TSO super-frames (needs tap_vnet_hdr)
  const UdpSocket* udp = nullptr;
  bool udp_gro = false;  // the socket has UDP_GRO on: receives may carry datagram trains
  uint8_t tap_mac[ether::kMacSize] = {};
  bool allow_read_multishot = true;  // false forces the fixed-count single-shot TAP reads
  bool allow_udp_gso = true;         // false sends every datagram with its own sendmsg
  bool udp_send_zc = false;          // IORING_OP_SENDMSG_ZC (udp_tx.h); measured slower
  bool allow_inject_wake = true;     // false: no futex wake-ups, idle waits capped (tests)
};

class Worker {
 public:
  Worker(shm::ShmRegion& region, const WorkerOptions& options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Allocates everything the loop uses and arms the receives; must run on the worker's thread.
  bool Init(std::string* error);
  // Runs until `stop` is set; then reports the worker offline.
  void Run(const std::atomic<bool>& stop);
  std::string describe_io() const;

 private:
  void Adopt(const shm::Generation* g);
  bool ReapCompletions();
  void OnTapRead(const io_uring_cqe& cqe);
  void OnUdpRecv(const io_uring_cqe& cqe);
  void OnSendDone(const io_uring_cqe& cqe);
  void OnTapWriteDone(const io_uring_cqe& cqe);
  void SplitReads();
  void RunOutboundBurst();
  void RunFanOut(uint32_t n_frames);
  void RunInboundBurst();
  bool DrainHandoff();
  void SteerToOwners();
  bool HandoffPending();
  uint32_t HandoffRoom() const;  // free slots of the fullest ring to another worker
  bool DrainInject();
  void QueueSend(uint32_t buf, const uint8_t* data, uint32_t len, const uint8_t addr[16],
                 uint16_t port);
  void ForwardRelayed(Packet& p, bool tail_reused);
  void QueueTapWrite(std::span<Packet* const> unit);
  void ReturnBuffer(uint32_t buf);
  void RearmReceives();
  void Count(Stat s, uint64_t n = 1) { Bump(counters_.stat[uint32_t(s)], n); }
  void CountDrop(DropReason r, uint64_t n = 1) { Bump(counters_.drop[uint32_t(r)], n); }

  shm::ShmRegion& region_;
  WorkerOptions opt_;
  shm::WorkerCounters& counters_;
  shm::TableReader reader_;
  SpscRingView punt_;
  SpscRingView inject_;
  CryptoState crypto_;
  TokenBucket icmp_limit_{kIcmpTooBigPerSecond, kIcmpTooBigBurst};
  TokenBucket group_punt_limit_{kGroupPuntsPerSecond, kGroupPuntBurst};
  BurstClock clock_;  // for the limiters: read once per burst, only when one needs it
  std::unique_ptr<PuntBudget> punt_budget_;
  std::unique_ptr<SourceLimiter> relay_limit_;  // RELAY datagrams passed on, per source

  std::unique_ptr<shm::Generation> empty_;  // used until the control plane publishes
  const shm::Generation* gen_ = nullptr;
  uint64_t gen_seq_ = 0;
  uint64_t invalid_seen_ = 0;

  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<UdpSender> sender_;
  std::unique_ptr<TapWriter> tap_writer_;
  std::vector<SegmentBuffer> segment_free_;  // capacity reserved: never reallocates
  UringIo io_;
  BufRing tap_ring_;
  BufRing udp_ring_;
  uint32_t vnet_len_ = 0;         // virtio-net header bytes on TAP reads and writes
  uint32_t tap_read_offset_ = 0;  // where a TAP read lands in a buffer
  uint32_t tap_read_len_ = 0;
  uint32_t udp_recv_offset_ = 0;  // where io_uring_recvmsg_out lands in a buffer
  msghdr recv_msg_{};             // multishot recvmsg template (name length only)

  bool tap_multishot_ = false;
  bool tap_armed_ = false;           // multishot read armed
  uint32_t tap_reads_inflight_ = 0;  // single-shot mode
  bool udp_armed_ = false;

  uint32_t max_cqes_ = 0;
  uint32_t max_frames_ = 0;               // outbound frames per burst (TSO segments included)
  uint32_t max_udp_ = 0;                  // inbound datagrams per burst (GRO trains split)
  std::unique_ptr<uint16_t[]> udp_refs_;  // per UDP buffer: packets of it still in flight
  std::unique_ptr<io_uring_cqe*[]> cqes_;
  std::unique_ptr<Packet[]> tap_reads_;  // raw reads (with virtio-net header) before splitting
  std::unique_ptr<Packet[]> tap_pkts_;
  std::unique_ptr<Packet[]> udp_pkts_;
  std::unique_ptr<Packet*[]> span_;
  std::unique_ptr<Packet*[]> fanout_frames_;  // kFanOut frames of the current burst
  std::unique_ptr<Packet[]> fanout_pkts_;     // their member packets
  std::unique_ptr<Packet*[]> fanout_span_;
  std::vector<CopyBuffer> fanout_free_;    // capacity reserved: never reallocates
  std::vector<SpscRingView> handoff_out_;  // [owner]: to that worker (own index: unused)
  std::vector<SpscRingView> handoff_in_;   // from every other worker
  uint32_t handoff_notify_ = 0;            // bit w: pushed to worker w this burst
  uint64_t wake_value_ = 0;                // target of the armed eventfd read
  bool wake_armed_ = false;
  bool inject_wake_ = false;        // the control plane can wake us (futex wait in io_uring)
  bool inject_wait_armed_ = false;  // that futex wait is queued or in the kernel
  uint32_t n_reads_ = 0;
  uint32_t n_tap_ = 0;
  uint32_t n_udp_ = 0;
};

}  // namespace ipop::dp

// The DPDK backend's ports (worker.h has the contract). Each worker polls its own queue of each
// ethdev; nothing here enters the kernel per packet, and the only DPDK calls are the per-burst
// ones of dpdk_io.h, so this header (and the Worker<DpdkPorts> built from it) needs no DPDK flags.
//
//   host rx/tx:      a TAP PMD port (a TAP the host stack sees, like the io_uring backend's) or
//                    a vhost-user port (a VM's virtio-net); none on a headless node
//   underlay rx:     rx burst -> ReceiveUnderlayFrames (ARP, IPv4/UDP to our address and port)
//                    -> overlay datagrams; ARP replies back out; the rest to the exception port
//   underlay tx:     datagrams queued during the burst -> EncapUnderlay (next hop, Ethernet/IPv4/
//                    UDP, checksums) -> one tx burst; ARP requests for unknown next hops
//   exception port:  (worker 0, optional) a TAP PMD port toward the kernel: frames the overlay
//                    does not handle go to it, what the kernel sends through it goes out as is
//   buffers:         mbufs of one mempool; spares come from a per-worker stash refilled per
//                    burst; released buffers are freed in bulk at the end of the burst
//   idle:            a futex wait on the worker's wake word (the control plane's injects end it
//                    at once), since the ports cannot wake us; the sleeps grow from
//                    kIdleFirstSleepUs to poll_us while nothing arrives (IdleBackoff)
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/dpdk_io.h"
#include "dataplane/neighbour_table.h"
#include "dataplane/packet.h"
#include "dataplane/underlay_stack.h"
#include "dataplane/worker.h"

namespace ipop::dp {

// How long an idle worker sleeps before it polls its ports again: short right after the last
// frame (the next one of a flow is likely close), doubling while polls find nothing, up to
// `max_us`. Every poll costs a wake-up and the ports' rx calls; a node with no traffic settles at
// max_us between polls (docs/dpdk.md, "Idle").
inline constexpr uint32_t kIdleFirstSleepUs = 50;
class IdleBackoff {
 public:
  explicit IdleBackoff(uint32_t max_us) : max_us_(max_us), next_us_(FirstUs()) {}
  void Reset() { next_us_ = FirstUs(); }  // a poll found frames
  uint32_t Next() {                       // the sleep to take now
    const uint32_t us = next_us_;
    next_us_ = std::min(max_us_, next_us_ * 2);
    return us;
  }

 private:
  uint32_t FirstUs() const { return std::min(kIdleFirstSleepUs, max_us_); }
  uint32_t max_us_;
  uint32_t next_us_;
};

// State of the DPDK backend shared by the workers of one process.
struct DpdkShared {
  NeighbourTable neighbours;
  std::atomic<uint64_t> guest_mac{0};  // vhost-user: the MAC the guest sends from, | bit 48
};

struct DpdkPortOptions {
  uint16_t host_port = dpdk::kNoPort;  // kNoPort: headless
  uint16_t underlay_port = 0;
  uint16_t exception_port = dpdk::kNoPort;  // polled by the worker that has it (worker 0)
  void* pool = nullptr;                     // rte_mempool* of the mbufs
  UnderlayAddress underlay;
  bool udp_csum_offload = false;  // the underlay port computes UDP checksums
  bool learn_host_mac = false;    // vhost-user: frames go to the MAC the guest sends from
  uint32_t poll_us = 5000;        // idle: longest sleep between polls of the ports (IdleBackoff)
  DpdkShared* shared = nullptr;
  std::string describe;  // the ports, for the start-up line
};

class DpdkPorts {
 public:
  using Options = DpdkPortOptions;

  DpdkPorts(const Options& options, const PortsContext& ctx);
  ~DpdkPorts();
  DpdkPorts(const DpdkPorts&) = delete;
  DpdkPorts& operator=(const DpdkPorts&) = delete;

  bool Init(std::string* error);
  uint32_t host_capacity() const { return host_cap_; }
  uint32_t underlay_capacity() const { return underlay_cap_; }
  uint32_t spare_size() const { return spare_size_; }

  bool Receive(RxBatch& rx);
  bool Pending() const { return false; }
  bool LearnedHostMac(uint8_t mac[6]) const;

  void SendUnderlay(Packet& p, const uint8_t addr[16], uint16_t port) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (__builtin_memcmp(addr, kMapped, 12) != 0) [[unlikely]] {  // IPv6: not on this underlay
      CountDrop(DropReason::underlay_unreachable);
      Release(p);
      return;
    }
    const uint32_t ip =
        uint32_t(addr[12]) << 24 | uint32_t(addr[13]) << 16 | uint32_t(addr[14]) << 8 | addr[15];
    ul_out_[n_ul_out_++] = UnderlayOut{p.buf, p.data, p.len, p.headroom, ip, port, 0};
  }
  void SendHost(Packet& p) {
    if (opt_.host_port == dpdk::kNoPort) [[unlikely]] {
      Release(p);
      return;
    }
    host_tx_[n_host_tx_++] = dpdk::TxView{p.buf, p.data, p.len, 0};
  }
  void SendHostBurst(PacketSpan frames) {
    for (Packet* p : frames) SendHost(*p);
  }
  bool AllocSpare(Packet& p) {
    if (n_stash_ == 0 && !RefillStash()) return false;
    const CopyBuffer& b = stash_[--n_stash_];
    p = Packet{};
    p.buf = b.id;
    p.data = b.mem;
    p.tailroom = b.size;
    return true;
  }
  void Release(const Packet& p) { free_[n_free_++] = p.buf; }
  void Flush();

  bool inject_wake() const { return true; }  // a futex wait with a timeout, always available
  void ArmHandoffWake(int) {}                // other workers' handoffs: seen at the next poll
  void ArmInjectWake(const std::atomic<uint32_t>* word, uint32_t expected) {
    wake_word_ = word;
    wake_expected_ = expected;
  }
  void Block(uint32_t timeout_ms);
  std::string Describe() const;

 private:
  bool RefillStash();
  void QueueArpRequests(const ArpWanted& wanted);
  void Count(Stat s, uint64_t n = 1) { Bump(counters_.stat[uint32_t(s)], n); }
  void CountDrop(DropReason r, uint64_t n = 1) { Bump(counters_.drop[uint32_t(r)], n); }

  Options opt_;
  PortsContext ctx_;
  shm::WorkerCounters& counters_;
  uint16_t queue_;
  uint32_t host_cap_ = 0;
  uint32_t underlay_cap_ = 0;
  uint32_t spare_size_ = 0;
  uint16_t ip_id_ = 0;

  std::unique_ptr<Packet[]> ul_rx_;  // underlay frames of one rx burst
  std::unique_ptr<Packet*[]> ul_span_;
  std::unique_ptr<UnderlayOut[]> ul_out_;  // datagrams to encapsulate
  uint32_t n_ul_out_ = 0;
  std::unique_ptr<dpdk::TxView[]> ul_tx_;  // frames for the underlay port (ARP, from the kernel)
  uint32_t n_ul_tx_ = 0;
  std::unique_ptr<dpdk::TxView[]> host_tx_;
  uint32_t n_host_tx_ = 0;
  std::unique_ptr<dpdk::TxView[]> ex_tx_;  // frames for the kernel
  uint32_t n_ex_tx_ = 0;
  std::unique_ptr<BufHandle[]> free_;
  uint32_t n_free_ = 0;
  std::unique_ptr<CopyBuffer[]> stash_;
  uint32_t n_stash_ = 0;
  uint32_t stash_cap_ = 0;

  const std::atomic<uint32_t>* wake_word_ = nullptr;
  uint32_t wake_expected_ = 0;
  IdleBackoff idle_;
};

using DpdkWorker = Worker<DpdkPorts>;
extern template class Worker<DpdkPorts>;

}  // namespace ipop::dp

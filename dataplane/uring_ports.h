// The io_uring backend's ports (worker.h has the contract): one TAP queue and one UDP socket, both
// driven through one io_uring per worker. TAP reads and UDP multishot receives land in
// provided-buffer rings; sends and TAP writes are queued as SQEs and submitted once per burst.
//
//   host rx:      TAP reads -> [virtio-net header: strip it, cut TSO super-frames into MSS-sized
//                 segments (tso_split.cc)]
//   underlay rx:  multishot recvmsg -> source address, UDP GRO trains split into datagrams
//   underlay tx:  sendmsg, consecutive datagrams to one endpoint in one UDP GSO send (udp_tx.h)
//   host tx:      TAP writes; with a virtio-net header, TCP segments of a flow coalesced into one
//                 GSO write (tcp_coalesce.cc, tap_tx.h)
//   idle:         io_uring_submit_and_wait_timeout, ended by a read armed on the handoff eventfd
//                 and a futex wait on the worker's wake word (Linux 6.7) for the control plane
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/buffer_pool.h"
#include "dataplane/packet.h"
#include "dataplane/tap_offload.h"
#include "dataplane/tap_tx.h"
#include "dataplane/udp_socket.h"
#include "dataplane/udp_tx.h"
#include "dataplane/uring_io.h"
#include "dataplane/worker.h"

namespace ipop::dp {

struct UringPortOptions {
  int tap_fd = -1;
  bool tap_vnet_hdr = false;  // TAP reads/writes carry a virtio-net header
  bool tap_tso = false;       // TAP reads may be TSO super-frames (needs tap_vnet_hdr)
  const UdpSocket* udp = nullptr;
  bool udp_gro = false;              // the socket has UDP_GRO on: receives may carry trains
  bool allow_read_multishot = true;  // false forces the fixed-count single-shot TAP reads
  bool allow_udp_gso = true;         // false sends every datagram with its own sendmsg
  bool udp_send_zc = false;          // IORING_OP_SENDMSG_ZC (udp_tx.h); measured slower
};

class UringPorts {
 public:
  using Options = UringPortOptions;

  UringPorts(const Options& options, const PortsContext& ctx);
  ~UringPorts();
  UringPorts(const UringPorts&) = delete;
  UringPorts& operator=(const UringPorts&) = delete;

  bool Init(std::string* error);
  uint32_t host_capacity() const { return max_frames_; }
  uint32_t underlay_capacity() const { return max_udp_; }
  uint32_t spare_size() const { return pool_->stride(); }

  bool Receive(RxBatch& rx);
  bool Pending() const { return n_reads_ > 0; }          // reads waiting for segment buffers
  bool LearnedHostMac(uint8_t*) const { return false; }  // the TAP's MAC is known at start

  void SendUnderlay(Packet& p, const uint8_t addr[16], uint16_t port) {
    if (!sender_->Add(io_, uint32_t(p.buf), p.data, p.len, addr, port)) [[unlikely]] {
      CountDrop(DropReason::udp_send_failed);  // IPv6 endpoint on an IPv4 underlay socket
      ReturnBuffer(uint32_t(p.buf));
    }
  }
  void SendHost(Packet& p);
  void SendHostBurst(PacketSpan frames);

  bool AllocSpare(Packet& p) {
    uint32_t id;
    if (!pool_->TakeSpare(&id)) return false;
    p = Packet{};
    p.buf = id;
    p.data = pool_->buffer(id);
    p.tailroom = pool_->stride();
    return true;
  }
  void Release(const Packet& p) { ReturnBuffer(uint32_t(p.buf)); }
  void Flush();

  bool inject_wake() const { return inject_wake_; }
  void ArmHandoffWake(int fd);
  void ArmInjectWake(const std::atomic<uint32_t>* word, uint32_t expected);
  void Block(uint32_t timeout_ms) { io_.Wait(timeout_ms); }
  std::string Describe() const;

 private:
  void OnTapRead(const io_uring_cqe& cqe);
  void OnUdpRecv(const io_uring_cqe& cqe, RxBatch& rx);
  void OnSendDone(const io_uring_cqe& cqe);
  void OnTapWriteDone(const io_uring_cqe& cqe);
  void SplitReads(RxBatch& rx);
  void QueueTapWrite(std::span<Packet* const> unit);
  void ReturnBuffer(uint32_t buf);
  void RearmReceives();
  void Count(Stat s, uint64_t n = 1) { Bump(counters_.stat[uint32_t(s)], n); }
  void CountDrop(DropReason r, uint64_t n = 1) { Bump(counters_.drop[uint32_t(r)], n); }

  Options opt_;
  PortsContext ctx_;
  shm::WorkerCounters& counters_;
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
  std::unique_ptr<Packet*[]> read_span_;
  uint32_t n_reads_ = 0;
  uint64_t wake_value_ = 0;  // target of the armed eventfd read
  bool wake_armed_ = false;
  bool inject_wake_ = false;        // the control plane can wake us (futex wait in io_uring)
  bool inject_wait_armed_ = false;  // that futex wait is queued or in the kernel
};

using UringWorker = Worker<UringPorts>;
extern template class Worker<UringPorts>;

}  // namespace ipop::dp

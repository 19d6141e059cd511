// The udp_tx stage's back end: turns datagrams into sendmsg SQEs, coalescing consecutive
// datagrams to the same endpoint into one UDP GSO send (UDP_SEGMENT): the kernel walks the
// IP/UDP stack once per batch instead of once per datagram, and a GSO-capable path (veth, NICs
// with USO) carries the batch whole. Every datagram stays in its own pool buffer (one iovec
// each); the batch remembers the buffer ids so its single completion returns all of them.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/udp_socket.h"
#include "dataplane/uring_io.h"

namespace ipop::dp {

class UdpSender {
 public:
  // GSO segment limit of older kernels (UDP_MAX_SEGMENTS was 64 before Linux 6.x).
  static constexpr uint32_t kMaxSegments = 64;

  // `slots` bounds the sends in flight (one per buffer that can be in flight is always enough).
  // `gso` is tried when the socket accepts UDP_SEGMENT. `zero_copy` sends with
  // IORING_OP_SENDMSG_ZC (Linux 6.0): the kernel pins the buffers instead of copying them, and
  // a second completion (IORING_CQE_F_NOTIF) says when they may be reused. Measured slower on
  // every path we have (docs/performance.md), so off unless IPOP_DP_UDP_SEND_ZC=1.
  UdpSender(const UdpSocket& udp, uint32_t slots, bool gso, bool zero_copy = false);

  // Queues one datagram held in pool buffer `buf`. False if it cannot be sent at all (an address
  // the socket cannot reach); the caller then owns the buffer again.
  bool Add(UringIo& io, uint32_t buf, const uint8_t* data, uint32_t len, const uint8_t addr[16],
           uint16_t port);
  // Ends the burst: queues the open batch.
  void Flush(UringIo& io);

  // A send completed: `res` and `flags` as in the CQE. Calls return_buffer(id) for each buffer
  // of the batch once the kernel is done with them, and reports how many datagrams were sent or
  // failed.
  template <typename ReturnBuffer>
  void Complete(uint32_t slot, int res, uint32_t flags, uint32_t* sent, uint32_t* failed,
                ReturnBuffer&& ret) {
    *sent = *failed = 0;
    if (slot >= slots_.size()) return;
    Batch& b = slots_[slot];
    if ((flags & IORING_CQE_F_NOTIF) == 0) {  // the send's result (a notification has none)
      if (res < 0) {
        *failed = b.count;
        // A path that refuses GSO (EIO from a device without segmentation) gets single sends.
        if (b.count > 1) gso_ = false;
        // A kernel without zero-copy sends on this socket: plain sendmsg from now on.
        if (zero_copy_ && (res == -EINVAL || res == -EOPNOTSUPP)) zero_copy_ = false;
      } else {
        *sent = b.count;
      }
      if (flags & IORING_CQE_F_MORE) return;  // zero-copy: buffers pinned until the notification
    }
    for (uint32_t i = 0; i < b.count; ++i) ret(b.bufs[i]);
    b.count = 0;
    free_.push_back(slot);
  }

  bool gso() const { return gso_; }
  bool zero_copy() const { return zero_copy_; }

 private:
  struct Batch {
    msghdr msg;
    sockaddr_storage sa;
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(uint16_t))];
    iovec iov[kMaxSegments];
    uint32_t bufs[kMaxSegments];
    uint8_t addr[16];
    uint16_t port;
    uint32_t count;
    uint32_t segment_size;
    uint32_t total;
  };
  void Submit(UringIo& io);

  const UdpSocket& udp_;
  bool gso_;
  bool zero_copy_;
  std::vector<Batch> slots_;
  std::vector<uint32_t> free_;  // capacity reserved: push/pop never allocate
  uint32_t open_ = ~0u;         // slot of the batch being filled, or ~0u
};

}  // namespace ipop::dp

// io_uring set-up and SQE helpers for one worker: the ring (single issuer, deferred task work so
// completions are produced only when the worker enters the kernel), the two registered files
// (TAP, UDP), provided-buffer rings, and one prep helper per operation the worker issues.
// Submission is batched: helpers only fill SQEs; Flush() enters the kernel once per loop.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace ipop::dp {

// What a CQE completes; stored in the top byte of user_data, the buffer id in the low 32 bits.
enum class Op : uint8_t {
  kTapRead = 1,       // TAP read into a provided buffer (multishot or single)
  kUdpRecv = 2,       // multishot recvmsg into a provided buffer
  kUdpSend = 3,       // sendmsg of a sealed datagram or an injected control datagram
  kTapWrite = 4,      // write of one frame (decrypted or injected); low bits: its buffer
  kTapWriteUnit = 5,  // writev of a coalesced super-frame; low bits: the TapWriter slot
  kWake = 6,          // read of the worker's wake-up eventfd (handoff.h)
  kInjectWake = 7,    // futex wait on the worker's wake word (shared/worker_wake.h)
};
inline uint64_t UserData(Op op, uint32_t buf) {
  return (uint64_t(op) << 56) | buf;
}
inline Op OpOf(uint64_t user_data) {
  return Op(user_data >> 56);
}
inline uint32_t BufOf(uint64_t user_data) {
  return uint32_t(user_data);
}

// Fixed-file slots.
inline constexpr int kTapSlot = 0;
inline constexpr int kUdpSlot = 1;

// A provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring, so this maps and
// registers it). Buffers are added one by one and made visible to the kernel in one Publish().
class BufRing {
 public:
  BufRing() = default;
  ~BufRing();
  BufRing(const BufRing&) = delete;
  BufRing& operator=(const BufRing&) = delete;

  bool Setup(io_uring* ring, uint16_t group, uint32_t entries, std::string* error);
  void Add(void* addr, uint32_t len, uint16_t bid) {
    io_uring_buf_ring_add(br_, addr, len, bid, mask_, int(pending_++));
  }
  void Publish() {
    if (pending_ == 0) return;
    io_uring_buf_ring_advance(br_, int(pending_));
    available_ += pending_;
    pending_ = 0;
  }
  // The kernel consumed one buffer (a CQE carried IORING_CQE_F_BUFFER for this group).
  void Consumed() { available_ -= available_ > 0 ? 1 : 0; }
  uint32_t available() const { return available_; }  // published and not yet consumed
  uint16_t group() const { return group_; }

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  size_t bytes_ = 0;
  uint32_t entries_ = 0;
  int mask_ = 0;
  uint16_t group_ = 0;
  uint32_t pending_ = 0;
  uint32_t available_ = 0;
};

class UringIo {
 public:
  UringIo() = default;
  ~UringIo();
  UringIo(const UringIo&) = delete;
  UringIo& operator=(const UringIo&) = delete;

  // Must run on the thread that will submit (single-issuer ring).
  bool Init(uint32_t sq_entries, uint32_t cq_entries, int tap_fd, int udp_fd, std::string* error);
  io_uring* ring() { return &ring_; }
  // IORING_OP_READ_MULTISHOT (Linux 6.7) is available: one armed read serves every TAP frame.
  bool tap_read_multishot() const { return tap_read_multishot_; }
  void disable_tap_read_multishot() { tap_read_multishot_ = false; }
  // IORING_OP_FUTEX_WAIT (Linux 6.7) is available: another process can end a Wait().
  bool futex_wait() const { return futex_wait_; }
  const char* setup_mode() const { return setup_mode_; }

  void PrepTapReadMultishot(uint16_t group);
  void PrepTapRead(uint16_t group, uint32_t len);
  void PrepUdpRecvMultishot(msghdr* msg, uint16_t group);
  void PrepSendmsg(const msghdr* msg, uint32_t buf);
  void PrepSendmsgZc(const msghdr* msg, uint32_t buf);  // two CQEs: result, then F_NOTIF
  void PrepTapWrite(const void* data, uint32_t len, uint32_t buf);
  void PrepTapWritev(const iovec* iov, uint32_t count, uint32_t slot);
  // An 8-byte read of an eventfd (not a registered file): completes when another thread
  // writes to it, which ends a Wait().
  void PrepWakeRead(int fd, uint64_t* value);
  // A wait on a shared (cross-process) 32-bit futex word: completes when someone wakes it, or at
  // once with -EAGAIN if the word no longer holds `expected`. Only when futex_wait().
  void PrepFutexWait(const std::atomic<uint32_t>* word, uint32_t expected);

  // Submits queued SQEs and runs deferred completions, entering the kernel only when something
  // is queued or the kernel flagged pending work. Returns false on a fatal ring error.
  bool Flush();
  // Blocks until at least one completion or timeout_ms; submits what is queued first.
  void Wait(uint32_t timeout_ms);

  unsigned Peek(io_uring_cqe** cqes, unsigned max) {
    return io_uring_peek_batch_cqe(&ring_, cqes, max);
  }
  void Advance(unsigned n) { io_uring_cq_advance(&ring_, n); }

 private:
  io_uring_sqe* Sqe();
  io_uring ring_{};
  bool initialised_ = false;
  bool taskrun_flag_ = false;  // kernel sets IORING_SQ_TASKRUN when completions wait for us
  bool tap_read_multishot_ = false;
  bool futex_wait_ = false;
  const char* setup_mode_ = "";
};

}  // namespace ipop::dp

#include "dataplane/uring_io.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace ipop::dp {
namespace {

// The opcode is stable kernel ABI (Linux 6.7); liburing 2.3's header predates it. Used only when
// io_uring_get_probe_ring() reports it.
#ifdef IORING_OP_READ_MULTISHOT
constexpr uint8_t kOpReadMultishot = IORING_OP_READ_MULTISHOT;
#else
constexpr uint8_t kOpReadMultishot = 49;
#endif

// IORING_OP_FUTEX_WAIT (Linux 6.7), same story; FUTEX2_SIZE_U32 without FUTEX2_PRIVATE: a
// shared futex, woken by another process through the region (shared/worker_wake.h).
constexpr uint8_t kOpFutexWait = 51;
constexpr uint32_t kFutex2SizeU32 = 0x02;
constexpr uint64_t kFutexBitsetMatchAny = 0xffffffffu;

std::string Err(const std::string& what, int negative_errno) {
  return what + ": " + std::strerror(-negative_errno);
}

}  // namespace

BufRing::~BufRing() {
  if (br_ != nullptr) {
    io_uring_unregister_buf_ring(ring_, group_);
    munmap(br_, bytes_);
  }
}

bool BufRing::Setup(io_uring* ring, uint16_t group, uint32_t entries, std::string* error) {
  bytes_ = size_t(entries) * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    *error = std::string("provided-buffer ring mmap: ") + std::strerror(errno);
    return false;
  }
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
  reg.ring_entries = entries;
  reg.bgid = group;
  const int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret < 0) {
    munmap(mem, bytes_);
    br_ = nullptr;
    *error = Err("io_uring_register_buf_ring (needs Linux 5.19)", ret);
    return false;
  }
  ring_ = ring;
  entries_ = entries;
  mask_ = io_uring_buf_ring_mask(entries);
  group_ = group;
  return true;
}

UringIo::~UringIo() {
  if (initialised_) io_uring_queue_exit(&ring_);
}

bool UringIo::Init(uint32_t sq_entries, uint32_t cq_entries, int tap_fd, int udp_fd,
                   std::string* error) {
  // Best first: deferred task work (completions are produced inside our own io_uring_enter, no
  // IPIs, no interrupting the busy loop); then cooperative task work; then plain.
  struct Mode {
    unsigned flags;
    const char* name;
    bool taskrun_flag;
  };
  const Mode modes[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
       "defer-taskrun", true},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "coop-taskrun", true},
      {0, "plain", false},
  };
  int ret = -EINVAL;
  for (const Mode& mode : modes) {
    io_uring_params params{};
    params.flags = mode.flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = cq_entries;
    ret = io_uring_queue_init_params(sq_entries, &ring_, &params);
    if (ret == 0) {
      setup_mode_ = mode.name;
      taskrun_flag_ = mode.taskrun_flag;
      break;
    }
    if (ret != -EINVAL) break;
  }
  if (ret < 0) {
    *error =
        Err("io_uring_queue_init (needs Linux 5.19+, not blocked by seccomp or "
            "kernel.io_uring_disabled)",
            ret);
    return false;
  }
  initialised_ = true;

  const int files[2] = {tap_fd, udp_fd};
  ret = io_uring_register_files(&ring_, files, 2);
  if (ret < 0) {
    *error = Err("io_uring_register_files", ret);
    return false;
  }

  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe != nullptr) {
    tap_read_multishot_ = io_uring_opcode_supported(probe, kOpReadMultishot) != 0;
    futex_wait_ = io_uring_opcode_supported(probe, kOpFutexWait) != 0;
    io_uring_free_probe(probe);
  }
  return true;
}

io_uring_sqe* UringIo::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {  // SQ full: hand the batch to the kernel and continue
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UringIo::PrepTapReadMultishot(uint16_t group) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_rw(kOpReadMultishot, sqe, kTapSlot, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = group;
  sqe->user_data = UserData(Op::kTapRead, 0);
}

void UringIo::PrepTapRead(uint16_t group, uint32_t len) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_read(sqe, kTapSlot, nullptr, len, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = group;
  sqe->user_data = UserData(Op::kTapRead, 0);
}

void UringIo::PrepUdpRecvMultishot(msghdr* msg, uint16_t group) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_recvmsg_multishot(sqe, kUdpSlot, msg, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = group;
  sqe->user_data = UserData(Op::kUdpRecv, 0);
}

void UringIo::PrepSendmsg(const msghdr* msg, uint32_t buf) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_sendmsg(sqe, kUdpSlot, msg, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = UserData(Op::kUdpSend, buf);
}

void UringIo::PrepSendmsgZc(const msghdr* msg, uint32_t buf) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_sendmsg_zc(sqe, kUdpSlot, msg, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = UserData(Op::kUdpSend, buf);
}

void UringIo::PrepTapWrite(const void* data, uint32_t len, uint32_t buf) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_write(sqe, kTapSlot, data, len, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = UserData(Op::kTapWrite, buf);
}

void UringIo::PrepWakeRead(int fd, uint64_t* value) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_read(sqe, fd, value, sizeof(*value), 0);
  sqe->user_data = UserData(Op::kWake, 0);
}

void UringIo::PrepFutexWait(const std::atomic<uint32_t>* word, uint32_t expected) {
  io_uring_sqe* sqe = Sqe();
  // As liburing's io_uring_prep_futex_wait: fd = futex2 flags, addr = word, off (addr2) = value,
  // addr3 = bitset mask.
  io_uring_prep_rw(kOpFutexWait, sqe, int(kFutex2SizeU32), word, 0, expected);
  sqe->addr3 = kFutexBitsetMatchAny;
  sqe->user_data = UserData(Op::kInjectWake, 0);
}

void UringIo::PrepTapWritev(const iovec* iov, uint32_t count, uint32_t slot) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_writev(sqe, kTapSlot, iov, count, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = UserData(Op::kTapWriteUnit, slot);
}

bool UringIo::Flush() {
  const unsigned sq_flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  const bool kernel_has_work = taskrun_flag_
                                   ? (sq_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0
                                   : (sq_flags & IORING_SQ_CQ_OVERFLOW) != 0;
  if (io_uring_sq_ready(&ring_) == 0 && !kernel_has_work) return true;
  const int ret = io_uring_submit_and_get_events(&ring_);
  return ret >= 0 || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY;
}

void UringIo::Wait(uint32_t timeout_ms) {
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ms / 1000;
  ts.tv_nsec = long(timeout_ms % 1000) * 1000000L;
  io_uring_cqe* cqe = nullptr;
  // -ETIME (idle), -EINTR (signal): both just end the wait.
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
}

}  // namespace ipop::dp

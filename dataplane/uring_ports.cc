#include "dataplane/uring_ports.h"

#include <netinet/udp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dataplane/vnet.h"
#include "dataplane/worker_impl.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

constexpr uint32_t kTapRxBuffers = 512;     // provided-buffer ring sizes: powers of two
constexpr uint32_t kTapRxBuffersTso = 128;  // 64 KiB each: one TSO super-frame per buffer
constexpr uint32_t kUdpRxBuffers = 1024;
constexpr uint32_t kUdpRxBuffersGro = 256;  // 64 KiB each: one GRO train per buffer
constexpr uint32_t kMaxGroSegments = 128;   // UDP_MAX_SEGMENTS of recent kernels
constexpr uint32_t kSegmentBuffers = 2048;  // TSO segments in flight (TCP small queues bound it)
constexpr uint32_t kMaxFramesPerBurst = 2048;
// Coalesced TAP writes in flight: each carries >= 2 frames and completes inline at submission,
// so one burst's worth (kMaxFramesPerBurst / 2) plus the previous burst's is the bound.
constexpr uint32_t kTapWriteSlots = kMaxFramesPerBurst;
constexpr uint32_t kTapReadsInFlight = 64;  // single-shot mode only
constexpr uint16_t kTapGroup = 0;
constexpr uint16_t kUdpGroup = 1;
constexpr uint32_t kSqEntries = 1024;
constexpr uint32_t kCqEntries = 8192;

}  // namespace

template class Worker<UringPorts>;

UringPorts::UringPorts(const Options& options, const PortsContext& ctx)
    : opt_(options), ctx_(ctx), counters_(*ctx.counters) {}

UringPorts::~UringPorts() = default;

bool UringPorts::Init(std::string* error) {
  vnet_len_ = opt_.tap_vnet_hdr ? uint32_t(vnet::kHeaderSize) : 0;
  const bool tso = opt_.tap_vnet_hdr && opt_.tap_tso;
  const uint32_t stride = BufferStrideFor(ctx_.mtu);
  // A TAP read lands so the frame's IPv4 packet starts at kIpOffset; with TSO the buffer holds
  // the largest super-frame instead of one MTU.
  const uint32_t tap_rx = tso ? kTapRxBuffersTso : kTapRxBuffers;
  tap_read_offset_ = kIpOffset - uint32_t(ether::kHeaderSize) - vnet_len_;
  tap_read_len_ = vnet_len_ + uint32_t(ether::kHeaderSize) + (tso ? 0xffffu : ctx_.mtu);
  const uint32_t tap_stride =
      tso ? uint32_t(shm::AlignUp(tap_read_offset_ + tap_read_len_ + wire::kTagSize, 64)) : stride;
  // A received datagram lands after io_uring_recvmsg_out, the source address and (with GRO)
  // the UDP_GRO cmsg, so its inner IPv4 packet starts at kIpOffset; with GRO the buffer holds a
  // 64 KiB train of datagrams.
  recv_msg_.msg_namelen = opt_.udp->sockaddr_len();
  recv_msg_.msg_controllen = opt_.udp_gro ? CMSG_SPACE(sizeof(int)) : 0;
  udp_recv_offset_ = kIpOffset - uint32_t(wire::kHeaderSize) - recv_msg_.msg_namelen -
                     uint32_t(recv_msg_.msg_controllen) - uint32_t(sizeof(io_uring_recvmsg_out));
  const uint32_t udp_rx = opt_.udp_gro ? kUdpRxBuffersGro : kUdpRxBuffers;
  const uint32_t udp_stride =
      opt_.udp_gro ? uint32_t(shm::AlignUp(kIpOffset - wire::kHeaderSize + 0xffffu, 64)) : stride;

  BufferPoolSizes sizes{};
  sizes.tap_rx = tap_rx;
  sizes.tap_rx_stride = tap_stride;
  sizes.udp_rx = udp_rx;
  sizes.udp_rx_stride = udp_stride;
  sizes.segment = tso ? kSegmentBuffers : 0;
  sizes.spare = ctx_.spares;
  sizes.stride = stride;
  pool_ = BufferPool::Create(sizes, error);
  if (!pool_) return false;
  sender_ =
      std::make_unique<UdpSender>(*opt_.udp, pool_->count(), opt_.allow_udp_gso, opt_.udp_send_zc);
  tap_writer_ = std::make_unique<TapWriter>(kTapWriteSlots);
  segment_free_.reserve(sizes.segment);
  for (uint32_t i = 0; i < sizes.segment; ++i) {
    const uint32_t id = pool_->first_segment() + i;
    segment_free_.push_back(SegmentBuffer{id, pool_->buffer(id)});
  }
  udp_refs_ = std::make_unique<uint16_t[]>(udp_rx);

  max_cqes_ = std::min<uint32_t>(2 * ctx_.burst, 2 * kMaxBurst);
  max_frames_ = tso ? kMaxFramesPerBurst : std::max(max_cqes_, tap_rx);
  max_udp_ = opt_.udp_gro ? kMaxFramesPerBurst : max_cqes_ + kMaxGroSegments;
  cqes_ = std::make_unique<io_uring_cqe*[]>(max_cqes_);
  // Reads may wait across bursts for segment buffers; each holds a TAP buffer, so there can
  // never be more than tap_rx of them.
  tap_reads_ = std::make_unique<Packet[]>(std::max(max_cqes_, tap_rx));
  read_span_ = std::make_unique<Packet*[]>(std::max(max_cqes_, tap_rx));

  if (!io_.Init(kSqEntries, kCqEntries, opt_.tap_fd, opt_.udp->fd(), error)) return false;
  if (!tap_ring_.Setup(io_.ring(), kTapGroup, tap_rx, error)) return false;
  if (!udp_ring_.Setup(io_.ring(), kUdpGroup, udp_rx, error)) return false;
  tap_multishot_ = io_.tap_read_multishot() && opt_.allow_read_multishot;
  inject_wake_ = io_.futex_wait();

  for (uint32_t i = 0; i < tap_rx; ++i) ReturnBuffer(pool_->first_tap_rx() + i);
  for (uint32_t i = 0; i < udp_rx; ++i) ReturnBuffer(pool_->first_udp_rx() + i);
  tap_ring_.Publish();
  udp_ring_.Publish();
  RearmReceives();
  if (!io_.Flush()) {
    *error = "io_uring: first submission failed";
    return false;
  }
  return true;
}

std::string UringPorts::Describe() const {
  std::string s = "io_uring " + std::string(io_.setup_mode());
  s += tap_multishot_ ? ", TAP multishot read" : ", TAP single-shot reads (64 in flight)";
  if (vnet_len_ != 0) s += opt_.tap_tso ? ", TAP TSO+coalescing" : ", TAP coalescing";
  s += sender_->gso() ? ", UDP GSO" : ", UDP sendmsg";
  s += opt_.udp_gro ? "+GRO" : "";
  s += sender_->zero_copy() ? ", zero-copy sends" : "";
  s += pool_->huge_pages() ? ", hugetlb pool" : "";
  return s;
}

void UringPorts::ReturnBuffer(uint32_t buf) {
  switch (pool_->group(buf)) {
    case BufferGroup::kTapRx:
      tap_ring_.Add(pool_->buffer(buf) + tap_read_offset_, tap_read_len_, uint16_t(buf));
      break;
    case BufferGroup::kUdpRx: {
      uint16_t& refs = udp_refs_[buf - pool_->first_udp_rx()];
      if (refs > 1) {  // other datagrams of the same GRO receive are still in flight
        --refs;
        break;
      }
      refs = 0;
      udp_ring_.Add(pool_->buffer(buf) + udp_recv_offset_, pool_->stride_of(buf) - udp_recv_offset_,
                    uint16_t(buf));
      break;
    }
    case BufferGroup::kSegment:
      if (segment_free_.size() < pool_->sizes().segment) {
        segment_free_.push_back(SegmentBuffer{buf, pool_->buffer(buf)});
      }
      break;
    case BufferGroup::kSpare:
      pool_->ReturnSpare(buf);
      break;
  }
}
void UringPorts::OnTapRead(const io_uring_cqe& cqe) {
  if (tap_multishot_) {
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) tap_armed_ = false;
  } else if (tap_reads_inflight_ > 0) {
    --tap_reads_inflight_;
  }
  const bool has_buf = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
  const uint32_t buf = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  if (has_buf) tap_ring_.Consumed();
  if (has_buf && (!pool_->valid(buf) || pool_->group(buf) != BufferGroup::kTapRx)) [[unlikely]]
    return;  // not an id we handed out: never recycle it
  if (cqe.res <= 0 || !has_buf) [[unlikely]] {
    if (cqe.res == -ENOBUFS) CountDrop(DropReason::buffer_exhausted);
    // A kernel that advertises but refuses multishot reads on this file: fall back for good.
    if (cqe.res == -EINVAL && tap_multishot_) tap_multishot_ = false;
    if (has_buf) ReturnBuffer(buf);
    return;
  }
  Count(Stat::tap_rx_frames);
  Packet& p = tap_reads_[n_reads_++];
  p.data = pool_->buffer(buf) + tap_read_offset_;
  // A frame longer than the read (TAP MTU raised above ours) reports its full length but only
  // the read's worth was copied; classify answers it as too big from the header it has.
  p.len = std::min(uint32_t(cqe.res), tap_read_len_);
  p.headroom = tap_read_offset_;
  p.tailroom = pool_->stride_of(buf) - tap_read_offset_ - p.len;
  p.buf = buf;
  p.verdict = Verdict::kForward;
}

void UringPorts::OnUdpRecv(const io_uring_cqe& cqe, RxBatch& rx) {
  if ((cqe.flags & IORING_CQE_F_MORE) == 0) udp_armed_ = false;
  const bool has_buf = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
  const uint32_t buf = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  if (has_buf) udp_ring_.Consumed();
  if (has_buf && (!pool_->valid(buf) || pool_->group(buf) != BufferGroup::kUdpRx)) [[unlikely]]
    return;
  if (cqe.res <= 0 || !has_buf) [[unlikely]] {
    if (cqe.res == -ENOBUFS) CountDrop(DropReason::buffer_exhausted);
    if (has_buf) ReturnBuffer(buf);
    return;
  }
  uint8_t* start = pool_->buffer(buf);
  auto* out = io_uring_recvmsg_validate(start + udp_recv_offset_, cqe.res, &recv_msg_);
  if (out == nullptr) [[unlikely]] {
    CountDrop(DropReason::udp_short);
    ReturnBuffer(buf);
    return;
  }
  if (out->flags & MSG_TRUNC) [[unlikely]] {  // larger than any datagram our MTU produces
    CountDrop(DropReason::too_big);
    ReturnBuffer(buf);
    return;
  }
  uint8_t addr[16] = {};
  uint16_t port = 0;
  const socklen_t name_len = std::min<socklen_t>(out->namelen, recv_msg_.msg_namelen);
  opt_.udp->FromSockaddr(io_uring_recvmsg_name(out), name_len, addr, &port);
  uint8_t* payload = static_cast<uint8_t*>(io_uring_recvmsg_payload(out, &recv_msg_));
  const uint32_t len = io_uring_recvmsg_payload_length(out, cqe.res, &recv_msg_);
  // UDP GRO: `len` holds several datagrams of `segment` bytes each (the last may be shorter).
  uint32_t segment = len;
  for (cmsghdr* cm = io_uring_recvmsg_cmsg_firsthdr(out, &recv_msg_); cm != nullptr;
       cm = io_uring_recvmsg_cmsg_nexthdr(out, &recv_msg_, cm)) {
    if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO &&
        cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int gso = 0;
      std::memcpy(&gso, CMSG_DATA(cm), sizeof(gso));
      if (gso > 0) segment = std::min(len, uint32_t(gso));
    }
  }
  if (len == 0) [[unlikely]] {  // an empty datagram: nothing to parse
    CountDrop(DropReason::udp_short);
    ReturnBuffer(buf);
    return;
  }
  // The datagrams of a train share the buffer. In-place stages write only inside their own
  // datagram, except the virtio-net header of a coalesced write head, which lands on the tag
  // of the datagram before it: that one was opened (or dropped) earlier in the same burst, or
  // is a RELAY datagram passing through, which ForwardRelayed then sends from a copy.
  uint32_t made = 0;
  for (uint32_t off = 0; off < len && made < kMaxGroSegments; off += segment, ++made) {
    Packet& p = rx.underlay[rx.n_underlay++];
    p.data = payload + off;
    p.len = std::min(segment, len - off);
    p.headroom = uint32_t(p.data - start);
    p.tailroom = pool_->stride_of(buf) - p.headroom - p.len;
    p.buf = buf;
    p.verdict = Verdict::kForward;
    std::memcpy(p.addr, addr, sizeof(addr));
    p.port = port;
  }
  if (made * uint64_t{segment} < len) [[unlikely]]
    CountDrop(DropReason::buffer_exhausted);  // more segments than one receive may carry
  udp_refs_[buf - pool_->first_udp_rx()] = uint16_t(made);  // each packet returns it once
}

void UringPorts::OnSendDone(const io_uring_cqe& cqe) {
  uint32_t sent = 0;
  uint32_t failed = 0;
  sender_->Complete(BufOf(cqe.user_data), cqe.res, cqe.flags, &sent, &failed, [this](uint32_t buf) {
    if (pool_->valid(buf)) ReturnBuffer(buf);
  });
  if (failed > 0) [[unlikely]]
    Bump(counters_.drop[uint32_t(DropReason::udp_send_failed)], failed);
  if (sent > 0) {
    Count(Stat::udp_tx_datagrams, sent);
    Count(Stat::udp_tx_bytes, uint64_t(cqe.res));
  }
}

void UringPorts::OnTapWriteDone(const io_uring_cqe& cqe) {
  uint32_t frames = 1;
  if (OpOf(cqe.user_data) == Op::kTapWriteUnit) {
    tap_writer_->Complete(BufOf(cqe.user_data), &frames, [this](uint32_t buf) {
      if (pool_->valid(buf)) ReturnBuffer(buf);
    });
  } else if (pool_->valid(BufOf(cqe.user_data))) {
    ReturnBuffer(BufOf(cqe.user_data));
  }
  if (cqe.res < 0) [[unlikely]] {
    CountDrop(DropReason::tap_write_failed, frames);
  } else {
    Count(Stat::tap_tx_frames, frames);
  }
}

bool UringPorts::Receive(RxBatch& rx) {
  const unsigned peeked = io_.Peek(cqes_.get(), max_cqes_);
  // Reap no more receives than the fullest handoff ring takes, and leave the rest in the socket
  // until its owner caught up.
  uint32_t handoff_room = rx.handoff_room;
  const uint32_t per_recv = opt_.udp_gro ? kMaxGroSegments : 1;  // datagrams one receive holds
  unsigned n = 0;
  for (; n < peeked; ++n) {
    const io_uring_cqe& cqe = *cqes_[n];
    // A GRO receive expands to many packets: leave it for the next burst if they may not fit.
    // (TAP reads always fit: tap_reads_ has room for every TAP buffer.)
    if (OpOf(cqe.user_data) == Op::kUdpRecv &&
        (rx.n_underlay + kMaxGroSegments > rx.underlay_cap || handoff_room < per_recv))
      break;
    switch (OpOf(cqe.user_data)) {
      case Op::kTapRead:
        OnTapRead(cqe);
        break;
      case Op::kUdpRecv: {
        const uint32_t before = rx.n_underlay;
        OnUdpRecv(cqe, rx);
        handoff_room -= rx.n_underlay - before;
        break;
      }
      case Op::kUdpSend:
        OnSendDone(cqe);
        break;
      case Op::kTapWrite:
      case Op::kTapWriteUnit:
        OnTapWriteDone(cqe);
        break;
      case Op::kWake:
        wake_armed_ = false;  // only ends a wait; the rings are drained every burst anyway
        break;
      case Op::kInjectWake:
        inject_wait_armed_ = false;                // the inject ring is drained every burst anyway
        if (cqe.res == 0 || cqe.res == -EAGAIN) {  // woken, or the word moved before the wait
          Count(Stat::inject_wakeups);
        } else if (cqe.res != -EINTR && cqe.res != -ECANCELED) [[unlikely]] {
          inject_wake_ = false;  // refused (e.g. seccomp, odd kernel): short idle waits instead
        }
        break;
    }
  }
  io_.Advance(n);
  SplitReads(rx);
  return n > 0;
}

void UringPorts::QueueTapWrite(std::span<Packet* const> unit) {
  if (!tap_writer_->Write(io_, unit)) [[unlikely]] {
    CountDrop(DropReason::tap_write_failed, unit.size());
    for (Packet* p : unit) ReturnBuffer(uint32_t(p->buf));
  }
}

// tap_rx with a virtio-net header: strip it, cut TSO super-frames into segments. Reads that
// do not fit this burst stay queued at the front of tap_reads_.
void UringPorts::SplitReads(RxBatch& rx) {
  if (n_reads_ == 0) return;
  if (vnet_len_ == 0) {  // plain frames: the reads are the frames
    std::copy(tap_reads_.get(), tap_reads_.get() + n_reads_, rx.host);
    rx.n_host = n_reads_;
    n_reads_ = 0;
    return;
  }
  for (uint32_t i = 0; i < n_reads_; ++i) read_span_[i] = &tap_reads_[i];
  const SplitResult r = SplitTapReads({read_span_.get(), n_reads_}, segment_free_, pool_->stride(),
                                      ctx_.mtu, rx.host, rx.host_cap, counters_);
  segment_free_.resize(segment_free_.size() - r.segments_used);
  rx.n_host = uint32_t(r.frames);
  for (size_t i = 0; i < r.reads; ++i) {
    if (tap_reads_[i].verdict != Verdict::kForward) ReturnBuffer(uint32_t(tap_reads_[i].buf));
  }
  std::copy(tap_reads_.get() + r.reads, tap_reads_.get() + n_reads_, tap_reads_.get());
  n_reads_ -= uint32_t(r.reads);
}

void UringPorts::RearmReceives() {
  if (!udp_armed_ && udp_ring_.available() > 0) {
    io_.PrepUdpRecvMultishot(&recv_msg_, kUdpGroup);
    udp_armed_ = true;
  }
  if (tap_multishot_) {
    if (!tap_armed_ && tap_ring_.available() > 0) {
      io_.PrepTapReadMultishot(kTapGroup);
      tap_armed_ = true;
    }
    return;
  }
  // No multishot read: keep a fixed number of buffer-select reads outstanding, never more than
  // there are buffers to complete them.
  const uint32_t target = std::min(kTapReadsInFlight, tap_ring_.available());
  while (tap_reads_inflight_ < target) {
    io_.PrepTapRead(kTapGroup, tap_read_len_);
    ++tap_reads_inflight_;
  }
}

void UringPorts::SendHost(Packet& p) {
  if (p.headroom < vnet_len_) [[unlikely]] {  // never for buffers laid out at kIpOffset
    ReturnBuffer(uint32_t(p.buf));
    return;
  }
  std::memset(p.data - vnet_len_, 0, vnet_len_);  // a plain frame: no offload metadata
  Packet frame = p;
  frame.data -= vnet_len_;
  frame.len += vnet_len_;
  Packet* unit[1] = {&frame};
  QueueTapWrite(unit);  // the buffer returns to its ring when the write completes
}

void UringPorts::SendHostBurst(PacketSpan frames) {
  const size_t n = frames.size();
  if (vnet_len_ == 0) {
    for (size_t i = 0; i < n; ++i) QueueTapWrite({&frames[i], 1});
    return;
  }
  CoalesceTcp(frames);
  for (size_t i = 0; i < n;) {
    const size_t k = std::max<size_t>(frames[i]->unit, 1);
    QueueTapWrite({&frames[i], std::min(k, n - i)});
    i += k;
  }
}

void UringPorts::Flush() {
  sender_->Flush(io_);
  tap_ring_.Publish();
  udp_ring_.Publish();
  RearmReceives();
  io_.Flush();
}

void UringPorts::ArmHandoffWake(int fd) {
  if (!wake_armed_ && fd >= 0) {
    io_.PrepWakeRead(fd, &wake_value_);
    wake_armed_ = true;
  }
}

void UringPorts::ArmInjectWake(const std::atomic<uint32_t>* word, uint32_t expected) {
  if (!inject_wait_armed_) {
    io_.PrepFutexWait(word, expected);
    inject_wait_armed_ = true;
  }
}

}  // namespace ipop::dp

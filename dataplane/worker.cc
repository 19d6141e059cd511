#include "dataplane/worker.h"

#include <netinet/udp.h>

#include <sched.h>
#include <sys/random.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dataplane/arp_fallback.h"
#include "dataplane/inbound.h"
#include "dataplane/outbound.h"
#include "dataplane/punt_inject.h"
#include "dataplane/relay.h"
#include "dataplane/session_owner.h"
#include "dataplane/vnet.h"
#include "shared/wire.h"
#include "shared/worker_wake.h"

namespace ipop::dp {
namespace {

constexpr uint32_t kTapRxBuffers = 512;     // provided-buffer ring sizes: powers of two
constexpr uint32_t kTapRxBuffersTso = 128;  // 64 KiB each: one TSO super-frame per buffer
constexpr uint32_t kUdpRxBuffers = 1024;
constexpr uint32_t kUdpRxBuffersGro = 256;  // 64 KiB each: one GRO train per buffer
constexpr uint32_t kMaxGroSegments = 128;   // UDP_MAX_SEGMENTS of recent kernels
constexpr uint32_t kSegmentBuffers = 2048;  // TSO segments in flight (TCP small queues bound it)
// Injects and relayed copies use a few; multicast copies up to a burst's fan-out.
constexpr uint32_t kSpareBuffers = 64 + kMaxFanOutPerBurst;
constexpr uint32_t kMaxFramesPerBurst = 2048;
// Coalesced TAP writes in flight: each carries >= 2 frames and completes inline at submission,
// so one burst's worth (kMaxFramesPerBurst / 2) plus the previous burst's is the bound.
constexpr uint32_t kTapWriteSlots = kMaxFramesPerBurst;
constexpr uint32_t kTapReadsInFlight = 64;  // single-shot mode only
constexpr uint16_t kTapGroup = 0;
constexpr uint16_t kUdpGroup = 1;
constexpr uint32_t kClockEvery = 16;  // empty spin turns per clock read
// Datagrams taken from the handoff rings per burst, into spare buffers of their own (injects and
// relayed copies use the others); twice a burst's worth, so one burst's may still be in flight.
constexpr uint32_t kMaxHandoffPerBurst = 512;
constexpr uint32_t kHandoffSpares = 2 * kMaxHandoffPerBurst;
constexpr uint32_t kSqEntries = 1024;
constexpr uint32_t kCqEntries = 8192;

}  // namespace

Worker::Worker(shm::ShmRegion& region, const WorkerOptions& options)
    : region_(region),
      opt_(options),
      counters_(region.counters(options.index)),
      reader_(region, options.index),
      punt_(region.ring(options.index, shm::kPuntRing)),
      inject_(region.ring(options.index, shm::kInjectRing)),
      crypto_(options.nonces) {}

Worker::~Worker() = default;

bool Worker::Init(std::string* error) {
  // Random keys for the limiters' tables, so an outsider cannot aim its sources at one set.
  uint64_t seeds[2];
  if (getrandom(seeds, sizeof(seeds), 0) != ssize_t(sizeof(seeds))) {
    *error = std::string("getrandom: ") + std::strerror(errno);
    return false;
  }
  punt_budget_ = std::make_unique<PuntBudget>(seeds[0]);
  relay_limit_ = std::make_unique<SourceLimiter>(kRelayPerSource, kRelayUntracked, seeds[1]);

  empty_ = std::make_unique<shm::Generation>();
  for (shm::RouteBucket& b : empty_->routes) b.peer = shm::kNoPeer;
  gen_ = empty_.get();

  vnet_len_ = opt_.tap_vnet_hdr ? uint32_t(vnet::kHeaderSize) : 0;
  const bool tso = opt_.tap_vnet_hdr && opt_.tap_tso;
  const uint32_t stride = BufferStrideFor(opt_.mtu);
  // A TAP read lands so the frame's IPv4 packet starts at kIpOffset; with TSO the buffer holds
  // the largest super-frame instead of one MTU.
  const uint32_t tap_rx = tso ? kTapRxBuffersTso : kTapRxBuffers;
  tap_read_offset_ = kIpOffset - uint32_t(ether::kHeaderSize) - vnet_len_;
  tap_read_len_ = vnet_len_ + uint32_t(ether::kHeaderSize) + (tso ? 0xffffu : opt_.mtu);
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
  sizes.spare =
      kSpareBuffers + (opt_.handoff != nullptr && opt_.n_workers > 1 ? kHandoffSpares : 0);
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

  max_cqes_ = std::min<uint32_t>(2 * opt_.burst, 2 * kMaxBurst);
  max_frames_ = tso ? kMaxFramesPerBurst : std::max(max_cqes_, tap_rx);
  max_udp_ = opt_.udp_gro ? kMaxFramesPerBurst : max_cqes_ + kMaxGroSegments;
  cqes_ = std::make_unique<io_uring_cqe*[]>(max_cqes_);
  // Reads may wait across bursts for segment buffers; each holds a TAP buffer, so there can
  // never be more than tap_rx of them.
  tap_reads_ = std::make_unique<Packet[]>(std::max(max_cqes_, tap_rx));
  tap_pkts_ = std::make_unique<Packet[]>(max_frames_);
  udp_pkts_ = std::make_unique<Packet[]>(max_udp_);
  span_ = std::make_unique<Packet*[]>(std::max({max_frames_, max_udp_, tap_rx}));
  fanout_frames_ = std::make_unique<Packet*[]>(max_frames_);
  fanout_pkts_ = std::make_unique<Packet[]>(kMaxFanOutPerBurst);
  fanout_span_ = std::make_unique<Packet*[]>(kMaxFanOutPerBurst);
  fanout_free_.reserve(kMaxFanOutPerBurst);
  if (opt_.handoff != nullptr && opt_.n_workers > 1) {
    for (uint32_t w = 0; w < opt_.n_workers; ++w) {
      handoff_out_.push_back(w == opt_.index ? SpscRingView() : opt_.handoff->Ring(opt_.index, w));
      if (w != opt_.index) handoff_in_.push_back(opt_.handoff->Ring(w, opt_.index));
    }
  }

  if (!io_.Init(kSqEntries, kCqEntries, opt_.tap_fd, opt_.udp->fd(), error)) return false;
  if (!tap_ring_.Setup(io_.ring(), kTapGroup, tap_rx, error)) return false;
  if (!udp_ring_.Setup(io_.ring(), kUdpGroup, udp_rx, error)) return false;
  tap_multishot_ = io_.tap_read_multishot() && opt_.allow_read_multishot;
  inject_wake_ = io_.futex_wait() && inject_.valid() && opt_.allow_inject_wake;

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

std::string Worker::describe_io() const {
  std::string s = "worker " + std::to_string(opt_.index) + "/" + std::to_string(opt_.n_workers) +
                  ": io_uring " + io_.setup_mode();
  s += tap_multishot_ ? ", TAP multishot read" : ", TAP single-shot reads (64 in flight)";
  if (vnet_len_ != 0) s += opt_.tap_tso ? ", TAP TSO+coalescing" : ", TAP coalescing";
  s += sender_->gso() ? ", UDP GSO" : ", UDP sendmsg";
  s += opt_.udp_gro ? "+GRO" : "";
  s += sender_->zero_copy() ? ", zero-copy sends" : "";
  s += pool_->huge_pages() ? ", hugetlb pool" : "";
  s += inject_wake_
           ? ", futex wake-up for injects"
           : ", no inject wake-up (idle wait <= " + std::to_string(kIdleWaitWithoutWakeMs) + " ms)";
  return s;
}

void Worker::Adopt(const shm::Generation* g) {
  const uint64_t invalid = reader_.invalid_seen();
  if (invalid != invalid_seen_) {
    Bump(counters_.drop[uint32_t(DropReason::table_invalid)], invalid - invalid_seen_);
    invalid_seen_ = invalid;
  }
  if (g == nullptr) {
    gen_ = empty_.get();
    return;
  }
  // Compare the publication sequence, not only the pointer: a slot is reused by later
  // publications, and a switch adopted inside GoOnline() is not reported by switched().
  if (g != gen_ || reader_.seq() != gen_seq_) {
    crypto_.Rescan(*g, counters_);
    Count(Stat::table_switches);
  }
  gen_ = g;
  gen_seq_ = reader_.seq();
}

void Worker::ReturnBuffer(uint32_t buf) {
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

void Worker::OnTapRead(const io_uring_cqe& cqe) {
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

void Worker::OnUdpRecv(const io_uring_cqe& cqe) {
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
    Packet& p = udp_pkts_[n_udp_++];
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

void Worker::OnSendDone(const io_uring_cqe& cqe) {
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

void Worker::OnTapWriteDone(const io_uring_cqe& cqe) {
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

bool Worker::ReapCompletions() {
  const unsigned peeked = io_.Peek(cqes_.get(), max_cqes_);
  // Every datagram reaped may have to go to one other worker's ring: reap no more than the
  // fullest ring takes, and leave the rest in the socket until its owner caught up.
  uint32_t handoff_room = HandoffRoom();
  const uint32_t per_recv = opt_.udp_gro ? kMaxGroSegments : 1;  // datagrams one receive holds
  unsigned n = 0;
  for (; n < peeked; ++n) {
    const io_uring_cqe& cqe = *cqes_[n];
    // A GRO receive expands to many packets: leave it for the next burst if they may not fit.
    // (TAP reads always fit: tap_reads_ has room for every TAP buffer.)
    if (OpOf(cqe.user_data) == Op::kUdpRecv &&
        (n_udp_ + kMaxGroSegments > max_udp_ || handoff_room < per_recv))
      break;
    switch (OpOf(cqe.user_data)) {
      case Op::kTapRead:
        OnTapRead(cqe);
        break;
      case Op::kUdpRecv: {
        const uint32_t before = n_udp_;
        OnUdpRecv(cqe);
        handoff_room -= n_udp_ - before;
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
  return n > 0;
}

void Worker::QueueSend(uint32_t buf, const uint8_t* data, uint32_t len, const uint8_t addr[16],
                       uint16_t port) {
  if (!sender_->Add(io_, buf, data, len, addr, port)) [[unlikely]] {
    CountDrop(DropReason::udp_send_failed);  // IPv6 endpoint on an IPv4 underlay socket
    ReturnBuffer(buf);
  }
}

// A RELAY datagram for another node goes out unchanged from its receive buffer - unless the next
// datagram of the same GRO receive is delivered to the TAP: its virtio-net header is written in
// front of it (OnUdpRecv), over this datagram's tag, before the send runs. Then it is copied.
void Worker::ForwardRelayed(Packet& p, bool tail_reused) {
  const shm::LinkEntry& link = gen_->links[p.link];  // bounded by NextHopLink
  if (!tail_reused) [[likely]] {
    QueueSend(p.buf, p.data, p.len, link.underlay_addr, link.underlay_port);
    return;
  }
  uint32_t copy;
  if (p.len > pool_->stride() || !pool_->TakeSpare(&copy)) [[unlikely]] {
    CountDrop(DropReason::buffer_exhausted);
    ReturnBuffer(p.buf);
    return;
  }
  uint8_t* data = pool_->buffer(copy);
  std::memcpy(data, p.data, p.len);
  ReturnBuffer(p.buf);
  QueueSend(copy, data, p.len, link.underlay_addr, link.underlay_port);
}

void Worker::QueueTapWrite(std::span<Packet* const> unit) {
  if (!tap_writer_->Write(io_, unit)) [[unlikely]] {
    CountDrop(DropReason::tap_write_failed, unit.size());
    for (Packet* p : unit) ReturnBuffer(p->buf);
  }
}

// tap_rx with a virtio-net header: strip it, cut TSO super-frames into segments. Reads that
// do not fit this burst stay queued at the front of tap_reads_.
void Worker::SplitReads() {
  if (n_reads_ == 0) return;
  if (vnet_len_ == 0) {  // plain frames: the reads are the frames
    std::copy(tap_reads_.get(), tap_reads_.get() + n_reads_, tap_pkts_.get());
    n_tap_ = n_reads_;
    n_reads_ = 0;
    return;
  }
  for (uint32_t i = 0; i < n_reads_; ++i) span_[i] = &tap_reads_[i];
  const SplitResult r = SplitTapReads({span_.get(), n_reads_}, segment_free_, pool_->stride(),
                                      opt_.mtu, tap_pkts_.get(), max_frames_, counters_);
  segment_free_.resize(segment_free_.size() - r.segments_used);
  n_tap_ = uint32_t(r.frames);
  for (size_t i = 0; i < r.reads; ++i) {
    if (tap_reads_[i].verdict != Verdict::kForward) ReturnBuffer(tap_reads_[i].buf);
  }
  std::copy(tap_reads_.get() + r.reads, tap_reads_.get() + n_reads_, tap_reads_.get());
  n_reads_ -= uint32_t(r.reads);
}

void Worker::RunOutboundBurst() {
  SplitReads();
  if (n_tap_ == 0) return;
  for (uint32_t i = 0; i < n_tap_; ++i) span_[i] = &tap_pkts_[i];
  const OutboundContext ctx{gen_,       opt_.mtu,     opt_.dp_instance,  &crypto_,
                            &counters_, &icmp_limit_, &group_punt_limit_};
  RunOutbound({span_.get(), n_tap_}, ctx);
  uint32_t n_fanout = 0;
  for (uint32_t i = 0; i < n_tap_; ++i) {
    Packet& p = tap_pkts_[i];
    if (p.verdict == Verdict::kForward) [[likely]] {
      if (p.link == shm::kNoLink) [[likely]] {
        const shm::PeerEntry& peer = gen_->peers[p.peer];
        QueueSend(p.buf, p.data, p.len, peer.underlay_addr, peer.underlay_port);
      } else {
        const shm::LinkEntry& link = gen_->links[p.link];  // bounded by NextHopLink
        QueueSend(p.buf, p.data, p.len, link.underlay_addr, link.underlay_port);
      }
      continue;
    }
    if (p.verdict == Verdict::kFanOut) [[unlikely]] {
      fanout_frames_[n_fanout++] = &p;  // its buffer is RunFanOut's now
      continue;
    }
    if (p.verdict == Verdict::kReflect && p.headroom >= vnet_len_) [[unlikely]] {
      std::memset(p.data - vnet_len_, 0, vnet_len_);  // a plain frame: no offload metadata
      Packet reply = p;
      reply.data -= vnet_len_;
      reply.len += vnet_len_;
      Packet* unit[1] = {&reply};
      QueueTapWrite(unit);  // the buffer returns to its ring when the write completes
      continue;
    }
    if (p.verdict == Verdict::kPunt) [[unlikely]] {
      if (gen_ != nullptr && p.headroom >= vnet_len_ &&
          ControlPlaneAbsent(region_.header(), shm::MonotonicNs()) &&
          AnswerArpFromTable(*gen_, p)) {
        std::memset(p.data - vnet_len_, 0, vnet_len_);  // a plain frame: no offload metadata
        Packet reply = p;
        reply.data -= vnet_len_;
        reply.len += vnet_len_;
        Packet* unit[1] = {&reply};
        QueueTapWrite(unit);  // the buffer returns to its ring when the write completes
        Count(Stat::arp_local_replies);
        continue;
      }
      Punt(punt_, p, shm::PuntKind::kTapFrame, opt_.index, counters_, *punt_budget_, clock_.Now());
    }
    ReturnBuffer(p.buf);
  }
  if (n_fanout > 0) [[unlikely]]
    RunFanOut(n_fanout);
  n_tap_ = 0;
}

// Multicast and broadcast frames: one packet per member (copies in spare buffers), then the
// unicast chain from the peer on.
void Worker::RunFanOut(uint32_t n_frames) {
  const OutboundContext ctx{gen_, opt_.mtu, opt_.dp_instance, &crypto_, &counters_};
  const std::span<Packet*> frames{fanout_frames_.get(), n_frames};
  const size_t wanted = std::min<size_t>(FanOutCopiesWanted(frames, ctx), kMaxFanOutPerBurst);
  fanout_free_.clear();
  uint32_t id;
  while (fanout_free_.size() < wanted && pool_->TakeSpare(&id))
    fanout_free_.push_back(CopyBuffer{id, pool_->buffer(id), pool_->stride()});
  const FanOutResult r =
      FanOutGroups(frames, ctx, fanout_free_, fanout_pkts_.get(), kMaxFanOutPerBurst);
  for (size_t i = 0; i + r.buffers_used < fanout_free_.size(); ++i)  // used from the back
    pool_->ReturnSpare(fanout_free_[i].id);
  for (Packet* f : frames)
    if (f->verdict != Verdict::kForward) ReturnBuffer(f->buf);  // dropped: nobody holds it

  for (size_t i = 0; i < r.packets; ++i) fanout_span_[i] = &fanout_pkts_[i];
  const std::span<Packet*> pkts{fanout_span_.get(), r.packets};
  size_t n = ResolveMemberPaths(pkts, ctx);
  n = SealPackets(pkts.first(n), ctx);
  WrapRelayed(pkts.first(n), ctx);
  // The stages compact the span, so the verdicts are read from the packets themselves.
  for (size_t i = 0; i < r.packets; ++i) {
    Packet* p = &fanout_pkts_[i];
    if (p->verdict != Verdict::kForward) [[unlikely]] {
      ReturnBuffer(p->buf);
      continue;
    }
    const bool relayed = p->link != shm::kNoLink;
    const uint8_t* addr = relayed ? gen_->links[p->link].underlay_addr  // bounded by NextHopLink
                                  : gen_->peers[p->peer].underlay_addr;
    const uint16_t port =
        relayed ? gen_->links[p->link].underlay_port : gen_->peers[p->peer].underlay_port;
    QueueSend(p->buf, p->data, p->len, addr, port);
  }
}

// Datagrams other workers received for sessions this one owns: copied into spare buffers laid out
// like a receive (inner IPv4 packet at kIpOffset), appended to this burst's datagrams.
bool Worker::DrainHandoff() {
  const uint32_t offset = kIpOffset - uint32_t(wire::kHeaderSize);
  uint32_t taken = 0;
  for (SpscRingView& ring : handoff_in_) {
    while (n_udp_ < max_udp_ && taken < kMaxHandoffPerBurst) {
      SpscRingView::Entry entry;
      if (!ring.Peek(entry)) {
        if (ring.corrupt()) [[unlikely]]
          ring.Reset();  // cannot happen between threads of one process; never loop on it
        break;
      }
      const uint32_t len = uint32_t(entry.payload.size());
      if (offset + len + wire::kTagSize > pool_->stride()) [[unlikely]] {
        CountDrop(DropReason::handoff_failed);  // the sender checked the slot size, not ours
        ring.Pop();
        continue;
      }
      uint32_t buf;
      if (!pool_->TakeSpare(&buf)) return taken > 0;  // the rest waits in the ring
      Packet& p = udp_pkts_[n_udp_++];
      p = Packet{};
      p.data = pool_->buffer(buf) + offset;
      std::memcpy(p.data, entry.payload.data(), len);
      p.len = len;
      p.headroom = offset;
      p.tailroom = pool_->stride() - offset - len;
      p.buf = buf;
      std::memcpy(p.addr, entry.meta.addr, sizeof(p.addr));
      p.port = entry.meta.port;
      ring.Pop();
      Count(Stat::handoff_in);
      ++taken;
    }
  }
  return taken > 0;
}

// Datagrams of sessions another worker owns are copied to it before any stage writes in place
// (a GRO train's datagrams share a buffer); the others keep their order.
void Worker::SteerToOwners() {
  if (handoff_out_.empty()) return;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n_udp_; ++i) {
    Packet& p = udp_pkts_[i];
    const uint32_t owner = OwnerWorker({p.data, p.len}, opt_.n_workers);
    if (owner == kAnyWorker || owner == opt_.index) [[likely]] {
      if (kept != i) udp_pkts_[kept] = p;
      ++kept;
      continue;
    }
    RingSlotHeader meta{};
    meta.port = p.port;
    std::memcpy(meta.addr, p.addr, sizeof(meta.addr));
    meta.worker = opt_.index;
    if (handoff_out_[owner].TryPush(meta, {p.data, p.len})) {
      handoff_notify_ |= 1u << owner;
      Count(Stat::handoff_out);
    } else {
      CountDrop(DropReason::handoff_failed);
    }
    ReturnBuffer(p.buf);
  }
  n_udp_ = kept;
  for (uint32_t w = 0; handoff_notify_ != 0; ++w, handoff_notify_ >>= 1)
    if (handoff_notify_ & 1) opt_.handoff->Notify(w);
}

uint32_t Worker::HandoffRoom() const {
  uint32_t room = ~0u;
  for (const SpscRingView& ring : handoff_out_)
    if (ring.valid()) room = std::min(room, ring.capacity() - ring.size_approx());
  return room;
}

bool Worker::HandoffPending() {
  for (const SpscRingView& ring : handoff_in_)
    if (ring.size_approx() != 0) return true;
  return false;
}

void Worker::RunInboundBurst() {
  SteerToOwners();
  if (n_udp_ == 0) return;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n_udp_; ++i) {
    span_[i] = &udp_pkts_[i];
    bytes += udp_pkts_[i].len;
  }
  Count(Stat::udp_rx_datagrams, n_udp_);
  Count(Stat::udp_rx_bytes, bytes);
  InboundContext ctx{gen_, {}, &crypto_, &counters_, opt_.mtu, relay_limit_.get(), &clock_};
  std::memcpy(ctx.tap_mac, opt_.tap_mac, sizeof(ctx.tap_mac));
  const size_t n = RunInbound({span_.get(), n_udp_}, ctx);
  for (uint32_t i = 0; i < n_udp_; ++i) {
    Packet& p = udp_pkts_[i];
    if (p.verdict == Verdict::kForward) continue;
    if (p.verdict == Verdict::kRelay) [[unlikely]] {
      // udp_pkts_ keeps receive order, so the next entry with the same buffer is the next
      // datagram of the same GRO receive.
      const bool tail_reused = i + 1 < n_udp_ && udp_pkts_[i + 1].buf == p.buf &&
                               udp_pkts_[i + 1].verdict == Verdict::kForward;
      ForwardRelayed(p, tail_reused);
      continue;
    }
    if (p.verdict == Verdict::kPunt) {
      Punt(punt_, p, shm::PuntKind::kUnderlayControl, opt_.index, counters_, *punt_budget_,
           clock_.Now());
    }
    ReturnBuffer(p.buf);
  }
  if (vnet_len_ == 0) {
    for (size_t i = 0; i < n; ++i) QueueTapWrite({&span_[i], 1});
  } else {
    CoalesceTcp({span_.get(), n});
    for (size_t i = 0; i < n;) {
      const size_t k = std::max<size_t>(span_[i]->unit, 1);
      QueueTapWrite({&span_[i], std::min(k, n - i)});
      i += k;
    }
  }
  n_udp_ = 0;
}

bool Worker::DrainInject() {
  if (!inject_.valid()) return false;
  uint32_t handled = 0;
  while (handled < opt_.burst) {
    SpscRingView::Entry entry;
    const bool got = inject_.Peek(entry);
    if (inject_.corrupt()) [[unlikely]] {
      CountDrop(DropReason::ring_corrupt);
      inject_.Reset();
      break;
    }
    if (!got) break;
    const InjectAction action = CheckInject(entry, opt_.mtu);
    if (action == InjectAction::kReject) [[unlikely]] {
      CountDrop(DropReason::inject_bad_entry);
      inject_.Pop();
      ++handled;
      continue;
    }
    uint32_t buf;
    if (!pool_->TakeSpare(&buf)) break;  // all spares in flight: the entry waits in the ring
    // Injects are at most a ring slot's payload (< stride - virtio-net header), so they are
    // copied to the buffer start.
    uint8_t* data = pool_->buffer(buf);
    const uint32_t len = uint32_t(entry.payload.size());
    if (action == InjectAction::kSendUnderlay) {
      std::memcpy(data, entry.payload.data(), len);
      QueueSend(buf, data, len, entry.meta.addr, entry.meta.port);
    } else {
      std::memset(data, 0, vnet_len_);  // a plain frame: no offload metadata
      std::memcpy(data + vnet_len_, entry.payload.data(), len);
      Packet frame;
      frame.data = data;
      frame.len = vnet_len_ + len;
      frame.buf = buf;
      Packet* unit[1] = {&frame};
      QueueTapWrite(unit);
    }
    inject_.Pop();
    Count(Stat::injected);
    ++handled;
  }
  return handled > 0;
}

void Worker::RearmReceives() {
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

void Worker::Run(const std::atomic<bool>& stop) {
  shm::RegionHeader& hdr = region_.header();
  shm::WorkerState& state = hdr.workers[opt_.index];
  const uint64_t spin_ns = uint64_t{opt_.spin_us} * 1000;
  uint64_t now = shm::MonotonicNs();
  uint64_t last_work = now;
  uint32_t empty_turns = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    state.heartbeat_ns.store(now, std::memory_order_relaxed);
    if (opt_.index == 0) hdr.dp_heartbeat_ns.store(now, std::memory_order_relaxed);

    Adopt(reader_.BeginBurst());
    clock_.NextBurst();
    bool work = ReapCompletions();
    work |= DrainHandoff();
    RunOutboundBurst();
    RunInboundBurst();
    work |= DrainInject();
    sender_->Flush(io_);
    tap_ring_.Publish();
    udp_ring_.Publish();
    RearmReceives();
    io_.Flush();
    Count(Stat::loop_iterations);

    work |= n_reads_ > 0;  // reads waiting for segment buffers
    if (work) {
      now = shm::MonotonicNs();
      last_work = now;
      empty_turns = 0;
      continue;
    }
    // Spinning: an empty turn costs a few loads and a sched_yield, the clock read costs more;
    // look at the clock (and refresh the heartbeat) every kClockEvery turns only. Yielding, not
    // pausing: on a shared core the thread that will produce our next packet (the application,
    // the kernel's softirq work, the peer node's dataplane on one machine) gets the core at once
    // instead of after our spin. That cut the ping RTT through two nodes on a 2-core VM by about
    // a third.
    if (++empty_turns % kClockEvery != 0) {
      sched_yield();
      continue;
    }
    now = shm::MonotonicNs();
    if (now - last_work < spin_ns) continue;
    if (!handoff_in_.empty()) {
      // Other workers must wake us for what they hand over (handoff.h).
      opt_.handoff->Sleep(opt_.index);
      if (HandoffPending()) {
        opt_.handoff->Awake(opt_.index);
        last_work = now;
        continue;
      }
      const int fd = opt_.handoff->wake_fd(opt_.index);
      if (!wake_armed_ && fd >= 0) {
        io_.PrepWakeRead(fd, &wake_value_);
        wake_armed_ = true;
      }
    }
    uint32_t wait_ms = std::min(opt_.idle_wait_ms, kIdleWaitWithoutWakeMs);
    if (inject_wake_) {
      // The control plane wakes us after injecting (shared/worker_wake.h), so we may block long.
      const uint32_t word = shm::PrepareToSleep(state);
      if (inject_.size_approx() != 0) {  // pushed before it could see us sleeping
        shm::Awake(state);
        if (!handoff_in_.empty()) opt_.handoff->Awake(opt_.index);
        last_work = now;
        continue;
      }
      if (!inject_wait_armed_) {
        io_.PrepFutexWait(&state.wake_word, word);
        inject_wait_armed_ = true;
      }
      wait_ms = opt_.idle_wait_ms;
    }
    // Idle: hold no generation while blocked so the control plane can reclaim slots.
    reader_.GoOffline();
    io_.Wait(wait_ms);
    Count(Stat::idle_waits);
    reader_.GoOnline();
    if (inject_wake_) shm::Awake(state);
    if (!handoff_in_.empty()) opt_.handoff->Awake(opt_.index);
    now = shm::MonotonicNs();
    empty_turns = kClockEvery - 1;  // a wake-up without work goes back to sleep at once
  }
  reader_.GoOffline();
  state.quiescent_seq.store(shm::kOffline, std::memory_order_release);
}

}  // namespace ipop::dp

// Worker<Ports>'s body (worker.h). Included only by the translation unit that instantiates the
// worker for one backend (uring_ports.cc, dpdk_worker.cc), so each backend's per-packet port
// calls inline into the loop.
#pragma once

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
#include "dataplane/worker.h"
#include "shared/wire.h"
#include "shared/worker_wake.h"

namespace ipop::dp {
namespace worker_detail {

constexpr uint32_t kClockEvery = 16;  // empty spin turns per clock read
// Where an underlay datagram copied into a spare buffer starts: a RELAY header and the wire
// header in front of kIpOffset, so a backend that adds the underlay's own headers (DPDK) has the
// room it has in a received buffer.
constexpr uint32_t kUnderlayCopyOffset =
    kIpOffset - uint32_t(wire::kHeaderSize) - uint32_t(wire::kRelayHeaderSize);

// Lays `len` bytes out in a fresh spare view `s` (data at the buffer start, len 0) at `offset`,
// or as far in as the buffer allows; the caller checked len <= the spare size.
inline void PlaceInSpare(Packet& s, uint32_t len, uint32_t offset) {
  const uint32_t size = s.tailroom;
  const uint32_t off = std::min(offset, size - len);
  s.data += off;
  s.headroom = off;
  s.len = len;
  s.tailroom = size - off - len;
}

}  // namespace worker_detail

template <typename Ports>
Worker<Ports>::Worker(shm::ShmRegion& region, const WorkerOptions& options,
                      const typename Ports::Options& port_options)
    : region_(region),
      opt_(options),
      counters_(region.counters(options.index)),
      ports_(port_options,
             PortsContext{
                 options.index, options.burst, options.mtu,
                 kSpareBuffers +
                     (options.handoff != nullptr && options.n_workers > 1 ? kHandoffSpares : 0),
                 &region.counters(options.index)}),
      reader_(region, options.index),
      punt_(region.ring(options.index, shm::kPuntRing)),
      inject_(region.ring(options.index, shm::kInjectRing)),
      crypto_(options.nonces) {}

template <typename Ports>
Worker<Ports>::~Worker() = default;

template <typename Ports>
bool Worker<Ports>::Init(std::string* error) {
  // Random keys for the limiters' tables, so an outsider cannot aim its sources at one set.
  uint64_t seeds[3];
  if (getrandom(seeds, sizeof(seeds), 0) != ssize_t(sizeof(seeds))) {
    *error = std::string("getrandom: ") + std::strerror(errno);
    return false;
  }
  punt_budget_ = std::make_unique<PuntBudget>(seeds[0]);
  relay_limit_ = std::make_unique<SourceLimiter>(kRelayPerSource, kRelayUntracked, seeds[1]);
  if (opt_.flow_tables != nullptr) {
    firewall_ = std::make_unique<Firewall>(opt_.flow_tables->table(opt_.index), &counters_);
    firewall_->SetSiblings(opt_.flow_tables->Siblings(opt_.index));
  } else {
    own_flows_ = std::make_unique<ConnTable>(kFwFlowSetsLog2, seeds[2]);
    firewall_ = std::make_unique<Firewall>(*own_flows_, &counters_);
  }

  empty_ = std::make_unique<shm::Generation>();
  for (shm::RouteBucket& b : empty_->routes) b.peer = shm::kNoPeer;
  gen_ = empty_.get();
  firewall_->Adopt(*gen_);

  if (!ports_.Init(error)) return false;
  const uint32_t host_cap = ports_.host_capacity();
  const uint32_t udp_cap = ports_.underlay_capacity();
  host_pkts_ = std::make_unique<Packet[]>(host_cap);
  udp_pkts_ = std::make_unique<Packet[]>(udp_cap);
  span_ = std::make_unique<Packet*[]>(std::max(host_cap, udp_cap));
  fanout_frames_ = std::make_unique<Packet*[]>(host_cap);
  fanout_pkts_ = std::make_unique<Packet[]>(kMaxFanOutPerBurst);
  fanout_span_ = std::make_unique<Packet*[]>(kMaxFanOutPerBurst);
  fanout_free_.reserve(kMaxFanOutPerBurst);
  rx_.host = host_pkts_.get();
  rx_.host_cap = host_cap;
  rx_.underlay = udp_pkts_.get();
  rx_.underlay_cap = udp_cap;
  if (opt_.handoff != nullptr && opt_.n_workers > 1) {
    for (uint32_t w = 0; w < opt_.n_workers; ++w) {
      handoff_out_.push_back(w == opt_.index ? SpscRingView() : opt_.handoff->Ring(opt_.index, w));
      if (w != opt_.index) handoff_in_.push_back(opt_.handoff->Ring(w, opt_.index));
    }
  }
  return true;
}

template <typename Ports>
std::string Worker<Ports>::describe_io() const {
  std::string s = "worker " + std::to_string(opt_.index) + "/" + std::to_string(opt_.n_workers) +
                  ": " + ports_.Describe();
  const bool wake = ports_.inject_wake() && inject_.valid() && opt_.allow_inject_wake;
  s += wake
           ? ", futex wake-up for injects"
           : ", no inject wake-up (idle wait <= " + std::to_string(kIdleWaitWithoutWakeMs) + " ms)";
  return s;
}

template <typename Ports>
void Worker<Ports>::Adopt(const shm::Generation* g) {
  const uint64_t invalid = reader_.invalid_seen();
  if (invalid != invalid_seen_) {
    Bump(counters_.drop[uint32_t(DropReason::table_invalid)], invalid - invalid_seen_);
    invalid_seen_ = invalid;
  }
  if (g == nullptr) {
    gen_ = empty_.get();
    firewall_->Adopt(*gen_);
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
  firewall_->Adopt(*g);
}

template <typename Ports>
Firewall* Worker<Ports>::ActiveFirewall() {
  if (!firewall_->enabled()) [[likely]]
    return nullptr;
  firewall_->SetNow(uint32_t(clock_.Now() / 1'000'000'000u));
  return firewall_.get();
}

template <typename Ports>
void Worker<Ports>::SendToPeer(Packet& p) {
  if (p.link == shm::kNoLink) [[likely]] {
    const shm::PeerEntry& peer = gen_->peers[p.peer];
    ports_.SendUnderlay(p, peer.underlay_addr, peer.underlay_port);
  } else {
    const shm::LinkEntry& link = gen_->links[p.link];  // bounded by NextHopLink
    ports_.SendUnderlay(p, link.underlay_addr, link.underlay_port);
  }
}

template <typename Ports>
void Worker<Ports>::RunOutboundBurst() {
  const uint32_t n_host = rx_.n_host;
  rx_.n_host = 0;
  if (n_host == 0) return;
  for (uint32_t i = 0; i < n_host; ++i) span_[i] = &host_pkts_[i];
  const OutboundContext ctx{gen_,       opt_.mtu,     opt_.dp_instance,   &crypto_,
                            &counters_, &icmp_limit_, &group_punt_limit_, ActiveFirewall()};
  RunOutbound({span_.get(), n_host}, ctx);
  uint32_t n_fanout = 0;
  for (uint32_t i = 0; i < n_host; ++i) {
    Packet& p = host_pkts_[i];
    if (p.verdict == Verdict::kForward) [[likely]] {
      SendToPeer(p);
      continue;
    }
    if (p.verdict == Verdict::kFanOut) [[unlikely]] {
      fanout_frames_[n_fanout++] = &p;  // its buffer is RunFanOut's now
      continue;
    }
    if (p.verdict == Verdict::kReflect) [[unlikely]] {
      ports_.SendHost(p);  // the ICMP error built in place goes back to the sender
      continue;
    }
    if (p.verdict == Verdict::kPunt) [[unlikely]] {
      if (gen_ != nullptr && ControlPlaneAbsent(region_.header(), shm::MonotonicNs()) &&
          AnswerArpFromTable(*gen_, p)) {
        ports_.SendHost(p);
        Count(Stat::arp_local_replies);
        continue;
      }
      Punt(punt_, p, shm::PuntKind::kTapFrame, opt_.index, counters_, *punt_budget_, clock_.Now());
    }
    ports_.Release(p);
  }
  if (n_fanout > 0) [[unlikely]]
    RunFanOut(n_fanout);
}

// Multicast and broadcast frames: one packet per member (copies in spare buffers), then the
// unicast chain from the peer on.
template <typename Ports>
void Worker<Ports>::RunFanOut(uint32_t n_frames) {
  OutboundContext ctx{gen_, opt_.mtu, opt_.dp_instance, &crypto_, &counters_};
  ctx.firewall = ActiveFirewall();
  const std::span<Packet*> frames{fanout_frames_.get(), n_frames};
  const size_t wanted = std::min<size_t>(FanOutCopiesWanted(frames, ctx), kMaxFanOutPerBurst);
  fanout_free_.clear();
  Packet spare;
  while (fanout_free_.size() < wanted && ports_.AllocSpare(spare))
    fanout_free_.push_back(CopyBuffer{spare.buf, spare.data, spare.tailroom});
  const FanOutResult r =
      FanOutGroups(frames, ctx, fanout_free_, fanout_pkts_.get(), kMaxFanOutPerBurst);
  for (size_t i = 0; i + r.buffers_used < fanout_free_.size(); ++i) {  // used from the back
    Packet unused;
    unused.buf = fanout_free_[i].id;
    ports_.Release(unused);
  }
  for (Packet* f : frames)
    if (f->verdict != Verdict::kForward) ports_.Release(*f);  // dropped: nobody holds it

  for (size_t i = 0; i < r.packets; ++i) fanout_span_[i] = &fanout_pkts_[i];
  const std::span<Packet*> pkts{fanout_span_.get(), r.packets};
  size_t n = ResolveMemberPaths(pkts, ctx);
  n = FilterOutbound(pkts.first(n), ctx);
  n = SealPackets(pkts.first(n), ctx);
  WrapRelayed(pkts.first(n), ctx);
  // The stages compact the span, so the verdicts are read from the packets themselves.
  for (size_t i = 0; i < r.packets; ++i) {
    Packet& p = fanout_pkts_[i];
    if (p.verdict != Verdict::kForward) [[unlikely]] {
      ports_.Release(p);
      continue;
    }
    SendToPeer(p);
  }
}

// Datagrams other workers received for sessions this one owns: copied into spare buffers laid out
// like a receive (inner IPv4 packet at kIpOffset), appended to this burst's datagrams.
template <typename Ports>
bool Worker<Ports>::DrainHandoff() {
  const uint32_t offset = kIpOffset - uint32_t(wire::kHeaderSize);
  uint32_t taken = 0;
  for (SpscRingView& ring : handoff_in_) {
    while (rx_.n_underlay < rx_.underlay_cap && taken < kMaxHandoffPerBurst) {
      SpscRingView::Entry entry;
      if (!ring.Peek(entry)) {
        if (ring.corrupt()) [[unlikely]]
          ring.Reset();  // cannot happen between threads of one process; never loop on it
        break;
      }
      const uint32_t len = uint32_t(entry.payload.size());
      if (offset + len + wire::kTagSize > ports_.spare_size()) [[unlikely]] {
        CountDrop(DropReason::handoff_failed);  // the sender checked the slot size, not ours
        ring.Pop();
        continue;
      }
      Packet spare;
      if (!ports_.AllocSpare(spare)) return taken > 0;  // the rest waits in the ring
      Packet& p = udp_pkts_[rx_.n_underlay++];
      p = Packet{};
      p.buf = spare.buf;
      p.data = spare.data + offset;
      std::memcpy(p.data, entry.payload.data(), len);
      p.len = len;
      p.headroom = offset;
      p.tailroom = spare.tailroom - offset - len;
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
template <typename Ports>
void Worker<Ports>::SteerToOwners() {
  if (handoff_out_.empty()) return;
  uint32_t kept = 0;
  const uint32_t n = rx_.n_underlay;
  for (uint32_t i = 0; i < n; ++i) {
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
    ports_.Release(p);
  }
  rx_.n_underlay = kept;
  for (uint32_t w = 0; handoff_notify_ != 0; ++w, handoff_notify_ >>= 1)
    if (handoff_notify_ & 1) opt_.handoff->Notify(w);
}

template <typename Ports>
uint32_t Worker<Ports>::HandoffRoom() const {
  uint32_t room = ~0u;
  for (const SpscRingView& ring : handoff_out_)
    if (ring.valid()) room = std::min(room, ring.capacity() - ring.size_approx());
  return room;
}

template <typename Ports>
bool Worker<Ports>::HandoffPending() {
  for (const SpscRingView& ring : handoff_in_)
    if (ring.size_approx() != 0) return true;
  return false;
}

// A RELAY datagram for another node goes out unchanged from its receive buffer - unless the next
// datagram of the same buffer (an io_uring GRO train) is delivered to the host: the port may write
// its own header in front of that one, over this datagram's tag, before the send runs. Then it is
// copied.
template <typename Ports>
void Worker<Ports>::ForwardRelayed(Packet& p, bool tail_reused) {
  const shm::LinkEntry& link = gen_->links[p.link];  // bounded by NextHopLink
  if (!tail_reused) [[likely]] {
    ports_.SendUnderlay(p, link.underlay_addr, link.underlay_port);
    return;
  }
  Packet copy;
  if (p.len > ports_.spare_size() || !ports_.AllocSpare(copy)) [[unlikely]] {
    CountDrop(DropReason::buffer_exhausted);
    ports_.Release(p);
    return;
  }
  worker_detail::PlaceInSpare(copy, p.len, worker_detail::kUnderlayCopyOffset);
  std::memcpy(copy.data, p.data, p.len);
  ports_.Release(p);
  ports_.SendUnderlay(copy, link.underlay_addr, link.underlay_port);
}

template <typename Ports>
void Worker<Ports>::RunInboundBurst() {
  SteerToOwners();
  const uint32_t n_udp = rx_.n_underlay;
  rx_.n_underlay = 0;
  if (n_udp == 0) return;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n_udp; ++i) {
    span_[i] = &udp_pkts_[i];
    bytes += udp_pkts_[i].len;
  }
  Count(Stat::udp_rx_datagrams, n_udp);
  Count(Stat::udp_rx_bytes, bytes);
  InboundContext ctx{
      gen_, {}, &crypto_, &counters_, opt_.mtu, relay_limit_.get(), &clock_, ActiveFirewall()};
  if (!ports_.LearnedHostMac(ctx.tap_mac))
    std::memcpy(ctx.tap_mac, opt_.host_mac, sizeof(ctx.tap_mac));
  const size_t n = RunInbound({span_.get(), n_udp}, ctx);
  for (uint32_t i = 0; i < n_udp; ++i) {
    Packet& p = udp_pkts_[i];
    if (p.verdict == Verdict::kForward) continue;
    if (p.verdict == Verdict::kRelay) [[unlikely]] {
      // udp_pkts_ keeps receive order, so the next entry with the same buffer is the next
      // datagram of the same GRO receive.
      const bool tail_reused = i + 1 < n_udp && udp_pkts_[i + 1].buf == p.buf &&
                               udp_pkts_[i + 1].verdict == Verdict::kForward;
      ForwardRelayed(p, tail_reused);
      continue;
    }
    if (p.verdict == Verdict::kPunt) {
      Punt(punt_, p, shm::PuntKind::kUnderlayControl, opt_.index, counters_, *punt_budget_,
           clock_.Now());
    }
    ports_.Release(p);
  }
  ports_.SendHostBurst({span_.get(), n});
}

template <typename Ports>
bool Worker<Ports>::DrainInject() {
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
    const uint32_t len = uint32_t(entry.payload.size());
    if (action == InjectAction::kReject || len > ports_.spare_size()) [[unlikely]] {
      CountDrop(DropReason::inject_bad_entry);
      inject_.Pop();
      ++handled;
      continue;
    }
    Packet p;
    if (!ports_.AllocSpare(p)) break;  // all spares in flight: the entry waits in the ring
    if (action == InjectAction::kSendUnderlay) {
      worker_detail::PlaceInSpare(p, len, worker_detail::kUnderlayCopyOffset);
      std::memcpy(p.data, entry.payload.data(), len);
      ports_.SendUnderlay(p, entry.meta.addr, entry.meta.port);
    } else {
      // Where a frame read from the host would be, so a port can put its own header in front.
      worker_detail::PlaceInSpare(p, len, kIpOffset - uint32_t(ether::kHeaderSize));
      std::memcpy(p.data, entry.payload.data(), len);
      ports_.SendHost(p);
    }
    inject_.Pop();
    Count(Stat::injected);
    ++handled;
  }
  return handled > 0;
}

template <typename Ports>
void Worker<Ports>::Run(const std::atomic<bool>& stop) {
  using worker_detail::kClockEvery;
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
    rx_.handoff_room = HandoffRoom();
    bool work = ports_.Receive(rx_);
    work |= DrainHandoff();
    RunOutboundBurst();
    RunInboundBurst();
    work |= DrainInject();
    ports_.Flush();
    Count(Stat::loop_iterations);

    work |= ports_.Pending();  // received work held back for lack of buffers
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
      ports_.ArmHandoffWake(opt_.handoff->wake_fd(opt_.index));
    }
    uint32_t wait_ms = std::min(opt_.idle_wait_ms, kIdleWaitWithoutWakeMs);
    const bool inject_wake = ports_.inject_wake() && inject_.valid() && opt_.allow_inject_wake;
    if (inject_wake) {
      // The control plane wakes us after injecting (shared/worker_wake.h), so we may block long.
      const uint32_t word = shm::PrepareToSleep(state);
      if (inject_.size_approx() != 0) {  // pushed before it could see us sleeping
        shm::Awake(state);
        if (!handoff_in_.empty()) opt_.handoff->Awake(opt_.index);
        last_work = now;
        continue;
      }
      ports_.ArmInjectWake(&state.wake_word, word);
      wait_ms = opt_.idle_wait_ms;
    }
    // Idle: hold no generation while blocked so the control plane can reclaim slots.
    reader_.GoOffline();
    ports_.Block(wait_ms);
    Count(Stat::idle_waits);
    reader_.GoOnline();
    if (inject_wake) shm::Awake(state);
    if (!handoff_in_.empty()) opt_.handoff->Awake(opt_.index);
    now = shm::MonotonicNs();
    empty_turns = kClockEvery - 1;  // a wake-up without work goes back to sleep at once
  }
  reader_.GoOffline();
  state.quiescent_seq.store(shm::kOffline, std::memory_order_release);
}

}  // namespace ipop::dp

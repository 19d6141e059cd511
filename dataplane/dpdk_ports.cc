// DpdkPorts (dpdk_ports.h) and Worker<DpdkPorts>. No DPDK header here: the per-burst DPDK calls
// are in dpdk_io.cc, the only data-path file built with libdpdk's flags.
#include "dataplane/dpdk_ports.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "dataplane/worker_impl.h"

namespace ipop::dp {
namespace {

constexpr uint32_t kStash = 64;  // spare mbufs a worker keeps at hand
constexpr uint32_t kArpRequestsPerBurst = 8;

}  // namespace

template class Worker<DpdkPorts>;

DpdkPorts::DpdkPorts(const Options& options, const PortsContext& ctx)
    : opt_(options),
      ctx_(ctx),
      counters_(*ctx.counters),
      queue_(uint16_t(ctx.index)),
      idle_(options.poll_us) {}

DpdkPorts::~DpdkPorts() {
  dpdk::FreeBulk(free_.get(), n_free_);  // nothing else is held between bursts but the stash
  for (uint32_t i = 0; i < n_stash_; ++i) dpdk::FreeBulk(&stash_[i].id, 1);
}

bool DpdkPorts::Init(std::string* error) {
  if (opt_.pool == nullptr || opt_.shared == nullptr) {
    *error = "DPDK ports: no mempool or shared state";
    return false;
  }
  const uint32_t burst = std::min(ctx_.burst, kMaxBurst);
  host_cap_ = burst;
  underlay_cap_ = burst + kMaxHandoffPerBurst;
  const uint32_t ul_out_cap = host_cap_ + kMaxFanOutPerBurst + underlay_cap_ + burst;
  // ARP replies and the kernel's frames of one burst, ARP requests, then the datagrams.
  const uint32_t ul_tx_cap = 2 * burst + kArpRequestsPerBurst + ul_out_cap;
  const uint32_t host_tx_cap = host_cap_ + underlay_cap_ + burst;
  stash_cap_ = kStash;
  ul_rx_ = std::make_unique<Packet[]>(burst);
  ul_span_ = std::make_unique<Packet*[]>(burst);
  ul_out_ = std::make_unique<UnderlayOut[]>(ul_out_cap);
  ul_tx_ = std::make_unique<dpdk::TxView[]>(ul_tx_cap);
  host_tx_ = std::make_unique<dpdk::TxView[]>(host_tx_cap);
  ex_tx_ = std::make_unique<dpdk::TxView[]>(burst);
  // Everything one burst can give back: each queued or received buffer once, the spares taken.
  free_ = std::make_unique<BufHandle[]>(ul_out_cap + ul_tx_cap + host_tx_cap + 2 * burst +
                                        underlay_cap_ + kMaxFanOutPerBurst + ctx_.spares);
  stash_ = std::make_unique<CopyBuffer[]>(stash_cap_);
  if (!RefillStash()) {
    *error = "DPDK ports: the mempool has no free mbufs";
    return false;
  }
  spare_size_ = stash_[0].size;
  if (spare_size_ < kIpOffset + wire::kRelayHeaderSize + ctx_.mtu + wire::kTagSize) {
    *error = "DPDK ports: mbuf data room of " + std::to_string(spare_size_) +
             " bytes is too small for node.mtu " + std::to_string(ctx_.mtu);
    return false;
  }
  // The gateway is the next hop of everything off-link: ask for it before the first datagram.
  if (opt_.underlay.gateway != 0 && ctx_.index == 0) {
    ArpWanted wanted;
    wanted.Add(opt_.underlay.gateway);
    QueueArpRequests(wanted);
    Flush();
  }
  return true;
}

std::string DpdkPorts::Describe() const {
  std::string s = "DPDK queue " + std::to_string(queue_) + ": " + opt_.describe;
  s += opt_.udp_csum_offload ? ", UDP checksum offload" : ", UDP checksums in software";
  s += ", idle polls every " + std::to_string(std::min(kIdleFirstSleepUs, opt_.poll_us)) +
       " us growing to " + std::to_string(opt_.poll_us) + " us";
  return s;
}

bool DpdkPorts::RefillStash() {
  const uint32_t want = stash_cap_ - n_stash_;
  if (want == 0) return true;
  n_stash_ += dpdk::AllocBulk(opt_.pool, stash_.get() + n_stash_, want);
  return n_stash_ > 0;
}

bool DpdkPorts::LearnedHostMac(uint8_t mac[6]) const {
  if (!opt_.learn_host_mac) return false;
  const uint64_t m = opt_.shared->guest_mac.load(std::memory_order_relaxed);
  if ((m >> 48) == 0) return false;
  std::memcpy(mac, &m, 6);
  return true;
}

bool DpdkPorts::Receive(RxBatch& rx) {
  bool work = false;
  uint32_t oversize = 0;
  if (opt_.host_port != dpdk::kNoPort) {
    const uint16_t n = dpdk::RxBurst(opt_.host_port, queue_, rx.host + rx.n_host,
                                     uint16_t(rx.host_cap - rx.n_host), &oversize);
    if (n > 0) {
      if (opt_.learn_host_mac) {  // the guest's address, for the frames we deliver to it
        uint64_t m = 0;
        std::memcpy(&m, rx.host[rx.n_host].data + 6, 6);
        m |= uint64_t{1} << 48;
        if ((m & 1) == 0 && opt_.shared->guest_mac.load(std::memory_order_relaxed) != m)
          opt_.shared->guest_mac.store(m, std::memory_order_relaxed);
      }
      rx.n_host += n;
      Count(Stat::tap_rx_frames, n);
      work = true;
    }
  }
  const uint32_t room = std::min({rx.underlay_cap - rx.n_underlay, rx.handoff_room, host_cap_});
  const uint16_t got =
      dpdk::RxBurst(opt_.underlay_port, queue_, ul_rx_.get(), uint16_t(room), &oversize);
  if (got > 0) {
    work = true;
    for (uint16_t i = 0; i < got; ++i) ul_span_[i] = &ul_rx_[i];
    const bool exception = opt_.exception_port != dpdk::kNoPort;
    const size_t n = ReceiveUnderlayFrames({ul_span_.get(), got}, opt_.underlay,
                                           opt_.shared->neighbours, exception, counters_);
    for (size_t i = 0; i < n; ++i) rx.underlay[rx.n_underlay++] = *ul_span_[i];
    for (uint16_t i = 0; i < got; ++i) {
      Packet& p = ul_rx_[i];
      switch (p.verdict) {
        case Verdict::kForward:
          break;
        case Verdict::kReflect:  // our ARP reply
          ul_tx_[n_ul_tx_++] = dpdk::TxView{p.buf, p.data, p.len, 0};
          break;
        case Verdict::kPunt:  // for the kernel
          ex_tx_[n_ex_tx_++] = dpdk::TxView{p.buf, p.data, p.len, 0};
          break;
        default:
          Release(p);
          break;
      }
    }
  }
  if (opt_.exception_port != dpdk::kNoPort) {  // the kernel's own frames go out as they are
    const uint16_t n =
        dpdk::RxBurst(opt_.exception_port, 0, ul_rx_.get(), uint16_t(host_cap_), &oversize);
    for (uint16_t i = 0; i < n; ++i) {
      const Packet& p = ul_rx_[i];
      ul_tx_[n_ul_tx_++] = dpdk::TxView{p.buf, p.data, p.len, 0};
    }
    if (n > 0) {
      Count(Stat::exception_from_kernel, n);
      work = true;
    }
  }
  if (oversize > 0) [[unlikely]]
    CountDrop(DropReason::too_big, oversize);
  if (work) idle_.Reset();
  return work;
}

void DpdkPorts::QueueArpRequests(const ArpWanted& wanted) {
  const uint64_t now = shm::MonotonicNs();
  for (uint32_t i = 0; i < wanted.n; ++i) {
    if (!opt_.shared->neighbours.ShouldRequest(wanted.ip[i], now)) continue;
    Packet p;
    if (!AllocSpare(p)) return;
    worker_detail::PlaceInSpare(p, kArpFrameSize, kIpOffset - uint32_t(ether::kHeaderSize));
    BuildArpRequest(opt_.underlay, wanted.ip[i], p.data);
    ul_tx_[n_ul_tx_++] = dpdk::TxView{p.buf, p.data, p.len, 0};
    Count(Stat::arp_requests_sent);
  }
}

void DpdkPorts::Flush() {
  if (n_ul_out_ > 0) {
    ArpWanted wanted;
    const std::span<UnderlayOut> out{ul_out_.get(), n_ul_out_};
    const size_t ready = EncapUnderlay(out, opt_.underlay, opt_.shared->neighbours,
                                       opt_.udp_csum_offload, &ip_id_, &wanted, counters_);
    for (size_t i = ready; i < n_ul_out_; ++i) free_[n_free_++] = ul_out_[i].buf;
    if (wanted.n > 0) [[unlikely]]
      QueueArpRequests(wanted);
    for (size_t i = 0; i < ready; ++i) {
      const UnderlayOut& o = ul_out_[i];
      ul_tx_[n_ul_tx_ + i] = dpdk::TxView{o.buf, o.data, o.len, o.flags};
    }
    const uint16_t sent =
        dpdk::TxBurst(opt_.underlay_port, queue_, ul_tx_.get(), uint16_t(n_ul_tx_ + ready));
    const uint32_t offered = n_ul_tx_ + uint32_t(ready);
    if (sent < offered) [[unlikely]]
      CountDrop(DropReason::port_tx_full, offered - sent);
    // ARP frames go first; datagrams are what the counters count (UDP payload bytes, as the
    // io_uring backend counts them).
    const uint32_t datagrams_sent = sent > n_ul_tx_ ? sent - n_ul_tx_ : 0;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < datagrams_sent; ++i) bytes += ul_out_[i].len - kUnderlayHeaders;
    Count(Stat::udp_tx_datagrams, datagrams_sent);
    Count(Stat::udp_tx_bytes, bytes);
    n_ul_out_ = 0;
    n_ul_tx_ = 0;
  } else if (n_ul_tx_ > 0) {
    const uint16_t sent = dpdk::TxBurst(opt_.underlay_port, queue_, ul_tx_.get(), n_ul_tx_);
    if (sent < n_ul_tx_) [[unlikely]]
      CountDrop(DropReason::port_tx_full, n_ul_tx_ - sent);
    n_ul_tx_ = 0;
  }
  if (n_host_tx_ > 0) {
    const uint16_t sent = dpdk::TxBurst(opt_.host_port, queue_, host_tx_.get(), n_host_tx_);
    Count(Stat::tap_tx_frames, sent);
    if (sent < n_host_tx_) [[unlikely]]
      CountDrop(DropReason::port_tx_full, n_host_tx_ - sent);
    n_host_tx_ = 0;
  }
  if (n_ex_tx_ > 0) [[unlikely]] {
    const uint16_t sent = dpdk::TxBurst(opt_.exception_port, 0, ex_tx_.get(), n_ex_tx_);
    Count(Stat::exception_to_kernel, sent);
    if (sent < n_ex_tx_) CountDrop(DropReason::port_tx_full, n_ex_tx_ - sent);
    n_ex_tx_ = 0;
  }
  if (n_free_ > 0) {
    dpdk::FreeBulk(free_.get(), n_free_);
    n_free_ = 0;
  }
  if (n_stash_ < stash_cap_ / 2) RefillStash();
}

// No port here can wake us (no receive interrupts): sleep as IdleBackoff says, on the futex the
// control plane wakes after injecting, so its messages go out at once.
void DpdkPorts::Block(uint32_t timeout_ms) {
  const uint64_t us = std::min<uint64_t>(uint64_t{timeout_ms} * 1000, idle_.Next());
  timespec ts{time_t(us / 1000000), long(us % 1000000) * 1000};
  if (wake_word_ != nullptr) {
    syscall(SYS_futex, reinterpret_cast<const uint32_t*>(wake_word_), FUTEX_WAIT, wake_expected_,
            &ts, nullptr, 0);
    wake_word_ = nullptr;
  } else {
    nanosleep(&ts, nullptr);
  }
}

}  // namespace ipop::dp

// Compiled with libdpdk's flags (dpdk_io.h).
#include "dataplane/dpdk_io.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>

namespace ipop::dp::dpdk {
namespace {

constexpr uint16_t kMaxBurstViews = 512;  // per call; callers split larger batches

inline rte_mbuf* Mbuf(BufHandle h) {
  return reinterpret_cast<rte_mbuf*>(h);
}

// Frames whose data is asked for ahead of the one being looked at, and how much of each: the
// Ethernet/IPv4/UDP and wire headers and a small packet fill two lines.
constexpr uint16_t kPrefetchAhead = 4;
inline void PrefetchFrame(const rte_mbuf* m) {
  const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
  rte_prefetch0(d);
  rte_prefetch0(d + RTE_CACHE_LINE_SIZE);
}

}  // namespace

uint16_t RxBurst(uint16_t port, uint16_t queue, Packet* out, uint16_t max, uint32_t* oversize) {
  rte_mbuf* mbufs[kMaxBurstViews];
  const uint16_t got = rte_eth_rx_burst(port, queue, mbufs, std::min(max, kMaxBurstViews));
  // The mbufs' first cache lines (data_off, lengths, flags) are read right below and the frames'
  // first lines by the next stage; both were last written by another core (a NIC, the peer of a
  // memif or ring port). Ask for all of them at once rather than stall on each in turn: reading
  // the next mbuf's buf_addr to prefetch its data is where 92 % of this function's samples sat
  // before (perf, docs/performance.md, "DPDK backend").
  for (uint16_t i = 0; i < got; ++i) rte_prefetch0(mbufs[i]);
  for (uint16_t i = 0; i < std::min(got, kPrefetchAhead); ++i) PrefetchFrame(mbufs[i]);
  uint16_t n = 0;
  for (uint16_t i = 0; i < got; ++i) {
    rte_mbuf* m = mbufs[i];
    if (i + kPrefetchAhead < got) PrefetchFrame(mbufs[i + kPrefetchAhead]);
    if (m->nb_segs != 1) [[unlikely]] {  // larger than our data room: never a frame of ours
      rte_pktmbuf_free(m);
      ++*oversize;
      continue;
    }
    Packet& p = out[n++];
    p.data = rte_pktmbuf_mtod(m, uint8_t*);
    p.len = m->data_len;
    p.headroom = m->data_off;
    p.tailroom = uint32_t(m->buf_len) - m->data_off - m->data_len;
    p.buf = reinterpret_cast<BufHandle>(m);
    p.verdict = Verdict::kForward;
    const uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    p.flags = l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD  ? kPacketL4CsumGood
              : l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD ? kPacketL4CsumBad
                                                 : 0;
  }
  return n;
}

uint16_t TxBurst(uint16_t port, uint16_t queue, const TxView* views, uint16_t n) {
  uint16_t taken = 0;
  while (taken < n) {
    rte_mbuf* mbufs[kMaxBurstViews];
    const uint16_t k = std::min<uint16_t>(n - taken, kMaxBurstViews);
    for (uint16_t i = 0; i < k; ++i) {
      const TxView& v = views[taken + i];
      rte_mbuf* m = Mbuf(v.buf);
      m->data_off = uint16_t(v.data - static_cast<uint8_t*>(m->buf_addr));
      m->data_len = uint16_t(v.len);
      m->pkt_len = v.len;
      if (v.flags & kPacketTxUdpCsum) {
        m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
        m->l2_len = 14;
        m->l3_len = 20;
      } else {
        m->ol_flags = 0;
      }
      mbufs[i] = m;
    }
    const uint16_t sent = rte_eth_tx_burst(port, queue, mbufs, k);
    taken += sent;
    if (sent < k) {  // the queue is full: no point offering the rest now
      rte_pktmbuf_free_bulk(mbufs + sent, k - sent);
      for (uint16_t i = taken + (k - sent); i < n; ++i) rte_pktmbuf_free(Mbuf(views[i].buf));
      return taken;
    }
  }
  return taken;
}

void FreeBulk(const BufHandle* bufs, uint32_t n) {
  rte_mbuf* mbufs[kMaxBurstViews];
  while (n > 0) {
    const uint32_t k = std::min<uint32_t>(n, kMaxBurstViews);
    for (uint32_t i = 0; i < k; ++i) mbufs[i] = Mbuf(bufs[i]);
    rte_pktmbuf_free_bulk(mbufs, k);
    bufs += k;
    n -= k;
  }
}

uint32_t AllocBulk(void* pool, CopyBuffer* out, uint32_t n) {
  rte_mbuf* mbufs[kMaxBurstViews];
  n = std::min<uint32_t>(n, kMaxBurstViews);
  rte_mempool* mp = static_cast<rte_mempool*>(pool);
  if (rte_pktmbuf_alloc_bulk(mp, mbufs, n) != 0) {  // all or nothing: take what is left
    uint32_t k = 0;
    while (k < n && (mbufs[k] = rte_pktmbuf_alloc(mp)) != nullptr) ++k;
    n = k;
  }
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = CopyBuffer{reinterpret_cast<BufHandle>(mbufs[i]),
                        static_cast<uint8_t*>(mbufs[i]->buf_addr), mbufs[i]->buf_len};
  }
  return n;
}

}  // namespace ipop::dp::dpdk

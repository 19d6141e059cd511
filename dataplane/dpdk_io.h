// The DPDK calls of the data path, one per burst, behind a header that does not include DPDK's:
// the worker, the stages and DpdkPorts are compiled without libdpdk's flags; only dpdk_io.cc and
// dpdk_setup.cc see rte_*. A view's handle (Packet::buf) is its rte_mbuf*; mbufs are always
// single-segment, their data room laid out like the io_uring pool's buffers (packet.h), so every
// stage works in place on them.
#pragma once

#include <cstdint>

#include "dataplane/fanout.h"
#include "dataplane/packet.h"

namespace ipop::dp::dpdk {

inline constexpr uint16_t kNoPort = 0xffff;

// A view to transmit: data/len are committed to the mbuf (data_off, data_len = pkt_len), with
// the offload the flags ask for (kPacketTxUdpCsum: IPv4 + UDP checksum by the port).
struct TxView {
  BufHandle buf;
  uint8_t* data;
  uint32_t len;
  uint8_t flags;
};

// Receives up to `max` frames from `port`/`queue` as views: data at the frame, headroom and
// tailroom of the mbuf's data room, buf = the mbuf, flags from the port's receive offloads
// (kPacketL4CsumGood / Bad). Frames that did not fit one mbuf are freed and counted in
// *oversize. Returns the number of views written.
uint16_t RxBurst(uint16_t port, uint16_t queue, Packet* out, uint16_t max, uint32_t* oversize);

// Commits each view to its mbuf and offers them to `port`/`queue`; frees what the port did not
// take. Returns the number taken.
uint16_t TxBurst(uint16_t port, uint16_t queue, const TxView* views, uint16_t n);

void FreeBulk(const BufHandle* bufs, uint32_t n);

// Up to `n` free mbufs of `pool` (an rte_mempool*): id = the mbuf, mem = its data room's start,
// size = the data room's bytes. Returns how many it got.
uint32_t AllocBulk(void* pool, CopyBuffer* out, uint32_t n);

}  // namespace ipop::dp::dpdk

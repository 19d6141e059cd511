// The worker's packet memory: one mapping allocated at start-up and carved into buffers, in four
// groups. TAP-receive and UDP-receive buffers circulate through io_uring provided-buffer rings
// (the kernel picks one per completed read); segment buffers (frames cut from TSO super-frames)
// and spare buffers (control-plane injects) sit on free lists. Nothing is allocated per packet.
// Receive buffers get their own strides: with TSO / UDP GRO they hold 64 KiB super-frames.
//
// Geometry (packet.h): the inner IPv4 packet of any buffer starts at kIpOffset, so a frame is
// sealed in place with the wire header at kIpOffset - 16, and a received datagram is placed so
// its inner packet lands at kIpOffset too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/packet.h"

namespace ipop::dp {

enum class BufferGroup : uint8_t { kTapRx, kUdpRx, kSegment, kSpare };

struct BufferPoolSizes {
  uint32_t tap_rx;         // power of two (provided-buffer ring size)
  uint32_t tap_rx_stride;  // multiple of 64
  uint32_t udp_rx;         // power of two
  uint32_t udp_rx_stride;  // multiple of 64
  uint32_t segment;
  uint32_t spare;
  uint32_t stride;  // bytes per buffer of the other groups, multiple of 64
};

// Stride for an inner MTU: the sealed datagram (16 + mtu + 16) at kIpOffset - 16, room for a
// RELAY header after that point (a received relayed datagram is 24 bytes longer), slack for a
// virtio-net header, and never less than a ring slot so every inject fits.
uint32_t BufferStrideFor(uint32_t mtu);

class BufferPool {
 public:
  // Tries MAP_HUGETLB first and falls back to normal pages. nullptr + *error if mmap fails.
  static std::unique_ptr<BufferPool> Create(const BufferPoolSizes& sizes, std::string* error);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  uint32_t count() const { return first_spare_ + sizes_.spare; }
  uint32_t stride() const { return sizes_.stride; }
  const BufferPoolSizes& sizes() const { return sizes_; }
  bool huge_pages() const { return huge_; }

  // Ids handed to the kernel come back in CQEs: callers check them with valid().
  bool valid(uint32_t id) const { return id < count(); }
  BufferGroup group(uint32_t id) const {
    if (id < first_udp_rx_) return BufferGroup::kTapRx;
    if (id < first_segment_) return BufferGroup::kUdpRx;
    if (id < first_spare_) return BufferGroup::kSegment;
    return BufferGroup::kSpare;
  }
  uint8_t* buffer(uint32_t id) {
    if (id < first_udp_rx_) return base_ + size_t(id) * sizes_.tap_rx_stride;
    if (id < first_segment_) return udp_base_ + size_t(id - first_udp_rx_) * sizes_.udp_rx_stride;
    return small_base_ + size_t(id - first_segment_) * sizes_.stride;
  }
  uint32_t stride_of(uint32_t id) const {
    if (id < first_udp_rx_) return sizes_.tap_rx_stride;
    return id < first_segment_ ? sizes_.udp_rx_stride : sizes_.stride;
  }
  uint32_t first_tap_rx() const { return 0; }
  uint32_t first_udp_rx() const { return first_udp_rx_; }
  uint32_t first_segment() const { return first_segment_; }

  // Spare buffers for injects; false / no-op when empty / full.
  bool TakeSpare(uint32_t* id);
  void ReturnSpare(uint32_t id) {
    if (spare_free_.size() < sizes_.spare) spare_free_.push_back(id);  // never reallocates
  }

 private:
  BufferPool(const BufferPoolSizes& sizes, uint8_t* base, size_t bytes, bool huge);
  BufferPoolSizes sizes_;
  uint8_t* base_;
  uint8_t* udp_base_;
  uint8_t* small_base_;
  size_t bytes_;
  bool huge_;
  uint32_t first_udp_rx_, first_segment_, first_spare_;
  std::vector<uint32_t> spare_free_;
};

}  // namespace ipop::dp

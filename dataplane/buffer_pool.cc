#include "dataplane/buffer_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "shared/shm_layout.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

constexpr size_t kHugePage = 2u << 20;
constexpr uint32_t kVnetHeaderSlack = 64;

}  // namespace

uint32_t BufferStrideFor(uint32_t mtu) {
  // A received RELAY datagram sits where a DATA one would, its inner packet 24 bytes further on.
  const uint64_t need =
      kIpOffset + wire::kRelayHeaderSize + uint64_t{mtu} + wire::kTagSize + kVnetHeaderSlack;
  return uint32_t(std::max<uint64_t>(shm::AlignUp(need, 64), shm::kRingSlotSize));
}

std::unique_ptr<BufferPool> BufferPool::Create(const BufferPoolSizes& sizes, std::string* error) {
  const size_t small = size_t(sizes.segment) + sizes.spare;
  const size_t bytes = size_t(sizes.tap_rx) * sizes.tap_rx_stride +
                       size_t(sizes.udp_rx) * sizes.udp_rx_stride + small * sizes.stride;
  const size_t huge_bytes = shm::AlignUp(bytes, kHugePage);
  bool huge = true;
  size_t mapped = huge_bytes;
  void* mem = mmap(nullptr, huge_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) {  // no hugetlbfs pages reserved: ordinary pages, faulted in now
    huge = false;
    mapped = bytes;
    mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      *error = std::string("buffer pool mmap of ") + std::to_string(bytes) +
               " bytes: " + std::strerror(errno);
      return nullptr;
    }
    madvise(mem, bytes, MADV_HUGEPAGE);  // transparent huge pages where enabled
    std::memset(mem, 0, bytes);          // fault everything in now, not on the data path
  }
  return std::unique_ptr<BufferPool>(
      new BufferPool(sizes, static_cast<uint8_t*>(mem), mapped, huge));
}

BufferPool::BufferPool(const BufferPoolSizes& sizes, uint8_t* base, size_t bytes, bool huge)
    : sizes_(sizes),
      base_(base),
      udp_base_(base + size_t(sizes.tap_rx) * sizes.tap_rx_stride),
      small_base_(udp_base_ + size_t(sizes.udp_rx) * sizes.udp_rx_stride),
      bytes_(bytes),
      huge_(huge),
      first_udp_rx_(sizes.tap_rx),
      first_segment_(sizes.tap_rx + sizes.udp_rx),
      first_spare_(sizes.tap_rx + sizes.udp_rx + sizes.segment) {
  spare_free_.reserve(sizes.spare);
  for (uint32_t i = 0; i < sizes.spare; ++i) spare_free_.push_back(first_spare_ + i);
}

BufferPool::~BufferPool() {
  munmap(base_, bytes_);
}

bool BufferPool::TakeSpare(uint32_t* id) {
  if (spare_free_.empty()) return false;
  *id = spare_free_.back();
  spare_free_.pop_back();
  return true;
}

}  // namespace ipop::dp

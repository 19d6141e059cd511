#include "dataplane/tap_tx.h"

namespace ipop::dp {

TapWriter::TapWriter(uint32_t slots) : slots_(slots) {
  free_.reserve(slots);
  for (uint32_t i = slots; i > 0; --i) free_.push_back(i - 1);
}

bool TapWriter::Write(UringIo& io, std::span<Packet* const> unit) {
  if (unit.size() == 1) {
    io.PrepTapWrite(unit[0]->data, unit[0]->len, uint32_t(unit[0]->buf));
    return true;
  }
  if (free_.empty() || unit.empty() || unit.size() > kMaxPieces) [[unlikely]]
    return false;
  const uint32_t slot = free_.back();
  free_.pop_back();
  Slot& s = slots_[slot];
  s.count = uint32_t(unit.size());
  for (uint32_t i = 0; i < s.count; ++i) {
    s.iov[i] = iovec{unit[i]->data, unit[i]->len};
    s.bufs[i] = uint32_t(unit[i]->buf);
  }
  io.PrepTapWritev(s.iov, s.count, slot);
  return true;
}

}  // namespace ipop::dp

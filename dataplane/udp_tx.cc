#include "dataplane/udp_tx.h"

#include <netinet/udp.h>

#include <cstring>

#include "shared/wire.h"

namespace ipop::dp {

UdpSender::UdpSender(const UdpSocket& udp, uint32_t slots, bool gso, bool zero_copy)
    : udp_(udp), zero_copy_(zero_copy), slots_(slots) {
  // Probe: kernels without UDP GSO (< 4.18) reject the option.
  const int zero = 0;
  gso_ = gso && setsockopt(udp.fd(), SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0;
  free_.reserve(slots);
  for (uint32_t i = slots; i > 0; --i) free_.push_back(i - 1);
}

bool UdpSender::Add(UringIo& io, uint32_t buf, const uint8_t* data, uint32_t len,
                    const uint8_t addr[16], uint16_t port) {
  if (open_ != ~0u) {
    Batch& b = slots_[open_];
    // GSO: every segment but the last has segment_size bytes; the batch fits one IP datagram.
    const bool joins = gso_ && b.port == port && std::memcmp(b.addr, addr, 16) == 0 &&
                       len <= b.segment_size && b.count < kMaxSegments &&
                       b.total + len <= wire::kMaxDatagram;
    if (joins) {
      b.iov[b.count] = iovec{const_cast<uint8_t*>(data), len};
      b.bufs[b.count++] = buf;
      b.total += len;
      if (len < b.segment_size) Submit(io);  // a short segment must be the last
      return true;
    }
    Submit(io);
  }
  if (free_.empty()) [[unlikely]]
    return false;  // cannot happen with a slot per buffer that can be in flight
  const uint32_t slot = free_.back();
  Batch& b = slots_[slot];
  if (!udp_.ToSockaddr(addr, port, &b.sa)) [[unlikely]]
    return false;
  free_.pop_back();
  std::memcpy(b.addr, addr, 16);
  b.port = port;
  b.iov[0] = iovec{const_cast<uint8_t*>(data), len};
  b.bufs[0] = buf;
  b.count = 1;
  b.segment_size = len;
  b.total = len;
  open_ = slot;
  return true;
}

void UdpSender::Flush(UringIo& io) {
  if (open_ != ~0u) Submit(io);
}

void UdpSender::Submit(UringIo& io) {
  Batch& b = slots_[open_];
  b.msg = msghdr{};
  b.msg.msg_name = &b.sa;
  b.msg.msg_namelen = udp_.sockaddr_len();
  b.msg.msg_iov = b.iov;
  b.msg.msg_iovlen = b.count;
  if (b.count > 1) {
    b.msg.msg_control = b.control;
    b.msg.msg_controllen = sizeof(b.control);
    cmsghdr* cm = CMSG_FIRSTHDR(&b.msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    const uint16_t segment = uint16_t(b.segment_size);
    std::memcpy(CMSG_DATA(cm), &segment, sizeof(segment));
  }
  if (zero_copy_) {
    io.PrepSendmsgZc(&b.msg, open_);
  } else {
    io.PrepSendmsg(&b.msg, open_);
  }
  open_ = ~0u;
}

}  // namespace ipop::dp

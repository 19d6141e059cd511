// The virtio-net header the TAP exchanges with us when opened with IFF_VNET_HDR: it carries
// checksum-offload and segmentation metadata so the kernel can hand us (and take from us) TCP
// super-frames instead of MTU-sized packets. Fields are little endian (the tun default on
// little-endian hosts; TUNSETVNETLE is not used). Layout: struct virtio_net_hdr, 10 bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ipop::dp::vnet {

inline constexpr size_t kHeaderSize = 10;

// flags
inline constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start/offset valid
inline constexpr uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID: checksum already verified
// gso_type
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpV4 = 1;
inline constexpr uint8_t kGsoEcn = 0x80;  // with TCPV4: the flow uses ECN (CWR on first segment)

struct Header {
  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;   // bytes of headers (Ethernet + IP + TCP) in front of the payload
  uint16_t gso_size = 0;  // payload bytes per segment
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};

inline uint16_t LoadLe16(const uint8_t* p) {
  return uint16_t(p[0] | (p[1] << 8));
}
inline void StoreLe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}

inline Header Load(const uint8_t* p) {
  Header h;
  h.flags = p[0];
  h.gso_type = p[1];
  h.hdr_len = LoadLe16(p + 2);
  h.gso_size = LoadLe16(p + 4);
  h.csum_start = LoadLe16(p + 6);
  h.csum_offset = LoadLe16(p + 8);
  return h;
}

inline void Store(uint8_t* p, const Header& h) {
  p[0] = h.flags;
  p[1] = h.gso_type;
  StoreLe16(p + 2, h.hdr_len);
  StoreLe16(p + 4, h.gso_size);
  StoreLe16(p + 6, h.csum_start);
  StoreLe16(p + 8, h.csum_offset);
}

}  // namespace ipop::dp::vnet

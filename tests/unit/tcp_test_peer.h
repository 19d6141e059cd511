// The host's side of a TCP connection to the node's DNS responder, for tests and fuzz targets:
// segments built and checked here with an RFC 1071 sum of big-endian 16-bit words, written
// apart from shared/checksum.h and controlplane/services/tcp_segment.h, so a checksum or header
// bug there cannot hide in a test that reuses it.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace ipop::cp::testing {

inline uint32_t Be16At(const uint8_t* p) {
  return uint32_t(p[0]) << 8 | p[1];
}
inline uint32_t Be32At(const uint8_t* p) {
  return Be16At(p) << 16 | Be16At(p + 2);
}
inline void PutBe16(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void PutBe32(uint8_t* p, uint32_t v) {
  PutBe16(p, v >> 16);
  PutBe16(p + 2, v);
}

// Sum of big-endian 16-bit words (a last odd byte padded with zero), folded, not inverted.
inline uint32_t WordSum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += Be16At(p + i);
  if (n & 1) sum += uint32_t(p[n - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}
// Sum over the TCP pseudo header (RFC 9293 3.1) and the segment; 0xffff when the checksum holds.
inline uint32_t TcpSum(const uint8_t* ip_header, const uint8_t* tcp, size_t tcp_len) {
  uint32_t sum = WordSum(ip_header + 12, 8);
  sum += 6 + uint32_t(tcp_len);
  return WordSum(tcp, tcp_len, sum);
}

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;

struct HostSegment {
  const uint8_t* src_mac;
  const uint8_t* dst_mac;
  uint32_t src_ip, dst_ip;
  uint16_t src_port, dst_port;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535;
  uint16_t mss = 0;  // non-zero: an MSS option
  std::vector<uint8_t> payload;
};

inline std::vector<uint8_t> BuildHostSegment(const HostSegment& s) {
  const size_t tcp_header = 20 + (s.mss ? 4 : 0);
  const size_t tcp_len = tcp_header + s.payload.size();
  if (tcp_len > 65535 - 20) return {};  // no such IPv4 packet (also tells gcc f is not empty)
  std::vector<uint8_t> f(14 + 20 + tcp_len, 0);
  std::memcpy(&f[0], s.dst_mac, 6);
  std::memcpy(&f[6], s.src_mac, 6);
  PutBe16(&f[12], 0x0800);
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  PutBe16(ip + 2, uint32_t(20 + tcp_len));
  PutBe16(ip + 4, 0x1234);
  PutBe16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = 6;
  PutBe32(ip + 12, s.src_ip);
  PutBe32(ip + 16, s.dst_ip);
  PutBe16(ip + 10, ~WordSum(ip, 20) & 0xffff);
  uint8_t* t = ip + 20;
  PutBe16(t, s.src_port);
  PutBe16(t + 2, s.dst_port);
  PutBe32(t + 4, s.seq);
  PutBe32(t + 8, s.ack);
  t[12] = uint8_t((tcp_header / 4) << 4);
  t[13] = s.flags;
  PutBe16(t + 14, s.window);
  if (s.mss) {
    t[20] = 2;
    t[21] = 4;
    PutBe16(t + 22, s.mss);
  }
  if (!s.payload.empty()) std::memcpy(t + tcp_header, s.payload.data(), s.payload.size());
  PutBe16(t + 16, ~TcpSum(ip, t, tcp_len) & 0xffff);
  return f;
}

// A segment the server sent, checked field by field: `error` says what is wrong ("" if nothing).
struct ServerSegment {
  std::string error;
  uint8_t dst_mac[6] = {}, src_mac[6] = {};
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t mss = 0;
  std::vector<uint8_t> payload;
};

// Ethernet (IPv4 ethertype), IPv4 (version 4, IHL 5, total length = the frame, DF and no
// fragment offset, TTL > 0, protocol 6, header checksum), TCP (data offset within the packet, only
// MSS/NOP/EOL options, well formed, checksum over the pseudo header).
inline ServerSegment CheckServerSegment(std::span<const uint8_t> f) {
  ServerSegment s;
  auto bad = [&](const char* why) {
    s.error = why;
    return s;
  };
  if (f.size() < 14 + 20 + 20) return bad("shorter than Ethernet + IPv4 + TCP headers");
  if (Be16At(&f[12]) != 0x0800) return bad("not IPv4");
  std::memcpy(s.dst_mac, &f[0], 6);
  std::memcpy(s.src_mac, &f[6], 6);
  const uint8_t* ip = &f[14];
  if (ip[0] != 0x45) return bad("IPv4 version/IHL not 4/5");
  if (Be16At(ip + 2) != f.size() - 14) return bad("IPv4 total length is not the frame's");
  if ((Be16At(ip + 6) & 0x3fff) != 0 || !(Be16At(ip + 6) & 0x4000)) return bad("not DF / fragment");
  if (ip[8] == 0) return bad("TTL 0");
  if (ip[9] != 6) return bad("protocol not TCP");
  if (WordSum(ip, 20) != 0xffff) return bad("IPv4 header checksum wrong");
  s.src_ip = Be32At(ip + 12);
  s.dst_ip = Be32At(ip + 16);
  const uint8_t* t = ip + 20;
  const size_t tcp_len = f.size() - 34;
  const size_t off = size_t(t[12] >> 4) * 4;
  if (off < 20 || off > tcp_len) return bad("TCP data offset out of range");
  if (TcpSum(ip, t, tcp_len) != 0xffff) return bad("TCP checksum wrong");
  for (size_t i = 20; i < off;) {
    if (t[i] == 0) break;
    if (t[i] == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= off || t[i + 1] < 2 || i + t[i + 1] > off) return bad("TCP option malformed");
    if (t[i] != 2 || t[i + 1] != 4) return bad("TCP option other than MSS");
    s.mss = uint16_t(Be16At(t + i + 2));
    i += 4;
  }
  s.src_port = uint16_t(Be16At(t));
  s.dst_port = uint16_t(Be16At(t + 2));
  s.seq = Be32At(t + 4);
  s.ack = Be32At(t + 8);
  s.flags = t[13];
  s.window = uint16_t(Be16At(t + 14));
  s.payload.assign(t + off, t + tcp_len);
  return s;
}

}  // namespace ipop::cp::testing

#include "dataplane/udp_socket.h"

#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ipop::dp {
namespace {

constexpr int kSocketBufferBytes = 4 << 20;
constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// The FORCE variants pass rmem_max/wmem_max (root only); otherwise the kernel caps silently.
void SetBuffer(int fd, int force_opt, int opt) {
  const int bytes = kSocketBufferBytes;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

}  // namespace

bool IsV4Mapped(const uint8_t addr[16]) {
  return std::memcmp(addr, kV4MappedPrefix, sizeof(kV4MappedPrefix)) == 0;
}

std::unique_ptr<UdpSocket> UdpSocket::Bind(const Endpoint& listen, std::string* error,
                                           bool reuseport) {
  const int family = IsV4Mapped(listen.addr) ? AF_INET : AF_INET6;
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("underlay socket: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<UdpSocket> sock(new UdpSocket(fd, family));
  const int on = 1;
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) {
    *error = std::string("SO_REUSEPORT on the underlay socket: ") + std::strerror(errno);
    return nullptr;
  }
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  if (family == AF_INET6) {
    const int off = 0;  // also serve IPv4 peers through mapped addresses
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  } else {
    // No path-MTU handling yet: let oversized datagrams fragment instead of vanishing.
    const int pmtu = IP_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  }
  sockaddr_storage sa{};
  sock->ToSockaddr(listen.addr, listen.port, &sa);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sock->sockaddr_len()) < 0) {
    *error = "bind node.listen " + listen.ToString() + ": " + std::strerror(errno);
    return nullptr;
  }
  return sock;
}

bool UdpSocket::EnableGro() {
  const int on = 1;
  return setsockopt(fd_, SOL_UDP, UDP_GRO, &on, sizeof(on)) == 0;
}

uint16_t UdpSocket::local_port() const {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) < 0) return 0;
  uint8_t addr[16];
  uint16_t port = 0;
  return FromSockaddr(&sa, len, addr, &port) ? port : 0;
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) close(fd_);
}

bool UdpSocket::ToSockaddr(const uint8_t addr[16], uint16_t port, sockaddr_storage* out) const {
  if (family_ == AF_INET) {
    if (!IsV4Mapped(addr)) return false;
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, addr + 12, 4);
    std::memset(sin->sin_zero, 0, sizeof(sin->sin_zero));
    return true;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_flowinfo = 0;
  sin6->sin6_scope_id = 0;
  std::memcpy(&sin6->sin6_addr, addr, 16);
  return true;
}

bool UdpSocket::FromSockaddr(const void* sa, socklen_t len, uint8_t addr[16],
                             uint16_t* port) const {
  sa_family_t family;
  if (len < socklen_t(sizeof(family))) return false;
  std::memcpy(&family, sa, sizeof(family));
  if (family == AF_INET && len >= socklen_t(sizeof(sockaddr_in))) {
    sockaddr_in sin;
    std::memcpy(&sin, sa, sizeof(sin));
    std::memcpy(addr, kV4MappedPrefix, sizeof(kV4MappedPrefix));
    std::memcpy(addr + 12, &sin.sin_addr, 4);
    *port = ntohs(sin.sin_port);
    return true;
  }
  if (family == AF_INET6 && len >= socklen_t(sizeof(sockaddr_in6))) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, sa, sizeof(sin6));
    std::memcpy(addr, &sin6.sin6_addr, 16);
    *port = ntohs(sin6.sin6_port);
    return true;
  }
  return false;
}

}  // namespace ipop::dp

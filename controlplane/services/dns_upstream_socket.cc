#include "controlplane/services/dns_upstream_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ipop::cp {
namespace {

bool IsMappedV4(const Endpoint& e) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(e.addr, kPrefix, sizeof(kPrefix)) == 0;
}

}  // namespace

DnsUpstreamSocket::~DnsUpstreamSocket() {
  if (fd_ >= 0) close(fd_);
}

bool DnsUpstreamSocket::Open() {
  fd_ = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ >= 0) {
    const int off = 0;
    if (setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0) {
      v6_ = true;
      return true;
    }
    close(fd_);
  }
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  v6_ = false;
  return fd_ >= 0;
}

bool DnsUpstreamSocket::Send(const Endpoint& to, std::span<const uint8_t> message) {
  if (fd_ < 0 && !Open()) return false;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v6_) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(to.port);
    std::memcpy(&a->sin6_addr, to.addr, 16);
    len = sizeof(*a);
  } else {
    if (!IsMappedV4(to)) return false;
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(to.port);
    std::memcpy(&a->sin_addr, to.addr + 12, 4);
    len = sizeof(*a);
  }
  // A full socket buffer or an unreachable upstream is a failed attempt: the forwarder retries.
  return sendto(fd_, message.data(), message.size(), MSG_DONTWAIT,
                reinterpret_cast<const sockaddr*>(&ss), len) == ssize_t(message.size());
}

void DnsUpstreamSocket::Drain(
    const std::function<void(const Endpoint&, std::span<const uint8_t>)>& deliver, int budget) {
  if (fd_ < 0) return;
  buf_.resize(0x10000);  // a whole UDP datagram: a cut one would reach TCP clients as it is
  for (int i = 0; i < budget; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    const ssize_t n = recvfrom(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT | MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      continue;  // an ICMP error (upstream port closed) reported on the socket: read on
    }
    Endpoint from;
    if (ss.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
      std::memcpy(from.addr, &a->sin6_addr, 16);
      from.port = ntohs(a->sin6_port);
    } else if (ss.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
      from.addr[10] = from.addr[11] = 0xff;
      std::memcpy(from.addr + 12, &a->sin_addr, 4);
      from.port = ntohs(a->sin_port);
    } else {
      continue;
    }
    deliver(from, {buf_.data(), std::min(size_t(n), buf_.size())});
  }
}

}  // namespace ipop::cp

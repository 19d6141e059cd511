// The underlay UDP socket: data and control share one port (NAT mappings are per 5-tuple).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "shared/endpoint.h"

namespace ipop::dp {

// True when a 16-byte address is IPv4-mapped (::ffff:a.b.c.d).
bool IsV4Mapped(const uint8_t addr[16]);

class UdpSocket {
 public:
  // Binds `listen`: an IPv4-mapped address gives an AF_INET socket, anything else a dual-stack
  // AF_INET6 one. Non-blocking, 4 MiB buffers. nullptr + *error naming the failed step.
  // `reuseport`: SO_REUSEPORT, so each worker binds its own socket to the same port.
  static std::unique_ptr<UdpSocket> Bind(const Endpoint& listen, std::string* error,
                                         bool reuseport = false);
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  int fd() const { return fd_; }
  // The bound port (host order), e.g. the one the kernel chose for port 0; 0 on error.
  uint16_t local_port() const;
  // Asks for UDP GRO: consecutive datagrams of one flow may arrive as one receive with a
  // UDP_GRO cmsg naming the segment size. False when the kernel does not support it.
  bool EnableGro();
  bool ipv6() const { return family_ == AF_INET6; }
  socklen_t sockaddr_len() const {
    return ipv6() ? socklen_t(sizeof(sockaddr_in6)) : socklen_t(sizeof(sockaddr_in));
  }
  // Fills `out` (sockaddr_storage-sized) with addr:port in this socket's family. False when the
  // address cannot be reached from it (a real IPv6 address on an IPv4 socket).
  bool ToSockaddr(const uint8_t addr[16], uint16_t port, sockaddr_storage* out) const;
  // The reverse, for received datagrams: IPv6 or IPv4-mapped address, host-order port.
  bool FromSockaddr(const void* sa, socklen_t len, uint8_t addr[16], uint16_t* port) const;

 private:
  UdpSocket(int fd, int family) : fd_(fd), family_(family) {}
  int fd_;
  int family_;
};

}  // namespace ipop::dp

#include "controlplane/runtime/local_address.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace ipop::cp {
namespace {

constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

bool IsUnspecified(const Endpoint& ep) {
  static constexpr uint8_t kZero[16] = {};
  if (std::memcmp(ep.addr, kZero, 16) == 0) return true;
  return std::memcmp(ep.addr, kV4Mapped, 12) == 0 && std::memcmp(ep.addr + 12, kZero, 4) == 0;
}

std::optional<Endpoint> LocalEndpointToward(const Endpoint& remote, uint16_t port) {
  const bool v4 = std::memcmp(remote.addr, kV4Mapped, 12) == 0;
  const int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  Endpoint out;
  out.port = port;
  bool ok = false;
  if (v4) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(remote.port == 0 ? 9 : remote.port);
    std::memcpy(&sa.sin_addr, remote.addr + 12, 4);
    socklen_t len = sizeof(sa);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      std::memcpy(out.addr, kV4Mapped, 12);
      std::memcpy(out.addr + 12, &sa.sin_addr, 4);
      ok = true;
    }
  } else {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(remote.port == 0 ? 9 : remote.port);
    std::memcpy(&sa.sin6_addr, remote.addr, 16);
    socklen_t len = sizeof(sa);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      std::memcpy(out.addr, &sa.sin6_addr, 16);
      ok = true;
    }
  }
  close(fd);
  if (!ok || IsUnspecified(out)) return std::nullopt;
  return out;
}

}  // namespace ipop::cp

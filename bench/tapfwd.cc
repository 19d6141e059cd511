// floor-tapfwd: the least a userspace overlay can do, as a reference path for bench/compare.sh.
// Each IP packet read from a TUN device goes, as it is, in one UDP datagram to the one peer; each
// datagram received is written to the TUN device. No crypto, no headers, no offloads, no batching:
// one read or recv and one send or write per packet, blocking in poll() when there is nothing to
// do. What this path costs over the native one (in RTT above all) is the floor for every overlay
// built on a TUN/TAP device and UDP sockets on the same machine, IPOP included.
//
// Usage: floor-tapfwd --dev NAME --listen PORT --peer IPV4:PORT [--busy-poll]
// The device is created (or attached to) here; addresses and link state are the caller's job.
// --busy-poll: never block; try both descriptors in a loop (a core per process, for measuring
// what polling buys over blocking).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "shared/endpoint.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int) {
  g_stop = 1;
}

int Fail(const char* what) {
  std::fprintf(stderr, "floor-tapfwd: %s: %s\n", what, std::strerror(errno));
  return 1;
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "floor-tapfwd: %s\nusage: floor-tapfwd --dev NAME --listen PORT --peer IPV4:PORT "
               "[--busy-poll]\n",
               why);
  return 2;
}

// An IPv4 "a.b.c.d:port" through the project's endpoint parser; port 0 is refused.
bool ParseIpv4Endpoint(const std::string& s, sockaddr_in* sa) {
  const std::optional<ipop::Endpoint> ep = ipop::ParseEndpoint(s);
  static constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!ep || ep->port == 0 || std::memcmp(ep->addr, kV4Mapped, 12) != 0) return false;
  *sa = sockaddr_in{};
  sa->sin_family = AF_INET;
  sa->sin_port = htons(ep->port);
  std::memcpy(&sa->sin_addr, ep->addr + 12, 4);
  return true;
}

int OpenTun(const std::string& name) {
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// Moves packets from `from` to `to` until `from` has no more; false on a hard error.
// `from_udp`: `from` is the UDP socket (recv) and `to` the TUN device (write), else the reverse.
bool Drain(int from, int to, bool from_udp, unsigned long* moved, unsigned long* lost) {
  alignas(16) static unsigned char buf[65536];
  for (;;) {
    const ssize_t n = from_udp ? recv(from, buf, sizeof buf, 0) : read(from, buf, sizeof buf);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      // A connected UDP socket reports the peer's ICMP errors here; the path lost a packet.
      if (from_udp && errno == ECONNREFUSED) continue;
      return false;
    }
    const ssize_t w = from_udp ? write(to, buf, size_t(n)) : send(to, buf, size_t(n), 0);
    if (w == n) {
      ++*moved;
    } else {
      ++*lost;  // full queue, peer not up yet, oversize: counted, like any overlay would drop
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dev;
  std::string peer_arg;
  sockaddr_in local{};
  bool busy_poll = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--busy-poll") {
      busy_poll = true;
      continue;
    }
    if (i + 1 >= argc) return Usage("missing value after an option");
    if (a == "--dev") {
      dev = argv[++i];
    } else if (a == "--listen") {
      if (!ParseIpv4Endpoint(std::string("0.0.0.0:") + argv[++i], &local))
        return Usage("--listen: not a port (1..65535)");
    } else if (a == "--peer") {
      peer_arg = argv[++i];
    } else {
      return Usage("unknown option");
    }
  }
  if (dev.empty() || dev.size() >= IFNAMSIZ) return Usage("--dev: 1..15 characters");
  sockaddr_in peer{};
  if (!ParseIpv4Endpoint(peer_arg, &peer)) return Usage("--peer: expected IPV4:PORT");
  if (local.sin_family != AF_INET) return Usage("--listen is required");

  const int tun = OpenTun(dev);
  if (tun < 0) return Fail(("open TUN device " + dev).c_str());
  const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (udp < 0) return Fail("socket");
  if (bind(udp, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return Fail("bind");
  if (connect(udp, reinterpret_cast<sockaddr*>(&peer), sizeof peer) != 0) return Fail("connect");

  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: poll() returns EINTR and the loop ends
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  unsigned long moved = 0;
  unsigned long lost = 0;
  pollfd fds[2] = {{tun, POLLIN, 0}, {udp, POLLIN, 0}};
  while (!g_stop && busy_poll) {
    if (!Drain(tun, udp, false, &moved, &lost)) return Fail("read TUN");
    if (!Drain(udp, tun, true, &moved, &lost)) return Fail("recv UDP");
  }
  while (!g_stop) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Fail("poll");
    }
    if ((fds[0].revents & POLLIN) && !Drain(tun, udp, false, &moved, &lost))
      return Fail("read TUN");
    if ((fds[1].revents & POLLIN) && !Drain(udp, tun, true, &moved, &lost)) return Fail("recv UDP");
  }
  std::fprintf(stderr, "floor-tapfwd: stopped; %lu packets moved, %lu dropped\n", moved, lost);
  close(udp);
  close(tun);
  return 0;
}

#include "controlplane/services/dns_upstream_tcp.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ipop::cp {
namespace {

constexpr size_t kHeaderSize = 12;  // a DNS header: anything shorter is no reply

bool IsMappedV4(const Endpoint& e) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(e.addr, kPrefix, sizeof(kPrefix)) == 0;
}

// A non-blocking socket with a connect to `to` under way; -1 on failure.
int Connect(const Endpoint& to) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET6;
  if (IsMappedV4(to)) {  // plain IPv4 works where IPv6 is switched off
    family = AF_INET;
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(to.port);
    std::memcpy(&a->sin_addr, to.addr + 12, 4);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(to.port);
    std::memcpy(&a->sin6_addr, to.addr, 16);
    len = sizeof(*a);
  }
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS)
    return fd;
  close(fd);
  return -1;
}

}  // namespace

DnsUpstreamTcp::~DnsUpstreamTcp() {
  for (Stream& s : streams_) close(s.fd);
}

bool DnsUpstreamTcp::Start(uint16_t id, const Endpoint& to, std::span<const uint8_t> message) {
  if (streams_.size() >= kMaxStreams || message.size() > 0xffff ||
      std::any_of(streams_.begin(), streams_.end(), [&](const Stream& s) { return s.id == id; }))
    return false;
  const int fd = Connect(to);
  if (fd < 0) return false;
  Stream& s = streams_.emplace_back();
  s.id = id;
  s.fd = fd;
  s.out.reserve(2 + message.size());
  s.out.push_back(uint8_t(message.size() >> 8));
  s.out.push_back(uint8_t(message.size()));
  s.out.insert(s.out.end(), message.begin(), message.end());
  return true;
}

void DnsUpstreamTcp::Cancel(uint16_t id) {
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (streams_[i].id != id) continue;
    close(streams_[i].fd);
    streams_.erase(streams_.begin() + ptrdiff_t(i));
    return;
  }
}

void DnsUpstreamTcp::Step(Stream& s, short revents) {
  if (s.sent < s.out.size()) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return;
    // A failed connect shows here as the send's error (ECONNREFUSED, ...).
    const ssize_t n =
        send(s.fd, s.out.data() + s.sent, s.out.size() - s.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) s.failed = true;
      return;
    }
    s.sent += size_t(n);
    return;  // the reply comes later
  }
  if (!(revents & (POLLIN | POLLERR | POLLHUP))) return;
  for (;;) {
    // Read the length first, then exactly the reply: nothing after it is ours.
    const size_t want = s.in.size() < 2 ? 2 : 2 + (size_t(s.in[0]) << 8 | s.in[1]);
    const size_t have = s.in.size();
    s.in.resize(want);
    const ssize_t n = recv(s.fd, s.in.data() + have, want - have, MSG_DONTWAIT);
    if (n <= 0) {
      s.in.resize(have);
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) s.failed = true;
      return;
    }
    s.in.resize(have + size_t(n));
    if (s.in.size() < want) continue;
    if (want == 2) {
      if ((size_t(s.in[0]) << 8 | s.in[1]) < kHeaderSize) {
        s.failed = true;
        return;
      }
      continue;
    }
    s.done = true;
    return;
  }
}

void DnsUpstreamTcp::Poll(const std::function<void(uint16_t, std::span<const uint8_t>)>& done) {
  if (streams_.empty()) return;
  pollfd fds[kMaxStreams];
  const size_t n = streams_.size();
  for (size_t i = 0; i < n; ++i) {
    const Stream& s = streams_[i];
    fds[i] = {s.fd, short(s.sent < s.out.size() ? POLLOUT : POLLIN), 0};
  }
  if (poll(fds, n, 0) <= 0) return;
  for (size_t i = 0; i < n; ++i)
    if (fds[i].revents != 0) Step(streams_[i], fds[i].revents);
  // Take the finished ones out before telling anyone: `done` may start or cancel streams.
  std::vector<Stream> finished;
  for (size_t i = 0; i < streams_.size();) {
    if (streams_[i].done || streams_[i].failed) {
      close(streams_[i].fd);
      finished.push_back(std::move(streams_[i]));
      streams_.erase(streams_.begin() + ptrdiff_t(i));
    } else {
      ++i;
    }
  }
  for (const Stream& s : finished) {
    if (s.failed)
      done(s.id, {});
    else
      done(s.id, std::span<const uint8_t>(s.in).subspan(2));
  }
}

}  // namespace ipop::cp

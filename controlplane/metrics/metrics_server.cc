#include "controlplane/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "controlplane/metrics/http_request.h"

namespace ipop::cp {
namespace {

constexpr size_t kReadChunk = 1024;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

bool IsV4Mapped(const Endpoint& ep) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(ep.addr, kMapped, sizeof(kMapped)) == 0;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "HTTP Version Not Supported";
  }
}

std::string Response(int status, const std::string& body, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + ' ' + Reason(status) + "\r\n";
  out += status == 200 ? "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                       : "Content-Type: text/plain; charset=utf-8\r\n";
  if (status == 405) out += "Allow: GET, HEAD\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!head_only) out += body;
  return out;
}

}  // namespace

std::unique_ptr<MetricsServer> MetricsServer::Listen(const Endpoint& at, Render render,
                                                     std::string* error, Limits limits) {
  sockaddr_storage ss{};
  socklen_t len;
  const bool v4 = IsV4Mapped(at);
  if (v4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(at.port);
    std::memcpy(&sin->sin_addr, at.addr + 12, 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(at.port);
    std::memcpy(&sin6->sin6_addr, at.addr, 16);
    len = sizeof(sockaddr_in6);
  }
  const int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!v4) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 || listen(fd, 16) != 0) {
    *error = "cannot listen on " + at.ToString() + ": " + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  const uint16_t port = ntohs(v4 ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return std::unique_ptr<MetricsServer>(new MetricsServer(fd, port, std::move(render), limits));
}

MetricsServer::~MetricsServer() {
  for (Conn& c : conns_) close(c.fd);
  close(fd_);
}

void MetricsServer::AddPollFds(std::vector<pollfd>& fds) const {
  fds.push_back({fd_, POLLIN, 0});
  for (const Conn& c : conns_)
    fds.push_back({c.fd, static_cast<short>(c.answering ? POLLOUT : POLLIN), 0});
}

void MetricsServer::OnPoll(std::span<const pollfd> fds) {
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == fd_) {
      Accept();
      continue;
    }
    const auto it =
        std::find_if(conns_.begin(), conns_.end(), [&](const Conn& c) { return c.fd == p.fd; });
    if (it == conns_.end()) continue;
    const bool open = it->answering ? Flush(*it) : OnReadable(*it);
    if (!open) {
      close(it->fd);
      conns_.erase(it);
    }
  }
}

void MetricsServer::Tick() {
  const int64_t now = NowMs();
  std::erase_if(conns_, [&](Conn& c) {
    if (c.deadline_ms > now) return false;
    ++counters_.timed_out;
    close(c.fd);
    return true;
  });
}

void MetricsServer::Accept() {
  for (;;) {
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: all taken; EMFILE etc.: again on the next readiness
    }
    if (conns_.size() >= limits_.max_connections) {
      ++counters_.refused;
      close(fd);
      continue;
    }
    ++counters_.accepted;
    conns_.push_back(Conn{.fd = fd, .deadline_ms = NowMs() + limits_.timeout_ms});
  }
}

bool MetricsServer::OnReadable(Conn& c) {
  char buf[kReadChunk];
  for (;;) {
    // Never hold more than the parser looks at (plus one byte to tell "too large").
    const size_t room = kMaxHttpRequestBytes + 1 - c.in.size();
    const ssize_t n = recv(c.fd, buf, std::min(room, sizeof(buf)), 0);
    if (n > 0) {
      c.in.append(buf, size_t(n));
      if (c.in.size() > kMaxHttpRequestBytes) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    // EOF or an error before a complete request: nobody to answer.
    ++counters_.closed_early;
    return false;
  }
  HttpRequest req;
  int status = 400;
  switch (ParseHttpRequest(c.in, &req)) {
    case HttpParse::kIncomplete:
      return true;
    case HttpParse::kOk:
      status = MetricsStatus(req);
      break;
    case HttpParse::kBadRequest:
      status = 400;
      break;
    case HttpParse::kTooLarge:
      status = 431;
      break;
    case HttpParse::kBadVersion:
      status = 505;
      break;
  }
  if (status == 200) {
    ++counters_.served;
    c.out = Response(200, render_(), req.method == "HEAD");
  } else {
    if (status == 404)
      ++counters_.not_found;
    else if (status == 405)
      ++counters_.bad_method;
    else
      ++counters_.bad_requests;
    c.out = Response(status, std::string(Reason(status)) + "; try GET /metrics\n",
                     req.method == "HEAD");
  }
  c.answering = true;
  c.in.clear();
  return Flush(c);
}

bool MetricsServer::Flush(Conn& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // POLLOUT next
    ++counters_.closed_early;
    return false;
  }
  // All sent: end our side so the client sees the end of the answer before the close.
  shutdown(c.fd, SHUT_WR);
  return false;
}

}  // namespace ipop::cp

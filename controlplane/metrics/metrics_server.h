// The Prometheus endpoint (metrics.listen): a small HTTP/1.1 server for GET /metrics, served from
// the control plane's event loop. Nothing in it blocks: the loop polls the listener and every
// connection (AddPollFds), and each readiness moves a connection one step (OnPoll): read the
// request head, answer, write what the socket takes, close. Bounded: at most max_connections at
// once (more are accepted and closed at once), kMaxHttpRequestBytes of request, and a deadline
// per connection (Tick closes the late ones), so a slow or hostile client costs the loop nothing
// but a few bytes of memory. Every answer carries Connection: close.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "controlplane/runtime/counter_registry.h"
#include "shared/endpoint.h"

namespace ipop::cp {

struct MetricsServerCounters {
  uint64_t accepted = 0;
  uint64_t refused = 0;  // over max_connections: closed at once
  uint64_t served = 0;   // 200 answers
  uint64_t not_found = 0;
  uint64_t bad_method = 0;
  uint64_t bad_requests = 0;  // 400, 431 and 505 answers
  uint64_t timed_out = 0;     // closed at the deadline, request or answer unfinished
  uint64_t closed_early = 0;  // the client closed or failed before the answer was sent
};
inline constexpr CounterDesc kMetricsServerCounterDescs[] = {
    IPOP_COUNTER(MetricsServerCounters, accepted, "HTTP connections accepted"),
    IPOP_COUNTER(MetricsServerCounters, refused, "HTTP connections closed at once: too many open"),
    IPOP_COUNTER(MetricsServerCounters, served, "GET or HEAD /metrics answered"),
    IPOP_COUNTER(MetricsServerCounters, not_found, "requests for another path: 404"),
    IPOP_COUNTER(MetricsServerCounters, bad_method, "requests with another method: 405"),
    IPOP_COUNTER(MetricsServerCounters, bad_requests,
                 "malformed, oversized or non-HTTP/1.x requests: 400, 431 or 505"),
    IPOP_COUNTER(MetricsServerCounters, timed_out, "connections closed at their deadline"),
    IPOP_COUNTER(MetricsServerCounters, closed_early,
                 "connections the client closed or broke before the answer was sent"),
};
static_assert(CoversEveryField<MetricsServerCounters>(kMetricsServerCounterDescs));

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  struct Limits {
    size_t max_connections = 8;
    int64_t timeout_ms = 5000;  // from accept to the last byte of the answer
  };
  // Binds `at` (port 0: any free port, see port()); false + *error if it cannot.
  static std::unique_ptr<MetricsServer> Listen(const Endpoint& at, Render render,
                                               std::string* error, Limits limits);
  static std::unique_ptr<MetricsServer> Listen(const Endpoint& at, Render render,
                                               std::string* error) {
    return Listen(at, std::move(render), error, Limits{});
  }
  ~MetricsServer();

  // Appends the listener and every connection, each with the event it waits for.
  void AddPollFds(std::vector<pollfd>& fds) const;
  // After poll(): handles the entries of `fds` that are this server's (others are ignored).
  void OnPoll(std::span<const pollfd> fds);
  // Closes connections whose deadline passed; call every loop.
  void Tick();

  uint16_t port() const { return port_; }
  size_t connections() const { return conns_.size(); }
  const MetricsServerCounters& counters() const { return counters_; }

 private:
  struct Conn {
    int fd = -1;
    int64_t deadline_ms = 0;
    std::string in;   // request bytes so far
    std::string out;  // the answer, once there is one
    size_t sent = 0;
    bool answering = false;
  };
  MetricsServer(int fd, uint16_t port, Render render, Limits limits)
      : fd_(fd), port_(port), render_(std::move(render)), limits_(limits) {}
  void Accept();
  // Both return false when the connection is finished (then closed by the caller).
  bool OnReadable(Conn& c);
  bool Flush(Conn& c);
  void Answer(Conn& c);

  int fd_;
  uint16_t port_;
  Render render_;
  Limits limits_;
  std::vector<Conn> conns_;
  MetricsServerCounters counters_;
};

}  // namespace ipop::cp

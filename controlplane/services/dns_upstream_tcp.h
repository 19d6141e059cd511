// The DNS forwarder's TCP exchanges with upstream resolvers (RFC 7766), for queries whose UDP
// answer came back truncated: one kernel TCP socket per exchange, non-blocking, at most
// kMaxStreams at a time, each carrying one length-prefixed query and reading one length-prefixed
// reply. Poll() moves them on with a zero-timeout poll(2) from the control plane's loop; the
// forwarder's own timeout bounds how long one may take (it cancels it).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "shared/config.h"

namespace ipop::cp {

class DnsUpstreamTcp {
 public:
  static constexpr size_t kMaxStreams = 16;

  DnsUpstreamTcp() = default;
  ~DnsUpstreamTcp();
  DnsUpstreamTcp(const DnsUpstreamTcp&) = delete;
  DnsUpstreamTcp& operator=(const DnsUpstreamTcp&) = delete;

  // Connects to `to` and queues `message` (at most 65535 bytes) for it. False if kMaxStreams are
  // under way, `id` is, or no socket could be made.
  bool Start(uint16_t id, const Endpoint& to, std::span<const uint8_t> message);
  void Cancel(uint16_t id);
  // Sends and reads what the sockets allow without blocking; an exchange that ended calls
  // done(id, reply), an empty reply when it failed (refused, reset, closed early, a reply
  // shorter than a DNS header).
  void Poll(const std::function<void(uint16_t, std::span<const uint8_t>)>& done);
  size_t active() const { return streams_.size(); }

 private:
  struct Stream {
    uint16_t id = 0;
    int fd = -1;
    std::vector<uint8_t> out;  // length prefix + query
    size_t sent = 0;
    std::vector<uint8_t> in;  // length prefix, then the reply as it comes
    bool failed = false;
    bool done = false;
  };
  // Progresses one stream on its poll result.
  void Step(Stream& s, short revents);

  std::vector<Stream> streams_;
};

}  // namespace ipop::cp

// Forwards the queries the node's DNS responder is not authoritative for (names outside the zone)
// to upstream resolvers (network.dns-forward: the node's /etc/resolv.conf or a configured list)
// and writes their answers back to the client on the TAP:
//
//   client query -> new random ID, pending table (bounded) -> upstream 1
//   no answer within attempt_timeout -> same query to the next upstream, until expiry -> SERVFAIL
//   upstream reply -> from an address we sent to, our ID, the same question, else dropped and
//                     counted -> client's ID restored, rest unchanged -> TAP
//
//   upstream reply with TC -> the same query over TCP to that upstream (RFC 7766), its answer
//                     whole; the TCP exchange fails or times out -> SERVFAIL
//
// Answers go out through a DnsReplyWriter: whole to a TCP client, cut to header+question with
// TC to a UDP client they do not fit (its size or max_reply_size), which then asks again over TCP.
// Sockets stay outside: DnsUpstreamTransport (the process uses DnsUpstreamSocket).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/port.h"
#include "controlplane/runtime/random_source.h"
#include "controlplane/services/dns.h"
#include "controlplane/services/dns_reply.h"
#include "controlplane/services/dns_responder.h"
#include "shared/config.h"

namespace ipop::cp {

class DnsUpstreamTransport {
 public:
  using StreamDone = std::function<void(uint16_t id, std::span<const uint8_t> reply)>;
  virtual ~DnsUpstreamTransport() = default;
  // One query datagram to `to`. false if it could not be sent.
  virtual bool Send(const Endpoint& to, std::span<const uint8_t> message) = 0;
  // One query over TCP to `to` (length-prefixed, RFC 1035 4.2.2), its reply read back; `id`
  // names the exchange. false if none can start now (the transport's table is full, no socket).
  virtual bool StartStream(uint16_t /*id*/, const Endpoint& /*to*/,
                           std::span<const uint8_t> /*message*/) {
    return false;
  }
  virtual void CancelStream(uint16_t /*id*/) {}
  // Moves the exchanges on; each that ended calls `done` once, with its reply or an empty span
  // when it failed. `done` may start or cancel other exchanges.
  virtual void PollStreams(const StreamDone& /*done*/) {}
};

struct DnsForwarderOptions {
  uint32_t responder_ip = 0;  // host order; source of the replies on the TAP
  uint8_t gateway_mac[6] = {};
  size_t max_pending = 64;
  uint64_t attempt_timeout_ns = 1'000'000'000;  // then the next upstream
  uint64_t expiry_ns = 3'000'000'000;           // then SERVFAIL to the client
  uint64_t tcp_timeout_ns = 2'000'000'000;      // a TCP retry's time, from the TC reply on
  size_t max_reply_size = 1232;                 // UDP payload written to the TAP (EDNS default)
};
// "" if usable, else what to fix.
std::string ValidateDnsForwarderOptions(const DnsForwarderOptions& options);

struct DnsForwarderCounters {
  uint64_t queries = 0;               // queries accepted into the pending table
  uint64_t sent = 0;                  // datagrams sent upstream (first tries and retries)
  uint64_t retries = 0;               // re-sent after attempt_timeout
  uint64_t send_failed = 0;           // the transport refused a datagram
  uint64_t answered = 0;              // upstream answers written to the client
  uint64_t truncated = 0;             // of those, too large for UDP: header+question with TC
  uint64_t tcp_retries = 0;           // TC replies followed by the query over TCP
  uint64_t tcp_answered = 0;          // answers that came over TCP (also in `answered`)
  uint64_t tcp_unavailable = 0;       // no TCP exchange could start: the TC reply passed on
  uint64_t tcp_failed = 0;            // the TCP exchange failed or its reply was bad: SERVFAIL
  uint64_t tc_ignored = 0;            // another TC reply to a query already retried over TCP
  uint64_t timeouts = 0;              // expired: SERVFAIL to the client
  uint64_t pending_full = 0;          // no room: SERVFAIL at once
  uint64_t duplicates = 0;            // client retransmission of a query in flight: dropped
  uint64_t query_too_large = 0;       // query above kMaxQuerySize: SERVFAIL
  uint64_t no_upstream = 0;           // no upstream configured: REFUSED
  uint64_t bad_reply_malformed = 0;   // not a response, or no readable question
  uint64_t bad_reply_unknown_id = 0;  // no pending query has this ID (late, or spoofed)
  uint64_t bad_reply_source = 0;      // from an address the query was not sent to
  uint64_t bad_reply_question = 0;    // question differs from the one sent
  uint64_t reply_failed = 0;          // building or writing the TAP frame failed
};

inline constexpr CounterDesc kDnsForwarderCounterDescs[] = {
    IPOP_COUNTER(DnsForwarderCounters, queries, "queries accepted into the pending table"),
    IPOP_COUNTER(DnsForwarderCounters, sent, "datagrams sent upstream (first tries and retries)"),
    IPOP_COUNTER(DnsForwarderCounters, retries, "re-sent after attempt_timeout"),
    IPOP_COUNTER(DnsForwarderCounters, send_failed, "the transport refused a datagram"),
    IPOP_COUNTER(DnsForwarderCounters, answered, "upstream answers written to the client"),
    IPOP_COUNTER(DnsForwarderCounters, truncated,
                 "answers too large for UDP, sent as header+question with TC; of for UDP: "
                 "header+question with TC"),
    IPOP_COUNTER(DnsForwarderCounters, tcp_retries, "TC replies followed by the query over TCP"),
    IPOP_COUNTER(DnsForwarderCounters, tcp_answered,
                 "answers that came over TCP (also in `answered`)"),
    IPOP_COUNTER(DnsForwarderCounters, tcp_unavailable,
                 "no TCP exchange could start: the TC reply passed on"),
    IPOP_COUNTER(DnsForwarderCounters, tcp_failed,
                 "the TCP exchange failed or its reply was bad: SERVFAIL"),
    IPOP_COUNTER(DnsForwarderCounters, tc_ignored,
                 "another TC reply to a query already retried over TCP"),
    IPOP_COUNTER(DnsForwarderCounters, timeouts, "expired: SERVFAIL to the client"),
    IPOP_COUNTER(DnsForwarderCounters, pending_full, "no room: SERVFAIL at once"),
    IPOP_COUNTER(DnsForwarderCounters, duplicates,
                 "client retransmission of a query in flight: dropped"),
    IPOP_COUNTER(DnsForwarderCounters, query_too_large, "query above kMaxQuerySize: SERVFAIL"),
    IPOP_COUNTER(DnsForwarderCounters, no_upstream, "no upstream configured: REFUSED"),
    IPOP_COUNTER(DnsForwarderCounters, bad_reply_malformed,
                 "not a response, or no readable question"),
    IPOP_COUNTER(DnsForwarderCounters, bad_reply_unknown_id,
                 "no pending query has this ID (late, or spoofed)"),
    IPOP_COUNTER(DnsForwarderCounters, bad_reply_source,
                 "from an address the query was not sent to"),
    IPOP_COUNTER(DnsForwarderCounters, bad_reply_question, "question differs from the one sent"),
    IPOP_COUNTER(DnsForwarderCounters, reply_failed, "building or writing the TAP frame failed"),
};
static_assert(CoversEveryField<DnsForwarderCounters>(kDnsForwarderCounterDescs));

class DnsForwarder final : public QueryForwarder {
 public:
  static constexpr size_t kMaxQuerySize = dns::kMaxUdpPayload;
  static constexpr size_t kMaxAttempts = 8;

  // Options must validate. The references must outlive the forwarder.
  DnsForwarder(Port& port, Clock& clock, RandomSource& random, DnsUpstreamTransport& transport,
               DnsForwarderOptions options);
  DnsForwarder(const DnsForwarder&) = delete;
  DnsForwarder& operator=(const DnsForwarder&) = delete;

  // New upstream list (start, reload). Queries in flight keep their replies acceptable from
  // where they were sent; their retries use the new list. Empty: new queries are REFUSED.
  void SetUpstreams(std::vector<Endpoint> upstreams);
  const std::vector<Endpoint>& upstreams() const { return upstreams_; }

  Outcome Forward(const DnsClient& client, const dns::Query& query,
                  std::span<const uint8_t> message) override;
  // A datagram received on the upstream socket.
  void OnUpstreamReply(const Endpoint& from, std::span<const uint8_t> message);
  // Retries, expiries and the transport's TCP exchanges; call from the timer loop.
  void Poll();
  // TCP clients' answers go here (DnsTcpServer); null: they fail. Not owned.
  void SetStreams(DnsStreamSink* streams) { writer_.SetStreams(streams); }

  const DnsForwarderCounters& counters() const { return counters_; }
  size_t pending() const { return used_; }

 private:
  struct Pending {
    bool in_use = false;
    uint16_t upstream_id = 0;
    DnsClient client;
    uint16_t client_id = 0;
    dns::Query query;  // for SERVFAIL on expiry
    std::array<uint8_t, kMaxQuerySize> message{};
    uint16_t message_size = 0;
    uint16_t question_end = 0;  // offset just after QTYPE/QCLASS in `message`
    uint64_t expiry_ns = 0;
    uint64_t next_try_ns = 0;
    size_t next_upstream = 0;  // index into upstreams_ of the next attempt
    size_t attempts = 0;
    std::array<Endpoint, kMaxAttempts> sent_to{};
    bool tcp = false;  // a TC reply came: the query went over TCP to the upstream that sent it
  };
  uint16_t FreshId();
  void SendAttempt(Pending& p, uint64_t now);
  void Finish(Pending& p);
  Pending* FindPending(uint16_t upstream_id);
  // A reply from upstream with our ID, QR set and the question sent; else counted.
  bool ValidReply(const Pending& p, std::span<const uint8_t> message);
  void OnStreamDone(uint16_t id, std::span<const uint8_t> reply);
  void ReplyToClient(const Pending& p, std::span<const uint8_t> upstream_reply);
  void ReplyServFail(const Pending& p);

  Clock& clock_;
  RandomSource& random_;
  DnsUpstreamTransport& transport_;
  DnsForwarderOptions opt_;
  std::vector<Endpoint> upstreams_;
  std::vector<Pending> pending_;  // fixed size max_pending; in_use marks live entries
  size_t used_ = 0;
  DnsForwarderCounters counters_;
  DnsReplyWriter writer_;
  std::vector<uint8_t> reply_;  // scratch: the client's copy of an answer (up to 65535 bytes)
};

// The nameserver lines of a resolv.conf (IPv4 and IPv6 without a zone index, port 53), in order,
// at most `max` of them, without `exclude_ip` (the node's own service address: a loop).
std::vector<Endpoint> ParseResolvConf(std::string_view text, uint32_t exclude_ip, size_t max = 8);

// The upstreams network.dns-forward names (start-up and reload): none for refuse, the nameservers
// of `resolv_conf` (read now) for resolv-conf, else the configured list; never the service IP.
std::vector<Endpoint> ConfiguredUpstreams(const NodeConfig& cfg,
                                          const char* resolv_conf = "/etc/resolv.conf");

}  // namespace ipop::cp

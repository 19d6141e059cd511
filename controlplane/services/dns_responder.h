// The node's DNS server for the OS behind its TAP (DHCP hands out the responder address).
// Authoritative for one zone, the network's suffix ("ipop"):
//   C<o2><o3><o4>.<suffix>  each octet zero-padded to 3 digits; the first octet comes from the
//                           network range (issue 4: 10.250.1.1 -> C250001001.ipop)
//   <host>.<network>.<suffix>  names nodes register, resolved through a NameSource (DHT later)
//   <d>.<c>.<b>.<a>.in-addr.arpa inside the range  PTR -> the C-name
//   <suffix>                  SOA and NS (the NS and SOA primary are the responder's C-name)
// Unknown names in the zone get NXDOMAIN, other types for existing names NODATA, both with the
// zone's SOA in the authority section (negative caching, RFC 2308); names outside
// the zone go to a QueryForwarder when one is set (DnsForwarder: the node's upstream resolvers),
// else they are REFUSED. Queries come as UDP datagrams on the TAP (OnTapFrame) or as messages
// from DnsTcpServer (OnQuery); answers leave through a DnsReplyWriter, cut to TC for UDP clients
// they do not fit and whole over TCP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/port.h"
#include "controlplane/services/dns.h"
#include "controlplane/services/dns_reply.h"

namespace ipop::cp {

// Resolves a registered name ("host.network.suffix", lower case). `done` may run inside Lookup
// or later, at most once; a late or repeated call is ignored.
class NameSource {
 public:
  virtual ~NameSource() = default;
  virtual void Lookup(const std::string& name,
                      std::function<void(std::optional<uint32_t> ipv4)> done) = 0;
};

// Takes the queries the responder is not authoritative for (names outside the zone).
class QueryForwarder {
 public:
  enum class Outcome : uint8_t {
    kForwarded,  // the forwarder answers the client (now or later)
    kRefused,    // no upstream configured: the responder answers REFUSED
    kServFail,   // cannot take it now (table full, send failed): the responder answers SERVFAIL
    kDuplicate,  // the same client's query with this ID is in flight: its answer covers both
  };
  virtual ~QueryForwarder() = default;
  // `message` is the client's query as received; `query` its parse.
  virtual Outcome Forward(const DnsClient& client, const dns::Query& query,
                          std::span<const uint8_t> message) = 0;
};

struct DnsOptions {
  uint32_t responder_ip = 0;     // host order; queries must be sent here, port 53
  uint8_t gateway_mac[6] = {};   // source MAC of replies
  std::string suffix = "ipop";   // the zone; may have several labels
  std::string network;           // only <host>.<network>.<suffix> is looked up ("" = any network)
  uint32_t range_base = 0;       // network address range (host order); its first octet is the
  uint8_t range_prefix_len = 8;  // one C-names leave out, so the prefix must be 8..32
  uint32_t ttl_s = 60;
  // SOA minimum and TTL: how long resolvers cache NXDOMAIN/NODATA (RFC 2308); short because a
  // node may register its name any moment.
  uint32_t negative_ttl_s = 5;
  size_t max_pending = 64;                     // registered-name lookups in flight
  uint64_t lookup_timeout_ns = 2'000'000'000;  // then SERVFAIL (clients retry after ~1-5 s)
  // Largest UDP reply written to the TAP (the TAP MTU - 28 at most, 512..1472): EDNS0 clients
  // get up to this much, larger answers go out truncated with TC (RFC 7766 5).
  size_t max_udp_reply = dns::kEdnsUdpSize;
};
// "" if usable, else what to fix.
std::string ValidateDnsOptions(const DnsOptions& options);

struct DnsCounters {
  uint64_t not_addressed = 0;  // frames returned false (not UDP to responder:53)
  uint64_t queries = 0;        // UDP datagrams to responder:53 and messages from DnsTcpServer
  uint64_t dropped_too_short = 0;
  uint64_t dropped_response = 0;   // QR set: never answered (no reply loops)
  uint64_t dropped_duplicate = 0;  // retransmission of a query whose lookup is in flight
  uint64_t parse_errors[size_t(dns::ParseError::kCount)] = {};  // by dns::ParseError
  uint64_t formerr = 0;
  uint64_t notimp = 0;
  uint64_t refused = 0;
  uint64_t nxdomain = 0;
  uint64_t nodata = 0;
  uint64_t answered = 0;  // NOERROR with an answer
  uint64_t lookups = 0;
  uint64_t lookup_timeouts = 0;  // answered SERVFAIL
  uint64_t lookups_late = 0;     // done ran after the timeout (or twice)
  uint64_t pending_full = 0;     // answered SERVFAIL at once
  uint64_t forwarded = 0;        // handed to the forwarder
  uint64_t forward_refused = 0;  // the forwarder said SERVFAIL (counted there by reason)
  uint64_t replies_sent = 0;
  uint64_t truncated = 0;     // of those, UDP replies cut to header+question with TC
  uint64_t reply_failed = 0;  // building it failed, the port refused it or its TCP connection
                              // was gone
};

inline constexpr CounterDesc kDnsCounterDescs[] = {
    IPOP_COUNTER(DnsCounters, not_addressed,
                 "TAP frames offered that were not UDP to the responder port 53"),
    IPOP_COUNTER(DnsCounters, queries,
                 "UDP datagrams to responder:53 and messages from DnsTcpServer"),
    IPOP_COUNTER(DnsCounters, dropped_too_short, "datagrams shorter than a DNS header: dropped"),
    IPOP_COUNTER(DnsCounters, dropped_response, "QR set: never answered (no reply loops)"),
    IPOP_COUNTER(DnsCounters, dropped_duplicate,
                 "retransmission of a query whose lookup is in flight"),
    IPOP_COUNTER_BY(
        DnsCounters, parse_errors, "error",
        [](size_t i) { return dns::ParseErrorName(dns::ParseError(i)); }, 1,
        "queries that did not parse, by error"),
    IPOP_COUNTER(DnsCounters, formerr, "answered FORMERR"),
    IPOP_COUNTER(DnsCounters, notimp, "answered NOTIMP (opcode other than QUERY)"),
    IPOP_COUNTER(DnsCounters, refused, "answered REFUSED"),
    IPOP_COUNTER(DnsCounters, nxdomain, "answered NXDOMAIN"),
    IPOP_COUNTER(DnsCounters, nodata,
                 "answered NOERROR without an answer (the name has no record of the type)"),
    IPOP_COUNTER(DnsCounters, answered, "NOERROR with an answer"),
    IPOP_COUNTER(DnsCounters, lookups, "names looked up in the DHT directory"),
    IPOP_COUNTER(DnsCounters, lookup_timeouts, "answered SERVFAIL"),
    IPOP_COUNTER(DnsCounters, lookups_late, "done ran after the timeout (or twice)"),
    IPOP_COUNTER(DnsCounters, pending_full, "answered SERVFAIL at once"),
    IPOP_COUNTER(DnsCounters, forwarded, "handed to the forwarder"),
    IPOP_COUNTER(DnsCounters, forward_refused,
                 "the forwarder said SERVFAIL (counted there by reason)"),
    IPOP_COUNTER(DnsCounters, replies_sent, "replies handed to the port (UDP) or a TCP connection"),
    IPOP_COUNTER(DnsCounters, truncated,
                 "replies over UDP cut to header+question with TC; of those, cut to "
                 "header+question with TC"),
    IPOP_COUNTER(DnsCounters, reply_failed,
                 "building it failed, the port refused it or its TCP connection was gone"),
};
static_assert(CoversEveryField<DnsCounters>(kDnsCounterDescs));

class DnsResponder final : public DnsQueryHandler {
 public:
  // `names` may be null (registered names then answer NXDOMAIN). Options must validate.
  DnsResponder(Port& port, Clock& clock, NameSource* names, DnsOptions options);
  DnsResponder(const DnsResponder&) = delete;
  DnsResponder& operator=(const DnsResponder&) = delete;

  // A frame punted from the TAP. False if it is not UDP to responder_ip:53 (try others).
  bool OnTapFrame(std::span<const uint8_t> frame);
  // One query message (a UDP payload, or a message DnsTcpServer took from a connection).
  bool OnQuery(const DnsClient& client, std::span<const uint8_t> message) override;
  // TCP clients' answers go here (DnsTcpServer); null: they fail. Not owned.
  void SetStreams(DnsStreamSink* streams) { writer_.SetStreams(streams); }
  // Names outside the zone go to `forwarder` (null: REFUSED). Not owned; must outlive us.
  void SetForwarder(QueryForwarder* forwarder) { forwarder_ = forwarder; }
  // Answers SERVFAIL to lookups older than lookup_timeout_ns; call from the timer loop.
  void Poll();

  const DnsCounters& counters() const { return counters_; }
  size_t pending() const { return pending_.size(); }

 private:
  using Client = DnsClient;
  struct Pending {
    uint64_t seq;
    uint64_t deadline_ns;
    Client client;
    dns::Query query;
  };
  // These return whether an answer goes out (now or later): false for a duplicate dropped.
  bool Answer(const Client& client, const dns::Query& query, std::span<const uint8_t> message);
  bool AnswerOutsideZone(const Client& client, const dns::Query& query,
                         std::span<const uint8_t> message);
  bool StartLookup(const Client& client, const dns::Query& query, std::string name);
  void OnLookupDone(uint64_t seq, std::optional<uint32_t> ipv4);
  void ReplyAddress(const Client& client, const dns::Query& query, std::optional<uint32_t> ipv4);
  void Reply(const Client& client, const dns::Query& query, dns::Rcode rcode, bool authoritative,
             std::span<const dns::Record> answers, bool with_question = true,
             std::span<const dns::Record> authority = {});
  // NXDOMAIN or NODATA for a name in the zone: the SOA goes along.
  void ReplyNegative(const Client& client, const dns::Query& query, dns::Rcode rcode);
  void AnswerApex(const Client& client, const dns::Query& query);
  bool InRange(uint32_t ip) const;
  std::optional<uint32_t> ParseCName(std::string_view label) const;

  Clock& clock_;
  NameSource* names_;
  QueryForwarder* forwarder_ = nullptr;
  DnsOptions opt_;
  DnsReplyWriter writer_;
  dns::Name suffix_;
  dns::Soa soa_;
  dns::Record soa_record_;
  dns::Record ns_record_;
  DnsCounters counters_;
  std::vector<Pending> pending_;
  uint64_t next_seq_ = 1;
  // Lookups hold a weak reference so a `done` that outlives the responder does nothing.
  std::shared_ptr<DnsResponder*> self_;
};

}  // namespace ipop::cp

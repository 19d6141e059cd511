// DNS over TCP (RFC 7766) for the host behind the TAP. The node's service address has no kernel
// socket (it lives in the dataplane's TAP peer), so this is a small TCP responder on raw frames:
// port 53 only, passive open only, one DNS message exchange after another.
//
//   SYN                 -> a connection (a table of max_connections; when full, the least
//                          recently active one is reset), SYN/ACK with a random ISN and our MSS
//   data at rcv_nxt     -> 2-byte length-prefixed messages (several in a segment, or one split
//                          across segments) to the DnsQueryHandler; its answers come back through
//                          SendMessage and go out in segments of at most min(the peer's MSS,
//                          MTU - 40) bytes inside the peer's window, pipelined queries answered
//                          as they finish (RFC 7766 6.2.1.1)
//   any other data      -> an ACK of what we have (in order only: nothing is reassembled)
//   FIN from the peer   -> ACKed; our FIN follows once every query it sent has its answer
//   idle_timeout        -> our FIN (RFC 7766 6.2.3); the connection is freed when both FINs are
//                          acknowledged
//   unacknowledged data -> sent again from the first unacknowledged byte after rto_ns, doubling,
//                          max_retransmits times, then the connection is reset
//   RST in the window   -> the connection is gone; a segment for no connection gets a RST
//                          (RFC 9293 3.10.7.1), a RST never does
// Every malformed segment is counted and dropped.
//
// What it does not do, being a DNS server and not a TCP stack: window scaling, SACK and timestamps
// (the SYN/ACK carries only an MSS, which turns them off at the peer), congestion control (the
// peer is the host on the TAP), reassembly of out-of-order data, urgent data, TCP Fast Open (data
// on a SYN is ignored), simultaneous open, TIME-WAIT (a connection is freed as soon as both FINs
// are acknowledged; a FIN retransmitted after that gets a RST), delayed ACKs, Nagle, fast
// retransmit, PAWS, path MTU discovery, IP options, IPv6.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/port.h"
#include "controlplane/runtime/random_source.h"
#include "controlplane/services/dns_reply.h"
#include "controlplane/services/tcp_segment.h"

namespace ipop::cp {

struct DnsTcpOptions {
  uint32_t responder_ip = 0;    // host order; segments must be sent here, port 53
  uint8_t gateway_mac[6] = {};  // source MAC of our segments
  uint32_t mtu = 1400;          // the TAP MTU: our segments fit it, our MSS is mtu - 40
  size_t max_connections = 64;
  uint64_t idle_timeout_ns = 10'000'000'000;  // no segment or answer for this long: we close
  uint64_t rto_ns = 1'000'000'000;            // first retransmission timeout (RFC 6298 2.1)
  uint32_t max_retransmits = 4;               // then the connection is reset
  size_t max_query_size = 4096;               // a longer length prefix resets the connection
  size_t max_queries_in_flight = 16;          // per connection; its next data waits (not taken)
  // Answer bytes queued per connection, unacknowledged ones included: a whole 64 KiB answer and
  // some. An answer that does not fit is dropped; from backlog_bytes on no new query is taken.
  size_t max_send_buffer = 96 * 1024;
  size_t backlog_bytes = 16 * 1024;
};
// "" if usable, else what to fix.
std::string ValidateDnsTcpOptions(const DnsTcpOptions& options);

struct DnsTcpCounters {
  uint64_t segments = 0;         // TCP segments to responder:53 (all of them, kept or not)
  uint64_t malformed = 0;        // headers, options or a fragment (tcp::SegmentError)
  uint64_t bad_checksum = 0;     // TCP checksum wrong
  uint64_t bad_flags = 0;        // SYN with FIN, or no ACK on a segment that needs one
  uint64_t no_connection = 0;    // for no connection (answered with a RST unless a RST)
  uint64_t opened = 0;           // SYNs that made a connection
  uint64_t closed = 0;           // ended by FINs both ways
  uint64_t reset_by_peer = 0;    // a RST in the window ended it
  uint64_t evicted = 0;          // reset to make room for a new connection
  uint64_t timed_out = 0;        // retransmissions or the close ran out: reset
  uint64_t idle_closed = 0;      // closed by us after idle_timeout
  uint64_t out_of_order = 0;     // data or FIN not at rcv_nxt: dropped, ACK of what we have
  uint64_t ignored_rst = 0;      // a RST outside the window: dropped
  uint64_t ignored_syn = 0;      // a SYN on a synchronized connection: ACK (RFC 5961 4)
  uint64_t bad_ack = 0;          // an ACK of what was never sent: dropped, ACK or RST back
  uint64_t backlogged = 0;       // in-order data not taken (queries or answers piled up)
  uint64_t queries = 0;          // messages passed to the handler
  uint64_t empty_messages = 0;   // length prefix 0: skipped
  uint64_t query_too_large = 0;  // length prefix above max_query_size: connection reset
  uint64_t answers = 0;          // messages queued for sending
  uint64_t answers_dropped = 0;  // connection gone or closing, or no room in its buffer
  uint64_t segments_sent = 0;    // incl. SYN/ACKs, ACKs and RSTs
  uint64_t retransmits = 0;      // segments sent again by the timer
  uint64_t resets_sent = 0;      // RSTs among the segments sent
  uint64_t send_failed = 0;      // the port refused a frame (the timer sends it again)
};

inline constexpr CounterDesc kDnsTcpCounterDescs[] = {
    IPOP_COUNTER(DnsTcpCounters, segments,
                 "TCP segments to responder:53 (all of them, kept or not)"),
    IPOP_COUNTER(DnsTcpCounters, malformed, "headers, options or a fragment (tcp::SegmentError)"),
    IPOP_COUNTER(DnsTcpCounters, bad_checksum, "TCP checksum wrong"),
    IPOP_COUNTER(DnsTcpCounters, bad_flags, "SYN with FIN, or no ACK on a segment that needs one"),
    IPOP_COUNTER(DnsTcpCounters, no_connection,
                 "for no connection (answered with a RST unless a RST)"),
    IPOP_COUNTER(DnsTcpCounters, opened, "SYNs that made a connection"),
    IPOP_COUNTER(DnsTcpCounters, closed, "ended by FINs both ways"),
    IPOP_COUNTER(DnsTcpCounters, reset_by_peer, "a RST in the window ended it"),
    IPOP_COUNTER(DnsTcpCounters, evicted, "reset to make room for a new connection"),
    IPOP_COUNTER(DnsTcpCounters, timed_out, "retransmissions or the close ran out: reset"),
    IPOP_COUNTER(DnsTcpCounters, idle_closed, "closed by us after idle_timeout"),
    IPOP_COUNTER(DnsTcpCounters, out_of_order,
                 "data or FIN not at rcv_nxt: dropped, ACK of what we have"),
    IPOP_COUNTER(DnsTcpCounters, ignored_rst, "a RST outside the window: dropped"),
    IPOP_COUNTER(DnsTcpCounters, ignored_syn,
                 "a SYN on a synchronized connection: ACK (RFC 5961 4)"),
    IPOP_COUNTER(DnsTcpCounters, bad_ack,
                 "an ACK of what was never sent: dropped, ACK or RST back"),
    IPOP_COUNTER(DnsTcpCounters, backlogged,
                 "in-order data not taken (queries or answers piled up)"),
    IPOP_COUNTER(DnsTcpCounters, queries, "messages passed to the handler"),
    IPOP_COUNTER(DnsTcpCounters, empty_messages, "length prefix 0: skipped"),
    IPOP_COUNTER(DnsTcpCounters, query_too_large,
                 "length prefix above max_query_size: connection reset"),
    IPOP_COUNTER(DnsTcpCounters, answers, "messages queued for sending"),
    IPOP_COUNTER(DnsTcpCounters, answers_dropped,
                 "connection gone or closing, or no room in its buffer"),
    IPOP_COUNTER(DnsTcpCounters, segments_sent, "incl. SYN/ACKs, ACKs and RSTs"),
    IPOP_COUNTER(DnsTcpCounters, retransmits, "segments sent again by the timer"),
    IPOP_COUNTER(DnsTcpCounters, resets_sent, "RSTs among the segments sent"),
    IPOP_COUNTER(DnsTcpCounters, send_failed,
                 "the port refused a frame (the timer sends it again)"),
};
static_assert(CoversEveryField<DnsTcpCounters>(kDnsTcpCounterDescs));

class DnsTcpServer final : public DnsStreamSink {
 public:
  // The window we advertise; no scaling.
  static constexpr uint16_t kWindow = 16384;
  // Largest segment payload we send whatever the MTU: a frame fits one inject-ring slot.
  static constexpr uint32_t kMaxSegmentPayload = 1460;
  // Smallest peer MSS we honour (RFC 9293 3.7.1 allows less; a tiny one would only multiply our
  // segments).
  static constexpr uint32_t kMinMss = 64;
  // Segments one call sends at most; the rest follow the peer's ACKs or the timer.
  static constexpr size_t kMaxSegmentsPerFlush = 32;

  // Options must validate. The references must outlive the server.
  DnsTcpServer(Port& port, Clock& clock, RandomSource& random, DnsQueryHandler& handler,
               DnsTcpOptions options);
  DnsTcpServer(const DnsTcpServer&) = delete;
  DnsTcpServer& operator=(const DnsTcpServer&) = delete;

  // A frame punted from the TAP. False if it is not TCP to responder_ip:53 (try others).
  bool OnTapFrame(std::span<const uint8_t> frame);
  bool SendMessage(uint64_t connection, std::span<const uint8_t> message) override;
  // Retransmissions and idle connections; call from the timer loop.
  void Poll();

  const DnsTcpCounters& counters() const { return counters_; }
  size_t connections() const;  // in the table

 private:
  struct Connection {
    uint64_t id = 0;           // 0: a free slot
    bool established = false;  // false: SYN-RECEIVED (our SYN/ACK not acknowledged yet)
    uint8_t mac[6] = {};
    uint32_t ip = 0;
    uint16_t port = 0;
    uint16_t mss = 0;          // what we send per segment
    uint16_t peer_window = 0;  // the peer's last advertised window (unscaled)
    uint32_t irs = 0;          // the peer's initial sequence number
    uint32_t iss = 0;          // ours
    uint32_t snd_una = 0;      // first unacknowledged sequence number
    uint32_t snd_nxt = 0;      // next to send (moved back to snd_una by a retransmission)
    uint32_t snd_max = 0;      // highest sent so far + 1
    uint32_t rcv_nxt = 0;
    std::vector<uint8_t> send;     // stream bytes from snd_una on (once established)
    std::vector<uint8_t> recv;     // the message being read, length prefix included
    size_t queries_in_flight = 0;  // passed to the handler, answer not yet back
    bool fin_received = false;
    bool fin_queued = false;  // ours goes out after the data in `send`
    bool fin_sent = false;
    bool fin_acked = false;
    uint64_t last_active_ns = 0;
    uint64_t rto_at_ns = 0;  // 0: the timer is off
    uint64_t rto_ns = 0;
    uint32_t retries = 0;
  };

  Connection* Find(uint32_t ip, uint16_t port);
  Connection* FindById(uint64_t id);
  void Accept(const tcp::SegmentView& seg);
  void OnSegment(Connection& c, const tcp::SegmentView& seg);
  // Takes in-order payload bytes as messages; returns how many it took, or -1 if the
  // connection was reset.
  long Consume(Connection& c, std::span<const uint8_t> data);
  bool Backlogged(const Connection& c) const;
  // Sends what the window allows (and our FIN after the data); returns the segments sent.
  size_t Output(Connection& c, bool probe = false);
  void OnRetransmitTimer(Connection& c, uint64_t now);
  void MaybeQueueFin(Connection& c);
  void Emit(const Connection& c, uint32_t seq, uint8_t flags, std::span<const uint8_t> payload,
            uint16_t mss = 0);
  void SendAck(const Connection& c);
  void SendSynAck(const Connection& c);
  void ResetConnection(Connection& c);  // RST to the peer, then Free
  void RejectUnknown(const tcp::SegmentView& seg);
  void Free(Connection& c);

  Port& port_;
  Clock& clock_;
  RandomSource& random_;
  DnsQueryHandler& handler_;
  DnsTcpOptions opt_;
  uint16_t our_mss_;
  std::vector<Connection> table_;  // fixed size max_connections
  uint64_t next_id_ = 1;
  // A connection whose segment is being processed: answers the handler gives synchronously go
  // out with that segment's ACK instead of in segments of their own.
  uint64_t in_input_ = 0;
  DnsTcpCounters counters_;
  std::vector<uint8_t> frame_;  // scratch: one segment
};

}  // namespace ipop::cp

// The transports between the host's DNS clients and the node's DNS service: who asked (a UDP
// datagram on the TAP or a message on a TCP connection, RFC 7766) and the way an answer goes back.
//
//   UDP query (DnsResponder::OnTapFrame) ----\                     /--> UDP frame on the TAP, cut
//                                             > DnsQueryHandler ...      to header+question with
//   TCP message (DnsTcpServer) --------------/   (the responder,  \      TC when it does not fit
//                                                 the forwarder)   \--> DnsStreamSink (the TCP
//                                                                       connection), whole
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "controlplane/runtime/port.h"
#include "controlplane/services/dns.h"

namespace ipop::cp {

enum class DnsTransport : uint8_t { kUdp, kTcp };

// Who sent a query: where its answer goes.
struct DnsClient {
  uint8_t mac[6] = {};
  uint32_t ip = 0;  // host order
  uint16_t port = 0;
  DnsTransport transport = DnsTransport::kUdp;
  uint64_t connection = 0;  // kTcp: the DnsTcpServer connection it came on
  // kUdp: the largest reply the client takes (dns::UdpReplyLimit), and whether its query had an
  // EDNS0 OPT (a truncated reply then keeps one).
  uint16_t udp_limit = dns::kMaxUdpPayload;
  bool edns = false;
};
// The same client socket: a retransmission or a pipelined query from it is recognised by ID.
bool SameClient(const DnsClient& a, const DnsClient& b);

// Takes one query message from a transport (DnsResponder).
class DnsQueryHandler {
 public:
  virtual ~DnsQueryHandler() = default;
  // True if an answer will be sent for it (now or later), false if it was dropped unanswered.
  virtual bool OnQuery(const DnsClient& client, std::span<const uint8_t> message) = 0;
};

// Takes whole answer messages for TCP connections (DnsTcpServer).
class DnsStreamSink {
 public:
  virtual ~DnsStreamSink() = default;
  // Queues `message` (at most 65535 bytes) with its 2-byte length on `connection`. False if
  // the connection is gone or closing, or its send buffer has no room (counted there).
  virtual bool SendMessage(uint64_t connection, std::span<const uint8_t> message) = 0;
};

enum class ReplyResult : uint8_t { kSent, kTruncated, kFailed };

// Writes answers to clients: a UDP frame from responder_ip:53 and the gateway MAC, truncated with
// TC when larger than the client's udp_limit; or the whole message to the client's TCP connection.
class DnsReplyWriter {
 public:
  DnsReplyWriter(Port& port, const uint8_t (&gateway_mac)[6], uint32_t responder_ip);
  // Null: TCP clients' answers fail (kFailed).
  void SetStreams(DnsStreamSink* streams) { streams_ = streams; }
  ReplyResult Send(const DnsClient& client, std::span<const uint8_t> message);

 private:
  Port& port_;
  uint8_t gateway_mac_[6];
  uint32_t responder_ip_;
  DnsStreamSink* streams_ = nullptr;
  std::vector<uint8_t> frame_;  // scratch: the largest UDP frame we write
};

}  // namespace ipop::cp

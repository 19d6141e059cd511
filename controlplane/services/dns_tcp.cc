#include "controlplane/services/dns_tcp.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "controlplane/services/dns.h"
#include "shared/byte_order.h"

namespace ipop::cp {
namespace {

using tcp::kAck;
using tcp::kFin;
using tcp::kPsh;
using tcp::kRst;
using tcp::kSyn;
using tcp::SeqLe;
using tcp::SeqLt;

constexpr uint64_t kMaxRtoNs = 16'000'000'000;
constexpr uint16_t kDefaultMss = 536;  // without an MSS option (RFC 9293 3.7.1)

// Bytes of sequence space a segment takes: its data, and one each for SYN and FIN.
uint32_t SegmentLength(const tcp::SegmentView& seg) {
  return uint32_t(seg.payload.size()) + ((seg.flags & kSyn) ? 1 : 0) + ((seg.flags & kFin) ? 1 : 0);
}

}  // namespace

std::string ValidateDnsTcpOptions(const DnsTcpOptions& o) {
  if (o.responder_ip == 0) return "dns tcp: responder address is not set";
  if (o.mtu < 576 || o.mtu > 9000) return "dns tcp: the MTU must be 576..9000";
  if (o.max_connections == 0 || o.max_connections > 4096)
    return "dns tcp: max_connections must be 1..4096";
  if (o.idle_timeout_ns == 0 || o.rto_ns == 0) return "dns tcp: timeouts must be positive";
  if (o.max_query_size < dns::kHeaderSize || o.max_query_size > 0xffff)
    return "dns tcp: max_query_size must be 12..65535";
  if (o.max_queries_in_flight == 0) return "dns tcp: max_queries_in_flight must be at least 1";
  if (o.max_send_buffer < 0xffff + 2 || o.backlog_bytes == 0 || o.backlog_bytes > o.max_send_buffer)
    return "dns tcp: max_send_buffer must hold a 64 KiB answer, backlog_bytes be within it";
  return "";
}

DnsTcpServer::DnsTcpServer(Port& port, Clock& clock, RandomSource& random, DnsQueryHandler& handler,
                           DnsTcpOptions options)
    : port_(port),
      clock_(clock),
      random_(random),
      handler_(handler),
      opt_(std::move(options)),
      our_mss_(uint16_t(std::min(opt_.mtu - 40, kMaxSegmentPayload))),
      table_(opt_.max_connections),
      frame_(tcp::kFrameOverhead + 4 + kMaxSegmentPayload) {}

size_t DnsTcpServer::connections() const {
  return size_t(
      std::count_if(table_.begin(), table_.end(), [](const Connection& c) { return c.id != 0; }));
}

DnsTcpServer::Connection* DnsTcpServer::Find(uint32_t ip, uint16_t port) {
  for (Connection& c : table_)
    if (c.id != 0 && c.ip == ip && c.port == port) return &c;
  return nullptr;
}

DnsTcpServer::Connection* DnsTcpServer::FindById(uint64_t id) {
  if (id == 0) return nullptr;
  for (Connection& c : table_)
    if (c.id == id) return &c;
  return nullptr;
}

bool DnsTcpServer::OnTapFrame(std::span<const uint8_t> frame) {
  tcp::SegmentView seg;
  const tcp::SegmentError err = tcp::ParseSegment(frame, &seg);
  switch (err) {
    case tcp::SegmentError::kNone:
      break;
    case tcp::SegmentError::kNotIpv4:
    case tcp::SegmentError::kBadIpv4:
    case tcp::SegmentError::kNotTcp:
      return false;
    case tcp::SegmentError::kBadChecksum:
      ++counters_.segments;
      ++counters_.bad_checksum;
      return true;
    default:  // the dataplane punts TCP only to responder:53: a broken one is ours to count
      ++counters_.segments;
      ++counters_.malformed;
      return true;
  }
  if (seg.dst_ip != opt_.responder_ip || seg.dst_port != dns::kPort) return false;
  ++counters_.segments;
  if ((seg.flags & kSyn) && (seg.flags & kFin)) {
    ++counters_.bad_flags;
    return true;
  }
  Connection* c = Find(seg.src_ip, seg.src_port);
  if (c != nullptr && !c->established && (seg.flags & (kSyn | kRst | kAck)) == kSyn &&
      seg.seq != c->irs) {
    Free(*c);  // a new attempt on the same port: the peer forgot the old one
    c = nullptr;
  }
  if (c == nullptr) {
    if ((seg.flags & (kSyn | kRst | kAck)) == kSyn) {
      Accept(seg);
    } else {
      ++counters_.no_connection;
      RejectUnknown(seg);
    }
    return true;
  }
  OnSegment(*c, seg);
  return true;
}

void DnsTcpServer::Accept(const tcp::SegmentView& seg) {
  Connection* slot = nullptr;
  for (Connection& c : table_) {
    if (c.id == 0) {
      slot = &c;
      break;
    }
  }
  if (slot == nullptr) {  // full: the least recently active connection makes room
    slot = &*std::min_element(table_.begin(), table_.end(), [](const auto& a, const auto& b) {
      return a.last_active_ns < b.last_active_ns;
    });
    ++counters_.evicted;
    ResetConnection(*slot);
  }
  Connection& c = *slot;
  const uint64_t now = clock_.NowNs();
  c.id = next_id_++;
  c.established = false;
  std::memcpy(c.mac, seg.src_mac, sizeof(c.mac));
  c.ip = seg.src_ip;
  c.port = seg.src_port;
  const uint32_t peer_mss = seg.mss != 0 ? seg.mss : kDefaultMss;
  c.mss = uint16_t(std::clamp<uint32_t>(peer_mss, kMinMss, our_mss_));
  c.peer_window = seg.window;
  c.irs = seg.seq;
  c.rcv_nxt = seg.seq + 1;  // data on the SYN (Fast Open) is not taken
  uint8_t isn[4];
  random_.Fill(isn);
  c.iss = LoadBe32(isn);
  c.snd_una = c.iss;
  c.snd_nxt = c.snd_max = c.iss + 1;
  c.queries_in_flight = 0;
  c.fin_received = c.fin_queued = c.fin_sent = c.fin_acked = false;
  c.last_active_ns = now;
  c.rto_ns = opt_.rto_ns;
  c.rto_at_ns = now + c.rto_ns;
  c.retries = 0;
  ++counters_.opened;
  SendSynAck(c);
}

void DnsTcpServer::OnSegment(Connection& c, const tcp::SegmentView& seg) {
  const uint64_t now = clock_.NowNs();
  if (seg.flags & kRst) {
    // RFC 9293 3.10.7.4 (without RFC 5961's exact match: nobody but the host sends on the TAP).
    if (SeqLe(c.rcv_nxt, seg.seq) && SeqLt(seg.seq, c.rcv_nxt + kWindow)) {
      ++counters_.reset_by_peer;
      Free(c);
    } else {
      ++counters_.ignored_rst;
    }
    return;
  }
  if (seg.flags & kSyn) {
    if (!c.established) {  // our SYN/ACK got lost: the same SYN again
      c.last_active_ns = now;
      SendSynAck(c);
    } else {
      ++counters_.ignored_syn;  // a challenge ACK: a peer that lost the connection resets it
      SendAck(c);
    }
    return;
  }
  if (!(seg.flags & kAck)) {
    ++counters_.bad_flags;
    return;
  }
  c.last_active_ns = now;

  // The acknowledgment.
  if (!c.established) {
    if (seg.ack != c.iss + 1) {
      ++counters_.bad_ack;
      RejectUnknown(seg);  // RST with the sequence number it acknowledged
      return;
    }
    c.established = true;
    c.snd_una = c.snd_nxt = c.snd_max = c.iss + 1;
    c.rto_at_ns = 0;
    c.retries = 0;
    c.rto_ns = opt_.rto_ns;
  } else if (SeqLt(c.snd_max, seg.ack)) {
    ++counters_.bad_ack;  // acknowledges what we never sent
    SendAck(c);
    return;
  }
  if (SeqLe(c.snd_una, seg.ack)) {
    c.peer_window = seg.window;
    if (SeqLt(c.snd_una, seg.ack)) {
      const uint32_t acked = seg.ack - c.snd_una;
      const size_t data = std::min<size_t>(acked, c.send.size());
      c.send.erase(c.send.begin(), c.send.begin() + ptrdiff_t(data));
      if (acked > data) c.fin_acked = true;  // beyond the data there is only our FIN
      c.snd_una = seg.ack;
      if (SeqLt(c.snd_nxt, c.snd_una)) c.snd_nxt = c.snd_una;
      c.retries = 0;
      c.rto_ns = opt_.rto_ns;
      c.rto_at_ns = c.snd_una == c.snd_max ? 0 : now + c.rto_ns;
    }
  }

  // The data and FIN, in order only.
  bool ack_owed = false;
  const uint32_t length = SegmentLength(seg);
  if (length > 0) {
    ack_owed = true;
    if (seg.seq != c.rcv_nxt || c.fin_received) {
      ++counters_.out_of_order;
    } else {
      in_input_ = c.id;
      const long taken = Consume(c, seg.payload);
      in_input_ = 0;
      if (taken < 0) return;  // reset
      c.rcv_nxt += uint32_t(taken);
      if (size_t(taken) < seg.payload.size()) {
        ++counters_.backlogged;  // the peer sends the rest again
      } else if (seg.flags & kFin) {
        c.rcv_nxt += 1;
        c.fin_received = true;
      }
    }
  }
  MaybeQueueFin(c);
  if (Output(c) == 0 && ack_owed) SendAck(c);
  if (c.fin_received && c.fin_acked) {
    ++counters_.closed;
    Free(c);
  }
}

bool DnsTcpServer::Backlogged(const Connection& c) const {
  return c.fin_queued || c.queries_in_flight >= opt_.max_queries_in_flight ||
         c.send.size() >= opt_.backlog_bytes;
}

long DnsTcpServer::Consume(Connection& c, std::span<const uint8_t> data) {
  size_t taken = 0;
  while (taken < data.size()) {
    if (c.recv.size() < 2) {
      if (c.recv.empty() && Backlogged(c)) break;  // a new message waits for room
      c.recv.push_back(data[taken++]);
      if (c.recv.size() < 2) continue;
      const size_t length = LoadBe16(c.recv.data());
      if (length == 0) {
        ++counters_.empty_messages;
        c.recv.clear();
      } else if (length > opt_.max_query_size) {
        ++counters_.query_too_large;
        ResetConnection(c);
        return -1;
      }
      continue;
    }
    const size_t length = LoadBe16(c.recv.data());
    const size_t n = std::min(2 + length - c.recv.size(), data.size() - taken);
    c.recv.insert(c.recv.end(), data.begin() + ptrdiff_t(taken),
                  data.begin() + ptrdiff_t(taken + n));
    taken += n;
    if (c.recv.size() < 2 + length) continue;
    ++counters_.queries;
    DnsClient client;
    std::memcpy(client.mac, c.mac, sizeof(client.mac));
    client.ip = c.ip;
    client.port = c.port;
    client.transport = DnsTransport::kTcp;
    client.connection = c.id;
    // Counted before the call: the handler may answer at once (SendMessage on this connection
    // appends to c.send and counts the answer, nothing else).
    ++c.queries_in_flight;
    if (!handler_.OnQuery(client, {c.recv.data() + 2, length}) && c.queries_in_flight > 0)
      --c.queries_in_flight;  // dropped unanswered
    c.recv.clear();
  }
  return long(taken);
}

bool DnsTcpServer::SendMessage(uint64_t connection, std::span<const uint8_t> message) {
  Connection* c = FindById(connection);
  if (c == nullptr || !c->established || c->fin_queued || message.size() > 0xffff) {
    ++counters_.answers_dropped;
    return false;
  }
  if (c->queries_in_flight > 0) --c->queries_in_flight;
  if (c->send.size() + 2 + message.size() > opt_.max_send_buffer) {
    ++counters_.answers_dropped;
    MaybeQueueFin(*c);
    if (in_input_ != connection) Output(*c);
    return false;
  }
  const uint8_t prefix[2] = {uint8_t(message.size() >> 8), uint8_t(message.size())};
  c->send.insert(c->send.end(), prefix, prefix + 2);
  c->send.insert(c->send.end(), message.begin(), message.end());
  c->last_active_ns = clock_.NowNs();
  ++counters_.answers;
  MaybeQueueFin(*c);
  if (in_input_ != connection) Output(*c);
  return true;
}

void DnsTcpServer::MaybeQueueFin(Connection& c) {
  // The peer is done asking and has every answer: close our side too (RFC 7766 6.2.3).
  if (c.established && c.fin_received && c.queries_in_flight == 0) c.fin_queued = true;
}

size_t DnsTcpServer::Output(Connection& c, bool probe) {
  if (!c.established) return 0;
  size_t segments = 0;
  size_t offset = c.snd_nxt - c.snd_una;  // of `send`; past its end once our FIN went out
  const uint32_t window = std::max<uint32_t>(c.peer_window, probe ? 1 : 0);
  const uint32_t window_end = c.snd_una + window;
  while (offset < c.send.size() && SeqLt(c.snd_nxt, window_end) &&
         segments < kMaxSegmentsPerFlush) {
    const size_t len =
        std::min({size_t(c.mss), c.send.size() - offset, size_t(window_end - c.snd_nxt)});
    const bool last = offset + len == c.send.size();
    Emit(c, c.snd_nxt, uint8_t(kAck | (last ? kPsh : 0)), {c.send.data() + offset, len});
    c.snd_nxt += uint32_t(len);
    offset += len;
    ++segments;
  }
  if (c.fin_queued && !c.fin_sent && offset == c.send.size()) {
    Emit(c, c.snd_nxt, kFin | kAck, {});
    c.snd_nxt += 1;
    c.fin_sent = true;
    ++segments;
  }
  if (SeqLt(c.snd_max, c.snd_nxt)) c.snd_max = c.snd_nxt;
  // Armed while anything is unacknowledged, or data waits for a window (then it probes).
  const bool waiting = c.snd_una != c.snd_max || offset < c.send.size();
  if (waiting && c.rto_at_ns == 0) c.rto_at_ns = clock_.NowNs() + c.rto_ns;
  return segments;
}

void DnsTcpServer::Poll() {
  const uint64_t now = clock_.NowNs();
  for (Connection& c : table_) {
    if (c.id == 0) continue;
    if (c.rto_at_ns != 0 && now >= c.rto_at_ns) {
      OnRetransmitTimer(c, now);
      continue;
    }
    // While anything is unacknowledged (a SYN/ACK, data, our FIN) the timer decides.
    if (c.rto_at_ns != 0 || now - c.last_active_ns < opt_.idle_timeout_ns) continue;
    if (c.fin_acked) {  // our side is closed and the peer keeps its side open: enough
      ++counters_.closed;
      Free(c);
    } else {
      ++counters_.idle_closed;
      c.fin_queued = true;
      c.last_active_ns = now;
      Output(c);
    }
  }
}

void DnsTcpServer::OnRetransmitTimer(Connection& c, uint64_t now) {
  if (++c.retries > opt_.max_retransmits) {
    ++counters_.timed_out;
    ResetConnection(c);
    return;
  }
  c.rto_ns = std::min(c.rto_ns * 2, kMaxRtoNs);
  c.rto_at_ns = now + c.rto_ns;
  if (!c.established) {
    ++counters_.retransmits;
    SendSynAck(c);
    return;
  }
  // Go back to the first unacknowledged byte; with a closed window, probe with one byte.
  c.snd_nxt = c.snd_una;
  if (c.fin_sent && !c.fin_acked) c.fin_sent = false;
  counters_.retransmits += Output(c, c.peer_window == 0);
  if (c.snd_una != c.snd_max || c.snd_una != c.snd_nxt || !c.send.empty()) return;
  c.rto_at_ns = 0;  // nothing left to time
}

void DnsTcpServer::Emit(const Connection& c, uint32_t seq, uint8_t flags,
                        std::span<const uint8_t> payload, uint16_t mss) {
  tcp::SegmentSpec s;
  s.from = {opt_.gateway_mac, opt_.responder_ip, dns::kPort};
  s.to = {c.mac, c.ip, c.port};
  s.seq = seq;
  s.ack = c.rcv_nxt;
  s.flags = flags;
  s.window = kWindow;
  s.mss = mss;
  s.payload = payload;
  const size_t n = tcp::BuildSegment(s, frame_);
  if (n != 0 && port_.WriteTapFrame({frame_.data(), n}))
    ++counters_.segments_sent;
  else
    ++counters_.send_failed;
}

void DnsTcpServer::SendAck(const Connection& c) {
  Emit(c, c.snd_nxt, kAck, {});
}

void DnsTcpServer::SendSynAck(const Connection& c) {
  Emit(c, c.iss, kSyn | kAck, {}, our_mss_);
}

void DnsTcpServer::ResetConnection(Connection& c) {
  // The peer has most likely taken all we sent; its rcv_nxt is then snd_max.
  ++counters_.resets_sent;
  Emit(c, c.established ? c.snd_max : c.iss + 1, kRst | kAck, {});
  Free(c);
}

void DnsTcpServer::RejectUnknown(const tcp::SegmentView& seg) {
  if (seg.flags & kRst) return;  // never answer a RST
  // RFC 9293 3.10.7.1: with an ACK, the RST takes its sequence number from it; without, it
  // acknowledges the segment.
  Connection c;
  std::memcpy(c.mac, seg.src_mac, sizeof(c.mac));
  c.ip = seg.src_ip;
  c.port = seg.src_port;
  ++counters_.resets_sent;
  if (seg.flags & kAck) {
    c.rcv_nxt = 0;
    Emit(c, seg.ack, kRst, {});
  } else {
    c.rcv_nxt = seg.seq + SegmentLength(seg);
    Emit(c, 0, kRst | kAck, {});
  }
}

void DnsTcpServer::Free(Connection& c) {
  c = Connection{};  // its buffers go back to the heap
}

}  // namespace ipop::cp

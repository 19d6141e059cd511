// Fuzzes ARP parsing and the responder: any frame either yields no reply or exactly one
// well-formed 42-byte reply from the gateway MAC to the requester, about a routed address.
#include <cstdint>
#include <cstring>

#include "controlplane/arp_responder.h"
#include "shared/arp.h"
#include "tests/unit/cp_fakes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipop;
  using cp::testing::Ip;
  const std::span<const uint8_t> frame(data, size);

  arp::Request req;
  const arp::ParseError err = arp::ParseRequest(frame, &req);
  if (err == arp::ParseError::kNone && size < arp::kFrameSize) __builtin_trap();

  shm::TableSpec spec;
  spec.local_vip = Ip(10, 77, 0, 1);
  const uint8_t gw[6] = {0x02, 0x49, 0x50, 1, 2, 3};
  std::memcpy(spec.gateway_mac, gw, 6);
  shm::PeerEntry peer{};
  peer.flags = shm::kPeerValid;
  peer.vip = Ip(10, 77, 0, 2);
  spec.peers = {peer, peer};
  spec.routes = {{Ip(10, 77, 0, 2), 32, 0}, {Ip(10, 78, 0, 0), 16, 1}};

  cp::testing::FakePort port;
  cp::CpCounters counters;
  cp::ArpResponder responder(port, counters);
  responder.SetTable(spec);
  responder.OnTapFrame(frame);

  if (port.frames.size() > 1) __builtin_trap();
  if (port.frames.size() == 1) {
    const std::vector<uint8_t>& r = port.frames[0];
    if (err != arp::ParseError::kNone || r.size() != arp::kFrameSize) __builtin_trap();
    if (std::memcmp(&r[6], gw, 6) != 0 || std::memcmp(&r[0], req.sender_mac, 6) != 0)
      __builtin_trap();
    if (!responder.Answers(req.target_ip) || req.target_ip == spec.local_vip) __builtin_trap();
    // The reply parses as ARP but is not a request (no reply loops).
    arp::Request again;
    if (arp::ParseRequest(r, &again) != arp::ParseError::kNotRequest) __builtin_trap();
  }
  const uint64_t handled =
      counters.Get(cp::CpCounter::arp_answered) + counters.Get(cp::CpCounter::arp_ignored) +
      counters.Get(cp::CpCounter::arp_malformed) + counters.Get(cp::CpCounter::tap_not_arp);
  if (handled != 1) __builtin_trap();
  return 0;
}

#include "dataplane/arp_fallback.h"

#include <atomic>

#include "shared/arp.h"
#include "shared/table.h"

namespace ipop::dp {

bool ControlPlaneAbsent(const shm::RegionHeader& hdr, uint64_t now_ns) {
  if (hdr.cp_pid.load(std::memory_order_acquire) == 0) return true;
  const uint64_t beat = hdr.cp_heartbeat_ns.load(std::memory_order_acquire);
  return now_ns > beat && now_ns - beat > kControlPlaneAbsentNs;
}

bool AnswerArpFromTable(const shm::Generation& g, Packet& p) {
  arp::Request req;
  if (arp::ParseRequest({p.data, p.len}, &req) != arp::ParseError::kNone) return false;
  if (req.target_ip == g.hdr.local_vip || req.target_ip == req.sender_ip) return false;
  if (shm::LookupPeer(g, req.target_ip) == shm::kNoPeer) return false;
  if (p.len + p.tailroom < arp::kFrameSize) return false;
  // req holds copies of every field, so the reply may overwrite the request's bytes.
  const size_t n = arp::BuildReply(req, g.hdr.gateway_mac, {p.data, p.len + p.tailroom});
  if (n == 0) return false;
  p.tailroom = p.len + p.tailroom - uint32_t(n);
  p.len = uint32_t(n);
  return true;
}

}  // namespace ipop::dp

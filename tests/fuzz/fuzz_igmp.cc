// Fuzzes the IGMP codec and MulticastGroups' TAP input. Each input is tried two ways: as a whole
// TAP frame, and as an IGMP message wrapped in a valid Ethernet/IPv4 frame with its checksum
// fixed (so mutations reach the group-record parser instead of failing the checksum). Invariants:
// an accepted report names only multicast groups, the parser never reads outside the frame
// (ASan), and the local group table never holds a non-multicast group or more than its limit.
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "controlplane/services/multicast_groups.h"
#include "shared/checksum.h"
#include "shared/igmp.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop;

constexpr uint32_t kHost = 0x0a4d0014;     // 10.77.0.20
constexpr uint32_t kService = 0x0a4d00fe;  // 10.77.0.254

// Members are the VIPs that joined, answered at once (the DHT answers later; both must work).
class EchoDirectory final : public cp::GroupDirectory {
 public:
  void Join(uint32_t group, uint32_t vip, uint32_t, DoneFn done) override {
    joined_.insert({group, vip});
    done(true);
  }
  void Leave(uint32_t group, uint32_t vip, DoneFn done) override {
    joined_.erase({group, vip});
    done(true);
  }
  void Members(uint32_t group, MembersFn done) override {
    std::vector<uint32_t> m = {kHost + 1, kHost + 2, kHost};
    for (const auto& [g, vip] : joined_)
      if (g == group) m.push_back(vip);
    done(true, m);
  }

 private:
  std::set<std::pair<uint32_t, uint32_t>> joined_;
};

void Check(std::span<const uint8_t> frame) {
  igmp::Message m;
  if (igmp::Parse(frame, &m) != igmp::ParseError::kNone) return;
  for (const igmp::GroupChange& c : m.changes)
    if (!igmp::IsMulticast(c.group)) __builtin_trap();
}

std::vector<uint8_t> Wrap(const uint8_t* data, size_t size) {
  constexpr size_t kIp = 24;
  if (size > 1400) size = 1400;
  std::vector<uint8_t> f(14 + kIp + size);
  const uint8_t dst[6] = {0x01, 0x00, 0x5e, 0, 0, 0x16};
  const uint8_t src[6] = {0x02, 1, 2, 3, 4, 5};
  ether::WriteEthernetHeader(f.data(), dst, src, ether::kTypeIpv4);
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x46;
  StoreBe16(ip + 2, uint16_t(kIp + size));
  ip[8] = 1;
  ip[9] = igmp::kProtocolIgmp;
  StoreBe32(ip + 12, kHost);
  StoreBe32(ip + 16, igmp::kV3Reports);
  ip[20] = 0x94;
  ip[21] = 0x04;
  RefreshIpv4Checksum(ip, kIp);
  uint8_t* msg = ip + kIp;
  std::memcpy(msg, data, size);
  if (size >= 4) {
    msg[2] = msg[3] = 0;
    StoreChecksum(msg + 2, ChecksumAdd(0, msg, size));
  }
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cp::testing::FakeClock clock;
  static cp::testing::FakePort port;
  static cp::MulticastGroups* groups = [] {
    cp::MulticastOptions o;
    o.network = "fuzz";
    return new cp::MulticastGroups(o, clock, port, std::make_unique<EchoDirectory>());
  }();
  shm::TableSpec spec;
  spec.local_vip = kHost;
  spec.local_prefix_len = 24;
  spec.service_ip = kService;
  shm::PeerEntry peer{};
  peer.flags = shm::kPeerValid;
  peer.vip = kHost + 1;
  spec.peers = {peer, peer};
  spec.peers[1].vip = kHost + 2;
  groups->FillTable(&spec);
  const std::vector<uint8_t> wrapped = Wrap(data, size);
  for (std::span<const uint8_t> f :
       {std::span<const uint8_t>(data, size), std::span<const uint8_t>(wrapped)}) {
    Check(f);
    groups->OnTapFrame(f);
  }
  clock.AdvanceMs(size % 7 == 0 ? 40'000 : 1'000);
  groups->Tick();
  spec.groups.clear();
  groups->FillTable(&spec);
  for (const shm::GroupEntry& e : spec.groups) {
    if (e.n_members > shm::kMaxGroupMembers || e.counter >= shm::kMaxGroups) __builtin_trap();
    for (uint32_t m = 0; m < e.n_members; ++m)
      if (e.members[m] >= spec.peers.size()) __builtin_trap();
  }
  for (uint32_t g : groups->joined())
    if (!igmp::IsMulticast(g) && g != igmp::kBroadcastGroup) __builtin_trap();
  if (groups->joined().size() > cp::kMaxJoinedGroups + 1) __builtin_trap();
  port.frames.clear();
  return 0;
}

// Helpers for in-memory dataplane tests: a node's shared region with real table generations
// published through TableWriter, its crypto state and counters; table entries with test keys;
// IPv4 packets; packet buffers laid out the way the worker's pool lays them out. Stages under
// test run on these exactly as the worker runs them, only without io_uring.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/crypto_state.h"
#include "dataplane/packet.h"
#include "shared/ether.h"
#include "shared/shm_region.h"
#include "shared/table.h"
#include "shared/wire.h"

namespace ipop::dp::test_nodes {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

struct Key {
  uint8_t key[32];
  uint8_t salt[4];
};
inline Key MakeKey(uint8_t seed) {
  Key k;
  for (int i = 0; i < 32; ++i) k.key[i] = uint8_t(seed + i);
  for (int i = 0; i < 4; ++i) k.salt[i] = uint8_t(seed ^ (0x50 + i));
  return k;
}

inline constexpr uint32_t kReady = shm::kPeerValid | shm::kPeerTxReady;

// A peer at underlay 127.0.0.<last octet of vip>:5800 with tx key `key`.
inline shm::PeerEntry Peer(uint32_t vip, uint32_t flags, uint32_t remote_index, uint64_t key_id,
                           const Key& key, uint64_t instance) {
  shm::PeerEntry p{};
  p.flags = flags;
  p.vip = vip;
  p.underlay_addr[10] = 0xff;
  p.underlay_addr[11] = 0xff;
  p.underlay_addr[12] = 127;
  p.underlay_addr[15] = uint8_t(vip);
  p.underlay_port = 5800;
  p.cipher = uint8_t(shm::Cipher::kAes256Gcm);
  p.tx_remote_index = remote_index;
  p.tx_key_id = key_id;
  p.dp_instance = instance;
  std::memcpy(p.tx_key, key.key, 32);
  std::memcpy(p.tx_salt, key.salt, 4);
  return p;
}

inline shm::SessionSpec Session(uint32_t index, uint32_t peer, uint64_t key_id, const Key& key) {
  shm::SessionSpec s{};
  s.receiver_index = index;
  s.entry.flags = shm::kSessionValid;
  s.entry.peer = peer;
  s.entry.key_id = key_id;
  std::memcpy(s.entry.rx_key, key.key, 32);
  std::memcpy(s.entry.rx_salt, key.salt, 4);
  s.entry.cipher = uint8_t(shm::Cipher::kAes256Gcm);
  return s;
}

// The header fields every test table sets: this node's VIP in a /24, the MTU, the gateway MAC.
inline shm::TableSpec NodeSpec(uint32_t vip, uint32_t mtu, const uint8_t (&gateway_mac)[6]) {
  shm::TableSpec s;
  s.local_vip = vip;
  s.local_prefix_len = 24;
  s.mtu = mtu;
  std::memcpy(s.gateway_mac, gateway_mac, 6);
  return s;
}

// One node's dataplane state: a region with its published generation, crypto and counters.
struct Node {
  explicit Node(const std::string& tag) {
    name = "/ipop-test-dp-" + tag + "-" + std::to_string(getpid());
    std::string error;
    shm::ShmRegion::Unlink(name);
    region = shm::ShmRegion::CreateOrAttach(name, 1, &error);
    EXPECT_TRUE(region) << error;
    writer = std::make_unique<shm::TableWriter>(*region);
  }
  ~Node() { shm::ShmRegion::Unlink(name); }

  void Publish(const shm::TableSpec& spec) {
    std::string error;
    ASSERT_TRUE(writer->Publish(spec, &error)) << error;
    gen = writer->Active();
    ASSERT_NE(gen, nullptr);
    crypto.Rescan(*gen, *counters);  // what the worker does on a table switch
  }
  uint64_t drop(DropReason r) const { return counters->drop[uint32_t(r)].load(); }
  uint64_t stat(Stat s) const { return counters->stat[uint32_t(s)].load(); }
  std::array<uint64_t, kNumDropReasons> drops() const {
    std::array<uint64_t, kNumDropReasons> out{};
    for (uint32_t i = 0; i < kNumDropReasons; ++i) out[i] = counters->drop[i].load();
    return out;
  }

  std::string name;
  std::unique_ptr<shm::ShmRegion> region;
  std::unique_ptr<shm::TableWriter> writer;
  const shm::Generation* gen = nullptr;
  CryptoState crypto;
  std::unique_ptr<shm::WorkerCounters> counters = std::make_unique<shm::WorkerCounters>();
};

// An IPv4/UDP packet with a valid header and a recognisable payload.
inline Bytes Ipv4Packet(uint32_t src, uint32_t dst, size_t payload_len, uint8_t fill = 0) {
  Bytes ip(20 + payload_len);
  ip[0] = 0x45;
  ether::StoreBe16(&ip[2], uint16_t(ip.size()));
  ip[8] = 64;
  ip[9] = 17;
  wire::StoreBe32(&ip[12], src);
  wire::StoreBe32(&ip[16], dst);
  for (size_t i = 20; i < ip.size(); ++i) ip[i] = uint8_t(fill + i * 7);
  return ip;
}

// Packet memory laid out the way the worker's pool does it: content at kIpOffset - 14.
class PacketBuffers {
 public:
  Packet* Add(const Bytes& content, uint32_t offset = kIpOffset - 14) {
    auto buf = std::make_unique<std::array<uint8_t, 2048>>();
    buf->fill(0xee);
    std::memcpy(buf->data() + offset, content.data(), content.size());
    auto p = std::make_unique<Packet>();
    p->data = buf->data() + offset;
    p->len = uint32_t(content.size());
    p->headroom = offset;
    p->tailroom = uint32_t(buf->size() - offset - content.size());
    p->buf = uint32_t(pkts_.size());
    bufs_.push_back(std::move(buf));
    pkts_.push_back(std::move(p));
    return pkts_.back().get();
  }
  std::vector<Packet*> All() {
    std::vector<Packet*> out;
    for (auto& p : pkts_) out.push_back(p.get());
    return out;
  }

 private:
  std::vector<std::unique_ptr<std::array<uint8_t, 2048>>> bufs_;
  std::vector<std::unique_ptr<Packet>> pkts_;
};

}  // namespace ipop::dp::test_nodes

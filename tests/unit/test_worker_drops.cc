// The drops only the worker counts (dataplane/worker_impl.h, uring_ports.cc), each provoked on a
// real io_uring Worker running its event loop on a thread: a Unix datagram socket pair stands in
// for the TAP (one datagram per frame, like a TAP queue), the underlay socket is bound to
// loopback, and the test plays the control plane through the shared region (inject ring, table
// generations) and the other worker through the handoff rings. Each drop must bump exactly its
// own counter.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/buffer_pool.h"
#include "dataplane/handoff.h"
#include "dataplane/udp_socket.h"
#include "dataplane/uring_ports.h"
#include "shared/counters.h"
#include "shared/endpoint.h"
#include "shared/ether.h"
#include "shared/shm_region.h"
#include "shared/table.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kMtu = 1400;

// A DATA datagram of `len` bytes (header + opaque body) for receiver index `index`.
Bytes Datagram(uint32_t index, size_t len) {
  Bytes d(len, 0x5a);
  wire::WriteHeader(d.data(), wire::PacketType::kData, index, 1);
  return d;
}

Bytes EthernetFrame(size_t len) {
  Bytes f(len, 0x33);
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 1}, src[6] = {0x02, 0, 0, 0, 0, 2};
  ether::WriteEthernetHeader(f.data(), dst, src, ether::kTypeIpv4);
  return f;
}

bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class WorkerDropsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "/ipop-test-worker-drops-" + std::to_string(getpid());
    shm::ShmRegion::Unlink(name_);
    std::string error;
    region_ = shm::ShmRegion::CreateOrAttach(name_, 2, &error);
    ASSERT_TRUE(region_) << error;
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, tap_), 0) << std::strerror(errno);
    udp_ = UdpSocket::Bind(*ParseEndpoint("127.0.0.1:0"), &error);
    ASSERT_TRUE(udp_) << error;
  }

  void TearDown() override {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    for (int fd : tap_)
      if (fd >= 0) close(fd);
    shm::ShmRegion::Unlink(name_);
  }

  // Runs worker 0 of 1 (of 2 with handoff rings) until TearDown.
  void Start(HandoffRings* handoff = nullptr) {
    WorkerOptions o;
    o.index = 0;
    o.n_workers = handoff != nullptr ? 2 : 1;
    o.handoff = handoff;
    o.mtu = kMtu;
    o.dp_instance = 0x5eed;
    o.idle_wait_ms = 5;
    o.allow_inject_wake = false;
    UringPortOptions po;
    po.tap_fd = tap_[0];
    po.udp = udp_.get();
    thread_ = std::thread([this, o, po] {
      UringWorker worker(*region_, o, po);  // Init must run on the thread that runs the loop
      std::string error;
      const bool ok = worker.Init(&error);
      init_error_ = error;
      init_.store(ok ? 1 : -1, std::memory_order_release);
      if (ok) worker.Run(stop_);
    });
    ASSERT_TRUE(WaitFor([this] { return init_.load(std::memory_order_acquire) != 0; }));
    ASSERT_EQ(init_.load(), 1) << init_error_;
  }

  shm::WorkerCounters& counters() { return region_->counters(0); }
  uint64_t drop(DropReason r) { return counters().drop[uint32_t(r)].load(); }
  uint64_t stat(Stat s) { return counters().stat[uint32_t(s)].load(); }
  std::array<uint64_t, kNumDropReasons> Drops() {
    std::array<uint64_t, kNumDropReasons> out{};
    for (uint32_t i = 0; i < kNumDropReasons; ++i) out[i] = counters().drop[i].load();
    return out;
  }

  // Waits for `reason` to move by `n` (at least `n` with `at_least`) and a few more loop turns,
  // then requires every other drop counter to be where it was.
  void ExpectOnlyDrop(const std::array<uint64_t, kNumDropReasons>& before, DropReason reason,
                      uint64_t n, bool at_least = false) {
    const uint32_t want = uint32_t(reason);
    EXPECT_TRUE(WaitFor([&] { return drop(reason) >= before[want] + n; }))
        << kDropReasonNames[want] << " stayed at " << drop(reason);
    const uint64_t turns = stat(Stat::loop_iterations);
    EXPECT_TRUE(WaitFor([&] { return stat(Stat::loop_iterations) >= turns + 3; }));
    const auto after = Drops();
    for (uint32_t r = 0; r < kNumDropReasons; ++r) {
      if (r == want && at_least)
        EXPECT_GE(after[r], before[r] + n) << "counter " << kDropReasonNames[r];
      else
        EXPECT_EQ(after[r], before[r] + (r == want ? n : 0)) << "counter " << kDropReasonNames[r];
    }
  }

  // The control plane's side of the inject ring.
  void Inject(shm::InjectKind kind, const Bytes& payload, const uint8_t addr[16] = nullptr,
              uint16_t port = 0) {
    SpscRingView ring = region_->ring(0, shm::kInjectRing);
    RingSlotHeader meta{};
    meta.kind = uint16_t(kind);
    meta.port = port;
    if (addr != nullptr) std::memcpy(meta.addr, addr, sizeof(meta.addr));
    ASSERT_TRUE(ring.TryPush(meta, payload));
  }

  // The next frame the worker wrote to the TAP (empty after 10 s).
  Bytes ReadTap() {
    pollfd p{tap_[1], POLLIN, 0};
    if (poll(&p, 1, 10'000) != 1) return {};
    Bytes f(4096);
    const ssize_t n = recv(tap_[1], f.data(), f.size(), 0);
    f.resize(n > 0 ? size_t(n) : 0);
    return f;
  }

  std::string name_;
  std::unique_ptr<shm::ShmRegion> region_;
  int tap_[2] = {-1, -1};  // [0] the worker's TAP, [1] the host's side
  std::unique_ptr<UdpSocket> udp_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> init_{0};
  std::string init_error_;
};

TEST_F(WorkerDropsTest, MalformedInjectEntryIsSkippedAndCounted) {
  Start();
  const auto before = Drops();
  Inject(shm::InjectKind(77), Bytes(60, 1));  // no such kind
  const Bytes frame = EthernetFrame(60);
  Inject(shm::InjectKind::kTapFrame, frame);  // the entry behind it still goes out
  ExpectOnlyDrop(before, DropReason::inject_bad_entry, 1);
  EXPECT_EQ(ReadTap(), frame);
  EXPECT_EQ(stat(Stat::injected), 1u);
}

TEST_F(WorkerDropsTest, CorruptInjectRingIsResetAndCounted) {
  Start();
  const auto before = Drops();
  auto* shared = reinterpret_cast<SpscRingShared*>(
      region_->base() + shm::RingOffset(region_->layout(), 0, shm::kInjectRing));
  shared->tail.store(shared->head.load() + shm::kRingSlots + 5);  // an impossible distance
  ExpectOnlyDrop(before, DropReason::ring_corrupt, 1);
  // Reset: the ring carries entries again.
  const Bytes frame = EthernetFrame(80);
  Inject(shm::InjectKind::kTapFrame, frame);
  EXPECT_EQ(ReadTap(), frame);
}

TEST_F(WorkerDropsTest, InvalidTableGenerationIsCountedAndNotAdopted) {
  shm::TableWriter writer(*region_);
  shm::TableSpec spec;
  spec.local_vip = 0x0a000001;
  std::string error;
  ASSERT_TRUE(writer.Publish(spec, &error)) << error;
  Start();
  ASSERT_TRUE(WaitFor([this] { return stat(Stat::table_switches) >= 1; }));
  const uint64_t switches = stat(Stat::table_switches);
  const auto before = Drops();
  // A corrupt control plane: `active` names a slot whose generation header disagrees.
  shm::RegionHeader& h = region_->header();
  const uint64_t active = h.active.load();
  const uint32_t slot = (shm::ActiveSlot(active) + 1) % shm::kNumGenerations;
  region_->generation(slot)->hdr.seq = 12345;
  h.active.store(shm::PackActive(shm::ActiveSeq(active) + 1, slot));
  // Judged once per burst that sees it change, and again after every idle wait (the reader
  // re-adopts when it goes online, table.cc): at least once.
  ExpectOnlyDrop(before, DropReason::table_invalid, 1, /*at_least=*/true);
  EXPECT_EQ(stat(Stat::table_switches), switches);
}

TEST_F(WorkerDropsTest, FailedTapWriteIsCounted) {
  Start();
  ASSERT_EQ(shutdown(tap_[1], SHUT_RD), 0);  // the TAP refuses writes (EPIPE)
  const auto before = Drops();
  Inject(shm::InjectKind::kTapFrame, EthernetFrame(60));
  ExpectOnlyDrop(before, DropReason::tap_write_failed, 1);
  EXPECT_EQ(stat(Stat::tap_tx_frames), 0u);
}

TEST_F(WorkerDropsTest, UnsendableUnderlayDatagramsAreCounted) {
  Start();
  std::string error;
  auto sink = UdpSocket::Bind(*ParseEndpoint("127.0.0.1:0"), &error);
  ASSERT_TRUE(sink) << error;
  const Endpoint to = *ParseEndpoint("127.0.0.1:" + std::to_string(sink->local_port()));
  // Refused before the kernel sees it: an IPv6 endpoint on the IPv4 underlay socket.
  const Endpoint v6 = *ParseEndpoint("[2001:db8::1]:5800");
  auto before = Drops();
  Inject(shm::InjectKind::kUnderlayDatagram, Datagram(0, 40), v6.addr, v6.port);
  ExpectOnlyDrop(before, DropReason::udp_send_failed, 1);
  // Refused by the kernel (the send completes with -EPIPE once the socket is shut for writing).
  ASSERT_EQ(shutdown(udp_->fd(), SHUT_WR) == 0 || errno == ENOTCONN, true);
  before = Drops();
  Inject(shm::InjectKind::kUnderlayDatagram, Datagram(0, 40), to.addr, to.port);
  ExpectOnlyDrop(before, DropReason::udp_send_failed, 1);
  EXPECT_EQ(stat(Stat::udp_tx_datagrams), 0u);
  uint8_t buf[64];
  EXPECT_LT(recv(sink->fd(), buf, sizeof(buf), MSG_DONTWAIT), 0) << "nothing reached the sink";
}

// Worker 0 of 2; worker 1 is not running, so what is handed to it stays in its ring.
TEST_F(WorkerDropsTest, DatagramTooBigForTheOwnersRingIsCounted) {
  HandoffRings rings(2, 64);
  Start(&rings);
  std::string error;
  auto peer = UdpSocket::Bind(*ParseEndpoint("127.0.0.1:0"), &error);
  ASSERT_TRUE(peer) << error;
  sockaddr_storage sa{};
  const Endpoint worker = *ParseEndpoint("127.0.0.1:" + std::to_string(udp_->local_port()));
  ASSERT_TRUE(peer->ToSockaddr(worker.addr, worker.port, &sa));
  const auto send = [&](const Bytes& d) {
    ASSERT_EQ(sendto(peer->fd(), d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&sa),
                     peer->sockaddr_len()),
              ssize_t(d.size()));
  };
  SpscRingView to_owner = rings.Ring(0, 1);
  // Receiver index 7 is worker 1's (session_owner.h): a datagram that fits is handed over...
  send(Datagram(7, 48));
  ASSERT_TRUE(WaitFor([&] { return stat(Stat::handoff_out) >= 1; }));
  EXPECT_EQ(to_owner.size_approx(), 1u);
  // ...one larger than a ring slot is dropped.
  const auto before = Drops();
  send(Datagram(7, 200));
  ExpectOnlyDrop(before, DropReason::handoff_failed, 1);
  EXPECT_EQ(to_owner.size_approx(), 1u);
  EXPECT_EQ(stat(Stat::handoff_out), 1u);
}

TEST_F(WorkerDropsTest, HandedOverDatagramTooBigForOurBuffersIsCounted) {
  const uint32_t stride = BufferStrideFor(kMtu);
  HandoffRings rings(2, stride + 64);  // slots larger than this worker's buffers
  Start(&rings);
  SpscRingView from_other = rings.Ring(1, 0);
  RingSlotHeader meta{};
  meta.worker = 1;
  const auto before = Drops();
  ASSERT_TRUE(from_other.TryPush(meta, Datagram(6, stride)));  // index 6: worker 0's
  rings.Notify(0);
  ExpectOnlyDrop(before, DropReason::handoff_failed, 1);
  EXPECT_EQ(from_other.size_approx(), 0u) << "the entry was taken off the ring";
  EXPECT_EQ(stat(Stat::handoff_in), 0u);
}

}  // namespace
}  // namespace ipop::dp

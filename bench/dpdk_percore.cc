// Per-core forwarding of the DPDK backend without the kernel: one Worker<DpdkPorts> (the
// dataplane's own worker, stages and ports, unchanged) on one EAL lcore, between two pairs of
// net_memif ports of this process. The main lcore is the traffic generator and the sink.
//
//   encap:  generator -> memif (host pair) -> worker: classify, lookup, seal, Ethernet/IPv4/UDP
//           -> memif (underlay pair) -> sink (checks every frame is a datagram of the length due)
//   decap:  generator (seals fresh datagrams for the worker's session, counters increasing, so
//           the replay window passes them) -> memif (underlay pair) -> worker: Ethernet/IPv4/UDP,
//           parse, session, replay, open, source check, deliver -> memif (host pair) -> sink
//
// Sizes are the inner IPv4 packet (what is sealed, as bench_crypto's sizes): --ip-len 64 makes
// 78-B inner frames and 138-B underlay frames. memif copies every frame in and out of its shared
// rings on the worker's core as well (a NIC's DMA would not), so the rates are those of the
// pipeline plus two copies per packet; --port ring joins the same ends through rte_rings
// (net_ring: mbuf pointers change hands, nothing is copied, as with a NIC's descriptor rings),
// which leaves the pipeline's own cost. --dir fwd runs a bare rx -> tx loop on the worker lcore
// instead of the worker: the ports' own cost per packet. Prints one line of key=value pairs
// (bench/dpdk_percore.sh takes medians of them); exits 1 when nothing or something wrong reached
// the sink.
//
// --workers N runs N workers (lcores 1..N, queue w of every port each) with the dataplane's
// shared nonce space and handoff rings: host frames are spread over the queues, the peer's
// datagrams all arrive on queue 0 (one UDP flow, as RSS would keep it) while the session belongs
// to worker 1, so each crosses a handoff ring; decap then fails unless handoffs happened.
//
// Usage: bench_dpdk_percore --dir encap|decap|fwd [--workers N] [--port memif|ring] [--ip-len N]
// [--seconds S]
//   [--warmup S] [--burst N] [--ring-log2 N] [--gen-cpu C] [--worker-cpu C] [--huge]
//   [--no-udp-csum]
#include <pthread.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/aead.h"
#include "dataplane/crypto_backend.h"
#include "dataplane/dpdk_ports.h"
#include "dataplane/handoff.h"
#include "dataplane/tx_nonce.h"
#include "shared/checksum.h"
#include "shared/ether.h"
#include "shared/shm_region.h"
#include "shared/table.h"
#include "shared/wire.h"

namespace {

using namespace ipop;
using namespace ipop::dp;

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

// The worker's node (A) and its one peer (B), whose traffic the generator plays.
constexpr uint32_t kVipA = Ip(10, 0, 0, 1);
constexpr uint32_t kVipB = Ip(10, 0, 0, 2);
constexpr uint32_t kUnderA = Ip(192, 0, 2, 1);
constexpr uint32_t kUnderB = Ip(192, 0, 2, 2);
constexpr uint16_t kUdpPort = 5800;
constexpr uint32_t kMtu = 1400;
constexpr uint32_t kIndexAtB = 7;  // B's receiver index for A's datagrams
constexpr uint32_t kIndexAtA = 5;  // A's receiver index for B's datagrams
constexpr uint64_t kInstance = 0x1b2c;
constexpr uint8_t kHostMac[6] = {0x02, 0, 0, 0, 0, 0x0a};  // the host behind A
constexpr uint8_t kGwMac[6] = {0x02, 0, 0, 0, 0xff, 0x0a};
constexpr uint8_t kMacB[6] = {0x02, 0xbb, 0, 0, 0, 2};
// Ring depth (log2, --ring-log2): on a shared machine the generator is descheduled for whole time
// slices, and the worker should find a backlog rather than spin on empty rings meanwhile (its CPU
// time is what the per-core figure divides by); deeper rings also spread the mbufs in flight over
// more memory than the caches hold. The pool holds every ring full at once and more.
constexpr uint32_t kMaxRingLog2 = 14;
constexpr uint16_t kMbufRoom = RTE_PKTMBUF_HEADROOM + 2048;

enum class Dir { kEncap, kDecap, kFwd };

struct Options {
  Dir dir = Dir::kEncap;
  bool memif = true;
  uint32_t ip_len = 64;
  double seconds = 2;
  double warmup = 0.5;
  uint32_t burst = 32;
  int gen_cpu = 0;
  int worker_cpu = 1;
  bool huge = false;
  // decap: the generator sets UDP checksums, which the worker verifies in software (memif has no
  // receive offload), as our own nodes send them; --no-udp-csum sends 0 ("none")
  bool udp_csum = true;
  uint32_t ring_log2 = kMaxRingLog2;
  uint32_t workers = 1;  // each on its own lcore and queue of every port
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench_dpdk_percore: %s\n", what.c_str());
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--dir") {
      const std::string d = value();
      if (d != "encap" && d != "decap" && d != "fwd") Die("--dir encap|decap|fwd");
      o.dir = d == "encap" ? Dir::kEncap : d == "decap" ? Dir::kDecap : Dir::kFwd;
    } else if (a == "--port") {
      const std::string d = value();
      if (d != "memif" && d != "ring") Die("--port memif|ring");
      o.memif = d == "memif";
    } else if (a == "--ip-len") {
      o.ip_len = uint32_t(std::stoul(value()));
    } else if (a == "--seconds") {
      o.seconds = std::stod(value());
    } else if (a == "--warmup") {
      o.warmup = std::stod(value());
    } else if (a == "--burst") {
      o.burst = uint32_t(std::stoul(value()));
    } else if (a == "--gen-cpu") {
      o.gen_cpu = std::stoi(value());
    } else if (a == "--worker-cpu") {
      o.worker_cpu = std::stoi(value());
    } else if (a == "--ring-log2") {
      o.ring_log2 = uint32_t(std::stoul(value()));
      if (o.ring_log2 < 8 || o.ring_log2 > kMaxRingLog2) Die("--ring-log2 must be 8..14");
    } else if (a == "--workers") {
      o.workers = uint32_t(std::stoul(value()));
      if (o.workers < 1 || o.workers > 4) Die("--workers must be 1..4");
    } else if (a == "--huge") {
      o.huge = true;
    } else if (a == "--no-udp-csum") {
      o.udp_csum = false;
    } else {
      Die("unknown argument " + a + " (see the usage at the top of bench/dpdk_percore.cc)");
    }
  }
  if (o.ip_len < 28 || o.ip_len > kMtu) Die("--ip-len must be 28.." + std::to_string(kMtu));
  if (o.burst == 0 || o.burst > 256) Die("--burst must be 1..256");
  return o;
}

// Two ports of this process joined back to back: `server` is the worker's side, `client` the
// generator's.
struct PortPair {
  uint16_t server = 0;
  uint16_t client = 0;
};

uint16_t PortByName(const std::string& name) {
  uint16_t id = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) Die("no ethdev " + name);
  return id;
}

// net_ring: the server receives what the client sends and the other way round.
PortPair RingPair(const std::string& name, uint32_t size, uint32_t queues) {
  rte_ring* a[4];
  rte_ring* b[4];
  for (uint32_t q = 0; q < queues; ++q) {
    const std::string n = name + std::to_string(q);
    a[q] = rte_ring_create((n + "_a").c_str(), size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    b[q] = rte_ring_create((n + "_b").c_str(), size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (a[q] == nullptr || b[q] == nullptr) Die("rings: " + std::string(rte_strerror(rte_errno)));
  }
  const int server = rte_eth_from_rings((name + "_s").c_str(), a, queues, b, queues, SOCKET_ID_ANY);
  const int client = rte_eth_from_rings((name + "_c").c_str(), b, queues, a, queues, SOCKET_ID_ANY);
  if (server < 0 || client < 0) Die("net_ring ports: " + std::string(rte_strerror(rte_errno)));
  return PortPair{uint16_t(server), uint16_t(client)};
}

void StartPort(uint16_t id, rte_mempool* pool, uint16_t queues) {
  rte_eth_conf conf{};
  bool ok = rte_eth_dev_configure(id, queues, queues, &conf) == 0;
  for (uint16_t q = 0; ok && q < queues; ++q)
    ok = rte_eth_rx_queue_setup(id, q, 1024, SOCKET_ID_ANY, nullptr, pool) == 0 &&
         rte_eth_tx_queue_setup(id, q, 1024, SOCKET_ID_ANY, nullptr) == 0;
  if (!ok || rte_eth_dev_start(id) != 0)
    Die("port " + std::to_string(id) + ": " + rte_strerror(rte_errno));
}

void WaitLinkUp(uint16_t id) {
  for (int i = 0; i < 500; ++i) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(id, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) return;
    rte_delay_ms(10);
  }
  Die("memif port " + std::to_string(id) + " did not connect within 5 s");
}

void Ipv4Header(uint8_t* ip, uint32_t total_len, uint8_t proto, uint32_t src, uint32_t dst) {
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  ether::StoreBe16(ip + 2, uint16_t(total_len));
  ip[8] = 64;
  ip[9] = proto;
  wire::StoreBe32(ip + 12, src);
  wire::StoreBe32(ip + 16, dst);
  RefreshIpv4Checksum(ip, 20);
}

// The inner IPv4/UDP packet B's host sends to A's (decap) or A's host to B's (encap).
std::vector<uint8_t> InnerPacket(uint32_t len, uint32_t src, uint32_t dst) {
  std::vector<uint8_t> ip(len);
  Ipv4Header(ip.data(), len, 17, src, dst);
  ether::StoreBe16(&ip[20], 4000);
  ether::StoreBe16(&ip[22], 4001);
  ether::StoreBe16(&ip[24], uint16_t(len - 20));
  for (uint32_t i = 28; i < len; ++i) ip[i] = uint8_t(i * 7);
  return ip;
}

shm::TableSpec Table() {
  shm::TableSpec s;
  s.local_vip = kVipA;
  s.local_prefix_len = 24;
  s.mtu = kMtu;
  s.dp_instance = kInstance;
  std::memcpy(s.gateway_mac, kGwMac, 6);
  shm::PeerEntry p{};
  p.flags = shm::kPeerValid | shm::kPeerTxReady;
  p.vip = kVipB;
  p.underlay_addr[10] = 0xff;
  p.underlay_addr[11] = 0xff;
  wire::StoreBe32(p.underlay_addr + 12, kUnderB);
  p.underlay_port = kUdpPort;
  p.cipher = uint8_t(shm::Cipher::kAes256Gcm);
  p.tx_remote_index = kIndexAtB;
  p.tx_key_id = 100;
  p.dp_instance = kInstance;
  for (int i = 0; i < 32; ++i) p.tx_key[i] = uint8_t(0x21 + i);
  std::memcpy(p.tx_salt, "\x71\x72\x73\x74", 4);
  s.peers = {p};
  shm::SessionSpec ss{};
  ss.receiver_index = kIndexAtA;
  ss.entry.flags = shm::kSessionValid;
  ss.entry.peer = 0;
  ss.entry.key_id = 200;
  for (int i = 0; i < 32; ++i) ss.entry.rx_key[i] = uint8_t(0x42 + i);
  std::memcpy(ss.entry.rx_salt, "\x12\x13\x14\x15", 4);
  ss.entry.cipher = uint8_t(shm::Cipher::kAes256Gcm);
  s.sessions = {ss};
  s.routes = {{kVipB, 32, 0}};
  return s;
}

// The worker, built, initialised and run on its lcore as the dataplane does (main.cc).
struct WorkerRun {
  shm::ShmRegion* region;
  WorkerOptions wopt;
  DpdkPortOptions popt;
  std::atomic<bool> stop{false};
  std::atomic<int> state{0};  // 1 ready, -1 failed
  std::string error;
  std::string describe;
  pthread_t thread{};
};

// --dir fwd: the ports alone, frames from the host pair passed to the underlay pair untouched.
int ForwardMain(void* arg) {
  WorkerRun& r = *static_cast<WorkerRun*>(arg);
  r.thread = pthread_self();
  r.describe = "bare rx -> tx loop, no pipeline";
  r.state.store(1);
  rte_mbuf* m[256];
  const uint16_t burst = uint16_t(r.wopt.burst);
  while (!r.stop.load(std::memory_order_relaxed)) {
    const uint16_t n = rte_eth_rx_burst(r.popt.host_port, 0, m, burst);
    if (n == 0) continue;
    const uint16_t sent = rte_eth_tx_burst(r.popt.underlay_port, 0, m, n);
    if (sent < n) rte_pktmbuf_free_bulk(m + sent, n - sent);
  }
  return 0;
}

int WorkerMain(void* arg) {
  WorkerRun& r = *static_cast<WorkerRun*>(arg);
  Worker<DpdkPorts> worker(*r.region, r.wopt, r.popt);
  if (!worker.Init(&r.error)) {
    r.state.store(-1);
    return 1;
  }
  r.describe = worker.describe_io();
  r.thread = pthread_self();
  r.state.store(1);
  worker.Run(r.stop);
  return 0;
}

// The generator's side of the decap direction: B's datagrams to A, sealed with the session key A
// opens with, each with the next counter.
class Sealer {
 public:
  Sealer(const shm::TableSpec& t, uint32_t ip_len, bool udp_csum, const uint8_t worker_mac[6],
         const uint8_t gen_mac[6])
      : inner_(InnerPacket(ip_len, kVipB, kVipA)), udp_csum_(udp_csum) {
    const shm::SessionEntry& s = t.sessions[0].entry;
    if (!aead_.Init(shm::Cipher::kAes256Gcm, s.rx_key, s.rx_salt, true))
      Die("AES-256-GCM context for the generator");
    frame_len_ = kUnderlayHeaders + uint32_t(wire::kHeaderSize) + ip_len + uint32_t(wire::kTagSize);
    headers_.resize(kUnderlayHeaders);
    ether::WriteEthernetHeader(headers_.data(), worker_mac, gen_mac, ether::kTypeIpv4);
    Ipv4Header(&headers_[14], frame_len_ - 14, 17, kUnderB, kUnderA);
    ether::StoreBe16(&headers_[34], kUdpPort);
    ether::StoreBe16(&headers_[36], kUdpPort);
    ether::StoreBe16(&headers_[38], uint16_t(frame_len_ - 34));
  }
  uint32_t frame_len() const { return frame_len_; }

  void Fill(uint8_t* f) {
    std::memcpy(f, headers_.data(), kUnderlayHeaders);
    uint8_t* header = f + kUnderlayHeaders;
    const uint64_t counter = ++counter_;
    wire::WriteHeader(header, wire::PacketType::kData, kIndexAtA, counter);
    uint8_t* ip = header + wire::kHeaderSize;
    const size_t n = inner_.size();
    std::memcpy(ip, inner_.data(), n);
    aead_.Seal(counter, {header, wire::kHeaderSize}, ip, n, ip, ip + n);
    if (udp_csum_) {  // as EncapUnderlay computes it in software
      uint8_t* udp = f + 34;
      const uint16_t udp_len = uint16_t(frame_len_ - 34);
      uint16_t c =
          uint16_t(~ChecksumFold(ChecksumAdd(PseudoHeaderSum(f + 14, 17, udp_len), udp, udp_len)));
      if (c == 0) c = 0xffff;
      std::memcpy(udp + 6, &c, 2);
    }
  }

 private:
  std::vector<uint8_t> inner_;
  std::vector<uint8_t> headers_;
  AeadContext aead_;
  uint64_t counter_ = 0;
  uint32_t frame_len_ = 0;
  bool udp_csum_;
};

// CPU time a thread has had: on a shared machine the worker's rate per CPU second is the per-core
// figure (what Google Benchmark's items_per_second for the raw seal is, too).
double ThreadCpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

uint64_t StatOf(const shm::WorkerCounters& c, ipop::Stat s) {
  return c.stat[uint32_t(s)].load();
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  const std::string tag = std::to_string(getpid());
  const std::string dir = "/tmp/ipop-percore-" + tag;
  // lcore 0: the generator; lcore 1 + w: worker w, the first on --worker-cpu, the others on the
  // CPUs after it (with 2 CPUs a second worker shares the generator's).
  const long cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  std::string lcores = "--lcores=0@" + std::to_string(o.gen_cpu);
  for (uint32_t w = 0; w < o.workers; ++w)
    lcores += "," + std::to_string(w + 1) + "@" + std::to_string((o.worker_cpu + w) % cpus);
  std::vector<std::string> args = {"bench_dpdk_percore",
                                   "--file-prefix=ipop-percore-" + tag,
                                   "--no-pci",
                                   "--no-shconf",
                                   "--no-telemetry",
                                   "--log-level=warning",
                                   lcores};
  if (o.huge) {
    args.push_back("--in-memory");
  } else {
    args.insert(args.end(), {"--no-huge", "-m", "1024"});
  }
  // Two pairs: the worker's host port and underlay port (servers), the generator's ends
  // (clients). The sockets are abstract: nothing to remove afterwards.
  const char* ends[4][2] = {{"net_memif_wh", "server"},
                            {"net_memif_gh", "client"},
                            {"net_memif_wu", "server"},
                            {"net_memif_gu", "client"}};
  for (int i = 0; i < 4 && o.memif; ++i) {
    const std::string sock = dir + (i < 2 ? "-h" : "-u");
    args.push_back(std::string("--vdev=") + ends[i][0] + ",role=" + ends[i][1] + ",id=0,socket=" +
                   sock + ",socket-abstract=yes,rsize=" + std::to_string(o.ring_log2));
  }
  std::vector<char*> argv_eal;
  for (auto& a : args) argv_eal.push_back(a.data());
  if (rte_eal_init(int(argv_eal.size()), argv_eal.data()) < 0)
    Die(std::string("EAL: ") + rte_strerror(rte_errno));
  const CryptoBackendSelection crypto = SelectCryptoBackend(CryptoBackend::kAuto);
  if (!crypto.ok) Die(crypto.error);

  rte_mempool* pool = rte_pktmbuf_pool_create("percore", (6u << o.ring_log2) - 1, 256, 0, kMbufRoom,
                                              int(rte_socket_id()));
  if (pool == nullptr) Die(std::string("mbuf pool: ") + rte_strerror(rte_errno));
  const PortPair host = o.memif ? PortPair{PortByName("net_memif_wh"), PortByName("net_memif_gh")}
                                : RingPair("host", 1u << o.ring_log2, o.workers);
  const PortPair under = o.memif ? PortPair{PortByName("net_memif_wu"), PortByName("net_memif_gu")}
                                 : RingPair("under", 1u << o.ring_log2, o.workers);
  for (uint16_t id : {host.server, host.client, under.server, under.client})
    StartPort(id, pool, uint16_t(o.workers));
  for (uint16_t id : {host.server, host.client, under.server, under.client}) WaitLinkUp(id);
  rte_ether_addr worker_ul_mac{}, gen_ul_mac{};
  rte_eth_macaddr_get(under.server, &worker_ul_mac);
  rte_eth_macaddr_get(under.client, &gen_ul_mac);

  // Node A's shared region with one published generation: peer B and B's session.
  const std::string shm_name = "/ipop-percore-" + tag;
  std::string error;
  shm::ShmRegion::Unlink(shm_name);
  std::unique_ptr<shm::ShmRegion> region =
      shm::ShmRegion::CreateOrAttach(shm_name, o.workers, &error);
  if (!region) Die("shared region: " + error);
  shm::TableWriter writer(*region);
  const shm::TableSpec table = Table();
  if (!writer.Publish(table, &error)) Die("table: " + error);

  DpdkShared shared;
  shared.neighbours.Learn(kUnderB, kMacB);  // B's MAC, as if ARP had run
  // As the dataplane runs several workers (main.cc): one nonce space for all, handoff rings that
  // take each session's datagrams to the worker owning it.
  TxNonceSpace nonces;
  std::unique_ptr<HandoffRings> handoff;
  if (o.workers > 1) handoff = std::make_unique<HandoffRings>(o.workers, kMtu + 24 + 16 + 16);
  std::vector<std::unique_ptr<WorkerRun>> runs;
  std::vector<unsigned> lcores_used;
  std::vector<clockid_t> worker_clocks;
  unsigned lcore = rte_get_next_lcore(-1, 1, 0);
  for (uint32_t w = 0; w < o.workers; ++w, lcore = rte_get_next_lcore(lcore, 1, 0)) {
    auto run = std::make_unique<WorkerRun>();
    run->region = region.get();
    run->wopt.index = w;
    run->wopt.n_workers = o.workers;
    run->wopt.nonces = &nonces;
    run->wopt.handoff = handoff.get();
    run->wopt.dp_instance = kInstance;
    run->wopt.burst = o.burst;
    run->wopt.mtu = kMtu;
    std::memcpy(run->wopt.host_mac, kHostMac, 6);
    run->popt.host_port = host.server;
    run->popt.underlay_port = under.server;
    run->popt.pool = pool;
    run->popt.underlay.ip = kUnderA;
    run->popt.underlay.prefix_len = 24;
    run->popt.underlay.port = kUdpPort;
    std::memcpy(run->popt.underlay.mac, worker_ul_mac.addr_bytes, 6);
    run->popt.shared = &shared;
    run->popt.describe = o.memif ? "memif underlay <-> memif host" : "ring underlay <-> ring host";
    if (lcore >= RTE_MAX_LCORE) Die("no lcore for worker " + std::to_string(w));
    if (rte_eal_remote_launch(o.dir == Dir::kFwd ? &ForwardMain : &WorkerMain, run.get(), lcore) !=
        0)
      Die("worker lcore busy");
    while (run->state.load() == 0) rte_delay_ms(1);
    if (run->state.load() < 0) Die("worker " + std::to_string(w) + ": " + run->error);
    clockid_t clock;
    if (pthread_getcpuclockid(run->thread, &clock) != 0) Die("the worker's CPU clock");
    worker_clocks.push_back(clock);
    lcores_used.push_back(lcore);
    runs.push_back(std::move(run));
  }
  auto workers_cpu = [&] {
    double sum = 0;
    for (clockid_t c : worker_clocks) sum += ThreadCpuSeconds(c);
    return sum;
  };
  double worker_cpu_at_measure = 0;

  // Traffic: what the generator sends and what the sink must see.
  const uint16_t gen_port = o.dir != Dir::kDecap ? host.client : under.client;
  const uint16_t sink_port = o.dir != Dir::kDecap ? under.client : host.client;
  std::vector<uint8_t> frame;
  std::unique_ptr<Sealer> sealer;
  uint32_t want_len = 0;
  if (o.dir != Dir::kDecap) {
    const std::vector<uint8_t> ip = InnerPacket(o.ip_len, kVipA, kVipB);
    frame.resize(14 + ip.size());
    ether::WriteEthernetHeader(frame.data(), kGwMac, kHostMac, ether::kTypeIpv4);
    std::memcpy(&frame[14], ip.data(), ip.size());
    want_len = o.dir == Dir::kFwd ? uint32_t(frame.size())
                                  : kUnderlayHeaders + uint32_t(wire::kHeaderSize) + o.ip_len +
                                        uint32_t(wire::kTagSize);
  } else {
    sealer = std::make_unique<Sealer>(table, o.ip_len, o.udp_csum, worker_ul_mac.addr_bytes,
                                      gen_ul_mac.addr_bytes);
    want_len = 14 + o.ip_len;
  }
  const uint32_t gen_len = o.dir != Dir::kDecap ? uint32_t(frame.size()) : sealer->frame_len();

  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t t_start = rte_rdtsc();
  const uint64_t t_measure = t_start + uint64_t(o.warmup * double(hz));
  const uint64_t t_end = t_measure + uint64_t(o.seconds * double(hz));
  uint64_t sent = 0, refused = 0, got = 0, bad = 0, bursts = 0;
  uint64_t sent_at_measure = 0, got_at_measure = 0, now = t_start;
  bool measuring = false;
  rte_mbuf* tx[256];
  rte_mbuf* rx[256];
  const uint32_t burst = o.burst;
  while (now < t_end) {
    if (rte_pktmbuf_alloc_bulk(pool, tx, burst) == 0) {
      for (uint32_t i = 0; i < burst; ++i) {
        uint8_t* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(tx[i], uint16_t(gen_len)));
        if (o.dir != Dir::kDecap) {
          std::memcpy(d, frame.data(), gen_len);
        } else {
          sealer->Fill(d);
        }
      }
      // Host frames are spread over the queues (as a multi-queue TAP or vhost port spreads
      // flows). One peer's datagrams are one UDP flow, which RSS keeps on one queue: all go to
      // queue 0, while the session belongs to worker kIndexAtA % workers (1 with 2 or 4
      // workers), so with several workers every datagram crosses a handoff ring to its owner.
      const uint16_t queue = o.dir == Dir::kDecap ? 0 : uint16_t(bursts++ % o.workers);
      const uint16_t n = rte_eth_tx_burst(gen_port, queue, tx, uint16_t(burst));
      sent += n;
      if (n < burst) {
        refused += burst - n;
        rte_pktmbuf_free_bulk(tx + n, burst - n);
      }
    }
    for (uint16_t queue = 0; queue < o.workers; ++queue) {
      const uint16_t n = rte_eth_rx_burst(sink_port, queue, rx, 256);
      for (uint16_t i = 0; i < n; ++i) {
        const uint8_t* d = rte_pktmbuf_mtod(rx[i], const uint8_t*);
        bool ok = rx[i]->pkt_len == want_len;
        if (o.dir == Dir::kEncap) {  // a UDP datagram to the overlay port
          ok = ok && d[23] == 17 && ether::LoadBe16(d + 36) == kUdpPort;
        } else if (o.dir == Dir::kDecap) {  // an inner frame to the host, for A's address
          ok = ok && std::memcmp(d, kHostMac, 6) == 0 && wire::LoadBe32(d + 14 + 16) == kVipA;
        } else {  // the generator's frame as it was
          ok = ok && wire::LoadBe32(d + 14 + 16) == kVipB;
        }
        bad += ok ? 0 : 1;
      }
      got += n;
      if (n > 0) rte_pktmbuf_free_bulk(rx, n);
    }
    now = rte_rdtsc();
    if (!measuring && now >= t_measure) {
      measuring = true;
      sent_at_measure = sent;
      got_at_measure = got;
      worker_cpu_at_measure = workers_cpu();
    }
  }
  const double secs = double(now - t_measure) / double(hz);
  const double worker_cpu = workers_cpu() - worker_cpu_at_measure;
  const uint64_t forwarded = got - got_at_measure;
  const uint64_t offered = sent - sent_at_measure;
  // Let the backlog through (until the sink has seen nothing for 100 ms, at most 3 s), then stop
  // the workers and read their counters.
  for (uint64_t quiet_from = rte_rdtsc(), give_up = quiet_from + 3 * hz;
       rte_rdtsc() - quiet_from < hz / 10 && rte_rdtsc() < give_up;) {
    for (uint16_t queue = 0; queue < o.workers; ++queue) {
      for (uint16_t n; (n = rte_eth_rx_burst(sink_port, queue, rx, 256)) > 0;) {
        got += n;
        rte_pktmbuf_free_bulk(rx, n);
        quiet_from = rte_rdtsc();
      }
    }
  }
  for (auto& run : runs) run->stop.store(true);
  for (unsigned l : lcores_used) rte_eal_wait_lcore(l);
  // The workers' counters, summed.
  uint64_t drop_by[kNumDropReasons] = {};
  uint64_t drops = 0, udp_tx = 0, tap_tx = 0, handoff_in = 0, handoff_out = 0;
  for (uint32_t w = 0; w < o.workers; ++w) {
    const shm::WorkerCounters& c = region->counters(w);
    for (uint32_t i = 0; i < kNumDropReasons; ++i) {
      drop_by[i] += c.drop[i].load();
      drops += c.drop[i].load();
    }
    udp_tx += StatOf(c, ipop::Stat::udp_tx_datagrams);
    tap_tx += StatOf(c, ipop::Stat::tap_tx_frames);
    handoff_in += StatOf(c, ipop::Stat::handoff_in);
    handoff_out += StatOf(c, ipop::Stat::handoff_out);
  }
  const double mpps = double(forwarded) / secs / 1e6;
  std::printf(
      "dir=%s port=%s workers=%u ip_len=%u burst=%u seconds=%.2f mpps=%.3f gbit=%.3f "
      "worker_cpu_share=%.2f "
      "mpps_per_cpu=%.3f offered_mpps=%.3f "
      "gen_refused=%lu sent=%lu got=%lu bad=%lu worker_drops=%lu udp_tx=%lu tap_tx=%lu "
      "handoff_in=%lu handoff_out=%lu crypto=\"%s\"\n",
      o.dir == Dir::kEncap   ? "encap"
      : o.dir == Dir::kDecap ? "decap"
                             : "fwd",
      o.memif ? "memif" : "ring", o.workers, o.ip_len, o.burst, secs, mpps,
      mpps * o.ip_len * 8 / 1e3, worker_cpu / secs,
      worker_cpu > 0 ? double(forwarded) / worker_cpu / 1e6 : 0.0, double(offered) / secs / 1e6,
      (unsigned long)refused, (unsigned long)sent, (unsigned long)got, (unsigned long)bad,
      (unsigned long)drops, (unsigned long)udp_tx, (unsigned long)tap_tx, (unsigned long)handoff_in,
      (unsigned long)handoff_out, crypto.summary.c_str());
  for (auto& run : runs) std::fprintf(stderr, "%s\n", run->describe.c_str());
  for (uint32_t i = 0; i < kNumDropReasons; ++i)
    if (drop_by[i] > 0)
      std::fprintf(stderr, "worker drop %s: %lu\n", kDropReasonNames[i], (unsigned long)drop_by[i]);
  for (uint16_t id : {host.server, host.client, under.server, under.client}) {
    rte_eth_dev_stop(id);
    rte_eth_dev_close(id);
  }
  region.reset();
  shm::ShmRegion::Unlink(shm_name);
  // The EAL makes its runtime directory even with --no-shconf and leaves it behind.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  rmdir(runtime_dir.c_str());
  // The correctness check the smoke test relies on: traffic went through, all of it well formed.
  if (forwarded == 0 || bad > 0) {
    std::fprintf(stderr, "bench_dpdk_percore: %lu frames forwarded, %lu malformed\n",
                 (unsigned long)forwarded, (unsigned long)bad);
    return 1;
  }
  // Several workers, decap: the generator spreads one session's datagrams over every queue, so
  // the workers that do not own the session must have handed theirs to the owner (per-session
  // ownership keeps one replay window per session). A few may still be in a ring if the drain
  // above gave up.
  if (o.workers > 1 && o.dir == Dir::kDecap && (handoff_in == 0 || handoff_in > handoff_out)) {
    std::fprintf(stderr, "bench_dpdk_percore: %u workers, handoff_out %lu, handoff_in %lu\n",
                 o.workers, (unsigned long)handoff_out, (unsigned long)handoff_in);
    return 1;
  }
  return 0;
}

// ipop-dataplane: owns the packet-facing resources and forwards between them with the tables the
// control plane publishes in shared memory. Start-up order: config -> ports (dataplane.backend:
// io_uring, a TAP and a UDP socket; dpdk, EAL and ethdev ports, docs/dpdk.md) -> attach the
// region (created by the control plane; waited for) -> announce this instance -> run the workers
// until SIGTERM/SIGINT. The dataplane never depends on the control plane staying alive: without
// it, it keeps forwarding on the last published generation.
//
// Environment (testing / comparison only): IPOP_DP_NO_READ_MULTISHOT=1 forces the single-shot
// TAP read path; IPOP_DP_NO_UDP_GSO=1 sends every datagram with its own sendmsg;
// IPOP_DP_NO_UDP_GRO=1 receives one datagram per completion; IPOP_DP_NO_TAP_OFFLOAD=1 opens the TAP
// without virtio-net header (no TSO, no coalescing); IPOP_DP_PIN_CPUS=1 pins worker w to the w-th
// CPU of the process's affinity set (round robin); IPOP_DP_NO_STEERING=1 leaves the kernel's
// 4-tuple hash to spread datagrams over the workers (the handoff rings then carry more);
// IPOP_DP_MISSTEER=1 (tests) steers every DATA datagram to the worker after its owner, so all
// of them cross a handoff ring.
//
// node.workers = N > 1: a multi-queue TAP (one queue per worker), N SO_REUSEPORT sockets on the
// listen port with a steering program (reuseport_steering.h), one thread per worker, one nonce
// space per peer shared by all (tx_nonce.h), handoff rings between workers (handoff.h). Punt rings
// are per worker (the control plane drains all); the control plane injects through worker 0.
// With DPDK each worker runs on an EAL lcore and has one queue of each port; the handoff rings and
// the nonce space are the same.
#include <pthread.h>
#include <sched.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/crypto_backend.h"
#if IPOP_HAVE_DPDK
#include "dataplane/dpdk_ports.h"
#include "dataplane/dpdk_setup.h"
#endif
#include "dataplane/firewall.h"
#include "dataplane/handoff.h"
#include "dataplane/reuseport_steering.h"
#include "dataplane/tap_device.h"
#include "dataplane/tx_nonce.h"
#include "dataplane/udp_socket.h"
#include "dataplane/uring_ports.h"
#include "shared/config.h"
#include "shared/shm_region.h"
#include "shared/worker_wake.h"

namespace {

std::atomic<bool> g_stop{false};
// While the workers run: their WorkerStates, so a stop signal ends their blocking waits at once
// (the signal itself interrupts only the thread it is delivered to).
std::atomic<ipop::shm::WorkerState*> g_wake_states{nullptr};
std::atomic<uint32_t> g_wake_count{0};

// Async-signal-safe: atomics and the futex wake only.
void WakePublishedWorkers() {
  ipop::shm::WorkerState* states = g_wake_states.load(std::memory_order_acquire);
  const uint32_t n = g_wake_count.load(std::memory_order_relaxed);
  for (uint32_t w = 0; states != nullptr && w < n; ++w) ipop::shm::WakeWorker(states[w]);
}

extern "C" void OnStopSignal(int) {
  g_stop.store(true, std::memory_order_relaxed);
  WakePublishedWorkers();
}

int Fatal(const std::string& message) {
  std::fprintf(stderr, "ipop-dataplane: fatal: %s\n", message.c_str());
  return 1;
}

void InstallSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking io_uring wait must return to see the flag
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// A random non-zero instance id: peers keyed for an earlier instance are never used to seal, so
// a restarted dataplane cannot reuse a (key, counter) pair.
bool RandomInstance(uint64_t* out) {
  for (int tries = 0; tries < 8; ++tries) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != ssize_t(sizeof(v))) return false;
    if (v != 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

std::unique_ptr<ipop::shm::ShmRegion> AttachRegion(const ipop::NodeConfig& cfg, std::string* error,
                                                   bool* refused) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.dp_attach_timeout_ms);
  for (;;) {
    auto region = ipop::shm::ShmRegion::Attach(cfg.shm_name, error, refused);
    if (region) return region;
    // An object another user planted does not go away by waiting.
    if (*refused || g_stop.load() || std::chrono::steady_clock::now() >= deadline) return nullptr;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Overlay bytes around each inner packet on the underlay: IP + UDP + wire header + AEAD tag.
uint32_t UnderlayOverhead(const ipop::Endpoint& listen) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const bool v4 = std::memcmp(listen.addr, kMappedPrefix, sizeof(kMappedPrefix)) == 0;
  return (v4 ? 20u : 40u) + 8u + 16u + 16u;
}

bool EnvIs1(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// The w-th CPU of this process's affinity set, round robin; -1 if it cannot be read.
int CpuForWorker(uint32_t w) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
  const int n = CPU_COUNT(&set);
  if (n <= 0) return -1;
  int want = int(w % uint32_t(n));
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (want-- == 0) return cpu;
  }
  return -1;
}

// One worker thread: the worker is built and initialised on it (io_uring rings are single-issuer,
// DPDK queues belong to their lcore), then waits until main has announced the instance, then
// runs. The thread is a std::thread, or with `lcore` set an EAL lcore.
inline constexpr unsigned kNoLcore = ~0u;

template <typename Ports>
class WorkerThread {
 public:
  enum State : int { kStarting, kReady, kFailed };

  WorkerThread(ipop::shm::ShmRegion& region, const ipop::dp::WorkerOptions& options,
               const typename Ports::Options& ports, int cpu, unsigned lcore = kNoLcore)
      : region_(region), options_(options), ports_(ports), cpu_(cpu), lcore_(lcore) {
    if (lcore_ == kNoLcore) {
      thread_ = std::thread([this] { Main(); });
      return;
    }
#if IPOP_HAVE_DPDK
    std::string error;
    if (!ipop::dp::LaunchOnLcore(lcore_, &Trampoline, this, &error)) {
      error_ = "worker " + std::to_string(options.index) + ": " + error;
      lcore_ = kNoLcore;
      state_.store(kFailed, std::memory_order_release);
    }
#endif
  }
  ~WorkerThread() {
    if (thread_.joinable()) thread_.join();
#if IPOP_HAVE_DPDK
    if (lcore_ != kNoLcore) ipop::dp::WaitLcore(lcore_);
#endif
  }

  // Blocks until Init finished; false + *error if it failed.
  bool WaitReady(std::string* error) {
    while (state_.load(std::memory_order_acquire) == kStarting)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (state_.load() == kFailed) *error = error_;
    return state_.load() == kReady;
  }
  const std::string& describe() const {
    return describe_;
  }
  void Go() {
    go_.store(true, std::memory_order_release);
  }

 private:
  static int Trampoline(void* self) {
    static_cast<WorkerThread*>(self)->Main();
    return 0;
  }
  void Main() {
    std::string pin;
    if (cpu_ >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu_, &set);
      pin = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0
                ? ", pinned to cpu " + std::to_string(cpu_)
                : ", pinning to cpu " + std::to_string(cpu_) + " failed";
    }
    ipop::dp::Worker<Ports> worker(region_, options_, ports_);
    std::string error;
    if (!worker.Init(&error)) {
      error_ = "worker " + std::to_string(options_.index) + ": " + error;
      state_.store(kFailed, std::memory_order_release);
      return;
    }
    describe_ = worker.describe_io() + pin;
    state_.store(kReady, std::memory_order_release);
    while (!go_.load(std::memory_order_acquire)) {
      if (g_stop.load()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    worker.Run(g_stop);
  }

  ipop::shm::ShmRegion& region_;
  const ipop::dp::WorkerOptions options_;
  const typename Ports::Options ports_;
  const int cpu_;
  unsigned lcore_;
  std::atomic<int> state_{kStarting};
  std::atomic<bool> go_{false};
  std::string error_;
  std::string describe_;
  std::thread thread_;
};

// What every backend does once its ports exist: attach the region, start one worker per element
// of `ports` (each initialised on its own thread), announce this dataplane instance, run until
// stopped. `where` (the host side) and `summary` go into the start-up line; `lcores` (DPDK)
// names the thread of each worker.
template <typename Ports>
int RunWorkers(const ipop::NodeConfig& cfg, ipop::dp::WorkerOptions wopt,
               const std::vector<typename Ports::Options>& ports, const std::string& where,
               const std::string& summary, const ipop::Endpoint& listen, bool pin,
               const std::vector<unsigned>& lcores = {}) {
  const uint32_t n_workers = cfg.workers;
  std::string error;
  bool refused = false;
  auto region = AttachRegion(cfg, &error, &refused);
  if (!region) {
    if (refused) return Fatal(error);
    if (g_stop.load()) return 0;
    return Fatal("shared region " + cfg.shm_name + " not available after " +
                 std::to_string(cfg.dp_attach_timeout_ms) +
                 " ms (is ipop-controlplane running for this node?): " + error);
  }
  if (region->layout().n_workers < cfg.workers) {
    return Fatal("shared region " + cfg.shm_name + " was created for " +
                 std::to_string(region->layout().n_workers) + " workers, node.workers is " +
                 std::to_string(cfg.workers));
  }
  ipop::shm::RegionHeader& hdr = region->header();
  const int32_t other = hdr.dp_pid.load();
  if (other != 0 && other != getpid() && kill(other, 0) == 0) {
    return Fatal("another dataplane (pid " + std::to_string(other) + ") is attached to " +
                 cfg.shm_name);
  }
  uint64_t instance = 0;
  if (!RandomInstance(&instance)) return Fatal(std::string("getrandom: ") + std::strerror(errno));

  // Shared by the workers, outlive them (the threads are joined before these go).
  ipop::dp::TxNonceSpace nonces;
  std::unique_ptr<ipop::dp::HandoffRings> handoff;
  // A handed-over datagram is at most a RELAY header + DATA header + MTU + tag.
  if (n_workers > 1)
    handoff = std::make_unique<ipop::dp::HandoffRings>(n_workers, cfg.mtu + 24 + 16 + 16);
  // Connection tables, each keyed with its own random seed (firewall.h).
  std::vector<uint64_t> flow_seeds(n_workers);
  if (getrandom(flow_seeds.data(), n_workers * sizeof(uint64_t), 0) !=
      ssize_t(n_workers * sizeof(uint64_t)))
    return Fatal(std::string("getrandom: ") + std::strerror(errno));
  ipop::dp::FlowTables flow_tables(n_workers, ipop::dp::kFwFlowSetsLog2, flow_seeds.data());
  wopt.flow_tables = &flow_tables;
  wopt.n_workers = n_workers;
  wopt.nonces = &nonces;
  wopt.handoff = handoff.get();
  wopt.burst = cfg.dp_burst;
  wopt.spin_us = cfg.dp_spin_us;
  wopt.idle_wait_ms = cfg.dp_idle_wait_ms;
  wopt.mtu = cfg.mtu;
  wopt.dp_instance = instance;
  std::vector<std::unique_ptr<WorkerThread<Ports>>> workers;
  for (uint32_t w = 0; w < n_workers; ++w) {
    ipop::dp::WorkerOptions o = wopt;
    o.index = w;
    workers.push_back(
        std::make_unique<WorkerThread<Ports>>(*region, o, ports[w], pin ? CpuForWorker(w) : -1,
                                              w < lcores.size() ? lcores[w] : kNoLcore));
    if (!workers.back()->WaitReady(&error)) {
      g_stop.store(true);  // the ones already waiting return; the destructors join them
      return Fatal(error);
    }
  }

  // A dataplane that crashed (possibly with more workers) may have left worker slots claiming
  // old generations; they would block the control plane's slot reclamation until it times out.
  for (uint32_t w = 0; w < ipop::shm::kMaxWorkers; ++w) {
    hdr.workers[w].quiescent_seq.store(ipop::shm::kOffline, std::memory_order_release);
    ipop::shm::Awake(hdr.workers[w]);  // or `sleeping` set: every inject would pay a futex wake
  }
  hdr.dp_instance.store(instance, std::memory_order_release);
  hdr.dp_pid.store(getpid(), std::memory_order_release);
  hdr.dp_workers_running.store(n_workers, std::memory_order_release);
  std::fprintf(stderr,
               "ipop-dataplane: %s on %s (mtu %u), underlay %s, region %s, instance %016llx, "
               "%u worker(s), %s\n",
               cfg.name.c_str(), where.c_str(), cfg.mtu, listen.ToString().c_str(),
               cfg.shm_name.c_str(), static_cast<unsigned long long>(instance), n_workers,
               summary.c_str());
  for (const auto& w : workers) std::fprintf(stderr, "ipop-dataplane: %s\n", w->describe().c_str());
  g_wake_count.store(n_workers, std::memory_order_relaxed);
  g_wake_states.store(hdr.workers, std::memory_order_release);
  if (g_stop.load()) WakePublishedWorkers();  // a signal that came before the states were published
  for (const auto& w : workers) w->Go();
  workers.clear();  // joins: each returns once g_stop is set
  g_wake_states.store(nullptr, std::memory_order_release);

  hdr.dp_workers_running.store(0, std::memory_order_release);
  hdr.dp_instance.store(0, std::memory_order_release);
  hdr.dp_pid.store(0, std::memory_order_release);
  std::fprintf(stderr, "ipop-dataplane: stopped\n");
  return 0;
}

// io_uring: a (multi-queue) TAP and one SO_REUSEPORT UDP socket per worker.
int RunUring(const ipop::NodeConfig& cfg) {
  const uint32_t n_workers = cfg.workers;
  std::string error;
  ipop::dp::TapOptions tap_options;
  tap_options.name = cfg.tap;
  tap_options.mtu = cfg.mtu;
  const char* no_offload = std::getenv("IPOP_DP_NO_TAP_OFFLOAD");
  tap_options.vnet_hdr = no_offload == nullptr || std::strcmp(no_offload, "1") != 0;
  tap_options.tso = tap_options.vnet_hdr;
  tap_options.multi_queue = n_workers > 1;
  auto tap = ipop::dp::TapDevice::Open(tap_options, &error);
  if (!tap) return Fatal(error);
  while (tap->n_queues() < n_workers) {
    if (tap->AddQueue(&error) < 0) return Fatal(error);
  }
  // Socket w is the w-th of the reuseport group, as the steering program assumes.
  std::vector<std::unique_ptr<ipop::dp::UdpSocket>> udp;
  ipop::Endpoint listen = cfg.listen;
  for (uint32_t w = 0; w < n_workers; ++w) {
    udp.push_back(ipop::dp::UdpSocket::Bind(listen, &error, n_workers > 1));
    if (!udp.back()) return Fatal(error);
    if (listen.port == 0) listen.port = udp.back()->local_port();  // the others join its port
  }
  std::string steering = "no steering (1 worker)";
  if (n_workers > 1) {
    steering = EnvIs1("IPOP_DP_MISSTEER") ? "datagrams steered to the worker after their owner "
                                            "(IPOP_DP_MISSTEER)"
                                          : "datagrams steered to session owners";
    if (EnvIs1("IPOP_DP_NO_STEERING")) {
      steering = "steering off (IPOP_DP_NO_STEERING), 4-tuple hash + handoff";
    } else if (!ipop::dp::AttachReuseportSteering(udp[0]->fd(), n_workers, &error,
                                                  EnvIs1("IPOP_DP_MISSTEER") ? 1 : 0)) {
      steering = "steering unavailable (" + error + "), 4-tuple hash + handoff";
    }
  }

  ipop::dp::WorkerOptions wopt;
  std::memcpy(wopt.host_mac, tap->mac(), sizeof(wopt.host_mac));
  wopt.allow_inject_wake = !EnvIs1("IPOP_DP_NO_INJECT_WAKE");
  ipop::dp::UringPortOptions popt;
  popt.tap_vnet_hdr = tap->vnet_hdr();
  popt.tap_tso = tap->tso();
  const bool gro = !EnvIs1("IPOP_DP_NO_UDP_GRO");
  const char* no_mshot = std::getenv("IPOP_DP_NO_READ_MULTISHOT");
  popt.allow_read_multishot = no_mshot == nullptr || std::strcmp(no_mshot, "1") != 0;
  const char* no_gso = std::getenv("IPOP_DP_NO_UDP_GSO");
  popt.allow_udp_gso = no_gso == nullptr || std::strcmp(no_gso, "1") != 0;
  popt.udp_send_zc = EnvIs1("IPOP_DP_UDP_SEND_ZC");
  std::vector<ipop::dp::UringPortOptions> ports;
  for (uint32_t w = 0; w < n_workers; ++w) {
    ipop::dp::UringPortOptions po = popt;
    po.tap_fd = tap->queue_fd(w);
    po.udp = udp[w].get();
    po.udp_gro = gro && udp[w]->EnableGro();
    ports.push_back(po);
  }
  return RunWorkers<ipop::dp::UringPorts>(cfg, wopt, ports, tap->name(), steering, listen,
                                          EnvIs1("IPOP_DP_PIN_CPUS"));
}

#if IPOP_HAVE_DPDK
// DPDK: EAL, the ports, one queue of each per worker on its own lcore (dpdk_setup.h).
int RunDpdk(const ipop::NodeConfig& cfg) {
  ipop::dp::DpdkEnv env;
  std::string error;
  const bool ok = ipop::dp::StartDpdk(cfg, &env, &error);
  for (const std::string& line : env.lines)
    std::fprintf(stderr, "ipop-dataplane: dpdk: %s\n", line.c_str());
  if (!ok) {
    ipop::dp::StopDpdk(&env);
    return Fatal(error);
  }
  ipop::dp::DpdkShared shared;
  ipop::dp::WorkerOptions wopt;
  std::memcpy(wopt.host_mac, env.host_is_vhost ? ipop::ether::kBroadcastMac : env.host_mac,
              sizeof(wopt.host_mac));
  wopt.allow_inject_wake = !EnvIs1("IPOP_DP_NO_INJECT_WAKE");
  const uint8_t* a = cfg.listen.addr;
  ipop::dp::DpdkPortOptions popt;
  popt.host_port = env.host.id;
  popt.underlay_port = env.underlay.id;
  popt.pool = env.pool;
  popt.underlay.ip = uint32_t(a[12]) << 24 | uint32_t(a[13]) << 16 | uint32_t(a[14]) << 8 | a[15];
  popt.underlay.prefix_len = cfg.dp_underlay_prefix;
  popt.underlay.gateway = cfg.dp_underlay_gateway;
  popt.underlay.port = cfg.listen.port;
  std::memcpy(popt.underlay.mac, env.underlay.mac, 6);
  popt.udp_csum_offload = env.udp_csum_offload && !EnvIs1("IPOP_DP_NO_CSUM_OFFLOAD");
  popt.learn_host_mac = env.host_is_vhost;
  popt.poll_us = cfg.dp_idle_poll_us;
  popt.shared = &shared;
  popt.describe =
      env.underlay.name + " <-> " +
      (env.host.id == ipop::dp::dpdk::kNoPort ? std::string("(headless)") : env.host.name);
  std::vector<ipop::dp::DpdkPortOptions> ports;
  for (uint32_t w = 0; w < cfg.workers; ++w) {
    ipop::dp::DpdkPortOptions po = popt;
    if (w == 0) po.exception_port = env.exception.id;  // worker 0 serves the kernel's port
    ports.push_back(po);
  }
  const std::string where =
      env.host.id == ipop::dp::dpdk::kNoPort ? "no host port (headless)" : env.host.name;
  const int rc = RunWorkers<ipop::dp::DpdkPorts>(cfg, wopt, ports, where,
                                                 "DPDK, underlay port " + env.underlay.name,
                                                 cfg.listen, false, env.worker_lcores);
  ipop::dp::StopDpdk(&env);
  return rc;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const ipop::ConfigResult parsed = ipop::ParseConfig(argc, argv);
  if (!parsed.help.empty()) {
    std::printf("%s", parsed.help.c_str());
    return 0;
  }
  if (!parsed.config) return Fatal(parsed.error);
  const ipop::NodeConfig& cfg = *parsed.config;
  // Before any worker keys a context: AeadContext::Init() reads the choice.
  const ipop::dp::CryptoBackendSelection crypto = ipop::dp::SelectCryptoBackend(cfg.crypto_backend);
  if (!crypto.ok) return Fatal(crypto.error);
  std::fprintf(stderr, "ipop-dataplane: crypto %s\n", crypto.summary.c_str());
  InstallSignals();
  // Not fatal: jumbo-frame underlays exist. On a 1500-byte underlay the datagrams would be
  // fragmented by the underlay IP layer (the socket allows it), which costs throughput.
  if (const uint32_t overhead = UnderlayOverhead(cfg.listen); cfg.mtu + overhead > 1500) {
    std::fprintf(stderr,
                 "ipop-dataplane: warning: node.mtu %u + %u bytes of overlay headers exceeds a "
                 "1500-byte underlay MTU; use node.mtu <= %u unless the underlay has jumbo "
                 "frames\n",
                 cfg.mtu, overhead, 1500 - overhead);
  }

  switch (cfg.dp_backend) {
    case ipop::DataplaneBackend::kIoUring:
      return RunUring(cfg);
    case ipop::DataplaneBackend::kDpdk:
#if IPOP_HAVE_DPDK
      return RunDpdk(cfg);
#else
      return Fatal(
          "dataplane.backend = dpdk, but this ipop-dataplane was built without DPDK "
          "(install libdpdk-dev and reconfigure with meson -Ddpdk=enabled)");
#endif
  }
  return Fatal("unknown dataplane.backend");
}

// ipop-dataplane: owns the TAP and the underlay UDP socket, forwards between them with the
// tables the control plane publishes in shared memory. Start-up order: config -> TAP -> socket
// -> attach the region (created by the control plane; waited for) -> announce this instance ->
// run the worker until SIGTERM/SIGINT. The dataplane never depends on the control plane staying
// alive: without it, it keeps forwarding on the last published generation.
//
// Environment (testing / comparison only): IPOP_DP_NO_READ_MULTISHOT=1 forces the single-shot
// TAP read path; IPOP_DP_NO_UDP_GSO=1 sends every datagram with its own sendmsg;
// IPOP_DP_NO_UDP_GRO=1 receives one datagram per completion; IPOP_DP_NO_TAP_OFFLOAD=1 opens the TAP
// without virtio-net header (no TSO, no coalescing).
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

#include "dataplane/crypto_backend.h"
#include "dataplane/tap_device.h"
#include "dataplane/udp_socket.h"
#include "dataplane/worker.h"
#include "shared/config.h"
#include "shared/shm_region.h"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int) {
  g_stop.store(true, std::memory_order_relaxed);
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

std::unique_ptr<ipop::shm::ShmRegion> AttachRegion(const ipop::NodeConfig& cfg,
                                                   std::string* error) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.dp_attach_timeout_ms);
  for (;;) {
    auto region = ipop::shm::ShmRegion::Attach(cfg.shm_name, error);
    if (region) return region;
    if (g_stop.load() || std::chrono::steady_clock::now() >= deadline) return nullptr;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Overlay bytes around each inner packet on the underlay: IP + UDP + wire header + AEAD tag.
uint32_t UnderlayOverhead(const ipop::Endpoint& listen) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const bool v4 = std::memcmp(listen.addr, kMappedPrefix, sizeof(kMappedPrefix)) == 0;
  return (v4 ? 20u : 40u) + 8u + 16u + 16u;
}

}  // namespace

int main(int argc, char** argv) {
  const ipop::ConfigResult parsed = ipop::ParseConfig(argc, argv);
  if (!parsed.help.empty()) {
    std::printf("%s", parsed.help.c_str());
    return 0;
  }
  if (!parsed.config) return Fatal(parsed.error);
  const ipop::NodeConfig& cfg = *parsed.config;
  if (cfg.workers != 1) {
    return Fatal("node.workers = " + std::to_string(cfg.workers) +
                 ": only 1 worker is supported for now; several workers need per-worker nonce "
                 "spaces for each tx key, which a later issue adds");
  }
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

  std::string error;
  ipop::dp::TapOptions tap_options;
  tap_options.name = cfg.tap;
  tap_options.mtu = cfg.mtu;
  const char* no_offload = std::getenv("IPOP_DP_NO_TAP_OFFLOAD");
  tap_options.vnet_hdr = no_offload == nullptr || std::strcmp(no_offload, "1") != 0;
  tap_options.tso = tap_options.vnet_hdr;
  auto tap = ipop::dp::TapDevice::Open(tap_options, &error);
  if (!tap) return Fatal(error);
  auto udp = ipop::dp::UdpSocket::Bind(cfg.listen, &error);
  if (!udp) return Fatal(error);

  auto region = AttachRegion(cfg, &error);
  if (!region) {
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

  ipop::dp::WorkerOptions wopt;
  wopt.index = 0;
  wopt.burst = cfg.dp_burst;
  wopt.spin_us = cfg.dp_spin_us;
  wopt.idle_wait_ms = cfg.dp_idle_wait_ms;
  wopt.mtu = cfg.mtu;
  wopt.dp_instance = instance;
  wopt.tap_fd = tap->fd();
  wopt.tap_vnet_hdr = tap->vnet_hdr();
  wopt.tap_tso = tap->tso();
  wopt.udp = udp.get();
  const char* no_gro = std::getenv("IPOP_DP_NO_UDP_GRO");
  wopt.udp_gro = (no_gro == nullptr || std::strcmp(no_gro, "1") != 0) && udp->EnableGro();
  std::memcpy(wopt.tap_mac, tap->mac(), sizeof(wopt.tap_mac));
  const char* no_mshot = std::getenv("IPOP_DP_NO_READ_MULTISHOT");
  wopt.allow_read_multishot = no_mshot == nullptr || std::strcmp(no_mshot, "1") != 0;
  const char* no_gso = std::getenv("IPOP_DP_NO_UDP_GSO");
  wopt.allow_udp_gso = no_gso == nullptr || std::strcmp(no_gso, "1") != 0;
  ipop::dp::Worker worker(*region, wopt);
  if (!worker.Init(&error)) return Fatal(error);

  // A dataplane that crashed (possibly with more workers) may have left worker slots claiming
  // old generations; they would block the control plane's slot reclamation until it times out.
  for (uint32_t w = 0; w < ipop::shm::kMaxWorkers; ++w)
    hdr.workers[w].quiescent_seq.store(ipop::shm::kOffline, std::memory_order_release);
  hdr.dp_instance.store(instance, std::memory_order_release);
  hdr.dp_pid.store(getpid(), std::memory_order_release);
  hdr.dp_workers_running.store(1, std::memory_order_release);
  std::fprintf(stderr,
               "ipop-dataplane: %s on %s (mtu %u), underlay %s, region %s, instance %016llx, %s\n",
               cfg.name.c_str(), tap->name().c_str(), cfg.mtu, cfg.listen.ToString().c_str(),
               cfg.shm_name.c_str(), static_cast<unsigned long long>(instance),
               worker.describe_io().c_str());

  worker.Run(g_stop);

  hdr.dp_workers_running.store(0, std::memory_order_release);
  hdr.dp_instance.store(0, std::memory_order_release);
  hdr.dp_pid.store(0, std::memory_order_release);
  std::fprintf(stderr, "ipop-dataplane: stopped\n");
  return 0;
}

#include "controlplane/control_plane.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace ipop::cp {
namespace {

// Punt entries handled per ring per loop: bounds the time before signals and management
// requests are looked at again when the dataplane floods us.
constexpr uint32_t kPuntBudgetPerRing = 256;
// Publication waits at most this long for dataplane workers to leave a slot; a failed attempt is
// simply retried on the next loop.
constexpr int kPublishTimeoutMs = 100;

std::string HexOf(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += kDigits[x >> 4];
    s += kDigits[x & 15];
  }
  return s;
}

bool ProcessAlive(int32_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

// Settings a running control plane cannot change in place: the region, the socket, the identity.
std::string RestartOnlyChange(const NodeConfig& a, const NodeConfig& b) {
  if (a.name != b.name) return "node.name";
  if (a.vip != b.vip || a.prefix_len != b.prefix_len) return "node.vip";
  if (a.subnet != b.subnet) return "network.subnet";
  if (a.pool_first != b.pool_first || a.pool_last != b.pool_last) return "network.pool";
  if (a.lease_s != b.lease_s) return "network.lease-s";
  if (a.overlay_secret_set != b.overlay_secret_set || a.overlay_secret != b.overlay_secret)
    return "overlay.secret";
  if (a.tap != b.tap) return "node.tap";
  if (a.listen != b.listen) return "node.listen";
  if (a.mtu != b.mtu) return "node.mtu";
  if (a.workers != b.workers) return "node.workers";
  if (a.shm_name != b.shm_name) return "node.shm";
  if (a.mgmt_socket != b.mgmt_socket) return "node.mgmt-socket";
  if (a.metrics_listen != b.metrics_listen) return "metrics.listen";
  if (a.metrics_allow_remote != b.metrics_allow_remote) return "metrics.allow-remote";
  if (a.assign_address != b.assign_address) return "node.assign-address";
  if (a.cipher != b.cipher) return "network.cipher";
  if (a.network != b.network) return "network.name";
  if (a.secret != b.secret) return "network.secret";
  if (a.service_ip != b.service_ip) return "network.service-ip";
  if (a.dns_suffix != b.dns_suffix) return "network.dns-suffix";
  if (a.dhcp != b.dhcp) return "node.dhcp";
  // The dataplane counts hits per rule position: new rules need a restart to start clean.
  if (a.firewall.size() != b.firewall.size() ||
      !std::equal(a.firewall.begin(), a.firewall.end(), b.firewall.begin(),
                  [](const fw::Rule& x, const fw::Rule& y) {
                    return x.direction == y.direction && fw::FormatRule(x) == fw::FormatRule(y);
                  }))
    return "firewall";
  if (a.announce.size() != b.announce.size() ||
      !std::equal(a.announce.begin(), a.announce.end(), b.announce.begin(),
                  [](const PrefixConfig& x, const PrefixConfig& y) {
                    return x.prefix == y.prefix && x.length == y.length;
                  }))
    return "announce";
  if (a.overlay != b.overlay) return "overlay.enabled";
  if (a.keepalive_s != b.keepalive_s) return "overlay.keepalive-s";
  if (a.overlay_address_set != b.overlay_address_set || a.overlay_address != b.overlay_address)
    return "overlay.address";
  if (a.bootstrap != b.bootstrap) return "bootstrap";
  if (a.ca_file != b.ca_file) return "network.ca-file";
  if (a.overlay_ca_file != b.overlay_ca_file) return "overlay.ca-file";
  if (a.revocations_file != b.revocations_file) return "network.revocations-file";
  if (a.key_file != b.key_file) return "node.key-file";
  if (a.cert_file != b.cert_file) return "node.cert-file";  // the same file is re-read (renewal)
  return "";
}

}  // namespace

ControlPlane::ControlPlane(const NodeConfig& cfg, std::vector<std::string> args)
    : cfg_(cfg),
      args_(std::move(args)),
      path_policy_({.peer_timeout_ms = cfg.peer_timeout_ms, .shortcut_pps = cfg.shortcut_pps},
                   clock_),
      kernel_routes_(clock_, cfg.tap),
      tap_address_(clock_, cfg.tap, cfg.prefix_len, cfg.assign_address) {}

ControlPlane::~ControlPlane() {
  if (region_) region_->header().cp_pid.store(0, std::memory_order_release);
  if (signal_fd_ >= 0) close(signal_fd_);
}

std::unique_ptr<ControlPlane> ControlPlane::Start(const NodeConfig& cfg,
                                                  std::vector<std::string> args,
                                                  std::string* error) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(cfg, std::move(args)));
  if (!cp->Init(error)) return nullptr;
  return cp;
}

bool ControlPlane::Init(std::string* error) {
  start_ns_ = clock_.NowNs();
  // Management clients may hang up before reading the reply.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0 ||
      (signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
    *error = std::string("cannot set up signal handling: ") + std::strerror(errno);
    return false;
  }

  // Certificate mode: the node's own chain must verify now, before anything starts.
  identity::NodeIdentity::Loaded loaded =
      identity::NodeIdentity::Load(cfg_, clock_.WallNs() / 1'000'000'000ull);
  if (!loaded.error.empty()) {
    *error = loaded.error;
    return false;
  }
  identity_ = std::move(loaded.identity);
  if (identity_)
    IPOP_LOG_INFO("certificate mode: node '%s' of network %s, key id %s",
                  identity_->cert().fields.name.c_str(), cfg_.network.c_str(),
                  HexOf(identity_->key_id()).c_str());

  std::string err;
  bool refused = false;
  region_ = shm::ShmRegion::CreateOrAttach(cfg_.shm_name, cfg_.workers, &err, &refused);
  if (!region_) {
    *error = "cannot create or attach shared memory " + cfg_.shm_name + ": " + err;
    if (!refused)
      *error += " (check /dev/shm permissions, or stop the dataplane if node.workers changed)";
    return false;
  }
  shm::RegionHeader& hdr = region_->header();
  const int32_t other = hdr.cp_pid.load(std::memory_order_acquire);
  const uint64_t other_beat = hdr.cp_heartbeat_ns.load(std::memory_order_acquire);
  const uint64_t now_mono = shm::MonotonicNs();
  if (other != 0 && other != int32_t(getpid()) && ProcessAlive(other) &&
      now_mono - other_beat < 2'000'000'000ull) {
    *error = "another ipop-controlplane (pid " + std::to_string(other) + ") is attached to " +
             cfg_.shm_name + "; stop it first (two writers would corrupt the tables)";
    return false;
  }

  writer_ = std::make_unique<shm::TableWriter>(*region_);
  traffic_ = std::make_unique<PeerTrafficMeter>(*region_);
  const uint32_t n_workers = region_->layout().n_workers;
  for (uint32_t w = 0; w < n_workers; ++w) punt_rings_.push_back(region_->ring(w, shm::kPuntRing));
  port_ = std::make_unique<InjectRingPort>(region_->ring(0, shm::kInjectRing), 0,
                                           &region_->header().workers[0]);
  if (identity_) {
    auth_ = std::make_unique<CertHelloAuthenticator>(*identity_, clock_);
    keys_ = std::make_unique<CertKeySource>(cfg_.network);
  } else {
    auth_ = std::make_unique<PskHelloAuthenticator>(cfg_.secret, cfg_.network);
    keys_ = std::make_unique<PskKeySource>(cfg_.secret, cfg_.network);
  }

  // The dataplane may be forwarding with a generation published by an earlier control plane:
  // adopt it so traffic continues while the new handshakes run.
  const shm::Generation* running = writer_->Active();
  const uint64_t active = hdr.active.load(std::memory_order_acquire);
  if (running != nullptr && !shm::ValidateGeneration(*running, shm::ActiveSeq(active))) {
    IPOP_LOG_WARN("running table generation %llu is invalid; starting from an empty table",
                  (unsigned long long)shm::ActiveSeq(active));
    running = nullptr;
  }
  PeerSessionsOptions session_options = PeerSessionsOptions::FromConfig(cfg_);
  session_options.running_dp_instance = hdr.dp_instance.load(std::memory_order_acquire);
  sessions_ = std::make_unique<PeerSessions>(session_options, clock_, random_, *auth_, *keys_,
                                             *port_, counters_, running);
  sessions_->SetTxPackets([this](uint32_t slot) { return traffic_->Total(slot).tx_packets; });
  if (identity_) {
    // name: and group: firewall rules match the peer's verified certificate (docs/firewall.md).
    peer_attributes_ = [this](uint32_t vip) -> std::optional<PeerAttributes> {
      const identity::Certificate* cert = sessions_->PeerCertificate(vip);
      if (cert == nullptr) return std::nullopt;
      return PeerAttributes{cert->fields.name, cert->fields.groups};
    };
  }
  if (running != nullptr) {
    for (uint32_t i = 0; i < running->hdr.n_peers && i < shm::kMaxPeers; ++i)
      if ((running->peers[i].flags & shm::kPeerValid) != 0)
        traffic_->Inherited(i, running->peers[i].vip);
    IPOP_LOG_INFO("inherited table generation %llu: %llu peers, %llu sessions",
                  (unsigned long long)shm::ActiveSeq(active),
                  (unsigned long long)counters_.Get(CpCounter::inherited_peers),
                  (unsigned long long)counters_.Get(CpCounter::inherited_sessions));
  }
  RefreshTrafficBaselines();
  seen_dp_instance_ = hdr.dp_instance.load(std::memory_order_acquire);
  sessions_->ObserveDataplaneInstance(seen_dp_instance_);
  arp_ = std::make_unique<ArpResponder>(*port_, counters_);
  {
    shm::TableSpec initial = sessions_->BuildSpec();
    initial.service_ip = cfg_.service_ip;
    arp_->SetTable(initial);
  }
  if (cfg_.overlay) {
    // Overlay messages get their own key. Neither label can be a network name ("\n" and " "
    // cannot occur in one), so it never collides with the HELLO key of any network. With
    // overlay.secret, nodes of several networks form one overlay (docs/networks.md).
    overlay_auth_ =
        cfg_.overlay_secret_set
            ? std::make_unique<PskHelloAuthenticator>(cfg_.overlay_secret, "ipop overlay")
            : std::make_unique<PskHelloAuthenticator>(cfg_.secret, cfg_.network + "\noverlay");
    OverlayHostOptions options = OverlayHostOptions::FromConfig(cfg_);
    // Certificate mode: the ring position is the certified key's, nobody picks it (docs/pki.md).
    if (identity_) options.address = overlay::RingAddress::FromBytes(identity_->ring_address());
    // The address the dataplane still forwards with (a restarted control plane) comes first.
    if (running != nullptr) options.claim.hint = running->hdr.local_vip;
    overlay_ = std::make_unique<OverlayHost>(options, clock_, random_, *port_, *overlay_auth_);
    overlay_->SetIdentity(identity_.get());  // certificate mode: links keyed per link
    overlay_->SetAddressHandler([this](uint32_t vip) { OnAddressChanged(vip); });
    sessions_->SetHelloRelay(overlay_.get());
    overlay_->SetHelloHandler([this](const overlay::RingAddress& source, const Endpoint& endpoint,
                                     std::span<const uint8_t> hello) {
      NodeAddress node;
      source.ToBytes(node);
      sessions_->OnControlDatagram(endpoint, hello, &node);
    });
    arp_->SetMissHandler([this](uint32_t vip) { OnArpMiss(vip); });
    overlay_->SetRoutesHandler(
        [this](const std::vector<AnnouncedRoute>& routes) { OnAnnouncedRoutes(routes); });
    if (!LoadRouteAuthority(error)) return false;
  }
  if (identity_) StartRevocations();
  if (overlay_) overlay_->Start();
  StartTapServices();
  // A host configured by DHCP (the node does not set its address) gets the routes in option 121.
  kernel_routes_.SetByDhcp(dhcp_ && !cfg_.assign_address);

  if (cfg_.metrics_listen) {
    // Collected when scraped, from the same parts as `ipopctl counters`.
    metrics_ = MetricsServer::Listen(
        *cfg_.metrics_listen,
        [this] { return RenderPrometheus(CollectMetrics(mgmt_handler_->parts())); }, &err);
    if (!metrics_) {
      *error = "metrics.listen: " + err;
      return false;
    }
    IPOP_LOG_INFO("metrics: Prometheus endpoint http://%s/metrics",
                  cfg_.metrics_listen->ToString().c_str());
  }
  mgmt_handler_ = std::make_unique<MgmtHandler>(MgmtParts{.cfg = cfg_,
                                                          .region = *region_,
                                                          .writer = *writer_,
                                                          .clock = clock_,
                                                          .start_ns = start_ns_,
                                                          .counters = counters_,
                                                          .sessions = *sessions_,
                                                          .traffic = *traffic_,
                                                          .kernel_routes = kernel_routes_,
                                                          .tap_address = tap_address_,
                                                          .overlay = overlay_.get(),
                                                          .multicast = multicast_.get(),
                                                          .dhcp = dhcp_.get(),
                                                          .dns = dns_.get(),
                                                          .dns_forwarder = dns_forwarder_.get(),
                                                          .dns_tcp = dns_tcp_.get(),
                                                          .metrics = metrics_.get(),
                                                          .revocations = revocations_.get()},
                                                [this] { return Reload(); });
  mgmt_ = MgmtServer::Listen(
      cfg_.mgmt_socket, [this](std::string_view line) { return mgmt_handler_->Handle(line); },
      &err);
  if (!mgmt_) {
    *error = "cannot listen on management socket " + cfg_.mgmt_socket + ": " + err +
             " (set node.mgmt-socket to a writable path)";
    return false;
  }
  mgmt_handler_->SetServer(mgmt_.get());

  hdr.cp_pid.store(int32_t(getpid()), std::memory_order_release);
  hdr.cp_attach_count.fetch_add(1, std::memory_order_acq_rel);
  hdr.cp_heartbeat_ns.store(shm::MonotonicNs(), std::memory_order_release);
  IPOP_LOG_INFO("node %s vip %s/%u network %s: %zu peers, shm %s, mgmt %s", cfg_.name.c_str(),
                cfg_.vip != 0 ? FormatIpv4(cfg_.vip).c_str() : "(allocated)", cfg_.prefix_len,
                cfg_.network.c_str(), sessions_->peer_count(), cfg_.shm_name.c_str(),
                cfg_.mgmt_socket.c_str());
  return true;
}

// Router mode authorization (route_signature.h): keys are read once, at start.
bool ControlPlane::LoadRouteAuthority(std::string* error) {
  std::shared_ptr<const RouteSigner> signer;
  std::shared_ptr<const RouteVerifier> verifier;
  std::string err;
  if (!cfg_.router_key_file.empty() &&
      !(signer = RouteSigner::FromPemFile(cfg_.router_key_file, &err))) {
    *error = "node.router-key-file: " + err;
    return false;
  }
  if (!cfg_.router_pubkey_file.empty() &&
      !(verifier = RouteVerifier::FromPemFile(cfg_.router_pubkey_file, &err))) {
    *error = "network.router-pubkey-file: " + err;
    return false;
  }
  if (!cfg_.announce.empty() && !signer && verifier)
    IPOP_LOG_WARN(
        "router mode: announcing without node.router-key-file; members that require "
        "signed announcements (network.router-pubkey-file) will ignore them");
  overlay_->SetRouteAuthority(std::move(signer), std::move(verifier));
  return true;
}

// DHCP and DNS at network.service-ip on the TAP (docs/operations.md).
void ControlPlane::StartTapServices() {
  if (overlay_) {  // membership lives in the DHT; the querier needs network.service-ip
    multicast_ = std::make_unique<MulticastGroups>(
        MulticastOptions{cfg_.network}, clock_, *port_,
        std::make_unique<DhtGroupDirectory>(overlay_->dht(), cfg_.network));
    multicast_->SetLearnHandler([this](uint32_t vip) { OnArpMiss(vip); });
    multicast_->SetTrafficSource([this](uint32_t c) { return GroupFramesSent(*region_, c); });
  }
  if (cfg_.service_ip == 0) return;
  const shm::TableSpec base = sessions_->BuildSpec();
  if (cfg_.dhcp) {
    DhcpOptions d;
    d.server_ip = cfg_.service_ip;
    d.prefix_len = uint8_t(cfg_.prefix_len);
    d.dns_ip = cfg_.service_ip;
    d.domain = cfg_.network + "." + cfg_.dns_suffix;
    d.mtu = uint16_t(cfg_.mtu);
    d.lease_s = cfg_.lease_s;
    std::copy(std::begin(base.gateway_mac), std::end(base.gateway_mac), d.gateway_mac.begin());
    lease_ = std::make_unique<FixedLeaseSource>(sessions_->local_vip(), d.lease_s);
    if (overlay_) lease_->SetConfirmHook([this] { overlay_->RenewAddress(); });
    dhcp_ = std::make_unique<DhcpServer>(*port_, *lease_, d);
  }
  DnsOptions n;
  n.responder_ip = cfg_.service_ip;
  std::memcpy(n.gateway_mac, base.gateway_mac, sizeof(n.gateway_mac));
  n.suffix = cfg_.dns_suffix;
  // A DHT read's first attempt may time out (2 s) while the ring settles; stay within the
  // usual 5 s resolver timeout.
  n.lookup_timeout_ns = 4'000'000'000ull;
  n.network = cfg_.network;
  for (char& ch : n.network) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  // C-names spell the octets below the first: the range is the network's subnet, at least /8.
  n.range_prefix_len = uint8_t(std::clamp<uint32_t>(cfg_.prefix_len, 8, 32));
  n.range_base = cfg_.subnet & (~uint32_t{0} << (32 - n.range_prefix_len));
  n.max_udp_reply = std::clamp<size_t>(cfg_.mtu - 28, dns::kMaxUdpPayload, 1232);
  const std::string why = ValidateDnsOptions(n);
  if (why.empty()) {
    dns_ = std::make_unique<DnsResponder>(*port_, clock_, overlay_.get(), n);
    DnsTcpOptions t;  // DNS over TCP (RFC 7766) on the same address
    t.responder_ip = n.responder_ip;
    std::memcpy(t.gateway_mac, n.gateway_mac, sizeof(t.gateway_mac));
    t.mtu = cfg_.mtu;
    dns_tcp_ = std::make_unique<DnsTcpServer>(*port_, clock_, random_, *dns_, t);
    dns_->SetStreams(dns_tcp_.get());
    StartDnsForwarder();
  } else {
    IPOP_LOG_WARN("DNS responder disabled: %s", why.c_str());
  }
}

// Names outside the zone (network.dns-forward): the forwarder always exists next to the
// responder so a reload can switch forwarding on or off; with no upstreams it refuses.
void ControlPlane::StartDnsForwarder() {
  DnsForwarderOptions f;
  f.responder_ip = cfg_.service_ip;
  std::memcpy(f.gateway_mac, sessions_->BuildSpec().gateway_mac, sizeof(f.gateway_mac));
  f.max_reply_size = std::clamp<size_t>(cfg_.mtu - 28, dns::kMaxUdpPayload, 1232);
  dns_socket_ = std::make_unique<DnsUpstreamSocket>();
  dns_forwarder_ = std::make_unique<DnsForwarder>(*port_, clock_, random_, *dns_socket_, f);
  dns_->SetForwarder(dns_forwarder_.get());
  dns_forwarder_->SetStreams(dns_tcp_.get());
  UpdateDnsUpstreams();
}

void ControlPlane::UpdateDnsUpstreams() {
  if (!dns_forwarder_) return;
  std::vector<Endpoint> up = ConfiguredUpstreams(cfg_);
  std::string list;
  for (const Endpoint& e : up) {
    list += ' ';
    list += e.ToString();
  }
  if (cfg_.dns_forward != NodeConfig::DnsForward::kRefuse && up.empty())
    IPOP_LOG_WARN(
        "dns: network.dns-forward names no usable upstream; refusing names outside "
        "the zone");
  else if (!up.empty())
    IPOP_LOG_INFO("dns: forwarding names outside the zone to%s", list.c_str());
  dns_forwarder_->SetUpstreams(std::move(up));
}

int ControlPlane::Run() {
  bool more_punts = false;
  while (running_) {
    std::vector<pollfd> fds = {{signal_fd_, POLLIN, 0},
                               {mgmt_->fd(), POLLIN, 0},
                               {dns_socket_ ? dns_socket_->fd() : -1, POLLIN, 0}};
    if (metrics_) metrics_->AddPollFds(fds);
    // Poll the punt rings fast only while messages flow: an idle node then wakes 40 times a
    // second instead of 500 (ARP and HELLOs wait at most idle-poll-ms for the first one).
    const bool busy = shm::MonotonicNs() - last_punt_ns_ < kBusyWindowNs;
    const int timeout = more_punts ? 0 : int(busy ? cfg_.cp_poll_ms : cfg_.cp_idle_poll_ms);
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      IPOP_LOG_ERROR("poll failed: %s", std::strerror(errno));
      return 1;
    }
    if (fds[0].revents & POLLIN) HandleSignals();
    if (!running_) break;
    if (fds[1].revents & POLLIN) mgmt_->OnReadable();
    if (fds[2].revents & POLLIN)
      dns_socket_->Drain([this](const Endpoint& from, std::span<const uint8_t> reply) {
        dns_forwarder_->OnUpstreamReply(from, reply);
      });
    if (metrics_) metrics_->OnPoll(std::span(fds).subspan(3));
    more_punts = DrainPuntRings();
    Iterate();
    mgmt_->Tick();
    if (metrics_) metrics_->Tick();
  }
  if (overlay_) {
    ReleaseRecords();
    overlay_->Stop();  // tell our links now rather than let them time out
  }
  IPOP_LOG_INFO("stopping; the dataplane keeps forwarding with table %llu",
                (unsigned long long)writer_->seq());
  return 0;
}

// Gives the address back and removes the node's name through the DHT, so the address is free
// at once and the name stops pointing at it, serving the loop (punt rings, timers) for at most
// kReleaseTimeoutNs meanwhile; a crash leaves both to their TTLs instead. The flags are shared
// with the callbacks, which may outlive this call when the wait times out.
void ControlPlane::ReleaseRecords() {
  const auto address_done = std::make_shared<bool>(false);
  const auto name_done = std::make_shared<bool>(false);
  overlay_->ReleaseAddress([address_done] { *address_done = true; });
  overlay_->ReleaseName([name_done] { *name_done = true; });
  const uint64_t deadline = clock_.NowNs() + kReleaseTimeoutNs;
  while (!(*address_done && *name_done) && clock_.NowNs() < deadline) {
    poll(nullptr, 0, int(cfg_.cp_poll_ms));
    DrainPuntRings();
    overlay_->Tick();
  }
  if (!*address_done) IPOP_LOG_WARN("address release unanswered; it expires with its lease");
  if (!*name_done) IPOP_LOG_WARN("name removal unanswered; it expires with its TTL");
}

void ControlPlane::OnAddressChanged(uint32_t vip) {
  sessions_->SetLocalVip(vip);
  if (lease_) lease_->SetAddress(vip);
  tap_address_.AddressChanged();
  if (vip == 0) IPOP_LOG_WARN("no address in network %s for now", cfg_.network.c_str());
}

void ControlPlane::HandleSignals() {
  signalfd_siginfo si;
  while (read(signal_fd_, &si, sizeof(si)) == ssize_t(sizeof(si))) {
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      IPOP_LOG_INFO("signal %u: exiting", si.ssi_signo);
      running_ = false;
    } else if (si.ssi_signo == SIGHUP) {
      IPOP_LOG_INFO("SIGHUP: reloading the configuration");
      Reload();  // logs its outcome
    }
  }
}

bool ControlPlane::DrainPuntRings() {
  bool more = false;
  for (uint32_t w = 0; w < punt_rings_.size(); ++w) {
    SpscRingView& ring = punt_rings_[w];
    uint32_t handled = 0;
    SpscRingView::Entry e;
    while (handled < kPuntBudgetPerRing && ring.Peek(e)) {
      switch (shm::PuntKind(e.meta.kind)) {
        case shm::PuntKind::kUnderlayControl: {
          Endpoint from;
          std::memcpy(from.addr, e.meta.addr, sizeof(from.addr));
          from.port = e.meta.port;
          if (overlay_ && overlay_->OnControlDatagram(from, e.payload)) break;
          sessions_->OnControlDatagram(from, e.payload);
          break;
        }
        case shm::PuntKind::kTapFrame:
          if (dhcp_ && dhcp_->OnTapFrame(e.payload)) break;
          if (dns_ && dns_->OnTapFrame(e.payload)) break;
          if (dns_tcp_ && dns_tcp_->OnTapFrame(e.payload)) break;
          if (multicast_ && multicast_->OnTapFrame(e.payload)) break;
          arp_->OnTapFrame(e.payload);
          break;
        default:
          counters_.Bump(CpCounter::punt_unknown_kind);
          break;
      }
      ring.Pop();
      ++handled;
    }
    if (ring.corrupt()) {
      counters_.Bump(CpCounter::punt_ring_corrupt);
      IPOP_LOG_WARN("punt ring of worker %u was inconsistent; reset", w);
      ring.Reset();
    }
    more = more || handled == kPuntBudgetPerRing;
    if (handled > 0) last_punt_ns_ = shm::MonotonicNs();
  }
  return more;
}

void ControlPlane::Iterate() {
  shm::RegionHeader& hdr = region_->header();
  const uint64_t dp = hdr.dp_instance.load(std::memory_order_acquire);
  if (dp != seen_dp_instance_) {
    seen_dp_instance_ = dp;
    // A restarted dataplane creates the TAP anew: the address has to be set again.
    tap_address_.TapRecreated();
    kernel_routes_.ForgetInstalled();
  }
  sessions_->ObserveDataplaneInstance(dp);
  sessions_->Tick();
  if (dns_) dns_->Poll();
  if (dns_tcp_) dns_tcp_->Poll();
  if (multicast_) multicast_->Tick();
  if (dns_forwarder_) dns_forwarder_->Poll();
  if (revocations_) revocations_->Tick();
  if (overlay_) {
    overlay_->Tick();
    if (clock_.NowNs() >= next_path_update_ns_) {
      next_path_update_ns_ = clock_.NowNs() + path_policy_.options().interval_ns;
      UpdatePeerPaths();
      kernel_routes_.Tick();
    }
  }
  PublishIfChanged();
  writer_->ScrubRetired();  // retired keys leave shared memory once no worker can read them
  tap_address_.Tick(sessions_->local_vip());
  hdr.cp_heartbeat_ns.store(shm::MonotonicNs(), std::memory_order_release);
}

void ControlPlane::PublishIfChanged() {
  const uint64_t overlay_version = overlay_ ? overlay_->table_version() : 0;
  const uint64_t multicast_version = multicast_ ? multicast_->table_version() : 0;
  if (!sessions_->spec_changed() && overlay_version == published_overlay_version_ &&
      multicast_version == published_multicast_version_)
    return;
  shm::TableSpec spec = sessions_->BuildSpec();
  spec.service_ip = cfg_.service_ip;
  if (overlay_) overlay_->FillTable(&spec);
  if (multicast_) multicast_->FillTable(&spec);
  spec.firewall = CompileFirewall(cfg_.firewall, spec.peers, peer_attributes_).table;
  arp_->SetTable(spec);
  std::string err;
  if (writer_->Publish(spec, &err, kPublishTimeoutMs)) {
    sessions_->MarkPublished();
    published_overlay_version_ = overlay_version;
    published_multicast_version_ = multicast_version;
    counters_.Bump(CpCounter::publish_ok);
    RefreshTrafficBaselines();
    IPOP_LOG_DEBUG("published table %llu (%zu peers, %zu sessions)",
                   (unsigned long long)writer_->seq(), spec.peers.size(), spec.sessions.size());
  } else {
    counters_.Bump(CpCounter::publish_failed);
    uint64_t suppressed = 0;
    if (publish_log_.Allow(clock_.NowNs(), &suppressed))
      IPOP_LOG_WARN("table publication failed (will retry): %s (%llu similar suppressed)",
                    err.c_str(), (unsigned long long)suppressed);
  }
}

void ControlPlane::RefreshTrafficBaselines() {
  for (const PeerSessions::PeerStatus& p : sessions_->Status()) traffic_->Assigned(p.slot, p.vip);
}

void ControlPlane::OnArpMiss(uint32_t vip) {
  if (!overlay_) return;
  overlay_->Resolve(vip, [this](uint32_t v, const std::optional<VipLocation>& where) {
    if (!where) {
      IPOP_LOG_DEBUG("%s is not in the VIP directory", FormatIpv4(v).c_str());
      return;
    }
    if (where->node == overlay_->node().address()) return;
    LearnLocation(v, *where);
  });
}

// A learned peer that went silent may have moved, or its lease ran out and another node holds
// the address now: ask the directory again and follow it.
void ControlPlane::RecheckSilentPeer(uint32_t vip, const overlay::RingAddress& was) {
  overlay_->ForgetResolved(vip);
  overlay_->Resolve(vip, [this, was](uint32_t v, const std::optional<VipLocation>& where) {
    if (!where || where->node == was || where->node == overlay_->node().address()) return;
    IPOP_LOG_INFO("%s is now held by overlay node %s; re-learning the peer", FormatIpv4(v).c_str(),
                  where->node.ToHex().substr(0, 8).c_str());
    sessions_->ForgetLearnedPeer(v);
    LearnLocation(v, *where);
  });
}

void ControlPlane::LearnLocation(uint32_t v, const VipLocation& where) {
  NodeAddress node;
  where.node.ToBytes(node);
  const overlay::Link* link = overlay_->node().links().Find(where.node);
  // Linked nodes are reached directly at once; others through the overlay until traffic earns a
  // shortcut.
  sessions_->AddLearnedPeer(v, node, link ? link->endpoint : where.endpoint, link == nullptr);
}

void ControlPlane::OnAnnouncedRoutes(const std::vector<AnnouncedRoute>& routes) {
  std::vector<PeerSessions::PrefixRoute> table;
  std::vector<Ipv4Prefix> prefixes;
  const std::vector<PeerSessions::PeerStatus> peers = sessions_->Status();
  for (const AnnouncedRoute& r : routes) {
    table.push_back({r.prefix, r.length, r.via});
    const bool known =
        std::any_of(peers.begin(), peers.end(),
                    [&](const PeerSessions::PeerStatus& p) { return p.vip == r.via; });
    if (!known) OnArpMiss(r.via);  // look the gateway up and learn it, as for ARP
    prefixes.push_back({r.prefix, r.length});
  }
  kernel_routes_.Set(prefixes);
  if (dhcp_) {
    // Via the service address: the dataplane routes the prefix by longest match anyway.
    std::vector<dhcp::ClasslessRoute> classless;
    for (const KernelRoute& k : kernel_routes_.routes())
      classless.push_back({k.prefix.prefix, k.prefix.length, cfg_.service_ip});
    dhcp_->SetRoutes(std::move(classless));
  }
  sessions_->SetPrefixRoutes(std::move(table));
}

void ControlPlane::UpdatePeerPaths() {
  std::vector<PeerPathInput> peers;
  for (const PeerSessions::PeerStatus& p : sessions_->Status()) {
    const PeerTraffic t = traffic_->Total(p.slot);
    PeerPathInput& in = peers.emplace_back();
    in.vip = p.vip;
    in.slot = p.slot;
    in.learned = p.learned;
    in.up = p.up;
    in.heard = p.heard;
    in.last_hello_age_ns = p.last_hello_age_ns;
    in.relayed = p.relayed;
    in.endpoint = p.endpoint;
    in.tx_packets = t.tx_packets;
    in.rx_packets = t.rx_packets;
    if (!p.node_known) continue;
    in.node = overlay::RingAddress::FromBytes(p.node);
    if (const overlay::Link* link = overlay_->node().links().Find(*in.node)) {
      in.link = link->endpoint;
      in.link_heard_ns = link->last_heard_ns;
    }
  }
  std::vector<overlay::RingAddress> shortcuts;
  for (const overlay::Link& l : overlay_->node().links().links())
    if ((l.roles & overlay::kRoleShortcut) != 0) shortcuts.push_back(l.address);
  for (const PathAction& a : path_policy_.Decide(peers, shortcuts)) {
    switch (a.kind) {
      case PathAction::Kind::kMarkUsed:
        sessions_->MarkUsed(a.vip);
        break;
      case PathAction::Kind::kRecheck:
        RecheckSilentPeer(a.vip, a.node);
        break;
      case PathAction::Kind::kSetPath:
        sessions_->SetPath(a.vip, a.relayed, a.endpoint);
        break;
      case PathAction::Kind::kRequestShortcut:
        if (a.why == PathAction::Why::kRelayFailing)
          IPOP_LOG_INFO(
              "no handshake with %s through the overlay for %u ms: asking %s for a direct link",
              FormatIpv4(a.vip).c_str(), path_policy_.options().peer_timeout_ms,
              a.endpoint.ToString().c_str());
        else
          IPOP_LOG_INFO("%.0f packets/s to %s through the overlay: asking %s for a direct link",
                        a.packets_per_s, FormatIpv4(a.vip).c_str(), a.endpoint.ToString().c_str());
        overlay_->WantDirect(a.node, a.endpoint);
        break;
      case PathAction::Kind::kRepairDirect:
        IPOP_LOG_INFO("direct path to %s at %s went silent: relaying and punching again",
                      FormatIpv4(a.vip).c_str(), a.endpoint.ToString().c_str());
        overlay_->DirectBroken(a.node, a.endpoint);
        break;
      case PathAction::Kind::kReleaseShortcut:
        overlay_->node().ReleaseShortcut(a.node);
        break;
    }
  }
}

void ControlPlane::StartRevocations() {
  RevocationFloodOptions options;
  options.state_file = cfg_.state_dir + "/revocations.state";
  revocations_ = std::make_unique<RevocationFlood>(
      options, *identity_, overlay::RingAddress::FromBytes(identity_->ring_address()), clock_,
      [this](const overlay::RingAddress& to, std::span<const uint8_t> msg) {
        return overlay_ && overlay_->SendToLink(to, msg);
      },
      [this] {
        return overlay_ ? overlay_->LinkAddresses() : std::vector<overlay::RingAddress>{};
      });
  // A revoked subject loses its data sessions at once; peers certified by a revoked issuing CA
  // are found by the re-check.
  revocations_->AddSubjectRevokedHook([this](const identity::KeyId& subject) {
    return sessions_->DropSubject(subject) + DropInvalidPeers(clock_.WallNs() / 1'000'000'000ull);
  });
  // Its overlay links close at once too; links certified by a revoked issuing CA close at the
  // overlay's own certificate re-check (every 10 s, OverlayHost).
  revocations_->AddSubjectRevokedHook([this](const identity::KeyId& subject) {
    return overlay_ ? overlay_->CloseLinksOf(subject) : size_t{0};
  });
  revocations_->SetPeriodicCheck([this](uint64_t now_s) { return DropInvalidPeers(now_s); });
  if (overlay_)
    overlay_->SetLinkMessageHandler(
        [this](const overlay::RingAddress& from, std::span<const uint8_t> body) {
          revocations_->OnMessage(from, body);
        });
  if (std::string e = revocations_->LoadState(); !e.empty())
    IPOP_LOG_WARN("revocations: ignoring the state file: %s", e.c_str());
  IPOP_LOG_INFO("revocations: %zu known (state in %s)", identity_->revocations().size(),
                options.state_file.c_str());
}

size_t ControlPlane::DropInvalidPeers(uint64_t now_s) {
  const identity::RevocationList& revoked = identity_->revocations();
  std::vector<identity::KeyId> drop;
  for (const PeerSessions::PeerStatus& p : sessions_->Status()) {
    const identity::Certificate* c = sessions_->PeerCertificate(p.vip);
    if (c == nullptr) continue;
    const bool expired = now_s >= c->fields.not_after || now_s < c->fields.not_before;
    if (expired || revoked.IsRevoked(*c) || revoked.RevokesKey(c->fields.issuer))
      drop.push_back(c->key_id());
  }
  size_t n = 0;
  for (const identity::KeyId& k : drop) {
    const size_t dropped = sessions_->DropSubject(k);
    if (dropped != 0)
      IPOP_LOG_WARN(
          "revocations: ended the sessions of %zu peer(s) with key id %s (certificate "
          "revoked or expired)",
          dropped, HexOf(k).c_str());
    n += dropped;
  }
  return n;
}

std::string ControlPlane::Reload() {
  std::vector<const char*> argv;
  argv.push_back("ipop-controlplane");
  for (const std::string& a : args_) argv.push_back(a.c_str());
  ConfigResult parsed = ParseConfig(int(argv.size()), argv.data());
  if (!parsed.config) {
    const std::string why = parsed.error.empty() ? "no configuration" : parsed.error;
    IPOP_LOG_WARN("reload failed, keeping the running config: %s", why.c_str());
    return "error: reload failed, running config unchanged: " + why;
  }
  for (const std::string& w : parsed.warnings) IPOP_LOG_WARN("config: %s", w.c_str());
  const NodeConfig& next = *parsed.config;
  const std::string fixed = RestartOnlyChange(cfg_, next);
  if (!fixed.empty()) {
    IPOP_LOG_WARN("reload refused: %s changed; restart ipop-controlplane to apply", fixed.c_str());
    return "error: " + fixed + " cannot change at run time; restart ipop-controlplane to apply it" +
           " (running config unchanged)";
  }
  if (!SetLogLevel(next.log_level)) {
    return "error: node.log-level '" + next.log_level + "' unknown (running config unchanged)";
  }
  // A renewed certificate (same key): peers get the new chain with the next HELLOs.
  if (identity_) {
    const uint64_t generation = identity_->chain_generation();
    const std::string e =
        identity_->ReloadCertificate(next.cert_file, clock_.WallNs() / 1'000'000'000ull);
    if (!e.empty()) {
      IPOP_LOG_WARN("reload refused: %s", e.c_str());
      return "error: " + e + " (running config unchanged)";
    }
    if (identity_->chain_generation() != generation)
      IPOP_LOG_INFO("certificate renewed: serial %s, valid until @%llu",
                    HexOf(identity_->cert().fields.serial).c_str(),
                    (unsigned long long)identity_->cert().fields.not_after);
  }
  const ReconfigureSummary sum =
      sessions_->Reconfigure(next.peers, next.hello_interval_ms, next.peer_timeout_ms);
  cfg_ = next;
  path_policy_.SetLimits(cfg_.peer_timeout_ms, cfg_.shortcut_pps);
  UpdateDnsUpstreams();  // resolv.conf is read again too
  char msg[160];
  std::snprintf(msg, sizeof(msg), "ok: reloaded, %zu peers (added %u, removed %u, changed %u)",
                sessions_->peer_count(), sum.added, sum.removed, sum.changed);
  IPOP_LOG_INFO("%s", msg);
  return msg;
}

}  // namespace ipop::cp

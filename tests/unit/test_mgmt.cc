// Management socket: the server runs in the test thread (as in the control plane's event loop),
// clients in other threads; each test checks what the client saw and how long the server blocked.
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "controlplane/mgmt/mgmt_command.h"
#include "controlplane/mgmt/mgmt_server.h"
#include "controlplane/mgmt/render_counters.h"
#include "controlplane/mgmt/render_peers.h"
#include "controlplane/runtime/tap_address.h"
#include "cp_fakes.h"

namespace ipop::cp {
namespace {

using Clock = std::chrono::steady_clock;

std::string UniqueDir() {
  static int counter = 0;
  return "/tmp/ipop-test-mgmt-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

// Serves until `done` is set (by the client thread), like the control plane's poll loop would.
void ServeUntil(MgmtServer& server, const std::atomic<bool>& done) {
  const auto give_up = Clock::now() + std::chrono::seconds(10);
  while (!done.load() && Clock::now() < give_up) {
    pollfd pfd{server.fd(), POLLIN, 0};
    if (poll(&pfd, 1, 20) > 0) server.OnReadable();
  }
}

int RawConnect(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends raw bytes (no newline added) and reads until EOF or error.
std::string RawExchange(const std::string& path, const std::string& bytes) {
  const int fd = RawConnect(path);
  if (fd < 0) return "<connect failed>";
  send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  return reply;
}

class MgmtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = UniqueDir();
    path_ = dir_ + "/sub/node.sock";
  }
  void TearDown() override {
    server_.reset();
    unlink(path_.c_str());
    rmdir((dir_ + "/sub").c_str());
    rmdir(dir_.c_str());
  }
  void StartServer() {
    std::string error;
    server_ = MgmtServer::Listen(
        path_,
        [this](std::string_view line) {
          seen_.emplace_back(line);
          if (line == "fail") return std::string("error: asked to fail");
          return "reply to [" + std::string(line) + "]";
        },
        &error);
    ASSERT_NE(server_, nullptr) << error;
  }
  // Runs `client` in a thread while the test thread serves.
  template <typename F>
  void WithClient(F client) {
    std::atomic<bool> done{false};
    std::thread t([&] {
      client();
      done.store(true);
    });
    ServeUntil(*server_, done);
    t.join();
  }

  std::string dir_, path_;
  std::unique_ptr<MgmtServer> server_;
  std::vector<std::string> seen_;
};

TEST_F(MgmtTest, RoundTripAndFileModes) {
  StartServer();
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);

  std::string reply, reply2, error, error2;
  bool ok = false, ok2 = false;
  WithClient([&] {
    ok = MgmtRequest(path_, "status", &reply, &error);
    ok2 = MgmtRequest(path_, "fail", &reply2, &error2);
  });
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(reply, "reply to [status]\n");
  ASSERT_TRUE(ok2) << error2;
  EXPECT_EQ(reply2, "error: asked to fail\n");
  EXPECT_EQ(seen_, (std::vector<std::string>{"status", "fail"}));
}

TEST_F(MgmtTest, CrLfAndMissingNewlineAreAccepted) {
  StartServer();
  std::string crlf, bare;
  WithClient([&] {
    crlf = RawExchange(path_, "peers\r\n");
    const int fd = RawConnect(path_);
    send(fd, "counters", 8, 0);
    shutdown(fd, SHUT_WR);  // EOF without a newline still ends the request
    char buf[256];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) bare.assign(buf, static_cast<size_t>(n));
    close(fd);
  });
  EXPECT_EQ(crlf, "reply to [peers]\n");
  EXPECT_EQ(bare, "reply to [counters]\n");
}

TEST_F(MgmtTest, GarbageGetsErrorWithoutReachingHandler) {
  StartServer();
  std::string reply;
  WithClient([&] { reply = RawExchange(path_, std::string("st\x01\xff\0tus\n", 9)); });
  EXPECT_EQ(reply.rfind("error:", 0), 0u) << reply;
  EXPECT_TRUE(seen_.empty());
}

TEST_F(MgmtTest, OversizeLineIsRejected) {
  StartServer();
  std::string reply, error;
  bool ok = false;
  WithClient([&] { ok = MgmtRequest(path_, std::string(10000, 'a'), &reply, &error); });
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(reply.rfind("error: request longer than 4096", 0), 0u) << reply;
  EXPECT_TRUE(seen_.empty());
}

TEST_F(MgmtTest, SilentClientIsDroppedWithinBound) {
  StartServer();
  const int fd = RawConnect(path_);
  ASSERT_GE(fd, 0);
  const auto start = Clock::now();
  server_->OnReadable();  // same thread: must return by itself, not wait for the client
  const auto blocked = Clock::now() - start;
  EXPECT_GE(blocked, std::chrono::milliseconds(150));
  EXPECT_LT(blocked, std::chrono::milliseconds(1000));
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), 0);  // dropped: EOF, no reply
  close(fd);
  EXPECT_TRUE(seen_.empty());

  // The server is still healthy afterwards.
  std::string reply, error;
  bool ok = false;
  WithClient([&] { ok = MgmtRequest(path_, "status", &reply, &error); });
  EXPECT_TRUE(ok) << error;
  EXPECT_EQ(reply, "reply to [status]\n");
}

TEST_F(MgmtTest, ServesAllPendingConnectionsInOneCall) {
  StartServer();
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    const int fd = RawConnect(path_);
    ASSERT_GE(fd, 0);
    const std::string line = "c" + std::to_string(i) + "\n";
    send(fd, line.data(), line.size(), 0);
    fds.push_back(fd);
  }
  server_->OnReadable();
  EXPECT_EQ(seen_, (std::vector<std::string>{"c0", "c1", "c2"}));
  for (int fd : fds) close(fd);
}

TEST_F(MgmtTest, StaleSocketFileIsReplaced) {
  // A dead server's socket file: bound, then closed without unlinking.
  std::string error;
  mkdir(dir_.c_str(), 0755);
  mkdir((dir_ + "/sub").c_str(), 0755);
  const int stale = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(stale);

  StartServer();
  std::string reply;
  bool ok = false;
  WithClient([&] { ok = MgmtRequest(path_, "status", &reply, &error); });
  EXPECT_TRUE(ok) << error;
  EXPECT_EQ(reply, "reply to [status]\n");
}

TEST_F(MgmtTest, LiveServerIsNotStolen) {
  StartServer();
  std::string error;
  auto second = MgmtServer::Listen(
      path_, [](std::string_view) { return std::string("second"); }, &error);
  EXPECT_EQ(second, nullptr);
  EXPECT_NE(error.find("already listening"), std::string::npos) << error;

  std::string reply;
  bool ok = false;
  WithClient([&] { ok = MgmtRequest(path_, "status", &reply, &error); });
  EXPECT_TRUE(ok) << error;
  EXPECT_EQ(reply, "reply to [status]\n");
}

TEST_F(MgmtTest, RegularFileIsNotDeleted) {
  mkdir(dir_.c_str(), 0755);
  mkdir((dir_ + "/sub").c_str(), 0755);
  std::ofstream(path_) << "precious";
  std::string error;
  auto server = MgmtServer::Listen(
      path_, [](std::string_view) { return std::string(); }, &error);
  EXPECT_EQ(server, nullptr);
  EXPECT_NE(error.find("not a socket"), std::string::npos) << error;
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST(MgmtRequest, UnreachableSocketFailsFast) {
  std::string reply, error;
  const auto start = Clock::now();
  EXPECT_FALSE(MgmtRequest(UniqueDir() + "/none.sock", "status", &reply, &error));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_NE(error.find("none.sock"), std::string::npos) << error;
}

TEST(MgmtRequest, SilentServerTimesOut) {
  // A listener that never accepts: the client must give up at its timeout.
  const std::string dir = UniqueDir();
  mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/mute.sock";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  std::string reply, error;
  const auto start = Clock::now();
  EXPECT_FALSE(MgmtRequest(path, "status", &reply, &error, 300));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  EXPECT_NE(error.find("no reply"), std::string::npos) << error;
  close(fd);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

TEST(MgmtCommand, PlainCommandsAreWholeWords) {
  EXPECT_EQ(ParseMgmtCommand("status").verb, MgmtVerb::kStatus);
  EXPECT_EQ(ParseMgmtCommand("  links\t\r\n").verb, MgmtVerb::kLinks);
  EXPECT_FALSE(ParseMgmtCommand("peers").needs_overlay());
  EXPECT_TRUE(ParseMgmtCommand("ring").needs_overlay());
  for (const char* bad : {"statu", "status now", "STATUS", "", "dhtget x", "dht\tget x"}) {
    const MgmtCommand c = ParseMgmtCommand(bad);
    EXPECT_EQ(c.verb, MgmtVerb::kUnknown) << bad;
    EXPECT_TRUE(c.error.starts_with("error: unknown command")) << bad;
  }
}

TEST(MgmtCommand, CountersTakeAllAndJsonInAnyOrder) {
  MgmtCommand c = ParseMgmtCommand("counters");
  EXPECT_EQ(c.verb, MgmtVerb::kCounters);
  EXPECT_FALSE(c.all || c.json);
  c = ParseMgmtCommand("counters --all");
  EXPECT_TRUE(c.all && !c.json);
  c = ParseMgmtCommand("counters --json");
  EXPECT_TRUE(!c.all && c.json);
  c = ParseMgmtCommand("counters  --json\t--all ");
  EXPECT_EQ(c.verb, MgmtVerb::kCounters);
  EXPECT_TRUE(c.all && c.json);
  for (const char* bad : {"counters --all --all", "counters --jso", "counters all", "counters -"}) {
    c = ParseMgmtCommand(bad);
    EXPECT_EQ(c.verb, MgmtVerb::kUnknown) << bad;
    EXPECT_TRUE(c.error.starts_with("error: counters takes --all and --json")) << bad;
  }
}

TEST(MgmtCommand, DhtArgumentsAndTtl) {
  MgmtCommand c = ParseMgmtCommand("dht  put\tname   value ");
  EXPECT_EQ(c.verb, MgmtVerb::kDhtPut);
  EXPECT_EQ(c.name, "name");
  EXPECT_EQ(c.value, "value");
  EXPECT_EQ(c.ttl_s, kMgmtDhtDefaultTtlS);
  c = ParseMgmtCommand("dht put n v 999999");
  EXPECT_EQ(c.verb, MgmtVerb::kDhtPut);
  EXPECT_EQ(c.ttl_s, 999999u);
  c = ParseMgmtCommand("dht get n");
  EXPECT_EQ(c.verb, MgmtVerb::kDhtGet);
  EXPECT_EQ(c.name, "n");
  for (const char* ttl : {"0", "000000", "1000000", "-1", "1e3", "12a"}) {
    c = ParseMgmtCommand(std::string("dht put n v ") + ttl);
    EXPECT_EQ(c.verb, MgmtVerb::kDhtBad) << ttl;
    EXPECT_EQ(c.error,
              std::string("error: TTL '") + ttl + "' is not a number of seconds 1..999999\n");
  }
  for (const char* bad :
       {"dht", "dht get", "dht get a b", "dht put a", "dht put a b 1 2", "dht del a"}) {
    c = ParseMgmtCommand(bad);
    EXPECT_EQ(c.verb, MgmtVerb::kDhtBad) << bad;
    EXPECT_TRUE(c.error.starts_with("error: expected 'dht put")) << bad;
    EXPECT_TRUE(c.needs_overlay());
  }
}

TEST(MgmtCommand, JsonWordAsksForJsonOfAnyCommand) {
  EXPECT_FALSE(ParseMgmtCommand("status").json);
  MgmtCommand c = ParseMgmtCommand(" json\tstatus\n");
  EXPECT_EQ(c.verb, MgmtVerb::kStatus);
  EXPECT_TRUE(c.json);
  c = ParseMgmtCommand("json dht get n");
  EXPECT_EQ(c.verb, MgmtVerb::kDhtGet);
  EXPECT_TRUE(c.json);
  c = ParseMgmtCommand("json counters --all");
  EXPECT_EQ(c.verb, MgmtVerb::kCounters);
  EXPECT_TRUE(c.all && c.json);
  for (const char* bad : {"json", "jsonstatus", "json json status", "status json"}) {
    c = ParseMgmtCommand(bad);
    EXPECT_EQ(c.verb, MgmtVerb::kUnknown) << bad;
  }
}

TEST(MgmtCommand, PingAndValidateOptions) {
  MgmtCommand c = ParseMgmtCommand("ping n3");
  EXPECT_EQ(c.verb, MgmtVerb::kPing);
  EXPECT_EQ(c.name, "n3");
  EXPECT_EQ(c.count, kMgmtPingDefaultCount);
  EXPECT_EQ(c.interval_ms, kMgmtPingDefaultIntervalMs);
  EXPECT_TRUE(c.needs_overlay());
  c = ParseMgmtCommand("json ping 10.77.0.3 -i 50\t-c 100");
  EXPECT_EQ(c.verb, MgmtVerb::kPing);
  EXPECT_TRUE(c.json);
  EXPECT_EQ(c.name, "10.77.0.3");
  EXPECT_EQ(c.count, 100u);
  EXPECT_EQ(c.interval_ms, 50u);
  c = ParseMgmtCommand("validate");
  EXPECT_EQ(c.verb, MgmtVerb::kValidate);
  EXPECT_EQ(c.count, kMgmtValidateDefaultCount);
  EXPECT_EQ(c.interval_ms, kMgmtValidateDefaultIntervalMs);
  c = ParseMgmtCommand("validate -c 1 -i 10000");
  EXPECT_EQ(c.count, 1u);
  EXPECT_EQ(c.interval_ms, 10000u);
  for (const char* bad : {"ping", "ping -c 3", "ping n3 -c", "ping n3 -c 0", "ping n3 -c 101",
                          "ping n3 -i 9", "ping n3 -i 10001", "ping n3 -c 1 -c 2", "ping n3 x",
                          "ping n3 -c 1e2", "validate n3", "validate -c", "validate -w 3"}) {
    c = ParseMgmtCommand(bad);
    EXPECT_EQ(c.verb, MgmtVerb::kBadArgs) << bad;
    EXPECT_FALSE(c.needs_overlay()) << bad;
    EXPECT_TRUE(c.error.starts_with("error: ") && c.error.ends_with("')\n")) << c.error;
  }
  EXPECT_EQ(ParseMgmtCommand("pingn3").verb, MgmtVerb::kUnknown);
  EXPECT_EQ(ParseMgmtCommand("ping n3 -c 0").error,
            "error: -c '0' is not a number in 1..100 (expected 'ping NAME|VIP [-c N] [-i MS]')\n");
}

TEST(MgmtReplyFailed, ErrorsAndFailedChecksButNotSuccess) {
  EXPECT_TRUE(MgmtReplyFailed("error: unknown command 'x'\n"));
  EXPECT_TRUE(MgmtReplyFailed("{\"error\":\"unknown command\"}\n"));
  EXPECT_TRUE(MgmtReplyFailed("table\n\nsummary\nfail: 1 of 5 members lost probes\n"));
  EXPECT_TRUE(MgmtReplyFailed("fail: no reply from n3\n\n"));
  EXPECT_TRUE(MgmtReplyFailed("{\"members\":[],\"ok\":false}\n"));
  EXPECT_FALSE(MgmtReplyFailed("table\nok: every member answered every probe\n"));
  EXPECT_FALSE(MgmtReplyFailed("fail: in the middle\nok: at the end\n"));
  EXPECT_FALSE(MgmtReplyFailed("{\"ok\":true,\"name\":\"\\\"ok\\\":false\"}\n"));
  EXPECT_FALSE(MgmtReplyFailed("node  n1\nerror: not at the start\n"));
  EXPECT_FALSE(MgmtReplyFailed(""));
}

TEST(TapAddress, MissingInterfaceIsReported) {
  std::string error;
  EXPECT_EQ(AssignIpv4("ipopnosuch0", 0x0a2a0001, 24, &error), AssignResult::kNoSuchInterface);
  EXPECT_NE(error.find("ipopnosuch0"), std::string::npos) << error;
}

TEST(TapAddress, BadArgumentsFail) {
  std::string error;
  EXPECT_EQ(AssignIpv4("", 0x0a2a0001, 24, &error), AssignResult::kFailed);
  EXPECT_EQ(AssignIpv4("lo", 0x0a2a0001, 33, &error), AssignResult::kFailed);
  EXPECT_EQ(AssignIpv4(std::string(IFNAMSIZ, 'x'), 0x0a2a0001, 24, &error), AssignResult::kFailed);
}

// In a private network namespace (root only), assigns an address to its loopback twice and reads
// the result back; the host's interfaces are never touched.
TEST(TapAddress, AssignsIdempotentlyInPrivateNetns) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(77);
    std::string error;
    const uint32_t vip = 0x0a2a0105;  // 10.42.1.5
    for (int i = 0; i < 2; ++i) {
      if (AssignIpv4("lo", vip, 20, &error) != AssignResult::kOk) _exit(10 + i);
    }
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFADDR, &ifr) != 0) _exit(20);
    if (reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr)->sin_addr.s_addr != htonl(vip)) _exit(21);
    if (ioctl(fd, SIOCGIFNETMASK, &ifr) != 0) _exit(22);
    if (reinterpret_cast<sockaddr_in*>(&ifr.ifr_netmask)->sin_addr.s_addr != htonl(0xfffff000))
      _exit(23);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0 || (ifr.ifr_flags & IFF_UP) == 0) _exit(24);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no permission to create a network namespace";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
}

// `counters` lists non-zero values; `counters --all` every name, so a test can tell a zero from a
// counter that does not exist (tools/netns/lib.sh `counter`). The dataplane's lines sum the
// workers.
TEST(CountersListing, AllListsEveryNameWithItsValue) {
  CountersReport r;
  r.workers.resize(2);
  r.workers[0].drops[uint32_t(DropReason::replay)] = 3;
  r.workers[1].drops[uint32_t(DropReason::replay)] = 4;
  EXPECT_EQ(RenderCounters(r), "drop          replay                                   7\n");
  const std::string all = RenderCounters(r, /*all=*/true);
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(all.substr(at, nl - at));
  ASSERT_EQ(lines.size(),
            size_t{kNumDropReasons + kNumStats + kNumCpCounters + std::size(kNodeGaugeDescs)});
  size_t k = 0;
  auto expect_line = [&](const char* kind, const char* name, uint64_t value) {
    char want[96];
    std::snprintf(want, sizeof(want), "%-13s %-40s %llu", kind, name, (unsigned long long)value);
    EXPECT_EQ(lines[k++], want);
  };
  for (uint32_t i = 0; i < kNumDropReasons; ++i)
    expect_line("drop", kDropReasonNames[i], i == uint32_t(DropReason::replay) ? 7 : 0);
  for (uint32_t i = 0; i < kNumStats; ++i) expect_line("stat", kStatNames[i], 0);
  for (uint32_t i = 0; i < kNumCpCounters; ++i) expect_line("node", kCpCounterNames[i], 0);
  for (const CounterDesc& d : kNodeGaugeDescs) expect_line("node", d.name, 0);
}

// `peers` shows each peer's transmit key id and its age, so operators and the rekey test see
// every rekey: a new id, the age starting again. An inherited key has an id but no age; a peer
// without a key shows neither.
TEST(PeersListing, ShowsTransmitKeyIdAndAge) {
  std::vector<PeerSessions::PeerStatus> peers(3);
  peers[0].vip = 0x0a4d0002;
  peers[0].endpoint = testing::Ep4(0xac1fc803, 5800);
  peers[0].up = peers[0].heard = peers[0].tx_ready = peers[0].tx_published = true;
  peers[0].last_hello_age_ns = 408'000'000;
  peers[0].tx_key_id = 0x3f0c9a1e5b7d2468;
  peers[0].tx_key_age_ns = 41'900'000'000;
  peers[1].vip = 0x0a4d0003;
  peers[1].endpoint = testing::Ep4(0xac1fc804, 5800);
  peers[1].tx_published = peers[1].tx_inherited = true;
  peers[1].tx_key_id = 0x00000000000000a5;
  peers[2].vip = 0x0a4d0004;
  peers[2].endpoint = testing::Ep4(0xac1fc805, 5800);
  std::vector<PeerRow> rows;
  for (const PeerSessions::PeerStatus& p : peers) rows.push_back({p, {}});
  rows[0].traffic = {5, 420, 6, 504};
  const std::string text = RenderPeers(rows);
  EXPECT_EQ(text,
            "peer 10.77.0.2       endpoint 172.31.200.3:5800      up   last-hello-ms 408    "
            "tx-ready yes       tx-key 3f0c9a1e5b7d2468 key-age-s 41    rx-packets 5 rx-bytes 420 "
            "tx-packets 6 tx-bytes 504\n"
            "peer 10.77.0.3       endpoint 172.31.200.4:5800      down last-hello-ms -      "
            "tx-ready inherited tx-key 00000000000000a5 key-age-s -     rx-packets 0 rx-bytes 0 "
            "tx-packets 0 tx-bytes 0\n"
            "peer 10.77.0.4       endpoint 172.31.200.5:5800      down last-hello-ms -      "
            "tx-ready no        tx-key -                key-age-s -     rx-packets 0 rx-bytes 0 "
            "tx-packets 0 tx-bytes 0\n");
}

}  // namespace
}  // namespace ipop::cp

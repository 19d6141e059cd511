// Config: defaults, every validation error names its key (table-driven), flags over file, peers,
// secret files (and their permissions), inline-secret warnings, and the endpoint/IPv4 helpers.
#include "shared/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace ipop {
namespace {

const std::string kSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string MinimalFile() {
  return "[node]\nname = alpha\nvip = 10.77.0.1/24\n[network]\nname = lab\nsecret = " + kSecret +
         "\n";
}

// A temporary file removed at scope exit.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/ipop-core-test-XXXXXX";
    const int fd = mkstemp(tmpl);
    path_ = tmpl;
    if (fd >= 0) {
      if (::write(fd, content.data(), content.size()) != ssize_t(content.size())) path_.clear();
      ::close(fd);
    }
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ConfigResult Args(std::vector<std::string> args) {
  args.insert(args.begin(), "ipop-test");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseConfig(int(argv.size()), argv.data());
}

TEST(Config, CertificateModeNeedsNoNetworkSecret) {
  const ConfigResult r = ParseConfigText(
      "[node]\nname=a\nvip=10.77.0.1/24\ncert-file=/c\nkey-file=/k\n[network]\nname=l\n"
      "ca-file=/ca.crt\n[overlay]\nenabled = false\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_TRUE(r.config->cert_mode());
  EXPECT_EQ(r.config->cert_file, "/c");
  EXPECT_EQ(r.config->key_file, "/k");
  EXPECT_EQ(r.config->overlay_ca_file, "/ca.crt");  // default: the network's roots
  EXPECT_FALSE(ParseConfigText(MinimalFile()).config->cert_mode());
}

TEST(Config, MinimalFileGetsAllDefaults) {
  const ConfigResult r = ParseConfigText(MinimalFile());
  ASSERT_TRUE(r.config) << r.error;
  const NodeConfig& c = *r.config;
  EXPECT_EQ("alpha", c.name);
  EXPECT_EQ(0x0a4d0001u, c.vip);
  EXPECT_EQ(24u, c.prefix_len);
  EXPECT_EQ("ipop0", c.tap);
  EXPECT_EQ("0.0.0.0:5800", c.listen.ToString());
  EXPECT_EQ(1400u, c.mtu);
  EXPECT_EQ(1u, c.workers);
  EXPECT_EQ("/ipop-alpha", c.shm_name);
  EXPECT_EQ("/run/ipop/alpha.sock", c.mgmt_socket);
  EXPECT_TRUE(c.assign_address);
  EXPECT_EQ("info", c.log_level);
  EXPECT_EQ("lab", c.network);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(i, c.secret[i]);
  EXPECT_EQ(shm::Cipher::kAes256Gcm, c.cipher);
  EXPECT_EQ(CryptoBackend::kAuto, c.crypto_backend);
  EXPECT_EQ(1000u, c.hello_interval_ms);
  EXPECT_EQ(5000u, c.peer_timeout_ms);
  EXPECT_EQ(32u, c.dp_burst);
  EXPECT_EQ(50u, c.dp_spin_us);
  EXPECT_EQ(100u, c.dp_idle_wait_ms);
  EXPECT_EQ(15000u, c.dp_attach_timeout_ms);
  EXPECT_EQ(2u, c.cp_poll_ms);
  EXPECT_EQ(25u, c.cp_idle_poll_ms);
  EXPECT_TRUE(c.peers.empty());
  EXPECT_FALSE(c.metrics_listen) << "the metrics endpoint is off by default";
  EXPECT_FALSE(c.metrics_allow_remote);
  EXPECT_TRUE(r.error.empty());
}

// metrics.listen: loopback (IPv4 or IPv6) unless metrics.allow-remote says otherwise.
TEST(Config, MetricsListenIsLoopbackUnlessAllowed) {
  for (const char* ok : {"127.0.0.1:9323", "127.1.2.3:1", "[::1]:9323"}) {
    const ConfigResult r = ParseConfigText(MinimalFile() + "[metrics]\nlisten = " + ok + "\n");
    ASSERT_TRUE(r.config) << ok << ": " << r.error;
    EXPECT_EQ(r.config->metrics_listen->ToString(), ParseEndpoint(ok)->ToString());
  }
  for (const char* remote : {"0.0.0.0:9323", "10.0.0.1:9323", "[::]:9323", "[::2]:1"}) {
    ConfigResult r = ParseConfigText(MinimalFile() + "[metrics]\nlisten = " + remote + "\n");
    EXPECT_FALSE(r.config) << remote;
    EXPECT_TRUE(r.error.starts_with("metrics.listen: ")) << r.error;
    EXPECT_NE(r.error.find("metrics.allow-remote"), std::string::npos) << r.error;
    r = ParseConfigText(MinimalFile() + "[metrics]\nlisten = " + remote +
                        "\nallow-remote = true\n");
    ASSERT_TRUE(r.config) << remote << ": " << r.error;
    EXPECT_TRUE(r.config->metrics_allow_remote);
  }
  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "localhost:9323"}) {
    const ConfigResult r = ParseConfigText(MinimalFile() + "[metrics]\nlisten = " + bad + "\n");
    EXPECT_FALSE(r.config) << bad;
    EXPECT_TRUE(r.error.starts_with("metrics.listen: ")) << r.error;
  }
}

TEST(Config, FirewallRulesAreParsedInOrderAndBadOnesNamed) {
  ConfigResult r = ParseConfigText(MinimalFile() +
                                   "[firewall]\n"
                                   "inbound = allow group:web tcp 80,443\n"
                                   "outbound = allow any udp 53\n"
                                   "inbound = allow cidr:10.77.0.0/24 icmp\n"
                                   "inbound = deny name:n4 any\n");
  ASSERT_TRUE(r.config) << r.error;
  const std::vector<fw::Rule>& rules = r.config->firewall;
  ASSERT_EQ(rules.size(), 4u);
  // Inbound rules first, each direction in file order.
  EXPECT_EQ(fw::FormatRule(rules[0]), "allow group:web tcp 80,443");
  EXPECT_EQ(fw::FormatRule(rules[1]), "allow cidr:10.77.0.0/24 icmp");
  EXPECT_EQ(fw::FormatRule(rules[2]), "deny name:n4 any");
  EXPECT_EQ(rules[2].direction, shm::FwDirection::kInbound);
  EXPECT_EQ(fw::FormatRule(rules[3]), "allow any udp 53");
  EXPECT_EQ(rules[3].direction, shm::FwDirection::kOutbound);
  EXPECT_TRUE(ParseConfigText(MinimalFile()).config->firewall.empty());

  r = ParseConfigText(MinimalFile() + "[firewall]\ninbound = allow any tcp 80\n" +
                      "outbound = allow any tcp 8o\n");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.error,
            "firewall.outbound: rule 'allow any tcp 8o': '8o' is not a port or range, expected "
            "1..65535 or LO-HI (lists: 80,443,8000-8080)");
  r = ParseConfigText(MinimalFile() + "[firewall]\ninbound = allow everyone tcp\n");
  EXPECT_TRUE(
      r.error.starts_with("firewall.inbound: rule 'allow everyone tcp': 'everyone' is "
                          "not a peer selector"))
      << r.error;
  std::string many = MinimalFile() + "[firewall]\n";
  for (uint32_t i = 0; i <= shm::kMaxFwRules; ++i) many += "inbound = allow any tcp 22\n";
  r = ParseConfigText(many);
  EXPECT_EQ(r.error, "firewall: 65 rules, expected at most 64 (inbound and outbound together)");
  r = ParseConfigText(MinimalFile() + "[firewall]\nforward = allow any any\n");
  EXPECT_TRUE(r.error.starts_with("firewall.forward: unknown key")) << r.error;
}

TEST(Config, EveryKeySet) {
  const std::string text =
      "peer = 10.77.0.2 192.0.2.2:5801\n"
      "peer = 10.77.0.3 [2001:db8::3]:5802\n"
      "[node]\nname = b_2-x\nvip = 10.78.1.9/16\ntap = ipop-b\nlisten = [::]:6000\nmtu = 9000\n"
      "workers = 16\nshm = /custom\nmgmt-socket = /tmp/b.sock\nassign-address = false\n"
      "log-level = debug\n"
      "[network]\nname = net-2\nsecret = " +
      kSecret +
      "\ncipher = chacha20-poly1305\ncrypto-backend = ipsec-mb\n"
      "hello-interval-ms = 200\npeer-timeout-ms = 800\n"
      "[dataplane]\nburst = 256\nspin-us = 0\nidle-wait-ms = 0\nattach-timeout-ms = 0\n"
      "[controlplane]\npoll-ms = 1000\nidle-poll-ms = 1000\n";
  const ConfigResult r = ParseConfigText(text);
  ASSERT_TRUE(r.config) << r.error;
  const NodeConfig& c = *r.config;
  EXPECT_EQ("b_2-x", c.name);
  EXPECT_EQ(0x0a4e0109u, c.vip);
  EXPECT_EQ(16u, c.prefix_len);
  EXPECT_EQ("ipop-b", c.tap);
  EXPECT_EQ("[::]:6000", c.listen.ToString());
  EXPECT_EQ(9000u, c.mtu);
  EXPECT_EQ(16u, c.workers);
  EXPECT_EQ("/custom", c.shm_name);
  EXPECT_EQ("/tmp/b.sock", c.mgmt_socket);
  EXPECT_FALSE(c.assign_address);
  EXPECT_EQ("debug", c.log_level);
  EXPECT_EQ(shm::Cipher::kChaCha20Poly1305, c.cipher);
  EXPECT_EQ(CryptoBackend::kIpsecMb, c.crypto_backend);
  EXPECT_EQ(200u, c.hello_interval_ms);
  EXPECT_EQ(800u, c.peer_timeout_ms);
  EXPECT_EQ(256u, c.dp_burst);
  EXPECT_EQ(0u, c.dp_spin_us);
  EXPECT_EQ(0u, c.dp_idle_wait_ms);
  EXPECT_EQ(0u, c.dp_attach_timeout_ms);
  EXPECT_EQ(1000u, c.cp_poll_ms);
  EXPECT_EQ(1000u, c.cp_idle_poll_ms);
  ASSERT_EQ(2u, c.peers.size());
  EXPECT_EQ(0x0a4d0002u, c.peers[0].vip);
  EXPECT_EQ("192.0.2.2:5801", c.peers[0].endpoint.ToString());
  EXPECT_EQ(0x0a4d0003u, c.peers[1].vip);
  EXPECT_EQ("[2001:db8::3]:5802", c.peers[1].endpoint.ToString());
}

struct ErrorCase {
  const char* what;
  std::string text;    // appended to (or replacing parts of) a valid file
  const char* key;     // must start the error message
  const char* detail;  // must appear in the message
};

std::string Without(const std::string& line) {
  std::string f = MinimalFile();
  f.erase(f.find(line), line.size());
  return f;
}
std::string Plus(const std::string& section_and_line) {
  return MinimalFile() + section_and_line;
}
std::string Peer(const std::string& spec) {
  return "peer = " + spec + "\n" + MinimalFile();
}

TEST(Config, EveryErrorNamesItsKey) {
  const std::vector<ErrorCase> cases = {
      {"missing name", Without("name = alpha\n"), "node.name", "missing"},
      {"missing vip and subnet", Without("vip = 10.77.0.1/24\n"), "network.subnet", "missing"},
      {"bad subnet", Plus("[network]\nsubnet = 10.77.0.1/24\n"), "network.subnet", "host bits"},
      {"subnet not matching vip", Plus("[network]\nsubnet = 10.78.0.0/24\n"), "network.subnet",
       "does not match"},
      {"pool with static vip", Plus("[network]\npool = 10.77.0.5-10.77.0.9\n"), "network.pool",
       "static node.vip"},
      {"short lease", Plus("[network]\nlease-s = 5\n"), "network.lease-s", "out of range"},
      {"short overlay secret", Plus("[overlay]\nsecret = abcd\n"), "overlay.secret",
       "expected 64 hex"},
      {"missing network", Without("name = lab\n"), "network.name", "missing"},
      {"missing secret", Without("secret = " + kSecret + "\n"), "network.secret", "missing"},
      {"bad name char",
       "[node]\nname = a b\nvip=10.77.0.1/24\n[network]\nname=lab\nsecret=" + kSecret + "\n",
       "node.name", "invalid character"},
      {"long name",
       "[node]\nname = " + std::string(33, 'a') +
           "\nvip=10.77.0.1/24\n[network]\nname=lab\nsecret=" + kSecret + "\n",
       "node.name", "32"},
      {"bad network name",
       "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l.ab\nsecret=" + kSecret + "\n",
       "network.name", "invalid character"},
      {"vip no prefix",
       "[node]\nname=a\nvip=10.77.0.1\n[network]\nname=l\nsecret=" + kSecret + "\n", "node.vip",
       "prefix"},
      {"vip bad addr",
       "[node]\nname=a\nvip=10.77.0/24\n[network]\nname=l\nsecret=" + kSecret + "\n", "node.vip",
       "IPv4"},
      {"vip bad len",
       "[node]\nname=a\nvip=10.77.0.1/33\n[network]\nname=l\nsecret=" + kSecret + "\n", "node.vip",
       "1..32"},
      {"vip network addr",
       "[node]\nname=a\nvip=10.77.0.0/24\n[network]\nname=l\nsecret=" + kSecret + "\n", "node.vip",
       "network or broadcast"},
      {"mtu high", Plus("[node]\nmtu = 70000\n"), "node.mtu", "70000 is out of range 576..9000"},
      {"mtu low", Plus("[node]\nmtu = 575\n"), "node.mtu", "out of range 576..9000"},
      {"mtu text", Plus("[node]\nmtu = big\n"), "node.mtu", "not a number"},
      {"mtu negative", Plus("[node]\nmtu = -1400\n"), "node.mtu", "not a number"},
      {"mtu huge", Plus("[node]\nmtu = 99999999999999999999\n"), "node.mtu", "not a number"},
      {"workers 0", Plus("[node]\nworkers = 0\n"), "node.workers", "1..16"},
      {"workers 17", Plus("[node]\nworkers = 17\n"), "node.workers", "1..16"},
      {"tap long", Plus("[node]\ntap = abcdefghijklmnop\n"), "node.tap", "1..15"},
      {"tap slash", Plus("[node]\ntap = a/b\n"), "node.tap", "invalid character"},
      {"listen bad", Plus("[node]\nlisten = localhost:5800\n"), "node.listen", "a.b.c.d:port"},
      {"listen port 0", Plus("[node]\nlisten = 0.0.0.0:0\n"), "node.listen", "malformed"},
      {"shm no slash", Plus("[node]\nshm = ipop\n"), "node.shm", "/name"},
      {"socket long", Plus("[node]\nmgmt-socket = /" + std::string(120, 's') + "\n"),
       "node.mgmt-socket", "107"},
      {"assign bool", Plus("[node]\nassign-address = maybe\n"), "node.assign-address", "true"},
      {"log level", Plus("[node]\nlog-level = loud\n"), "node.log-level", "debug, info"},
      {"secret short", "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret=abcd\n",
       "network.secret", "64 hex"},
      {"secret non hex",
       "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret=" + std::string(63, 'a') +
           "g\n",
       "network.secret", "non-hex"},
      {"secret zero",
       "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret=" + std::string(64, '0') + "\n",
       "network.secret", "all zero"},
      {"secret and file", Plus("secret-file = /nonexistent\n"), "network.secret", "only one"},
      {"secret file missing",
       "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret-file=/nonexistent/x\n",
       "network.secret-file", "cannot open"},
      {"secret file dir", "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret-file=/tmp\n",
       "network.secret-file", "regular file"},
      {"cipher", Plus("cipher = des\n"), "network.cipher", "aes-256-gcm or chacha20-poly1305"},
      {"crypto backend", Plus("crypto-backend = aesni\n"), "network.crypto-backend",
       "auto, openssl or ipsec-mb"},
      {"hello range", Plus("hello-interval-ms = 5\n"), "network.hello-interval-ms", "10..60000"},
      {"timeout range", Plus("peer-timeout-ms = 700000\n"), "network.peer-timeout-ms",
       "100..600000"},
      {"timeout vs hello", Plus("hello-interval-ms = 1000\npeer-timeout-ms = 1500\n"),
       "network.peer-timeout-ms", "twice"},
      {"burst 0", Plus("[dataplane]\nburst = 0\n"), "dataplane.burst", "1..256"},
      {"burst 257", Plus("[dataplane]\nburst = 257\n"), "dataplane.burst", "1..256"},
      {"spin", Plus("[dataplane]\nspin-us = 1000001\n"), "dataplane.spin-us", "0..1000000"},
      {"idle", Plus("[dataplane]\nidle-wait-ms = 1001\n"), "dataplane.idle-wait-ms", "0..1000"},
      {"attach", Plus("[dataplane]\nattach-timeout-ms = 600001\n"), "dataplane.attach-timeout-ms",
       "0..600000"},
      {"poll 0", Plus("[controlplane]\npoll-ms = 0\n"), "controlplane.poll-ms", "1..1000"},
      {"idle poll below poll", Plus("[controlplane]\npoll-ms = 30\nidle-poll-ms = 10\n"),
       "controlplane.idle-poll-ms", "shorter than controlplane.poll-ms"},
      {"cert file without ca", Plus("[node]\ncert-file = /n1.crt\n"), "node.cert-file",
       "without network.ca-file"},
      {"overlay ca without ca", Plus("[overlay]\nca-file = /o.crt\n"), "overlay.ca-file",
       "without network.ca-file"},
      {"cert mode without cert", Plus("[network]\nca-file = /ca.crt\n[node]\nkey-file = /k\n"),
       "node.cert-file", "missing"},
      {"cert mode without key", Plus("[network]\nca-file = /ca.crt\n[node]\ncert-file = /c\n"),
       "node.key-file", "missing"},
      {"cert mode with overlay address",
       Plus("[network]\nca-file = /ca.crt\n[node]\ncert-file = /c\nkey-file = /k\n[overlay]\n"
            "address = " +
            std::string(40, 'a') + "\n"),
       "overlay.address", "derived from the node's certified key"},
      {"cert mode overlay without any secret",
       "[node]\nname=a\nvip=10.77.0.1/24\ncert-file=/c\nkey-file=/k\n[network]\nname=l\n"
       "ca-file=/ca.crt\n",
       "overlay.secret", "certificate mode"},
      {"unknown key", Plus("[node]\ncolour = blue\n"), "node.colour", "unknown key"},
      {"unknown section", Plus("[bogus]\nx = 1\n"), "bogus.x", "unknown key"},
      {"peer in section", Plus("peer = 10.77.0.2 192.0.2.2:1\n"), "network.peer",
       "before any [section]"},
      {"duplicate key", Plus("[node]\nmtu = 1400\nmtu = 1500\n"), "node.mtu", "more than once"},
      {"bad syntax", Plus("[node]\njust words\n"), "config", "invalid line"},
      // Boost's own what() loops forever on these (its placeholder expansion is not guarded).
      {"placeholder in bad line", Plus("[node]\n%invalid_line% x\n"), "config", "invalid line"},
      {"placeholder key", Plus("[node]\n%option% = 1\n"), "node.%option%", "unknown key"},
      {"peer one field", Peer("10.77.0.2"), "peer", "malformed"},
      {"peer three fields", Peer("10.77.0.2 192.0.2.2:1 x"), "peer", "malformed"},
      {"peer bad vip", Peer("10.77.0 192.0.2.2:1"), "peer", "virtual IPv4"},
      {"peer zero vip", Peer("0.0.0.0 192.0.2.2:1"), "peer", "virtual IPv4"},
      {"peer bad endpoint", Peer("10.77.0.2 192.0.2.2"), "peer", "endpoint"},
      {"peer port 0", Peer("10.77.0.2 192.0.2.2:0"), "peer", "endpoint"},
      {"peer hostname", Peer("10.77.0.2 host.example:5800"), "peer", "endpoint"},
      {"peer own vip", Peer("10.77.0.1 192.0.2.2:5800"), "peer", "own node.vip"},
      {"peer duplicate vip",
       "peer = 10.77.0.2 192.0.2.2:1\npeer = 10.77.0.2 192.0.2.3:1\n" + MinimalFile(), "peer",
       "listed twice"},
  };
  for (const ErrorCase& c : cases) {
    const ConfigResult r = ParseConfigText(c.text);
    EXPECT_FALSE(r.config) << c.what;
    EXPECT_EQ(0u, r.error.rfind(std::string(c.key) + ": ", 0))
        << c.what << ": error does not start with the key: " << r.error;
    EXPECT_NE(std::string::npos, r.error.find(c.detail)) << c.what << ": " << r.error;
  }
}

TEST(Config, SecretFileIsTrimmed) {
  TempFile secret("  \n" + kSecret + "\n\n");
  ASSERT_FALSE(secret.path().empty());
  const ConfigResult r = ParseConfigText(
      "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret-file=" + secret.path() + "\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(0x1f, r.config->secret[31]);
  TempFile bad("not a key\n");
  const ConfigResult r2 = ParseConfigText(
      "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret-file=" + bad.path() + "\n");
  ASSERT_FALSE(r2.config);
  EXPECT_EQ(0u, r2.error.rfind("network.secret-file: ", 0)) << r2.error;
}

// ---- Credentials other local users could read ----

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", unsigned(mode));
  return buf;
}

std::string WithSecretFile(const char* key, const std::string& path) {
  if (std::string(key) == "network.secret-file")
    return "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret-file = " + path + "\n";
  if (std::string(key) == "overlay.secret-file")
    return MinimalFile() + "[overlay]\nsecret-file = " + path + "\n";
  return MinimalFile() + "[node]\nrouter-key-file = " + path + "\n";  // node.router-key-file
}

TEST(Config, CredentialFileOthersCanAccessIsRefused) {
  for (const char* key : {"network.secret-file", "overlay.secret-file", "node.router-key-file"}) {
    TempFile file(kSecret + "\n");
    ASSERT_FALSE(file.path().empty());
    for (const mode_t mode : {0644, 0640, 0604, 0660, 0620, 0602, 0610}) {
      ASSERT_EQ(chmod(file.path().c_str(), mode), 0);
      const ConfigResult r = ParseConfigText(WithSecretFile(key, file.path()));
      EXPECT_FALSE(r.config) << key << " mode " << ModeText(mode);
      EXPECT_EQ(0u, r.error.rfind(std::string(key) + ": '" + file.path() + "' is ", 0)) << r.error;
      EXPECT_NE(std::string::npos, r.error.find("(mode " + ModeText(mode) + ")")) << r.error;
      EXPECT_NE(std::string::npos, r.error.find("chmod 600 " + file.path())) << r.error;
      if (mode & 044) {
        EXPECT_NE(std::string::npos, r.error.find("readable by group or other")) << r.error;
      }
    }
    for (const mode_t mode : {0600, 0400}) {
      ASSERT_EQ(chmod(file.path().c_str(), mode), 0);
      const ConfigResult r = ParseConfigText(WithSecretFile(key, file.path()));
      EXPECT_TRUE(r.config) << key << " mode " << ModeText(mode) << ": " << r.error;
    }
  }
}

TEST(Config, CredentialFileOfAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user (CI runs as root)";
  TempFile file(kSecret + "\n");
  ASSERT_EQ(chown(file.path().c_str(), 65534, 65534), 0);  // nobody, mode still 0600
  const ConfigResult r = ParseConfigText(WithSecretFile("network.secret-file", file.path()));
  EXPECT_FALSE(r.config);
  EXPECT_NE(std::string::npos, r.error.find("owned by uid 65534")) << r.error;
  EXPECT_NE(std::string::npos, r.error.find("chown 0 " + file.path())) << r.error;
}

TEST(Config, InlineSecretOthersCanReadIsWarned) {
  const auto warned = [](const ConfigResult& r, const std::string& what) {
    for (const std::string& w : r.warnings)
      if (w.rfind("network.secret ", 0) == 0 && w.find(what) != std::string::npos) return true;
    return false;
  };
  TempFile file(MinimalFile());
  for (const mode_t mode : {0644, 0640, 0604}) {
    ASSERT_EQ(chmod(file.path().c_str(), mode), 0);
    const ConfigResult r = Args({"--config", file.path()});
    ASSERT_TRUE(r.config) << r.error;  // a warning, not a refusal: existing configs keep working
    ASSERT_EQ(r.warnings.size(), 1u) << ModeText(mode);
    EXPECT_TRUE(warned(r, "'" + file.path() + "', which is readable by group or other (mode " +
                              ModeText(mode) + ")"))
        << r.warnings[0];
    EXPECT_TRUE(warned(r, "chmod 600 " + file.path())) << r.warnings[0];
  }
  for (const mode_t mode : {0600, 0400, 0620}) {
    ASSERT_EQ(chmod(file.path().c_str(), mode), 0);
    const ConfigResult r = Args({"--config", file.path()});
    ASSERT_TRUE(r.config) << r.error;
    EXPECT_TRUE(r.warnings.empty()) << ModeText(mode) << ": " << r.warnings[0];
  }
  // A secret file named in a readable config is not a secret in it.
  TempFile secret(kSecret);
  TempFile by_file(
      "[node]\nname=a\nvip=10.77.0.1/24\n[network]\nname=l\nsecret-file=" + secret.path() + "\n");
  ASSERT_EQ(chmod(by_file.path().c_str(), 0644), 0);
  const ConfigResult f = Args({"--config", by_file.path()});
  ASSERT_TRUE(f.config) << f.error;
  EXPECT_TRUE(f.warnings.empty());
  // On the command line every local user can read it (ps).
  const ConfigResult c = Args({"--node.name", "a", "--node.vip", "10.77.0.1/24", "--network.name",
                               "l", "--network.secret", kSecret});
  ASSERT_TRUE(c.config) << c.error;
  EXPECT_TRUE(warned(c, "command line")) << (c.warnings.empty() ? "none" : c.warnings[0]);
}

TEST(Config, FlagsOverrideFile) {
  TempFile file("peer = 10.77.0.2 192.0.2.2:5800\npeer = 10.77.0.3 192.0.2.3:5800\n" +
                MinimalFile() + "[node]\nmtu = 1300\n");
  const ConfigResult r = Args({"--config", file.path(), "--node.mtu", "1500", "--network.cipher",
                               "chacha20-poly1305", "--node.workers=4"});
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(1500u, r.config->mtu);
  EXPECT_EQ(4u, r.config->workers);
  EXPECT_EQ(shm::Cipher::kChaCha20Poly1305, r.config->cipher);
  EXPECT_EQ("alpha", r.config->name);  // untouched keys still come from the file
  EXPECT_EQ(file.path(), r.config->config_file);
  EXPECT_EQ(2u, r.config->peers.size());

  // --peer flags replace the file's peer list rather than merging with it.
  const ConfigResult p = Args(
      {"--config", file.path(), "--peer", "10.77.0.9 192.0.2.9:1", "--peer", "10.77.0.8 [::1]:2"});
  ASSERT_TRUE(p.config) << p.error;
  ASSERT_EQ(2u, p.config->peers.size());
  EXPECT_EQ(0x0a4d0009u, p.config->peers[0].vip);
  EXPECT_EQ("[::1]:2", p.config->peers[1].endpoint.ToString());
}

TEST(Config, CryptoBackendFromFileAndFlag) {
  const struct {
    const char* value;
    CryptoBackend expected;
  } kCases[] = {{"auto", CryptoBackend::kAuto},
                {"openssl", CryptoBackend::kOpenSsl},
                {"ipsec-mb", CryptoBackend::kIpsecMb}};
  for (const auto& k : kCases) {
    const ConfigResult r =
        ParseConfigText(MinimalFile() + "crypto-backend = " + std::string(k.value) + "\n");
    ASSERT_TRUE(r.config) << k.value << ": " << r.error;
    EXPECT_EQ(k.expected, r.config->crypto_backend) << k.value;
  }
  // The flag overrides the file, as for every key.
  TempFile file(MinimalFile() + "crypto-backend = ipsec-mb\n");
  const ConfigResult f = Args({"--config", file.path(), "--network.crypto-backend", "openssl"});
  ASSERT_TRUE(f.config) << f.error;
  EXPECT_EQ(CryptoBackend::kOpenSsl, f.config->crypto_backend);
  // Values are case-sensitive like every other enumerated key.
  const ConfigResult bad = ParseConfigText(MinimalFile() + "crypto-backend = OpenSSL\n");
  EXPECT_FALSE(bad.config);
  EXPECT_NE(std::string::npos, bad.error.find("network.crypto-backend")) << bad.error;
}

TEST(Config, FlagsAloneAndFlagErrors) {
  const ConfigResult r = Args({"--node.name", "solo", "--node.vip", "10.1.2.3/8", "--network.name",
                               "n", "--network.secret", kSecret});
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ("solo", r.config->name);
  EXPECT_EQ("/ipop-solo", r.config->shm_name);
  EXPECT_TRUE(r.config->config_file.empty());

  const ConfigResult bad = Args({"--node.name", "solo", "--node.mttu", "1400"});
  ASSERT_FALSE(bad.config);
  EXPECT_EQ(0u, bad.error.rfind("node.mttu: ", 0)) << bad.error;
  // No abbreviation guessing: a prefix of a real key is still unknown.
  const ConfigResult abbrev = Args({"--node.mt", "1400"});
  ASSERT_FALSE(abbrev.config);
  EXPECT_NE(std::string::npos, abbrev.error.find("node.mt")) << abbrev.error;
  const ConfigResult missing = Args({"--config", "/nonexistent/ipop.conf"});
  ASSERT_FALSE(missing.config);
  EXPECT_EQ(0u, missing.error.rfind("config: ", 0)) << missing.error;
  const ConfigResult stray = Args({"--node.name", "solo", "--peer", "10.1.2.4", "192.0.2.4:1"});
  ASSERT_FALSE(stray.config);
  EXPECT_NE(std::string::npos, stray.error.find("'192.0.2.4:1'")) << stray.error;
  const ConfigResult no_value = Args({"--node.mtu"});
  ASSERT_FALSE(no_value.config);
  EXPECT_NE(std::string::npos, no_value.error.find("node.mtu")) << no_value.error;
}

TEST(Config, OverlayKeysAndBootstrapList) {
  const ConfigResult d = ParseConfigText(MinimalFile());
  ASSERT_TRUE(d.config) << d.error;
  EXPECT_TRUE(d.config->overlay);
  EXPECT_FALSE(d.config->overlay_address_set);
  EXPECT_TRUE(d.config->bootstrap.empty());
  EXPECT_EQ(10u, d.config->shortcut_pps);

  // Hundreds of entries are normal; duplicates collapse.
  std::string list;
  for (int i = 0; i < 300; ++i)
    list += "bootstrap = 192.0.2." + std::to_string(i % 250 + 1) + ":" +
            std::to_string(5800 + i / 250) + "\n";
  list += "bootstrap = 192.0.2.1:5800\n";
  const ConfigResult r = ParseConfigText(list + MinimalFile() +
                                         "[overlay]\nenabled = false\n"
                                         "address = 00112233445566778899aabbccddeeff00112233\n"
                                         "shortcut-pps = 50\npeer-idle-s = 30\n"
                                         "far-links-per-log2 = 0.5\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(300u, r.config->bootstrap.size());
  EXPECT_EQ("192.0.2.1:5800", r.config->bootstrap[0].ToString());
  EXPECT_FALSE(r.config->overlay);
  ASSERT_TRUE(r.config->overlay_address_set);
  EXPECT_EQ(0x00, r.config->overlay_address[0]);
  EXPECT_EQ(0x33, r.config->overlay_address[19]);
  EXPECT_EQ(50u, r.config->shortcut_pps);
  EXPECT_EQ(30u, r.config->dynamic_peer_idle_s);
  EXPECT_DOUBLE_EQ(0.5, r.config->far_links_per_log2);

  // Flags: --bootstrap is repeatable and replaces the file's list.
  TempFile file("bootstrap = 192.0.2.9:1\n" + MinimalFile());
  const ConfigResult f = Args({"--config", file.path(), "--bootstrap", "198.51.100.1:5800",
                               "--bootstrap", "[2001:db8::1]:5800"});
  ASSERT_TRUE(f.config) << f.error;
  ASSERT_EQ(2u, f.config->bootstrap.size());
  EXPECT_EQ("[2001:db8::1]:5800", f.config->bootstrap[1].ToString());

  const struct {
    std::string text;
    const char* key;
  } kBad[] = {
      {"bootstrap = nowhere\n" + MinimalFile(), "bootstrap"},
      {"bootstrap = 192.0.2.1:0\n" + MinimalFile(), "bootstrap"},
      {MinimalFile() + "[overlay]\naddress = 0011\n", "overlay.address"},
      {MinimalFile() + "[overlay]\naddress = zz112233445566778899aabbccddeeff00112233\n",
       "overlay.address"},
      {MinimalFile() + "[overlay]\nenabled = maybe\n", "overlay.enabled"},
      {MinimalFile() + "[overlay]\nfar-links-per-log2 = -1\n", "overlay.far-links-per-log2"},
      {MinimalFile() + "[overlay]\nfar-links-per-log2 = 9\n", "overlay.far-links-per-log2"},
      {MinimalFile() + "[overlay]\nshortcut-pps = 0\n", "overlay.shortcut-pps"},
      {MinimalFile() + "bootstrap = 192.0.2.1:5800\n", "bootstrap"},
  };
  for (const auto& k : kBad) {
    const ConfigResult b = ParseConfigText(k.text);
    EXPECT_FALSE(b.config) << k.text;
    EXPECT_NE(std::string::npos, b.error.find(k.key)) << k.text << " -> " << b.error;
  }
}

TEST(Config, ServiceAddressDnsSuffixAndDhcp) {
  const ConfigResult d = ParseConfigText(MinimalFile());  // 10.77.0.1/24
  ASSERT_TRUE(d.config) << d.error;
  EXPECT_EQ(*ParseIpv4("10.77.0.254"), d.config->service_ip);
  EXPECT_EQ("ipop", d.config->dns_suffix);
  EXPECT_TRUE(d.config->dhcp);
  // The default steps aside when node.vip is the last host address itself.
  std::string last = MinimalFile();
  last.replace(last.find("10.77.0.1/24"), 12, "10.77.0.254/24");
  const ConfigResult l = ParseConfigText(last);
  ASSERT_TRUE(l.config) << l.error;
  EXPECT_EQ(*ParseIpv4("10.77.0.253"), l.config->service_ip);
  // No service address on /31 and /32.
  std::string p2p = MinimalFile();
  p2p.replace(p2p.find("10.77.0.1/24"), 12, "10.77.0.1/32");
  const ConfigResult h = ParseConfigText(p2p);
  ASSERT_TRUE(h.config) << h.error;
  EXPECT_EQ(0u, h.config->service_ip);

  const ConfigResult r = ParseConfigText(MinimalFile() +
                                         "service-ip = 10.77.0.100\ndns-suffix = vpn.example\n"
                                         "[node]\ndhcp = false\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(*ParseIpv4("10.77.0.100"), r.config->service_ip);
  EXPECT_EQ("vpn.example", r.config->dns_suffix);
  EXPECT_FALSE(r.config->dhcp);
  for (const char* bad : {"service-ip = 10.78.0.5", "service-ip = 10.77.0.1",
                          "service-ip = 10.77.0.0", "service-ip = 10.77.0.255", "service-ip = nope",
                          "dns-suffix = a..b", "dns-suffix = .ipop", "dns-suffix = ip op"}) {
    const ConfigResult b = ParseConfigText(MinimalFile() + bad + "\n");
    EXPECT_FALSE(b.config) << bad;
    const std::string key =
        std::string("network.") + std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(std::string::npos, b.error.find(key)) << bad << " -> " << b.error;
  }
}

TEST(Config, AnnouncedSubnets) {
  const ConfigResult r =
      ParseConfigText("announce = 192.168.50.7/24\nannounce = 172.16.0.0/12\n" + MinimalFile());
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(2u, r.config->announce.size());
  EXPECT_EQ(*ParseIpv4("192.168.50.0"), r.config->announce[0].prefix);  // masked
  EXPECT_EQ(24, r.config->announce[0].length);
  EXPECT_EQ(12, r.config->announce[1].length);
  for (const char* bad : {"announce = 192.168.50.0", "announce = 192.168.50.0/33",
                          "announce = 10.77.0.0/16", "announce = 10.0.0.0/8", "announce = x/24"}) {
    const ConfigResult b = ParseConfigText(std::string(bad) + "\n" + MinimalFile());
    EXPECT_FALSE(b.config) << bad;
    EXPECT_EQ(0u, b.error.rfind("announce", 0)) << bad << " -> " << b.error;
  }
}

TEST(Config, HelpListsEveryKey) {
  const ConfigResult r = Args({"--help"});
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(r.error.empty());
  for (const char* key : {"--config", "--node.name", "--node.mgmt-socket", "--network.secret-file",
                          "--dataplane.attach-timeout-ms", "--controlplane.poll-ms", "--peer",
                          "--bootstrap", "--overlay.shortcut-pps"})
    EXPECT_NE(std::string::npos, r.help.find(key)) << key;
}

TEST(Config, EndpointParsing) {
  struct {
    const char* text;
    bool ok;
    const char* canonical;
  } cases[] = {
      {"1.2.3.4:5", true, "1.2.3.4:5"},
      {"0.0.0.0:65535", true, "0.0.0.0:65535"},
      {"[::1]:80", true, "[::1]:80"},
      {"[2001:db8::1]:5800", true, "[2001:db8::1]:5800"},
      {"[::ffff:1.2.3.4]:9", true, "1.2.3.4:9"},  // mapped form prints as IPv4
      {"1.2.3.4:65536", false, ""},
      {"1.2.3.4:", false, ""},
      {"1.2.3.4", false, ""},
      {"1.2.3:4", false, ""},
      {"01.2.3.4:5", false, ""},
      {"1.2.3.4:5x", false, ""},
      {"1.2.3.4:-5", false, ""},
      {"::1:80", false, ""},
      {"[::1]80", false, ""},
      {"[]:80", false, ""},
      {"[1.2.3.4]:80", false, ""},
      {"host:80", false, ""},
      {"", false, ""},
  };
  for (const auto& c : cases) {
    const auto ep = ParseEndpoint(c.text);
    EXPECT_EQ(c.ok, ep.has_value()) << c.text;
    if (ep && c.ok) {
      EXPECT_EQ(c.canonical, ep->ToString()) << c.text;
    }
  }
  const auto v4 = ParseEndpoint("192.0.2.7:5800");
  ASSERT_TRUE(v4);
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
  EXPECT_EQ(0, std::memcmp(mapped, v4->addr, 16));
  EXPECT_EQ(5800, v4->port);
}

TEST(Config, Ipv4Helpers) {
  EXPECT_EQ(0x0a4d0001u, ParseIpv4("10.77.0.1"));
  EXPECT_EQ(0xffffffffu, ParseIpv4("255.255.255.255"));
  EXPECT_EQ(0u, ParseIpv4("0.0.0.0"));
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "a.b.c.d", "1..2.3"})
    EXPECT_FALSE(ParseIpv4(bad)) << bad;
  for (uint32_t v : {0u, 1u, 0x0a4d0001u, 0xc0000207u, 0xffffffffu})
    EXPECT_EQ(v, ParseIpv4(FormatIpv4(v)));
  EXPECT_EQ("10.77.0.1", FormatIpv4(0x0a4d0001u));
}

}  // namespace
}  // namespace ipop

namespace ipop {
namespace {

TEST(Config, AllocatedAddressingFromSubnetAndPool) {
  const std::string base =
      "[node]\nname = alpha\n[network]\nname = lab\nsecret = " + std::string(64, 'a') +
      "\nsubnet = 10.250.0.0/16\n";
  ConfigResult r = ParseConfigText(base);
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(0u, r.config->vip);
  EXPECT_EQ(0x0afa0000u, r.config->subnet);
  EXPECT_EQ(16u, r.config->prefix_len);
  EXPECT_EQ(0x0afa0001u, r.config->pool_first);
  EXPECT_EQ(0x0afafffeu, r.config->pool_last);
  EXPECT_EQ(0x0afafffeu, r.config->service_ip);  // last host; the claim skips it
  EXPECT_EQ(600u, r.config->lease_s);
  EXPECT_FALSE(r.config->overlay_secret_set);

  r = ParseConfigText(base + "pool = 10.250.1.10-10.250.1.20\nlease-s = 30\n[overlay]\nsecret = " +
                      std::string(64, 'b') + "\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(0x0afa010au, r.config->pool_first);
  EXPECT_EQ(0x0afa0114u, r.config->pool_last);
  EXPECT_EQ(30u, r.config->lease_s);
  EXPECT_TRUE(r.config->overlay_secret_set);
  EXPECT_EQ(0xbb, r.config->overlay_secret[0]);

  for (const char* bad : {"10.250.1.20-10.250.1.10", "10.251.0.1-10.251.0.9",
                          "10.250.0.0-10.250.0.9", "10.250.0.1", "x-y"}) {
    r = ParseConfigText(base + "pool = " + bad + "\n");
    EXPECT_FALSE(r.config) << bad;
    EXPECT_EQ(0u, r.error.rfind("network.pool: ", 0)) << r.error;
  }
  // A static address and its subnet agree.
  r = ParseConfigText(base + "[node]\nvip = 10.250.3.4/16\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(0x0afa0304u, r.config->vip);
}

}  // namespace
}  // namespace ipop

namespace ipop {
namespace {

// The DPDK backend's keys (docs/dpdk.md): defaults, every key set, and the checks that keep a
// node from starting with an underlay it cannot own.
TEST(Config, DataplaneBackendKeys) {
  const ConfigResult d = ParseConfigText(MinimalFile());
  ASSERT_TRUE(d.config) << d.error;
  EXPECT_EQ(DataplaneBackend::kIoUring, d.config->dp_backend);
  EXPECT_EQ("tap", d.config->dp_host_port);
  EXPECT_EQ("drop", d.config->dp_exception);
  EXPECT_EQ(24u, d.config->dp_underlay_prefix);
  EXPECT_EQ(0u, d.config->dp_underlay_gateway);
  EXPECT_EQ(5000u, d.config->dp_idle_poll_us);

  const std::string dpdk =
      "[node]\nlisten = 192.0.2.10:5900\n[dataplane]\nbackend = dpdk\n"
      "underlay-port = net_af_xdp0,iface=eth1\n";
  const ConfigResult r = ParseConfigText(
      MinimalFile() + dpdk +
      "eal-args = -l 2-3 --log-level=debug\nhost-port = vhost:/run/ipop/vm1.sock\n"
      "underlay-prefix = 16\nunderlay-gateway = 192.0.2.1\nunderlay-exception = ipopx0\n"
      "idle-poll-us = 250\n");
  ASSERT_TRUE(r.config) << r.error;
  const NodeConfig& c = *r.config;
  EXPECT_EQ(DataplaneBackend::kDpdk, c.dp_backend);
  EXPECT_EQ("-l 2-3 --log-level=debug", c.dp_eal_args);
  EXPECT_EQ("net_af_xdp0,iface=eth1", c.dp_underlay_port);
  EXPECT_EQ("vhost:/run/ipop/vm1.sock", c.dp_host_port);
  EXPECT_EQ(16u, c.dp_underlay_prefix);
  EXPECT_EQ(0xc0000201u, c.dp_underlay_gateway);
  EXPECT_EQ("ipopx0", c.dp_exception);
  EXPECT_EQ(250u, c.dp_idle_poll_us);

  const std::vector<ErrorCase> cases = {
      {"unknown backend", Plus("[dataplane]\nbackend = xdp\n"), "dataplane.backend", "unknown"},
      {"dpdk without a port",
       Plus("[node]\nlisten = 192.0.2.10:5800\n[dataplane]\nbackend = dpdk\n"),
       "dataplane.underlay-port", "missing"},
      {"dpdk on the wildcard",
       Plus("[dataplane]\nbackend = dpdk\nunderlay-port = net_af_packet0,iface=u0\n"),
       "node.listen", "not 0.0.0.0"},
      {"dpdk on IPv6",
       Plus("[node]\nlisten = [2001:db8::1]:5800\n[dataplane]\nbackend = dpdk\n"
            "underlay-port = net_af_packet0,iface=u0\n"),
       "node.listen", "IPv4"},
      {"gateway off-link", Plus(dpdk + "underlay-gateway = 198.51.100.1\n"),
       "dataplane.underlay-gateway", "on-link"},
      {"gateway is us", Plus(dpdk + "underlay-gateway = 192.0.2.10\n"),
       "dataplane.underlay-gateway", "on-link"},
      {"gateway malformed", Plus(dpdk + "underlay-gateway = router\n"),
       "dataplane.underlay-gateway", "IPv4"},
      {"host port unknown", Plus(dpdk + "host-port = tun\n"), "dataplane.host-port", "unknown"},
      {"vhost without path", Plus(dpdk + "host-port = vhost:\n"), "dataplane.host-port",
       "names no socket"},
      {"prefix 0", Plus(dpdk + "underlay-prefix = 0\n"), "dataplane.underlay-prefix", ""},
      {"exception name too long", Plus(dpdk + "underlay-exception = a-very-long-name-x\n"),
       "dataplane.underlay-exception", "1..15"},
      {"poll too short", Plus(dpdk + "idle-poll-us = 1\n"), "dataplane.idle-poll-us", ""},
  };
  for (const ErrorCase& e : cases) {
    const ConfigResult b = ParseConfigText(e.text);
    EXPECT_FALSE(b.config) << e.what;
    EXPECT_EQ(0u, b.error.rfind(std::string(e.key) + ": ", 0))
        << e.what << ": error does not start with the key: " << b.error;
    EXPECT_NE(std::string::npos, b.error.find(e.detail)) << e.what << ": " << b.error;
  }
}

}  // namespace
}  // namespace ipop

// ipopctl: sends one command line to a node's management socket and prints the reply.
// Options end at the first non-option word, so commands may take their own "--flags" later.
// Exit status: 0 reply, 1 an error or failed check (reply starting with "error:" or {"error":,
// a last line starting with "fail:", a JSON reply with "ok":false), 2 usage error or node
// unreachable.
#include <dirent.h>
#include <limits.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/mgmt/mgmt_command.h"
#include "controlplane/mgmt/mgmt_server.h"

namespace {

constexpr const char* kSocketDir = "/run/ipop";

constexpr const char* kUsage =
    "usage: ipopctl [--socket PATH | --node NAME] [--timeout-ms N] [--json] COMMAND [ARGS...]\n"
    "\n"
    "Talks to a running node's control plane over its management socket.\n"
    "\n"
    "options:\n"
    "  --socket PATH     management socket (node.mgmt-socket in the config)\n"
    "  --node NAME       use /run/ipop/NAME.sock\n"
    "                    (with neither: the only *.sock in /run/ipop)\n"
    "  --timeout-ms N    give up after N ms (default 5000; 35000 for dht; for ping and\n"
    "                    validate 65000 + the probes' own time)\n"
    "  --json            the reply as one JSON object (every command;\n"
    "                    also after the command, but for dht)\n"
    "  -h, --help        this text\n"
    "\n"
    "commands:\n"
    "  status            node name, virtual IP, TAP and a summary of the node's state\n"
    "  peers             the data peers (static and learned through the overlay), state of each\n"
    "  routes            how each peer's virtual IP is reached: direct or relayed via the overlay\n"
    "  ring              overlay address, ring neighbours, link counts, DHT summary\n"
    "  links             every overlay link with its kinds (leaf, near, far, shortcut)\n"
    "  dht put NAME VALUE [TTL-SECONDS]\n"
    "                    store VALUE under NAME in the network's DHT (default TTL 3600 s)\n"
    "  dht get NAME      the values stored under NAME\n"
    "  multicast         groups the host joined (published in the DHT) and groups it sends to,\n"
    "                    with their members\n"
    "  firewall          the [firewall] rules in order with their hit counts (new flows\n"
    "                    allowed, packets dropped) and the default policy per direction\n"
    "  counters [--all] [--json]\n"
    "                    every counter: \"MODULE NAME VALUE\" lines (drop, stat, node, overlay,\n"
    "                    dht, dhcp, dns, ...), non-zero ones or all with --all; --json: every\n"
    "                    value as JSON by module, the dataplane also per worker\n"
    "  ping NAME|VIP [-c N] [-i MS]\n"
    "                    N echo probes (default 4, at most 100) MS ms apart (default 1000)\n"
    "                    through the overlay to the node holding VIP or named NAME: path\n"
    "                    (direct or via which node, overlay hops each way), round-trip time,\n"
    "                    loss; exit status 1 if no probe came back\n"
    "  validate [-c N] [-i MS]\n"
    "                    ping every member of the network (N probes each, default 3, MS ms\n"
    "                    apart, default 200) and print a table and a loss summary; exit\n"
    "                    status 1 on any loss or unreachable member\n"
    "  reload            re-read the config file (same as SIGHUP to the node)\n"
    "  revoke FILE       certificate mode: learn the revocations in FILE (ipop-cert revoke;\n"
    "                    add the issuing CA certificate when it signed them), drop the revoked\n"
    "                    nodes' sessions and flood them to the whole network\n"
    "\n"
    "exit status: 0 ok, 1 the node replied with an error or a check failed (ping, validate),\n"
    "2 usage error or node unreachable\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "ipopctl: %s\n(try ipopctl --help)\n", message.c_str());
  return 2;
}

// With neither --socket nor --node, a host running exactly one node needs no flag.
bool FindOnlySocket(std::string* path, std::string* error) {
  std::vector<std::string> found;
  if (DIR* dir = opendir(kSocketDir)) {
    while (const dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".sock") == 0) {
        found.push_back(std::string(kSocketDir) + "/" + name);
      }
    }
    closedir(dir);
  }
  if (found.size() == 1) {
    *path = found[0];
    return true;
  }
  if (found.empty()) {
    *error = std::string("no node sockets in ") + kSocketDir +
             "; is the node running? (or pass --socket PATH / --node NAME)";
  } else {
    *error = std::string("several nodes run here; pick one with --node NAME or --socket PATH:");
    for (const std::string& p : found) *error += "\n  " + p;
  }
  return false;
}

// How long ping/validate may take inside the node: DHT lookups (30 s each at most), then
// count probes interval ms apart and the last one's 2 s timeout.
int ProbeTimeoutMs(int argc, char** argv, int first, bool ping) {
  long count = ping ? 4 : 3, interval = ping ? 1000 : 200;
  for (int k = first; k + 1 < argc; ++k) {
    const std::string opt = argv[k];
    if (opt == "-c") count = std::strtol(argv[k + 1], nullptr, 10);
    if (opt == "-i") interval = std::strtol(argv[k + 1], nullptr, 10);
  }
  count = count < 1 || count > 100 ? 100 : count;
  interval = interval < 1 || interval > 10000 ? 10000 : interval;
  return int(65000 + count * interval + 5000);
}

bool ParseTimeout(const std::string& text, int* timeout_ms) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 1 || value > 600000) return false;
  *timeout_ms = static_cast<int>(value);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, node;
  int timeout_ms = 5000;
  bool timeout_given = false;
  bool json = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.rfind("--", 0) != 0) break;  // first command word
    if (arg == "--json") {
      json = true;
      continue;
    }
    std::string value;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (arg == "--socket" || arg == "--node" || arg == "--timeout-ms") {
      if (i + 1 >= argc) return UsageError(arg + " needs a value");
      value = argv[++i];
    }
    if (arg == "--socket") {
      socket_path = value;
    } else if (arg == "--node") {
      node = value;
    } else if (arg == "--timeout-ms") {
      if (!ParseTimeout(value, &timeout_ms)) {
        return UsageError("--timeout-ms must be a number of milliseconds in 1..600000");
      }
      timeout_given = true;
    } else {
      return UsageError("unknown option " + arg);
    }
  }
  if (i >= argc) return UsageError("no command given");
  if (!socket_path.empty() && !node.empty()) return UsageError("give --socket or --node, not both");
  if (!node.empty()) {
    if (node.find('/') != std::string::npos) return UsageError("node name must not contain '/'");
    socket_path = std::string(kSocketDir) + "/" + node + ".sock";
  } else if (socket_path.empty()) {
    std::string error;
    if (!FindOnlySocket(&socket_path, &error)) {
      std::fprintf(stderr, "ipopctl: %s\n", error.c_str());
      return 2;
    }
  }

  // A DHT operation retries for up to 30 s inside the node before it answers.
  const std::string verb = argv[i];
  if (!timeout_given && verb == "dht") timeout_ms = 35000;
  if (!timeout_given && (verb == "ping" || verb == "validate"))
    timeout_ms = ProbeTimeoutMs(argc, argv, i + 1, verb == "ping");
  // `--json` may also follow the command (`ipopctl peers --json`), except among the words of a
  // dht command, whose values are free text.
  std::string args;
  for (++i; i < argc; ++i) {
    if (verb != "dht" && std::string_view(argv[i]) == "--json") {
      json = true;
      continue;
    }
    std::string arg = argv[i];
    // The node reads the file itself: give it a path that does not depend on our directory.
    if (verb == "revoke" && !arg.empty() && arg[0] != '/') {
      char* full = realpath(arg.c_str(), nullptr);
      if (full == nullptr) {
        std::fprintf(stderr, "ipopctl: %s: %s\n", arg.c_str(), std::strerror(errno));
        return 2;
      }
      arg = full;
      std::free(full);
    }
    args += " " + arg;
  }
  const std::string line = (json ? "json " + verb : verb) + args;

  std::string reply, error;
  if (!ipop::cp::MgmtRequest(socket_path, line, &reply, &error, timeout_ms)) {
    std::fprintf(stderr, "ipopctl: is the node running? no control plane at %s (%s)\n",
                 socket_path.c_str(), error.c_str());
    return 2;
  }
  std::fwrite(reply.data(), 1, reply.size(), stdout);
  if (!reply.empty() && reply.back() != '\n') std::fputc('\n', stdout);
  return ipop::cp::MgmtReplyFailed(reply) ? 1 : 0;
}

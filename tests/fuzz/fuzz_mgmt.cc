// Fuzzes management command handling: the request framing of MgmtServer (a real unix socket in
// /tmp, one connection per input) and the command parser behind it.
//   framing  the input is what a client sends before closing its side. Judged by the contract in
//            mgmt_server.h: the handler runs at most once, with exactly the bytes before the first
//            newline (one trailing CR dropped) or all of them at EOF, and only if that is a line of
//            text shorter than 4 KiB; otherwise the client gets the matching "error:" reply (or
//            nothing for an empty request). Every reply ends with a newline. A deferred reply
//            (the dht commands) reaches the client once, through Reply.
//   parsing  ParseMgmtCommand on the input: a plain verb only for exactly its word (blanks and
//            line endings around it aside), dht put/get only for "dht" + blank-separated words
//            whose fields hold no blanks and whose TTL is 1..999999, rendering a parsed dht command
//            back to text parses to the same command, ping/validate only for their word + blank
//            separated options "-c N" (1..100) and "-i MS" (10..10000) each at most once (ping
//            with a target first), counters only with --all and --json each at most once, a
//            leading word "json" (or counters --json) asks for JSON and is otherwise ignored,
//            and every refusal is an "error: ...\n" reply.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/mgmt/mgmt_command.h"
#include "controlplane/mgmt/mgmt_server.h"

namespace {

using namespace ipop::cp;

void Require(bool ok) {
  if (!ok) std::abort();
}

constexpr size_t kMaxRequest = 4096;

struct Served {
  int calls = 0;
  std::string line;
  uint64_t ticket = 0;
};
Served served;

// The socket lives in a directory of its own: the server refuses one other users can write.
std::string SocketPath() {
  static const std::string dir = [] {
    const std::string d = "/tmp/ipop-fuzz-mgmt-" + std::to_string(getpid());
    mkdir(d.c_str(), 0700);
    // Removed at exit, after the server (a static made later, so destroyed first) unlinked
    // its socket.
    std::atexit([] { rmdir(("/tmp/ipop-fuzz-mgmt-" + std::to_string(getpid())).c_str()); });
    return d;
  }();
  return dir + "/mgmt.sock";
}

MgmtServer& Server() {
  static std::unique_ptr<MgmtServer> server = [] {
    const std::string path = SocketPath();
    std::string error;
    auto s = MgmtServer::Listen(
        path,
        [](std::string_view line) -> std::string {
          ++served.calls;
          served.line = std::string(line);
          const MgmtCommand c = ParseMgmtCommand(line);
          if (c.verb == MgmtVerb::kDhtGet || c.verb == MgmtVerb::kDhtPut) {
            served.ticket = Server().Defer(1000);
            Require(served.ticket != 0);
            return "ignored: the reply is deferred";
          }
          return c.error.empty() ? "ok " + std::to_string(int(c.verb)) : c.error;
        },
        &error);
    Require(s != nullptr);
    return s;
  }();
  return *server;
}

bool Blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && Blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && (Blank(s.back()) || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool Field(const std::string& f) {
  if (f.empty()) return false;
  for (char c : f)
    if (Blank(c)) return false;
  return true;
}

std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> w;
  std::string cur;
  for (char ch : s) {
    if (Blank(ch)) {
      if (!cur.empty()) w.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  if (!cur.empty()) w.push_back(cur);
  return w;
}

// The probe command's options, as parsed, rendered back: must parse to the same command.
void CheckProbe(const MgmtCommand& c, std::string_view t) {
  const bool ping = c.verb == MgmtVerb::kPing;
  Require(t.starts_with(ping ? "ping" : "validate") && c.error.empty());
  Require(c.count >= 1 && c.count <= kMgmtMaxCount);
  Require(c.interval_ms >= kMgmtMinIntervalMs && c.interval_ms <= kMgmtMaxIntervalMs);
  const std::vector<std::string> words = SplitWords(t);
  Require(words.size() % 2 == (ping ? 0u : 1u) && words.size() <= (ping ? 6u : 5u));
  if (ping) Require(Field(c.name) && c.name == words[1] && !c.name.starts_with("-"));
  const std::string again = std::string(ping ? "ping " + c.name : "validate") + " -i " +
                            std::to_string(c.interval_ms) + " -c " + std::to_string(c.count);
  const MgmtCommand d = ParseMgmtCommand(again);
  Require(d.verb == c.verb && d.name == c.name && d.count == c.count &&
          d.interval_ms == c.interval_ms);
}

// "counters" and a space, then blank-separated words: whether every word is --all or --json, each
// at most once (*all, *json say which came).
bool CountersFlags(std::string_view t, bool* all, bool* json) {
  *all = *json = false;
  if (!t.starts_with("counters ")) return false;
  size_t pos = 9;
  while (pos < t.size()) {
    if (Blank(t[pos])) {
      ++pos;
      continue;
    }
    size_t end = pos;
    while (end < t.size() && !Blank(t[end])) ++end;
    const std::string_view w = t.substr(pos, end - pos);
    bool* flag = w == "--all" ? all : w == "--json" ? json : nullptr;
    if (flag == nullptr || *flag) return false;
    *flag = true;
    pos = end;
  }
  return true;
}

void CheckParse(std::string_view line) {
  const MgmtCommand c = ParseMgmtCommand(line);
  std::string_view t = Trimmed(line);
  const bool json = t.starts_with("json") && (t.size() == 4 || Blank(t[4]));
  if (json) t = Trimmed(t.substr(4));
  bool counters_all = false, counters_json = false;
  const bool counters_form = CountersFlags(t, &counters_all, &counters_json);
  // "counters --json" asks for JSON as the leading word does.
  Require(c.json == (json || (c.verb == MgmtVerb::kCounters && counters_json)));
  static const char* const kWords[] = {"status",    "peers",    "counters", "reload", "routes",
                                       "multicast", "firewall", "ring",     "links"};
  const bool dht = t == "dht" || t.starts_with("dht ");
  const auto word = [&](std::string_view w) {
    return t.starts_with(w) && (t.size() == w.size() || Blank(t[w.size()]));
  };
  const bool probe = word("ping") || word("validate");
  const bool revoke = word("revoke");
  switch (c.verb) {
    case MgmtVerb::kRevoke: {
      // One absolute path without blanks, exactly the text after the word.
      Require(revoke && c.error.empty() && c.name.starts_with('/'));
      Require(Trimmed(t.substr(6)) == c.name);
      for (char ch : c.name) Require(!Blank(ch));
      const MgmtCommand d = ParseMgmtCommand("revoke " + c.name);
      Require(d.verb == MgmtVerb::kRevoke && d.name == c.name);
      break;
    }
    case MgmtVerb::kPing:
    case MgmtVerb::kValidate:
      CheckProbe(c, t);
      break;
    case MgmtVerb::kBadArgs:
      Require((probe || revoke) && c.error.starts_with("error: ") && c.error.ends_with("\n"));
      break;
    case MgmtVerb::kDhtPut:
    case MgmtVerb::kDhtGet: {
      Require(dht && c.error.empty() && Field(c.name));
      Require(t.find(c.name) != std::string_view::npos);
      std::string again = "dht get " + c.name;
      if (c.verb == MgmtVerb::kDhtPut) {
        Require(Field(c.value) && t.find(c.value) != std::string_view::npos);
        Require(c.ttl_s >= 1 && c.ttl_s <= kMgmtDhtMaxTtlS);
        again = "dht put " + c.name + " " + c.value + " " + std::to_string(c.ttl_s);
      }
      const MgmtCommand d = ParseMgmtCommand(again);
      Require(d.verb == c.verb && d.name == c.name && d.value == c.value && d.ttl_s == c.ttl_s);
      break;
    }
    case MgmtVerb::kDhtBad:
      Require(dht && c.error.starts_with("error: ") && c.error.ends_with("\n"));
      break;
    case MgmtVerb::kUnknown:
      if (t.starts_with("counters ") && !counters_form) {
        Require(c.error.starts_with("error: counters takes --all and --json") &&
                c.error.ends_with("\n"));
        break;
      }
      Require(!dht && !probe && !revoke && c.error.starts_with("error: unknown command '") &&
              c.error.ends_with("\n"));
      for (const char* w : kWords) Require(t != w);
      break;
    default:
      Require(size_t(c.verb) < std::size(kWords) && !probe);
      // counters is the one plain command with options (--all, --json).
      if (c.verb == MgmtVerb::kCounters && t != "counters")
        Require(counters_form && c.all == counters_all);
      else
        Require(!c.all && t == kWords[size_t(c.verb)]);
      Require(c.error.empty());
  }
}

// What the server must do with `request`: the handler's line, or the reply it gives itself
// (nullopt and "" for an empty request).
struct Expected {
  std::optional<std::string> line;
  std::string reply;
};
Expected Frame(const std::string& request) {
  const size_t nl = request.find('\n');
  std::string line;
  if (nl != std::string::npos && nl < kMaxRequest) {
    line = request.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.pop_back();
  } else if (request.size() >= kMaxRequest) {
    return {std::nullopt, "error: request longer than 4096 bytes\n"};
  } else if (request.empty()) {
    return {std::nullopt, ""};
  } else {
    line = request;
  }
  for (unsigned char c : line)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return {std::nullopt, "error: request is not a line of text\n"};
  return {line, ""};
}

std::string Exchange(const std::string& request) {
  MgmtServer& server = Server();  // listening before the client connects
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Require(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = SocketPath();
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  Require(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  Require(send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size()));
  shutdown(fd, SHUT_WR);
  server.OnReadable();
  if (served.ticket != 0) {
    Require(server.deferred() == 1);
    Require(server.Reply(served.ticket, "deferred answer"));
    Require(!server.Reply(served.ticket, "again"));
    Require(server.deferred() == 0);
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      reply.append(buf, size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EOF, or ECONNRESET when the server left part of the request unread
  }
  close(fd);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string request(reinterpret_cast<const char*>(data), std::min<size_t>(size, 8192));
  CheckParse(request);

  served = Served{};
  const std::string reply = Exchange(request);
  const Expected want = Frame(request);
  if (!want.line) {
    Require(served.calls == 0 && reply == want.reply);
    return 0;
  }
  Require(served.calls == 1 && served.line == *want.line);
  CheckParse(served.line);
  const MgmtCommand c = ParseMgmtCommand(served.line);
  if (served.ticket != 0) {
    Require(reply == "deferred answer\n");
  } else {
    Require(reply == (c.error.empty() ? "ok " + std::to_string(int(c.verb)) + "\n" : c.error));
  }
  return 0;
}

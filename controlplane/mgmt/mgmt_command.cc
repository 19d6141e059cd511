#include "controlplane/mgmt/mgmt_command.h"

#include <algorithm>
#include <vector>

namespace ipop::cp {
namespace {

bool Blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && Blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && (Blank(s.back()) || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> words;
  std::string w;
  for (char c : s) {
    if (Blank(c)) {
      if (!w.empty()) words.push_back(std::move(w));
      w.clear();
    } else {
      w.push_back(c);
    }
  }
  if (!w.empty()) words.push_back(std::move(w));
  return words;
}

MgmtCommand Fail(MgmtVerb verb, std::string error) {
  MgmtCommand c;
  c.verb = verb;
  c.error = std::move(error);
  return c;
}

MgmtCommand ParseDht(std::string_view args) {
  constexpr const char* kUsage =
      "error: expected 'dht put NAME VALUE [TTL-SECONDS]' or 'dht get NAME'\n";
  std::vector<std::string> words = Words(args);
  MgmtCommand c;
  if (!words.empty() && words[0] == "put" && (words.size() == 3 || words.size() == 4)) {
    c.ttl_s = kMgmtDhtDefaultTtlS;
    if (words.size() == 4) {
      const std::string& t = words[3];
      uint32_t ttl = 0;
      bool digits = !t.empty() && t.size() <= 6;
      for (char ch : t) {
        digits = digits && ch >= '0' && ch <= '9';
        ttl = ttl * 10 + uint32_t(ch - '0');
      }
      if (!digits || ttl == 0)
        return Fail(MgmtVerb::kDhtBad, "error: TTL '" + t + "' is not a number of seconds 1.." +
                                           std::to_string(kMgmtDhtMaxTtlS) + "\n");
      c.ttl_s = ttl;
    }
    c.verb = MgmtVerb::kDhtPut;
    c.name = std::move(words[1]);
    c.value = std::move(words[2]);
    return c;
  }
  if (!words.empty() && words[0] == "get" && words.size() == 2) {
    c.verb = MgmtVerb::kDhtGet;
    c.name = std::move(words[1]);
    return c;
  }
  return Fail(MgmtVerb::kDhtBad, kUsage);
}

// "-c N" and "-i MS" in any order, each at most once; `words` after the command's own.
bool ParseProbeOptions(const std::vector<std::string>& words, size_t first, MgmtCommand* c,
                       std::string* error) {
  bool have_c = false, have_i = false;
  for (size_t i = first; i < words.size(); i += 2) {
    const std::string& opt = words[i];
    const bool is_c = opt == "-c", is_i = opt == "-i";
    if ((!is_c && !is_i) || (is_c && have_c) || (is_i && have_i)) {
      *error = "unexpected '" + opt + "'";
      return false;
    }
    if (i + 1 >= words.size()) {
      *error = opt + " needs a value";
      return false;
    }
    const std::string& t = words[i + 1];
    uint32_t v = 0;
    bool digits = !t.empty() && t.size() <= 6;
    for (char ch : t) {
      digits = digits && ch >= '0' && ch <= '9';
      v = v * 10 + uint32_t(ch - '0');
    }
    const uint32_t lo = is_c ? 1 : kMgmtMinIntervalMs,
                   hi = is_c ? kMgmtMaxCount : kMgmtMaxIntervalMs;
    if (!digits || v < lo || v > hi) {
      *error =
          opt + " '" + t + "' is not a number in " + std::to_string(lo) + ".." + std::to_string(hi);
      return false;
    }
    (is_c ? c->count : c->interval_ms) = v;
    (is_c ? have_c : have_i) = true;
  }
  return true;
}

MgmtCommand ParseProbe(std::string_view cmd, bool ping) {
  std::vector<std::string> words = Words(cmd);
  MgmtCommand c;
  c.verb = ping ? MgmtVerb::kPing : MgmtVerb::kValidate;
  c.count = ping ? kMgmtPingDefaultCount : kMgmtValidateDefaultCount;
  c.interval_ms = ping ? kMgmtPingDefaultIntervalMs : kMgmtValidateDefaultIntervalMs;
  const char* usage = ping ? "ping NAME|VIP [-c N] [-i MS]" : "validate [-c N] [-i MS]";
  std::string error;
  if (ping) {
    if (words.size() < 2 || words[1].starts_with("-")) {
      error = "ping needs a target";
    } else {
      c.name = words[1];
    }
  }
  if (error.empty()) ParseProbeOptions(words, ping ? 2 : 1, &c, &error);
  if (!error.empty())
    return Fail(MgmtVerb::kBadArgs, "error: " + error + " (expected '" + usage + "')\n");
  return c;
}

// "counters" followed by --all and/or --json, in any order, each at most once.
MgmtCommand ParseCounters(std::string_view flags) {
  MgmtCommand c;
  c.verb = MgmtVerb::kCounters;
  size_t pos = std::min(flags.find_first_not_of(" \t"), flags.size());
  while (pos < flags.size()) {
    const size_t end = std::min(flags.find_first_of(" \t", pos), flags.size());
    const std::string_view word = flags.substr(pos, end - pos);
    pos = flags.find_first_not_of(" \t", end);
    if (pos == std::string_view::npos) pos = flags.size();
    bool& flag = word == "--all" ? c.all : c.json;
    if ((word != "--all" && word != "--json") || flag)
      return Fail(MgmtVerb::kUnknown,
                  "error: counters takes --all and --json, not '" + std::string(word) + "'\n");
    flag = true;
  }
  return c;
}

MgmtCommand ParseVerb(std::string_view cmd);

}  // namespace

MgmtCommand ParseMgmtCommand(std::string_view line) {
  std::string_view cmd = Trim(line);
  const bool json = cmd.starts_with("json") && (cmd.size() == 4 || Blank(cmd[4]));
  if (json) cmd = Trim(cmd.substr(4));
  MgmtCommand c = ParseVerb(cmd);
  c.json = c.json || json;  // "counters --json" asks for it too
  return c;
}

namespace {

MgmtCommand ParseVerb(std::string_view cmd) {
  struct Plain {
    std::string_view word;
    MgmtVerb verb;
  };
  static constexpr Plain kPlain[] = {
      {"status", MgmtVerb::kStatus},     {"peers", MgmtVerb::kPeers},
      {"counters", MgmtVerb::kCounters}, {"reload", MgmtVerb::kReload},
      {"routes", MgmtVerb::kRoutes},     {"multicast", MgmtVerb::kMulticast},
      {"ring", MgmtVerb::kRing},         {"links", MgmtVerb::kLinks},
      {"firewall", MgmtVerb::kFirewall},
  };
  for (const Plain& p : kPlain) {
    if (cmd == p.word) {
      MgmtCommand c;
      c.verb = p.verb;
      return c;
    }
  }
  if (cmd.starts_with("counters ")) return ParseCounters(cmd.substr(9));
  if (cmd == "dht" || cmd.starts_with("dht ")) return ParseDht(cmd.substr(3));
  if (cmd.starts_with("revoke") && (cmd.size() == 6 || Blank(cmd[6]))) {
    const std::string_view path = Trim(cmd.substr(6));
    if (path.empty() || path.front() != '/' || path.size() > 4096 ||
        std::any_of(path.begin(), path.end(), [](char ch) { return Blank(ch); }))
      return Fail(MgmtVerb::kBadArgs,
                  "error: revoke needs the absolute path of a revocation file (expected "
                  "'revoke /path/to/FILE.rev')\n");
    MgmtCommand c;
    c.verb = MgmtVerb::kRevoke;
    c.name = std::string(path);
    return c;
  }
  for (const bool ping : {true, false}) {
    const std::string_view word = ping ? "ping" : "validate";
    if (cmd.starts_with(word) && (cmd.size() == word.size() || Blank(cmd[word.size()])))
      return ParseProbe(cmd, ping);
  }
  return Fail(
      MgmtVerb::kUnknown,
      "error: unknown command '" + std::string(cmd) +
          "' (expected status, peers, routes, ring, links, dht, multicast, firewall, counters, "
          "ping, validate, revoke or reload)\n");
}

}  // namespace

bool MgmtReplyFailed(std::string_view reply) {
  if (reply.starts_with("error:") || reply.starts_with("{\"error\":")) return true;
  if (reply.starts_with("{")) return reply.find("\"ok\":false") != std::string_view::npos;
  size_t end = reply.size();
  while (end > 0 && reply[end - 1] == '\n') --end;
  const size_t nl = end == 0 ? std::string_view::npos : reply.rfind('\n', end - 1);
  const size_t line = nl == std::string_view::npos ? 0 : nl + 1;
  return reply.substr(line).starts_with("fail:");
}

}  // namespace ipop::cp

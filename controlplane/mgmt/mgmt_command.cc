#include "controlplane/mgmt/mgmt_command.h"

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

}  // namespace

MgmtCommand ParseMgmtCommand(std::string_view line) {
  const std::string_view cmd = Trim(line);
  struct Plain {
    std::string_view word;
    MgmtVerb verb;
  };
  static constexpr Plain kPlain[] = {
      {"status", MgmtVerb::kStatus},     {"peers", MgmtVerb::kPeers},
      {"counters", MgmtVerb::kCounters}, {"reload", MgmtVerb::kReload},
      {"routes", MgmtVerb::kRoutes},     {"multicast", MgmtVerb::kMulticast},
      {"ring", MgmtVerb::kRing},         {"links", MgmtVerb::kLinks},
  };
  for (const Plain& p : kPlain) {
    if (cmd == p.word) {
      MgmtCommand c;
      c.verb = p.verb;
      return c;
    }
  }
  if (cmd == "counters --all") {
    MgmtCommand c;
    c.verb = MgmtVerb::kCounters;
    c.all = true;
    return c;
  }
  if (cmd == "dht" || cmd.starts_with("dht ")) return ParseDht(cmd.substr(3));
  return Fail(MgmtVerb::kUnknown,
              "error: unknown command '" + std::string(cmd) +
                  "' (expected status, peers, routes, ring, links, dht, multicast, counters or "
                  "reload)\n");
}

}  // namespace ipop::cp

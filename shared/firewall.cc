#include "shared/firewall.h"

#include <algorithm>

#include "shared/endpoint.h"

namespace ipop::fw {
namespace {

// Blanks and every other control character separate words, so a word quoted in an error never
// breaks its line.
bool Separator(char c) {
  return static_cast<unsigned char>(c) <= ' ' || c == '\x7f';
}

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && Separator(s[i])) ++i;
    const size_t start = i;
    while (i < s.size() && !Separator(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// "'text'"; built by appending (GCC 12 warns falsely on "'" + std::string at -O3).
std::string Quote(std::string_view text) {
  std::string out = "'";
  out.append(text);
  out += '\'';
  return out;
}

bool ParsePort(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint32_t(c - '0');
  }
  if (v < 1 || v > 65535) return false;
  *out = uint16_t(v);
  return true;
}

bool ValidLabel(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool ParseSelector(std::string_view s, Rule& r, std::string* error) {
  if (s == "any") {
    r.selector = Selector::kAny;
    return true;
  }
  const size_t colon = s.find(':');
  const std::string_view kind = s.substr(0, colon);
  const std::string_view arg = colon == std::string_view::npos ? "" : s.substr(colon + 1);
  if (colon != std::string_view::npos && kind == "cidr") {
    const size_t slash = arg.find('/');
    const auto addr = ParseIpv4(std::string(arg.substr(0, slash)));
    uint16_t len = 0;
    const std::string_view len_text = slash == std::string_view::npos ? "" : arg.substr(slash + 1);
    if (!addr || len_text.empty() || len_text.size() > 2 ||
        !std::all_of(len_text.begin(), len_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        (len = uint16_t(std::stoi(std::string(len_text)))) > 32) {
      *error = Quote(s) + " is not a subnet, expected cidr:a.b.c.d/len (len 0..32)";
      return false;
    }
    const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    if ((*addr & mask) != *addr) {
      *error = Quote(s) + " has host bits set, expected cidr:" + FormatIpv4(*addr & mask) + "/" +
               std::to_string(len);
      return false;
    }
    r.selector = Selector::kCidr;
    r.prefix = *addr;
    r.prefix_len = uint8_t(len);
    return true;
  }
  if (colon != std::string_view::npos && (kind == "name" || kind == "group")) {
    if (!ValidLabel(arg)) {
      *error = Quote(s) + " names no valid " + std::string(kind) +
               ", expected 1..64 of A-Z a-z 0-9 - _ .";
      return false;
    }
    r.selector = kind == "name" ? Selector::kName : Selector::kGroup;
    r.label = std::string(arg);
    return true;
  }
  *error =
      Quote(s) + " is not a peer selector, expected any, cidr:A/L, name:NAME " + "or group:NAME";
  return false;
}

bool ParsePorts(std::string_view s, Rule& r, std::string* error) {
  std::vector<PortRange> ranges;
  size_t i = 0;
  while (true) {
    const size_t comma = s.find(',', i);
    const std::string_view item =
        s.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
    const size_t dash = item.find('-');
    PortRange pr;
    const bool ok = dash == std::string_view::npos
                        ? ParsePort(item, &pr.lo) && ParsePort(item, &pr.hi)
                        : ParsePort(item.substr(0, dash), &pr.lo) &&
                              ParsePort(item.substr(dash + 1), &pr.hi) && pr.lo <= pr.hi;
    if (!ok) {
      *error = Quote(item) + " is not a port or range, expected 1..65535 or LO-HI " +
               "(lists: 80,443,8000-8080)";
      return false;
    }
    ranges.push_back(pr);
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const PortRange& a, const PortRange& b) { return a.lo < b.lo; });
  for (const PortRange& pr : ranges) {  // merge overlapping and adjacent ranges
    if (!r.ports.empty() && uint32_t(pr.lo) <= uint32_t(r.ports.back().hi) + 1) {
      r.ports.back().hi = std::max(r.ports.back().hi, pr.hi);
    } else {
      r.ports.push_back(pr);
    }
  }
  if (r.ports.size() > shm::kMaxFwPorts) {
    *error = Quote(s) + " has " + std::to_string(r.ports.size()) +
             " port ranges, expected at most " + std::to_string(shm::kMaxFwPorts);
    return false;
  }
  return true;
}

}  // namespace

std::optional<Rule> ParseRule(shm::FwDirection direction, std::string_view text,
                              std::string* error) {
  static constexpr const char* kGrammar =
      ", expected 'allow|deny SELECTOR tcp|udp|icmp|any [PORTS]'";
  const std::vector<std::string_view> w = Words(text);
  if (w.size() < 3 || w.size() > 4) {
    *error = std::to_string(w.size()) + " words" + kGrammar;
    return std::nullopt;
  }
  Rule r;
  r.direction = direction;
  if (w[0] == "allow") {
    r.action = shm::FwAction::kAllow;
  } else if (w[0] == "deny") {
    r.action = shm::FwAction::kDeny;
  } else {
    *error = Quote(w[0]) + " is not an action" + kGrammar;
    return std::nullopt;
  }
  if (!ParseSelector(w[1], r, error)) return std::nullopt;
  if (w[2] == "tcp") {
    r.protocol = shm::kFwProtoTcp;
  } else if (w[2] == "udp") {
    r.protocol = shm::kFwProtoUdp;
  } else if (w[2] == "icmp") {
    r.protocol = shm::kFwProtoIcmp;
  } else if (w[2] == "any") {
    r.protocol = shm::kFwProtoAny;
  } else {
    *error = Quote(w[2]) + " is not a protocol" + kGrammar;
    return std::nullopt;
  }
  if (w.size() == 4) {
    if (r.protocol != shm::kFwProtoTcp && r.protocol != shm::kFwProtoUdp) {
      *error = "ports " + Quote(w[3]) + " given for " + std::string(w[2]) +
               ", expected ports only with tcp or udp";
      return std::nullopt;
    }
    if (!ParsePorts(w[3], r, error)) return std::nullopt;
  }
  return r;
}

std::string FormatRule(const Rule& r) {
  std::string s = r.action == shm::FwAction::kAllow ? "allow " : "deny ";
  switch (r.selector) {
    case Selector::kAny:
      s += "any";
      break;
    case Selector::kCidr:
      s += "cidr:" + FormatIpv4(r.prefix) + "/" + std::to_string(r.prefix_len);
      break;
    case Selector::kName:
      s += "name:" + r.label;
      break;
    case Selector::kGroup:
      s += "group:" + r.label;
      break;
  }
  switch (r.protocol) {
    case shm::kFwProtoTcp:
      s += " tcp";
      break;
    case shm::kFwProtoUdp:
      s += " udp";
      break;
    case shm::kFwProtoIcmp:
      s += " icmp";
      break;
    default:
      s += " any";
  }
  for (size_t i = 0; i < r.ports.size(); ++i) {
    s += i == 0 ? " " : ",";
    s += std::to_string(r.ports[i].lo);
    if (r.ports[i].hi != r.ports[i].lo) {
      s += '-';
      s += std::to_string(r.ports[i].hi);
    }
  }
  return s;
}

uint32_t FirstMatch(const shm::FirewallTable& t, uint64_t mask, const FlowView& flow) {
  const uint32_t n = std::min(t.n_rules, shm::kMaxFwRules);  // re-bounded: shared memory
  const uint8_t dir = uint8_t(flow.direction);
  for (uint32_t i = 0; i < n; ++i) {
    if ((mask >> i & 1) == 0) continue;
    const shm::FwRule& r = t.rules[i];
    if (r.direction != dir) continue;
    if (r.protocol != shm::kFwProtoAny && r.protocol != flow.protocol) continue;
    if ((flow.remote & PrefixMask(r.prefix_len)) != r.prefix) continue;
    if (r.n_ports != 0) {
      const uint32_t np = std::min<uint32_t>(r.n_ports, shm::kMaxFwPorts);
      bool hit = false;
      for (uint32_t k = 0; k < np && !hit; ++k)
        hit = flow.dst_port >= r.port_lo[k] && flow.dst_port <= r.port_hi[k];
      if (!hit) continue;
    }
    return i;
  }
  return flow.direction == shm::FwDirection::kInbound ? shm::kFwDefaultInbound
                                                      : shm::kFwDefaultOutbound;
}

bool ValidateTable(const shm::FirewallTable& t, const char** why) {
  // Static texts: the dataplane validates every generation it adopts, and must not allocate.
  const auto fail = [why](const char* text) {
    if (why != nullptr) *why = text;
    return false;
  };
  constexpr uint32_t kKnownFlags = shm::kFwEnabled | shm::kFwDenyInbound | shm::kFwDenyOutbound;
  if ((t.flags & ~kKnownFlags) != 0) return fail("unknown flags");
  if ((t.flags & shm::kFwEnabled) == 0) {
    if (t.flags != 0 || t.n_rules != 0) return fail("rules or policies without the enabled flag");
    return true;
  }
  if (t.n_rules > shm::kMaxFwRules || t.n_sets == 0 || t.n_sets > shm::kMaxFwRuleSets)
    return fail("rule or rule-set count out of range");
  for (uint32_t i = 0; i < t.n_rules; ++i) {
    const shm::FwRule& r = t.rules[i];
    const bool ports_ok = r.protocol == shm::kFwProtoTcp || r.protocol == shm::kFwProtoUdp;
    if (r.direction > 1 || r.action > 1 ||
        (r.protocol != shm::kFwProtoAny && r.protocol != shm::kFwProtoIcmp && !ports_ok) ||
        r.n_ports > shm::kMaxFwPorts || (r.n_ports != 0 && !ports_ok) || r.prefix_len > 32 ||
        (r.prefix & PrefixMask(r.prefix_len)) != r.prefix)
      return fail("malformed rule");
    for (uint32_t k = 0; k < r.n_ports; ++k)
      if (r.port_lo[k] > r.port_hi[k]) return fail("port range upside down");
  }
  const uint64_t rule_bits = t.n_rules >= 64 ? ~uint64_t{0} : (uint64_t{1} << t.n_rules) - 1;
  for (uint32_t s = 0; s < t.n_sets; ++s)
    if ((t.set_mask[s] & ~rule_bits) != 0) return fail("rule set names a rule beyond n_rules");
  for (uint32_t p = 0; p < shm::kMaxPeers; ++p)
    if (t.peer_set[p] >= t.n_sets) return fail("peer slot with a rule set beyond n_sets");
  return true;
}

}  // namespace ipop::fw

#include "tools/cert/cert_text.h"

#include <ctime>

namespace ipop::cert_tool {
namespace {

using namespace cp::identity;

std::string Line(std::string_view key, const std::string& value) {
  std::string s = "  ";
  s.append(key);
  s.append(key.size() < 15 ? 15 - key.size() : 1, ' ');
  return s + value + "\n";
}

std::string Prefixes(const std::vector<Prefix>& list) {
  if (list.empty()) return "-";
  std::string s;
  for (const Prefix& p : list) s += Cat({s.empty() ? "" : " ", p.ToString()});
  return s;
}

std::string Words(const std::vector<std::string>& list) {
  if (list.empty()) return "-";
  std::string s;
  for (const std::string& w : list) s += Cat({s.empty() ? "" : " ", w});
  return s;
}

std::string TimeLine(uint64_t t) {
  return Cat({FormatTime(t), " (@", std::to_string(t), ")"});
}

bool Digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s.append(p);
  return s;
}

std::string FormatTime(uint64_t unix_s) {
  const time_t t = time_t(unix_s);
  struct tm tm {};
  char buf[40];
  if (unix_s > uint64_t{253402300799} || gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return Cat({"@", std::to_string(unix_s)});
  return buf;
}

std::optional<uint64_t> ParseTime(std::string_view text, uint64_t now) {
  if (text == "now") return now;
  if (text.size() > 1 && text[0] == '@') {
    const std::string_view d = text.substr(1);
    if (!Digits(d) || d.size() > 18) return std::nullopt;
    return std::stoull(std::string(d));
  }
  // YYYY-MM-DD[THH:MM:SSZ]
  if (text.size() != 10 && text.size() != 20) return std::nullopt;
  const std::string s(text);
  auto num = [&](size_t pos, size_t len) -> int {
    const std::string_view part = text.substr(pos, len);
    return Digits(part) ? std::stoi(std::string(part)) : -1;
  };
  if (s[4] != '-' || s[7] != '-') return std::nullopt;
  struct tm tm {};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  if (text.size() == 20) {
    if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z') return std::nullopt;
    tm.tm_hour = num(11, 2);
    tm.tm_min = num(14, 2);
    tm.tm_sec = num(17, 2);
  }
  if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
      tm.tm_sec > 59)
    return std::nullopt;
  const struct tm asked = tm;
  const time_t t = timegm(&tm);
  // timegm normalises 2026-02-31 to March: such a date does not exist.
  if (t < 0 || tm.tm_mday != asked.tm_mday || tm.tm_mon != asked.tm_mon) return std::nullopt;
  return uint64_t(t);
}

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

std::string CertificateText(const Certificate& cert) {
  const CertificateFields& f = cert.fields;
  std::string s;
  s += Line("usage", UsageName(f.usage));
  s += Line("name", f.name);
  s += Line("network", f.network);
  s += Line("serial", Hex(f.serial));
  s += Line("key-id", Hex(cert.key_id()));
  s += Line("issuer-key-id", Hex(f.issuer) + (f.usage == Usage::kRootCa ? " (itself)" : ""));
  s += Line("public-key", Hex(f.public_key));
  s += Line("not-before", TimeLine(f.not_before));
  s += Line("not-after", TimeLine(f.not_after));
  s += Line("vips", Prefixes(f.vips));
  s += Line("subnets", Prefixes(f.subnets));
  s += Line("multicast", Prefixes(f.multicast));
  s += Line("groups", Words(f.groups));
  s += Line("size", std::to_string(EncodeCertificate(cert).size()) + " bytes");
  return s;
}

std::string RevocationText(const Revocation& r) {
  const RevocationFields& f = r.fields;
  std::string s;
  s += Line("network", f.network);
  s += Line("serial", Hex(f.serial));
  s += Line("issuer-key-id", Hex(f.issuer));
  s += Line("key-id", Hex(f.subject));
  s += Line("revoked-at", TimeLine(f.revoked_at));
  s += Line("until", TimeLine(f.until));
  s += Line("signer-key-id", Hex(f.signer));
  return s;
}

}  // namespace ipop::cert_tool

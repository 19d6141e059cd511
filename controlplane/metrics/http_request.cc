#include "controlplane/metrics/http_request.h"

namespace ipop::cp {
namespace {

// tchar of RFC 9110 section 5.6.2.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!IsTokenChar(c)) return false;
  return true;
}

// Visible ASCII only: no spaces, controls or bytes above 0x7e in a request target.
bool IsTarget(std::string_view s) {
  if (s.empty() || s.front() != '/') return false;
  for (char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

bool IsFieldValue(std::string_view s) {
  for (char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits off the next line of `rest` (without its CRLF or LF); false if none is complete.
bool NextLine(std::string_view& rest, std::string_view* line) {
  const size_t lf = rest.find('\n');
  if (lf == std::string_view::npos) return false;
  *line = rest.substr(0, lf);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  rest.remove_prefix(lf + 1);
  return true;
}

HttpParse ParseRequestLine(std::string_view line, HttpRequest* out) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HttpParse::kBadRequest;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return HttpParse::kBadRequest;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || !IsTarget(target)) return HttpParse::kBadRequest;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return HttpParse::kBadRequest;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return HttpParse::kBadVersion;
  out->method = method;
  out->target = target;
  out->path = target.substr(0, target.find('?'));
  out->http11 = version == "HTTP/1.1";
  return HttpParse::kOk;
}

// A header that announces a body: a GET has none, and this server never reads one.
HttpParse CheckHeader(std::string_view name, std::string_view value) {
  if (EqualsIgnoreCase(name, "transfer-encoding")) return HttpParse::kBadRequest;
  if (EqualsIgnoreCase(name, "content-length") && value != "0") return HttpParse::kBadRequest;
  return HttpParse::kOk;
}

}  // namespace

HttpParse ParseHttpRequest(std::string_view data, HttpRequest* out) {
  *out = HttpRequest{};
  // Only the bytes that may belong to the head count: a head not complete within them is too
  // large, a shorter one may still complete.
  const HttpParse unfinished =
      data.size() >= kMaxHttpRequestBytes ? HttpParse::kTooLarge : HttpParse::kIncomplete;
  std::string_view rest = data.substr(0, kMaxHttpRequestBytes);
  // RFC 9112 2.2: a server should ignore empty lines before the request line.
  while (!rest.empty() && (rest.front() == '\r' || rest.front() == '\n')) {
    if (rest.front() == '\r' && (rest.size() < 2 || rest[1] != '\n'))
      return rest.size() < 2 ? unfinished : HttpParse::kBadRequest;
    rest.remove_prefix(rest.front() == '\r' ? 2 : 1);
  }
  std::string_view line;
  if (!NextLine(rest, &line)) return unfinished;
  if (const HttpParse p = ParseRequestLine(line, out); p != HttpParse::kOk) return p;
  for (size_t headers = 0;; ++headers) {
    if (!NextLine(rest, &line)) return unfinished;
    if (line.empty()) break;
    if (headers == kMaxHttpHeaders) return HttpParse::kTooLarge;
    // No obsolete line folding (RFC 9112 5.2): a line starting with a blank is refused.
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return HttpParse::kBadRequest;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (!IsToken(name) || !IsFieldValue(value)) return HttpParse::kBadRequest;
    if (const HttpParse p = CheckHeader(name, value); p != HttpParse::kOk) return p;
  }
  out->head_size = size_t(rest.data() - data.data());
  return HttpParse::kOk;
}

int MetricsStatus(const HttpRequest& r) {
  if (r.method != "GET" && r.method != "HEAD") return 405;
  if (r.path != "/metrics") return 404;
  return 200;
}

}  // namespace ipop::cp

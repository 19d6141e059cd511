// Fuzzes the metrics endpoint's request parser (controlplane/metrics/http_request.h) with the
// bytes a client could send. Beyond not crashing, judged by its contract:
//   - an accepted head has a token method, an origin-form target, a path that is the target's
//     start, and ends (head_size) within the bytes given and within kMaxHttpRequestBytes;
//   - the head alone parses to the same request (nothing after it matters), and so does any
//     longer input that starts with it: the server may read the request in any pieces;
//   - kIncomplete only while fewer than kMaxHttpRequestBytes bytes are there, and a prefix that
//     is incomplete or accepted never becomes an error the whole input would not give.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controlplane/metrics/http_request.h"

namespace {

using namespace ipop::cp;

void Require(bool ok) {
  if (!ok) std::abort();
}

bool Same(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.target == b.target && a.path == b.path && a.http11 == b.http11 &&
         a.head_size == b.head_size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  HttpRequest r;
  const HttpParse p = ParseHttpRequest(in, &r);
  if (p == HttpParse::kIncomplete) Require(size < kMaxHttpRequestBytes);
  if (p == HttpParse::kOk) {
    Require(!r.method.empty() && !r.target.empty() && r.target.front() == '/');
    Require(r.target.starts_with(r.path));
    Require(r.head_size > 0 && r.head_size <= size && r.head_size <= kMaxHttpRequestBytes);
    for (char c : r.target) Require(c > 0x20 && c < 0x7f);
    HttpRequest alone;
    Require(ParseHttpRequest(in.substr(0, r.head_size), &alone) == HttpParse::kOk);
    Require(Same(alone, r));
    const int status = MetricsStatus(r);
    Require(status == 200 || status == 404 || status == 405);
  }
  // A piece of the input, as a first read might deliver it.
  if (size > 0) {
    const size_t cut = data[0] % size;
    HttpRequest part;
    const HttpParse q = ParseHttpRequest(in.substr(0, cut), &part);
    if (q == HttpParse::kOk) {
      Require(p == HttpParse::kOk);
      Require(Same(part, r));
    }
    if (p == HttpParse::kIncomplete) Require(q == HttpParse::kIncomplete);
  }
  return 0;
}

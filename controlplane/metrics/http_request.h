// The HTTP/1.x request head the metrics endpoint reads (RFC 9112 section 3 and 5), parsed from
// untrusted bytes into views: the request line and the header block up to the empty line. Pure,
// so it is unit-tested and fuzzed (tests/fuzz/fuzz_http_request.cc) on its own.
#pragma once

#include <cstddef>
#include <string_view>

namespace ipop::cp {

inline constexpr size_t kMaxHttpRequestBytes = 4096;  // head included; a GET needs ~200
inline constexpr size_t kMaxHttpHeaders = 64;

enum class HttpParse {
  kIncomplete,  // no empty line yet and still under the size limit: read more
  kOk,
  kBadRequest,  // 400: malformed line, header or a body (a GET has none)
  kTooLarge,    // 431: head above kMaxHttpRequestBytes or more than kMaxHttpHeaders headers
  kBadVersion,  // 505: not HTTP/1.0 or HTTP/1.1
};

struct HttpRequest {
  std::string_view method;  // a token, e.g. GET
  std::string_view target;  // origin form: starts with '/'
  std::string_view path;    // target up to '?'
  bool http11 = false;      // HTTP/1.1 (else 1.0)
  size_t head_size = 0;     // bytes up to and including the empty line
};

// `data`: every byte read from the connection so far. Lines end in CRLF or a bare LF.
HttpParse ParseHttpRequest(std::string_view data, HttpRequest* out);

// What the metrics endpoint answers a parsed request: 200 for GET or HEAD of /metrics, 404 for
// another path, 405 for another method.
int MetricsStatus(const HttpRequest& r);

}  // namespace ipop::cp

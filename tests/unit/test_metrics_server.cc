// The metrics endpoint's request parser (table-driven) and its non-blocking server on loopback:
// answers, errors, limits and deadlines, with the server driven by poll() like the control plane.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/metrics/http_request.h"
#include "controlplane/metrics/metrics_server.h"

namespace ipop::cp {
namespace {

struct ParseCase {
  const char* request;
  HttpParse want;
  int status = 0;  // MetricsStatus when kOk
};

TEST(HttpRequest, ParsesHeadsAndRefusesWhatIsNotAGet) {
  const ParseCase cases[] = {
      {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", HttpParse::kOk, 200},
      {"GET /metrics HTTP/1.0\n\n", HttpParse::kOk, 200},
      {"\r\nGET /metrics?x=1 HTTP/1.1\r\nAccept: */*\r\n\r\n", HttpParse::kOk, 200},
      {"HEAD /metrics HTTP/1.1\r\n\r\n", HttpParse::kOk, 200},
      {"GET / HTTP/1.1\r\n\r\n", HttpParse::kOk, 404},
      {"GET /metricsx HTTP/1.1\r\n\r\n", HttpParse::kOk, 404},
      {"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HttpParse::kOk, 405},
      {"DELETE /x HTTP/1.1\r\n\r\n", HttpParse::kOk, 405},
      {"GET /metrics HTTP/1.1\r\nHost: x\r\n", HttpParse::kIncomplete},
      {"GET /metrics HTTP/1.1", HttpParse::kIncomplete},
      {"", HttpParse::kIncomplete},
      {"\r", HttpParse::kIncomplete},
      {"GET /metrics HTTP/2.0\r\n\r\n", HttpParse::kBadVersion},
      {"GET /metrics HTTP/1.1 x\r\n\r\n", HttpParse::kBadRequest},
      {"GET  /metrics HTTP/1.1\r\n\r\n", HttpParse::kBadRequest},
      {"GET metrics HTTP/1.1\r\n\r\n", HttpParse::kBadRequest},
      {"GET /met rics HTTP/1.1\r\n\r\n", HttpParse::kBadRequest},
      {"G(T /metrics HTTP/1.1\r\n\r\n", HttpParse::kBadRequest},
      {"GET /metrics HTTX/1.1\r\n\r\n", HttpParse::kBadRequest},
      {"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", HttpParse::kBadRequest},
      {"GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n", HttpParse::kBadRequest},
      {"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", HttpParse::kBadRequest},
      {"GET /metrics HTTP/1.1\r\nX: a\x01\r\n\r\n", HttpParse::kBadRequest},
      {"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", HttpParse::kBadRequest},
      {"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", HttpParse::kBadRequest},
      {"\rGET /metrics HTTP/1.1\r\n\r\n", HttpParse::kBadRequest},
  };
  for (const ParseCase& c : cases) {
    HttpRequest r;
    EXPECT_EQ(ParseHttpRequest(c.request, &r), c.want) << c.request;
    if (c.want == HttpParse::kOk) {
      EXPECT_EQ(MetricsStatus(r), c.status) << c.request;
    }
  }
}

TEST(HttpRequest, SizeAndHeaderCountAreBounded) {
  HttpRequest r;
  std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(kMaxHttpRequestBytes, 'a');
  EXPECT_EQ(ParseHttpRequest(big, &r), HttpParse::kTooLarge);
  EXPECT_EQ(ParseHttpRequest(std::string(kMaxHttpRequestBytes, 'G'), &r), HttpParse::kTooLarge);
  EXPECT_EQ(ParseHttpRequest(std::string(kMaxHttpRequestBytes - 1, 'G'), &r),
            HttpParse::kIncomplete);
  std::string many = "GET /metrics HTTP/1.1\r\n";
  for (size_t i = 0; i <= kMaxHttpHeaders; ++i) many += "A: b\r\n";
  EXPECT_EQ(ParseHttpRequest(many + "\r\n", &r), HttpParse::kTooLarge);
  std::string enough = "GET /metrics HTTP/1.1\r\n";
  for (size_t i = 0; i < kMaxHttpHeaders; ++i) enough += "A: b\r\n";
  EXPECT_EQ(ParseHttpRequest(enough + "\r\n", &r), HttpParse::kOk);
  EXPECT_EQ(r.head_size, enough.size() + 2);
}

// The server on 127.0.0.1, served by poll() in a thread like the control plane's loop.
class ServerTest : public ::testing::Test {
 protected:
  void Start(MetricsServer::Limits limits) {
    std::string err;
    server_ = MetricsServer::Listen(
        *ParseEndpoint("127.0.0.1:0"), [this] { return body_; }, &err, limits);
    ASSERT_TRUE(server_) << err;
    loop_ = std::thread([this] {
      while (!stop_) {
        std::vector<pollfd> fds;
        server_->AddPollFds(fds);
        poll(fds.data(), fds.size(), 10);
        server_->OnPoll(fds);
        server_->Tick();
      }
    });
  }
  // Stops the loop thread: the server's counters are then safe to read.
  void Stop() {
    stop_ = true;
    if (loop_.joinable()) loop_.join();
  }
  void TearDown() override { Stop(); }
  int Connect() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }
  // Sends `request`, reads until the server closes.
  std::string Exchange(const std::string& request) {
    const int fd = Connect();
    EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
    std::string reply = ReadAll(fd);
    close(fd);
    return reply;
  }
  static std::string ReadAll(int fd) {
    std::string reply;
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, size_t(n));
    return reply;
  }
  std::string body_ = "# HELP x y\n# TYPE x gauge\nx 1\n";
  std::unique_ptr<MetricsServer> server_;
  std::thread loop_;
  std::atomic<bool> stop_{false};
};

TEST_F(ServerTest, AnswersGetMetricsAndRefusesTheRest) {
  Start({});
  std::string r = Exchange("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_NE(r.find("Content-Length: " + std::to_string(body_.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(r.ends_with("\r\n\r\n" + body_)) << r;
  r = Exchange("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(r.ends_with("\r\n\r\n")) << "HEAD has no body: " << r;
  EXPECT_TRUE(Exchange("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
  r = Exchange("PUT /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 405 ")) << r;
  EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_TRUE(Exchange("GET /metrics HTTP/3.0\r\n\r\n").starts_with("HTTP/1.1 505 "));
  EXPECT_TRUE(Exchange("hello\r\n\r\n").starts_with("HTTP/1.1 400 "));
  EXPECT_TRUE(Exchange(std::string(kMaxHttpRequestBytes + 100, 'A')).starts_with("HTTP/1.1 431 "));
  // A request split over several segments is put together.
  const int fd = Connect();
  send(fd, "GET /met", 8, MSG_NOSIGNAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send(fd, "rics HTTP/1.1\r\n\r\n", 17, MSG_NOSIGNAL);
  EXPECT_TRUE(ReadAll(fd).starts_with("HTTP/1.1 200 OK\r\n"));
  close(fd);
  Stop();
  const MetricsServerCounters& c = server_->counters();
  EXPECT_EQ(c.served, 3u);
  EXPECT_EQ(c.not_found, 1u);
  EXPECT_EQ(c.bad_method, 1u);
  EXPECT_EQ(c.bad_requests, 3u);
}

// A client that connects and says nothing is closed at its deadline; one over the connection
// limit is closed at once; neither stops the others being served.
TEST_F(ServerTest, SilentClientsTimeOutAndExtraConnectionsAreClosed) {
  Start({.max_connections = 2, .timeout_ms = 300});
  const int a = Connect();
  const int b = Connect();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int extra = Connect();
  char byte;
  EXPECT_EQ(recv(extra, &byte, 1, 0), 0) << "over the limit: closed without an answer";
  close(extra);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(recv(a, &byte, 1, 0), 0) << "silent client: closed at the deadline";
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
  EXPECT_EQ(recv(b, &byte, 1, 0), 0);
  close(a);
  close(b);
  EXPECT_TRUE(Exchange("GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK\r\n"));
  Stop();
  EXPECT_EQ(server_->counters().refused, 1u);
  EXPECT_EQ(server_->counters().timed_out, 2u);
}

// An answer larger than the socket buffer goes out over several POLLOUTs to a slow reader.
TEST_F(ServerTest, LargeAnswerToASlowReader) {
  body_ = std::string(4 << 20, 'x');
  Start({});
  const int fd = Connect();
  const std::string req = "GET /metrics HTTP/1.1\r\n\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::string r = ReadAll(fd);
  close(fd);
  EXPECT_TRUE(r.ends_with("\r\n\r\n" + body_));
}

TEST(MetricsServer, RefusesAnAddressItCannotBind) {
  std::string err;
  EXPECT_FALSE(MetricsServer::Listen(
      *ParseEndpoint("192.0.2.1:9323"), [] { return ""; }, &err));
  EXPECT_NE(err.find("cannot listen on"), std::string::npos) << err;
}

}  // namespace
}  // namespace ipop::cp

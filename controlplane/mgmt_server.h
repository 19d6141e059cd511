// Local management socket (unix stream). One request per connection: a single text line
// ("status", "peers", "counters", "reload", ...); the reply is text, then the server closes.
// Replies that start with "error:" signal failure to the client (ipopctl exits 1). The server
// ends every reply with '\n'; a request that is not text or exceeds 4 KiB gets an "error:" reply.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ipop::cp {

class MgmtServer {
 public:
  using Handler = std::function<std::string(std::string_view command_line)>;
  // Creates the parent directory if needed, replaces a stale socket file, mode 0600.
  static std::unique_ptr<MgmtServer> Listen(const std::string& path, Handler handler,
                                            std::string* error);
  ~MgmtServer();
  int fd() const { return fd_; }
  // Call when fd() is readable: serves every pending connection (bounded read time per client).
  void OnReadable();

 private:
  MgmtServer(std::string path, int fd, Handler handler)
      : path_(std::move(path)), fd_(fd), handler_(std::move(handler)) {}
  std::string path_;
  int fd_;
  Handler handler_;
};

// Client side, used by ipopctl and the integration tests' helpers: sends one line, returns the
// reply; false + *error when the socket cannot be reached, the server closes without a reply, or
// the whole exchange takes longer than timeout_ms.
bool MgmtRequest(const std::string& path, const std::string& line, std::string* reply,
                 std::string* error, int timeout_ms = 5000);

}  // namespace ipop::cp

// Local management socket (unix stream). One request per connection: a single text line
// ("status", "peers", "counters", "reload", ...); the reply is text, then the server closes.
// Replies that start with "error:" signal failure to the client (ipopctl exits 1). The server
// ends every reply with '\n'; a request that is not text or exceeds 4 KiB gets an "error:" reply.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ipop::cp {

class MgmtServer {
 public:
  using Handler = std::function<std::string(std::string_view command_line)>;
  // Creates the parent directory if needed, replaces a stale socket file, mode 0600. Refuses a
  // socket directory that another local user could write (or one on the way to it, unless
  // sticky), and serves only clients running as root or as this process's user (SO_PEERCRED).
  static std::unique_ptr<MgmtServer> Listen(const std::string& path, Handler handler,
                                            std::string* error);
  ~MgmtServer();
  int fd() const { return fd_; }
  // Call when fd() is readable: serves every pending connection (bounded read time per client).
  void OnReadable();

  // Asynchronous commands (a DHT lookup): called from inside the handler, keeps the connection
  // open after the handler returns (its return value is then ignored) and gives the ticket that
  // Reply() answers later. A request still unanswered when its budget runs out gets "error: no
  // answer in time ..." from Tick().
  uint64_t Defer(int budget_ms);
  // Answers a deferred request; false if it already timed out (or the ticket is unknown).
  bool Reply(uint64_t ticket, std::string reply);
  // Call every loop: answers and closes deferred requests whose budget ran out.
  void Tick();
  size_t deferred() const { return deferred_.size(); }

 private:
  MgmtServer(std::string path, int fd, Handler handler)
      : path_(std::move(path)), fd_(fd), handler_(std::move(handler)) {}
  struct Deferred {
    int fd = -1;
    int64_t deadline_ms = 0;
  };
  std::string path_;
  int fd_;
  Handler handler_;
  int serving_fd_ = -1;  // the client whose request the handler is running for
  bool serving_deferred_ = false;
  uint64_t next_ticket_ = 1;
  std::map<uint64_t, Deferred> deferred_;
};

// Client side, used by ipopctl and the integration tests' helpers: sends one line, returns the
// reply; false + *error when the socket cannot be reached, the server closes without a reply, or
// the whole exchange takes longer than timeout_ms.
bool MgmtRequest(const std::string& path, const std::string& line, std::string* reply,
                 std::string* error, int timeout_ms = 5000);

}  // namespace ipop::cp

// The management socket is served from the control plane's event loop, so every client gets a
// hard time budget: a client that connects and stalls must not freeze forwarding-table updates or
// HELLOs. Requests are tiny ("status"), so one bounded line per connection is enough.
#include "controlplane/mgmt/mgmt_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

namespace ipop::cp {
namespace {

constexpr size_t kMaxRequestBytes = 4096;
constexpr int kReadBudgetMs = 200;
constexpr int kWriteBudgetMs = 500;
constexpr size_t kMaxReplyBytes = 16u << 20;  // the client refuses anything larger

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

int RemainingMs(int64_t deadline_ms) {
  const int64_t left = deadline_ms - NowMs();
  return left > 0 ? static_cast<int>(left) : 0;
}

std::string Errno(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

bool FillAddress(const std::string& path, sockaddr_un* addr, std::string* error) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    *error = "socket path '" + path + "' is empty or longer than " +
             std::to_string(sizeof(addr->sun_path) - 1) + " bytes";
    return false;
  }
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

// mkdir -p with mode 0755 for every missing component of the socket's directory.
bool MakeParentDirs(const std::string& path, std::string* error) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  const std::string dir = path.substr(0, slash);
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      *error = Errno(("cannot create directory " + prefix).c_str());
      return false;
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = dir + " is not a directory";
    return false;
  }
  return true;
}

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", unsigned(mode) & 07777);
  return buf;
}

// Whoever can write the socket's directory can take the socket's name before the node starts (a
// server of their own that ipopctl would talk to) or, without the sticky bit, rename ours away.
// So every directory on the way must be owned by root or by us and not writable by group or
// other; an ancestor with the sticky bit (/tmp) is fine, as other users cannot rename our entries
// in it, but the socket's own directory must not be writable by them at all. A symlink on the way
// must be owned by root or by us too (its owner can repoint it).
bool CheckSocketDirs(const std::string& dir, std::string* error) {
  const uid_t me = geteuid();
  auto trusted = [me](uid_t uid) { return uid == 0 || uid == me; };
  const std::string whom = me == 0 ? "root" : "root or uid " + std::to_string(me);
  const std::string fix = "; use a directory only " + whom +
                          " can write, such as the default /run/ipop, for node.mgmt-socket";
  for (size_t end = dir.front() == '/' ? 0 : 1; end <= dir.size(); ++end) {
    if (end != dir.size() && dir[end] != '/') continue;
    const std::string prefix = end == 0 ? "/" : dir.substr(0, end);
    struct stat st;
    if (lstat(prefix.c_str(), &st) != 0) {
      *error = Errno(("cannot stat " + prefix).c_str());
      return false;
    }
    if (S_ISLNK(st.st_mode) && !trusted(st.st_uid)) {
      *error = "symlink " + prefix + " on the way to the management socket is owned by uid " +
               std::to_string(st.st_uid) + ", who could repoint it" + fix;
      return false;
    }
    if (stat(prefix.c_str(), &st) != 0) {
      *error = Errno(("cannot stat " + prefix).c_str());
      return false;
    }
    const bool own_dir = end == dir.size();
    const std::string what = own_dir ? "the management socket's directory " + prefix
                                     : "directory " + prefix + " on the way to the socket";
    if (!trusted(st.st_uid)) {
      *error = what + " is owned by uid " + std::to_string(st.st_uid) +
               ", who could replace the socket" + fix;
      return false;
    }
    const bool writable = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if (writable && (own_dir || (st.st_mode & S_ISVTX) == 0)) {
      *error = what + " is writable by group or other (mode " + ModeText(st.st_mode) +
               "): another local user could " +
               (own_dir ? "take the socket's name first" : "rename it and plant their own") +
               "; chmod go-w " + prefix + fix;
      return false;
    }
  }
  return true;
}

// A socket file left by a killed control plane is removed; one that still answers belongs to a
// live server (a second node with the same name), and stealing it would orphan that server.
bool ClearStaleSocket(const std::string& path, const sockaddr_un& addr, std::string* error) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *error = Errno(("cannot stat " + path).c_str());
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = path + " exists and is not a socket; refusing to replace it";
    return false;
  }
  const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe < 0) {
    *error = Errno("socket");
    return false;
  }
  const int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int connect_errno = errno;
  close(probe);
  // EAGAIN: the listener exists but its backlog is full, so it is alive too.
  if (rc == 0 || connect_errno == EAGAIN) {
    *error = "another server is already listening on " + path + " (is this node already running?)";
    return false;
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    *error = Errno(("cannot remove stale socket " + path).c_str());
    return false;
  }
  return true;
}

// Every command may change state or reveal it (reload, dht put, peers), so only root and the
// user the node runs as are served.
bool PeerAllowed(int client) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == 0 || cred.uid == geteuid();
}

bool IsTextLine(std::string_view line) {
  for (unsigned char c : line) {
    if (c < 0x20 && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

enum class ReadOutcome { kLine, kTooLong, kNothing };

// Reads up to the first '\n' within the read budget. A client that half-closes without a newline
// still gets its bytes treated as the line (e.g. `printf status | socat`).
ReadOutcome ReadRequestLine(int fd, std::string* line) {
  char buf[kMaxRequestBytes];
  size_t used = 0;
  const int64_t deadline = NowMs() + kReadBudgetMs;
  while (used < sizeof(buf)) {
    const ssize_t n = recv(fd, buf + used, sizeof(buf) - used, 0);
    if (n > 0) {
      const void* newline = std::memchr(buf + used, '\n', static_cast<size_t>(n));
      used += static_cast<size_t>(n);
      if (newline != nullptr) {
        line->assign(buf, static_cast<const char*>(newline) - buf);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return ReadOutcome::kLine;
      }
      continue;
    }
    if (n == 0) break;  // EOF
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ReadOutcome::kNothing;
    const int wait_ms = RemainingMs(deadline);
    if (wait_ms == 0) return ReadOutcome::kNothing;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) return ReadOutcome::kNothing;
  }
  if (used == sizeof(buf)) return ReadOutcome::kTooLong;
  if (used == 0) return ReadOutcome::kNothing;
  line->assign(buf, used);
  return ReadOutcome::kLine;
}

void WriteReply(int fd, const std::string& reply) {
  size_t sent = 0;
  const int64_t deadline = NowMs() + kWriteBudgetMs;
  while (sent < reply.size()) {
    const ssize_t n = send(fd, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return;
    const int wait_ms = RemainingMs(deadline);
    if (wait_ms == 0) return;  // client stopped reading: drop it
    pollfd pfd{fd, POLLOUT, 0};
    if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) return;
  }
}

std::string Dispatch(const MgmtServer::Handler& handler, ReadOutcome outcome,
                     const std::string& line) {
  if (outcome == ReadOutcome::kTooLong) {
    return "error: request longer than " + std::to_string(kMaxRequestBytes) + " bytes\n";
  }
  if (!IsTextLine(line)) return "error: request is not a line of text\n";
  std::string reply;
  try {
    reply = handler(line);
  } catch (const std::exception& e) {
    reply = std::string("error: internal: ") + e.what();
  }
  if (reply.empty() || reply.back() != '\n') reply.push_back('\n');
  return reply;
}

}  // namespace

std::unique_ptr<MgmtServer> MgmtServer::Listen(const std::string& path, Handler handler,
                                               std::string* error) {
  sockaddr_un addr;
  if (!FillAddress(path, &addr, error)) return nullptr;
  if (!MakeParentDirs(path, error)) return nullptr;
  const size_t slash = path.rfind('/');
  // A relative path without '/' lives in the working directory.
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (!CheckSocketDirs(dir, error)) return nullptr;
  if (!ClearStaleSocket(path, addr, error)) return nullptr;

  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = Errno("socket");
    return nullptr;
  }
  // The socket file is born 0600 (bind applies the umask): no window in which another user can
  // connect, and no chmod by path afterwards that a swapped name could redirect. The umask is
  // process-wide; the control plane is single-threaded while it starts.
  const mode_t old_umask = umask(0177);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  umask(old_umask);
  if (bound != 0) {
    errno = bind_errno;
    *error = Errno(("cannot bind " + path).c_str());
    close(fd);
    return nullptr;
  }
  if (listen(fd, 16) != 0) {
    *error = Errno(("cannot set up " + path).c_str());
    close(fd);
    unlink(path.c_str());
    return nullptr;
  }
  return std::unique_ptr<MgmtServer>(new MgmtServer(path, fd, std::move(handler)));
}

MgmtServer::~MgmtServer() {
  for (auto& [ticket, d] : deferred_) {
    WriteReply(d.fd, "error: the node is shutting down\n");
    close(d.fd);
  }
  close(fd_);
  unlink(path_.c_str());
}

void MgmtServer::OnReadable() {
  for (;;) {
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: all served; EMFILE etc.: retry on the next readiness
    }
    // The socket's mode already keeps other users out; this holds even if someone loosens it.
    if (!PeerAllowed(client)) {
      WriteReply(client,
                 "error: permission denied: the management socket serves root and the "
                 "node's own user only\n");
      close(client);
      continue;
    }
    std::string line;
    const ReadOutcome outcome = ReadRequestLine(client, &line);
    if (outcome == ReadOutcome::kNothing) {
      close(client);
      continue;
    }
    serving_fd_ = client;
    serving_deferred_ = false;
    std::string reply = Dispatch(handler_, outcome, line);
    serving_fd_ = -1;
    if (serving_deferred_) continue;  // the handler keeps it: Reply() or Tick() closes it
    WriteReply(client, reply);
    close(client);
  }
}

uint64_t MgmtServer::Defer(int budget_ms) {
  if (serving_fd_ < 0 || serving_deferred_) return 0;
  serving_deferred_ = true;
  const uint64_t ticket = next_ticket_++;
  deferred_[ticket] = Deferred{serving_fd_, NowMs() + budget_ms};
  return ticket;
}

bool MgmtServer::Reply(uint64_t ticket, std::string reply) {
  const auto it = deferred_.find(ticket);
  if (it == deferred_.end()) return false;
  if (reply.empty() || reply.back() != '\n') reply.push_back('\n');
  WriteReply(it->second.fd, reply);
  close(it->second.fd);
  deferred_.erase(it);
  return true;
}

void MgmtServer::Tick() {
  const int64_t now = NowMs();
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    WriteReply(it->second.fd, "error: no answer in time (the operation may still complete)\n");
    close(it->second.fd);
    it = deferred_.erase(it);
  }
}

bool MgmtRequest(const std::string& path, const std::string& line, std::string* reply,
                 std::string* error, int timeout_ms) {
  reply->clear();
  sockaddr_un addr;
  if (!FillAddress(path, &addr, error)) return false;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = Errno("socket");
    return false;
  }
  const int64_t deadline = NowMs() + timeout_ms;
  // A blocking connect that honours the timeout covers a server whose backlog is full.
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = Errno(("cannot connect to " + path).c_str());
    close(fd);
    return false;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  const std::string request = line + "\n";
  size_t sent = 0;
  char buf[16384];
  bool request_done = false;
  for (;;) {
    pollfd pfd{fd, static_cast<short>(POLLIN | (request_done ? 0 : POLLOUT)), 0};
    const int wait_ms = RemainingMs(deadline);
    const int ready = wait_ms > 0 ? poll(&pfd, 1, wait_ms) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      *error = "no reply from " + path + " within " + std::to_string(timeout_ms) + " ms";
      break;
    }
    if (!request_done && (pfd.revents & POLLOUT)) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      // EPIPE: the server already replied (e.g. "request too long") and closed; read that.
      if (sent == request.size() || (n < 0 && errno == EPIPE)) request_done = true;
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        reply->append(buf, static_cast<size_t>(n));
        if (reply->size() > kMaxReplyBytes) {
          *error = "reply from " + path + " is larger than " + std::to_string(kMaxReplyBytes);
          break;
        }
        continue;
      }
      // ECONNRESET after data: the server closed with part of our request unread (it rejected
      // an oversize line); what it sent before closing is the whole reply.
      if (n == 0 || errno == ECONNRESET) {
        close(fd);
        if (!reply->empty()) return true;
        *error = path + " closed the connection without a reply";
        return false;
      }
      if (errno == EAGAIN || errno == EINTR) continue;
      *error = Errno(("cannot read reply from " + path).c_str());
      break;
    }
  }
  close(fd);
  return false;
}

}  // namespace ipop::cp

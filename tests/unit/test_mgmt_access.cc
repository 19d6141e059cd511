// Management socket access from other local users: a socket directory they could write is refused
// at start (they could take the socket's name, or rename ours away), the socket is 0600 so they
// cannot connect, and a client running as another user is refused even if someone loosens the
// socket's mode (SO_PEERCRED). Cases that act as a second user (uid 65534) need root; CI runs the
// unit tests as root.
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "controlplane/mgmt/mgmt_server.h"

namespace ipop::cp {
namespace {

constexpr uid_t kNobody = 65534;

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", unsigned(mode));
  return buf;
}

// A fresh directory tree under /tmp, removed (depth first) at scope exit.
class TempTree {
 public:
  TempTree() {
    static int counter = 0;
    root_ =
        "/tmp/ipop-test-mgmt-access-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    mkdir(root_.c_str(), 0755);
    chmod(root_.c_str(), 0755);  // whatever the umask
  }
  ~TempTree() {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
      unlink((*it + "/node.sock").c_str());
      rmdir(it->c_str());
    }
    unlink((root_ + "/node.sock").c_str());
    rmdir(root_.c_str());
  }
  // Creates root/name with `mode` (exactly) and returns its path.
  std::string Dir(const std::string& name, mode_t mode) {
    const std::string path = root_ + "/" + name;
    mkdir(path.c_str(), 0700);
    chmod(path.c_str(), mode);
    made_.push_back(path);
    return path;
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::vector<std::string> made_;
};

std::unique_ptr<MgmtServer> Listen(const std::string& path, std::string* error,
                                   std::vector<std::string>* seen = nullptr) {
  return MgmtServer::Listen(
      path,
      [seen](std::string_view line) {
        if (seen != nullptr) seen->emplace_back(line);
        return std::string("ok: done");
      },
      error);
}

// Runs `fn` in a child that has become uid/gid 65534; the child's exit status is fn's result.
// The parent keeps serving `server` (if given) until the child exits or 10 s pass.
int AsNobody(const std::function<int()>& fn, MgmtServer* server = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0)
      _exit(100);
    _exit(fn());
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = -1;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    if (server == nullptr) {
      usleep(10000);
      continue;
    }
    pollfd pfd{server->fd(), POLLIN, 0};
    if (poll(&pfd, 1, 10) > 0) server->OnReadable();
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// In the child: 0 when connect() is refused with EACCES, 1 when it connects, 2 otherwise.
int ConnectOutcome(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return 1;
  return errno == EACCES ? 0 : 2;
}

TEST(MgmtAccess, SocketDirectoryOthersCanWriteIsRefused) {
  for (const mode_t mode : {0777, 0775, 0757, 0770, 0730, 0703, 01777, 01775}) {
    TempTree tree;
    const std::string dir = tree.Dir("run", mode);
    std::string error;
    EXPECT_EQ(Listen(dir + "/node.sock", &error), nullptr) << ModeText(mode);
    EXPECT_NE(error.find("the management socket's directory " + dir +
                         " is writable by group or other (mode " + ModeText(mode) + ")"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("chmod go-w " + dir), std::string::npos) << error;
    EXPECT_NE(access((dir + "/node.sock").c_str(), F_OK), 0) << "socket created anyway";
  }
  for (const mode_t mode : {0755, 0700, 0711, 0750}) {
    TempTree tree;
    const std::string dir = tree.Dir("run", mode);
    std::string error;
    EXPECT_NE(Listen(dir + "/node.sock", &error), nullptr) << ModeText(mode) << ": " << error;
  }
}

TEST(MgmtAccess, AncestorOthersCanWriteIsRefusedUnlessSticky) {
  {
    TempTree tree;
    const std::string open_dir = tree.Dir("open", 0777);
    const std::string dir = tree.Dir("open/run", 0755);
    std::string error;
    EXPECT_EQ(Listen(dir + "/node.sock", &error), nullptr);
    EXPECT_NE(error.find("directory " + open_dir + " on the way to the socket is writable"),
              std::string::npos)
        << error;
  }
  {
    // Like /tmp: other users cannot rename our entries in a sticky directory.
    TempTree tree;
    tree.Dir("sticky", 01777);
    const std::string dir = tree.Dir("sticky/run", 0755);
    std::string error;
    EXPECT_NE(Listen(dir + "/node.sock", &error), nullptr) << error;
  }
}

TEST(MgmtAccess, DirectoryOrSymlinkOfAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  {
    TempTree tree;
    const std::string dir = tree.Dir("theirs", 0755);
    ASSERT_EQ(chown(dir.c_str(), kNobody, kNobody), 0);
    std::string error;
    EXPECT_EQ(Listen(dir + "/node.sock", &error), nullptr);
    EXPECT_NE(error.find(dir + " is owned by uid 65534"), std::string::npos) << error;
  }
  {
    // Their symlink to a directory of ours: they could repoint it between our checks and bind.
    TempTree tree;
    const std::string target = tree.Dir("ours", 0755);
    const std::string link = tree.root() + "/link";
    ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
    ASSERT_EQ(lchown(link.c_str(), kNobody, kNobody), 0);
    std::string error;
    EXPECT_EQ(Listen(link + "/node.sock", &error), nullptr);
    EXPECT_NE(error.find("symlink " + link), std::string::npos) << error;
    unlink(link.c_str());
  }
}

TEST(MgmtAccess, AnotherUserCannotConnect) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as a second user";
  TempTree tree;  // 0755 all the way: only the socket's own mode keeps them out
  const std::string path = tree.Dir("run", 0755) + "/node.sock";
  std::string error;
  std::vector<std::string> seen;
  auto server = Listen(path, &error, &seen);
  ASSERT_NE(server, nullptr) << error;
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(AsNobody([&] { return ConnectOutcome(path); }), 0) << "not refused with EACCES";
  // The same check as root succeeds, so the refusal above is about the user.
  EXPECT_EQ(ConnectOutcome(path), 1);
}

TEST(MgmtAccess, AnotherUserIsRefusedEvenIfTheSocketModeIsLoosened) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as a second user";
  TempTree tree;
  const std::string path = tree.Dir("run", 0755) + "/node.sock";
  std::string error;
  std::vector<std::string> seen;
  auto server = Listen(path, &error, &seen);
  ASSERT_NE(server, nullptr) << error;
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);  // an operator "fixing" access for a monitoring user
  // Exit 0: refused with the permission error; 1: served; 2: no connection or no reply.
  const int outcome = AsNobody(
      [&] {
        std::string reply, err;
        if (!MgmtRequest(path, "reload", &reply, &err, 3000)) return 2;
        return reply.rfind("error: permission denied", 0) == 0 ? 0 : 1;
      },
      server.get());
  EXPECT_EQ(outcome, 0);
  EXPECT_TRUE(seen.empty()) << "the handler ran for another user's command: " << seen[0];
  // Root (the node's own user here) is still served.
  bool done = false;
  const pid_t pid = fork();
  if (pid == 0) {
    std::string r, e;
    _exit(MgmtRequest(path, "status", &r, &e, 3000) && r == "ok: done\n" ? 0 : 1);
  }
  int status = -1;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done && std::chrono::steady_clock::now() < give_up) {
    pollfd pfd{server->fd(), POLLIN, 0};
    if (poll(&pfd, 1, 10) > 0) server->OnReadable();
    done = waitpid(pid, &status, WNOHANG) == pid;
  }
  ASSERT_TRUE(done);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "status");
}

}  // namespace
}  // namespace ipop::cp

// ipop-node: runs one node as a supervisor of its two processes.
//
// Start-up: parse the config (fail fast, nothing started), find both binaries, start the dataplane
// then the control plane, each in its own process group (so a terminal's Ctrl-C reaches only the
// supervisor, which then stops the children in order, and so a child's own helpers are signalled
// with it). A child that dies is restarted after --restart-delay-ms; one that dies 5 times within
// 30 s stops the node. Shutdown (SIGTERM/SIGINT): SIGTERM to the control plane, and to the
// dataplane once the control plane exited (it releases its address through the dataplane on the way
// out) or after 4.5 s; SIGKILL to what still runs 5 s after its SIGTERM; then unlink the shared
// region (only the node's own: one another user planted stays for the operator to inspect). Only
// the supervisor unlinks it: the dataplane keeps forwarding on it while a crashed control plane is
// restarted, and the new control plane re-attaches to the same region. SIGHUP is forwarded to the
// control plane (config reload).
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "shared/config.h"
#include "shared/shm_region.h"

namespace {

constexpr int kCrashLoopDeaths = 5;
constexpr int64_t kCrashLoopWindowMs = 30000;
constexpr int64_t kStopGraceMs = 5000;
// How long the dataplane outlives a stopping control plane at most (the control plane needs
// about 2 s at most to release its address).
constexpr int64_t kDataplaneLingerMs = 4500;

constexpr const char* kUsage =
    "usage: ipop-node --config FILE [--dataplane PATH] [--controlplane PATH]\n"
    "                 [--restart-delay-ms N] [--pidfile FILE] [-- FLAGS...]\n"
    "\n"
    "Runs one IPOP node: starts ipop-dataplane and ipop-controlplane with --config FILE (plus\n"
    "FLAGS after --, e.g. --node.log-level=debug), restarts a child that dies, and stops both on\n"
    "SIGTERM/SIGINT. SIGHUP makes the control plane reload the config.\n"
    "\n"
    "  --config FILE          node config (required)\n"
    "  --dataplane PATH       dataplane binary (default: next to ipop-node, else in the\n"
    "                         installed helper directory below, else the build tree)\n"
    "  --controlplane PATH    control-plane binary (same default)\n"
    "  --restart-delay-ms N   wait before restarting a dead child, 0..600000 (default 1000)\n"
    "  --pidfile FILE         write the supervisor's pid here; removed on exit\n"
    "\n"
    "Helper directory: " IPOP_HELPER_DIR
    "\n"
    "(looked up relative to ipop-node, so a staged or moved tree runs its own helpers)\n";

std::string g_node_name = "?";

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 1, 2))) void Log(const char* fmt, ...) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
  char message[1024];
  va_list args;
  va_start(args, fmt);
  vsnprintf(message, sizeof(message), fmt, args);
  va_end(args);
  // One write per line so lines from the children and from us do not interleave mid-line.
  char line[1200];
  const int n = snprintf(line, sizeof(line), "%s.%03ldZ ipop-node[%s]: %s\n", stamp,
                         ts.tv_nsec / 1000000, g_node_name.c_str(), message);
  if (n > 0 && write(STDERR_FILENO, line, std::min<size_t>(n, sizeof(line) - 1)) < 0) {
    // stderr is gone; nothing better to report it to
  }
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    std::string text = "signal " + std::to_string(WTERMSIG(status));
    if (const char* name = sigabbrev_np(WTERMSIG(status))) text += std::string(", SIG") + name;
    if (WCOREDUMP(status)) text += ", core dumped";
    return text;
  }
  return "status " + std::to_string(status);
}

struct Options {
  std::string config_file;
  std::string dataplane_path;
  std::string controlplane_path;
  int64_t restart_delay_ms = 1000;
  std::string pidfile;
  std::vector<std::string> child_flags;  // after "--"
};

// false + *error on a usage error; *help_shown when --help was asked for.
bool ParseOptions(int argc, char** argv, Options* opts, bool* help_shown, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      opts->child_flags.assign(argv + i + 1, argv + argc);
      break;
    }
    if (arg == "-h" || arg == "--help") {
      *help_shown = true;
      return true;
    }
    if (arg.rfind("--", 0) != 0) {
      *error = "unexpected argument '" + arg + "' (flags for the children go after --)";
      return false;
    }
    std::string value;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      *error = arg + " needs a value";
      return false;
    }
    if (arg == "--config") {
      opts->config_file = value;
    } else if (arg == "--dataplane") {
      opts->dataplane_path = value;
    } else if (arg == "--controlplane") {
      opts->controlplane_path = value;
    } else if (arg == "--pidfile") {
      opts->pidfile = value;
    } else if (arg == "--restart-delay-ms") {
      char* end = nullptr;
      const long long ms = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || ms < 0 || ms > 600000) {
        *error = "--restart-delay-ms must be 0..600000";
        return false;
      }
      opts->restart_delay_ms = ms;
    } else {
      *error = "unknown option " + arg;
      return false;
    }
  }
  if (opts->config_file.empty()) {
    *error = "--config FILE is required";
    return false;
  }
  return true;
}

// Where a helper may be, in order: the explicit path; next to ipop-node (a hand-copied install);
// the helper directory at the place meson installs it relative to ipop-node's (sbin/ ->
// ../libexec/ipop/), so a tree installed under DESTDIR or moved to another prefix runs its own
// helpers, never another installation's; the meson build tree (tools/ -> ../dataplane/).
std::vector<std::string> HelperCandidates(const std::string& explicit_path, const char* subdir,
                                          const char* name) {
  if (!explicit_path.empty()) return {explicit_path};
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = ".";
  if (n > 0) {
    self[n] = '\0';
    dir = self;
    dir.resize(dir.rfind('/'));
  }
  std::vector<std::string> candidates = {dir + "/" + name};
  const std::filesystem::path helper_dir(IPOP_HELPER_DIR);
  const std::filesystem::path from_sbin =
      helper_dir.lexically_relative(std::filesystem::path(IPOP_SBIN_DIR));
  if (!from_sbin.empty()) candidates.push_back(dir + "/" + from_sbin.string() + "/" + name);
  candidates.push_back(dir + "/../" + subdir + "/" + name);
  return candidates;
}

bool FindBinary(const std::string& explicit_path, const char* subdir, const char* name,
                std::string* path, std::string* error) {
  const std::vector<std::string> candidates = HelperCandidates(explicit_path, subdir, name);
  for (const std::string& c : candidates) {
    if (access(c.c_str(), X_OK) != 0) continue;
    // Only the directory is resolved (drops the "tools/.." in logs); the file name stays as
    // given, since a symlinked binary may dispatch on argv[0].
    char dir[PATH_MAX];
    const size_t slash = c.rfind('/');
    if (slash != std::string::npos && realpath(c.substr(0, slash + 1).c_str(), dir) != nullptr) {
      *path = std::string(dir) + c.substr(slash);
    } else {
      *path = c;
    }
    return true;
  }
  *error = std::string("cannot find an executable ") + name + " (looked at";
  for (const std::string& c : candidates) *error += " " + c;
  *error += "); pass --" + std::string(subdir) + " PATH";
  return false;
}

struct Child {
  const char* role;  // "dataplane" / "controlplane"
  std::string binary;
  pid_t pid = -1;
  int64_t restart_at_ms = -1;  // -1: no restart pending
  std::deque<int64_t> deaths_ms;
};

class Supervisor {
 public:
  Supervisor(Options opts, std::string shm_name, std::string mgmt_socket, int signal_fd)
      : opts_(std::move(opts)),
        shm_name_(std::move(shm_name)),
        mgmt_socket_(std::move(mgmt_socket)),
        signal_fd_(signal_fd) {}

  void AddChild(const char* role, std::string binary) {
    children_.push_back(Child{role, std::move(binary)});
  }
  // Runs until a shutdown signal or a crash loop; returns the process exit code.
  int Run();

 private:
  void Start(Child& child);
  void ReapChildren();
  void HandleSignal(const signalfd_siginfo& info);
  int PollTimeoutMs() const;
  void StopAll();
  void StopDataplane();
  void Cleanup();

  Options opts_;
  std::string shm_name_;
  std::string mgmt_socket_;
  int signal_fd_;
  std::vector<Child> children_;  // start order: dataplane, controlplane
  bool stopping_ = false;
  int64_t dp_term_at_ms_ = -1;  // stopping: when the dataplane gets its SIGTERM (-1: sent)
  int exit_code_ = 0;
};

void Supervisor::Start(Child& child) {
  std::vector<std::string> args = {child.binary, "--config", opts_.config_file};
  args.insert(args.end(), opts_.child_flags.begin(), opts_.child_flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    Log("cannot fork %s: %s; retrying in %lld ms", child.role, std::strerror(errno),
        static_cast<long long>(opts_.restart_delay_ms));
    child.restart_at_ms = NowMs() + opts_.restart_delay_ms;
    return;
  }
  if (pid == 0) {
    setpgid(0, 0);
    // A supervisor killed with SIGKILL must not leave an orphaned node behind.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);  // ignored dispositions survive exec
    execv(argv[0], argv.data());
    std::fprintf(stderr, "ipop-node[%s]: cannot exec %s: %s\n", g_node_name.c_str(), argv[0],
                 std::strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);  // also here: whichever of parent/child runs first wins the race
  child.pid = pid;
  child.restart_at_ms = -1;
  Log("started %s pid %d: %s", child.role, pid, child.binary.c_str());
}

void Supervisor::ReapChildren() {
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (Child& child : children_) {
      if (child.pid != pid) continue;
      child.pid = -1;
      // Helpers the child started die with it, so a restart never finds leftovers; the group id
      // cannot have been reused while members remain.
      kill(-pid, SIGKILL);
      if (stopping_) {
        Log("%s pid %d stopped (%s)", child.role, pid, DescribeStatus(status).c_str());
        if (&child == &children_.back()) StopDataplane();
        break;
      }
      const int64_t now = NowMs();
      child.deaths_ms.push_back(now);
      while (!child.deaths_ms.empty() && now - child.deaths_ms.front() > kCrashLoopWindowMs) {
        child.deaths_ms.pop_front();
      }
      if (static_cast<int>(child.deaths_ms.size()) >= kCrashLoopDeaths) {
        Log("%s pid %d exited (%s); it died %d times within %lld s: crash loop, stopping the "
            "node",
            child.role, pid, DescribeStatus(status).c_str(), kCrashLoopDeaths,
            static_cast<long long>(kCrashLoopWindowMs / 1000));
        exit_code_ = 1;
        StopAll();
        break;
      }
      Log("%s pid %d exited (%s); restarting in %lld ms", child.role, pid,
          DescribeStatus(status).c_str(), static_cast<long long>(opts_.restart_delay_ms));
      child.restart_at_ms = now + opts_.restart_delay_ms;
      break;
    }
  }
}

void Supervisor::StopAll() {
  if (stopping_) return;
  stopping_ = true;
  for (Child& child : children_) child.restart_at_ms = -1;
  // Control plane first: it stops publishing, and gives its address back through the overlay,
  // while the dataplane still carries its messages.
  Child& cp = children_.back();
  if (cp.pid > 0) {
    Log("stopping %s pid %d (SIGTERM)", cp.role, cp.pid);
    kill(-cp.pid, SIGTERM);
    dp_term_at_ms_ = NowMs() + kDataplaneLingerMs;
  } else {
    StopDataplane();
  }
}

void Supervisor::StopDataplane() {
  if (dp_term_at_ms_ == -2) return;
  dp_term_at_ms_ = -2;
  Child& dp = children_.front();
  if (dp.pid > 0) {
    Log("stopping %s pid %d (SIGTERM)", dp.role, dp.pid);
    kill(-dp.pid, SIGTERM);
  }
}

void Supervisor::HandleSignal(const signalfd_siginfo& info) {
  const int sig = static_cast<int>(info.ssi_signo);
  if (sig == SIGCHLD) {
    ReapChildren();
  } else if (sig == SIGHUP) {
    const Child& cp = children_.back();
    if (cp.pid > 0 && !stopping_) {
      Log("SIGHUP: asking controlplane pid %d to reload the config", cp.pid);
      kill(cp.pid, SIGHUP);
    } else {
      Log("SIGHUP: no control plane running; reload skipped");
    }
  } else if (!stopping_) {
    Log("SIG%s from pid %u: stopping the node", sig == SIGINT ? "INT" : "TERM", info.ssi_pid);
    StopAll();
  } else {
    // A second Ctrl-C means "now": do not wait out the grace period.
    for (Child& child : children_) {
      if (child.pid > 0) kill(-child.pid, SIGKILL);
    }
  }
}

int Supervisor::PollTimeoutMs() const {
  int64_t next = -1;
  for (const Child& child : children_) {
    if (child.restart_at_ms >= 0 && (next < 0 || child.restart_at_ms < next)) {
      next = child.restart_at_ms;
    }
  }
  if (next < 0) return -1;
  const int64_t wait = next - NowMs();
  return wait > 0 ? static_cast<int>(wait) : 0;
}

void Supervisor::Cleanup() {
  if (const std::string left = ipop::shm::ShmRegion::UnlinkOwn(shm_name_); !left.empty()) {
    Log("left the shared region in place: %s", left.c_str());
  }
  // A control plane that had to be killed leaves its socket file; a live one never exists here
  // since both children are gone.
  struct stat st;
  if (!mgmt_socket_.empty() && lstat(mgmt_socket_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    unlink(mgmt_socket_.c_str());
  }
  if (!opts_.pidfile.empty()) unlink(opts_.pidfile.c_str());
}

int Supervisor::Run() {
  for (Child& child : children_) Start(child);
  int64_t kill_at_ms = -1;
  for (;;) {
    bool any_running = false;
    for (const Child& child : children_) any_running |= child.pid > 0;
    if (stopping_ && !any_running) break;
    if (stopping_ && kill_at_ms < 0) kill_at_ms = NowMs() + kStopGraceMs;

    int64_t deadline = kill_at_ms;
    if (stopping_ && dp_term_at_ms_ >= 0) deadline = std::min(deadline, dp_term_at_ms_);
    int timeout =
        stopping_ ? static_cast<int>(std::max<int64_t>(0, deadline - NowMs())) : PollTimeoutMs();
    pollfd pfd{signal_fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout);
    if (ready < 0 && errno != EINTR) {
      Log("poll: %s", std::strerror(errno));
      exit_code_ = 1;
      StopAll();
      continue;
    }
    if (ready > 0) {
      signalfd_siginfo infos[16];
      const ssize_t n = read(signal_fd_, infos, sizeof(infos));
      for (ssize_t k = 0; k < n / static_cast<ssize_t>(sizeof(infos[0])); ++k) {
        HandleSignal(infos[k]);
      }
      continue;
    }
    const int64_t now = NowMs();
    if (stopping_) {
      if (dp_term_at_ms_ >= 0 && now >= dp_term_at_ms_) {
        Log("controlplane still running after %lld ms: stopping the dataplane anyway",
            static_cast<long long>(kDataplaneLingerMs));
        StopDataplane();
      }
      if (now >= kill_at_ms) {
        for (Child& child : children_) {
          if (child.pid <= 0) continue;
          Log("%s pid %d still running after %lld ms: SIGKILL", child.role, child.pid,
              static_cast<long long>(kStopGraceMs));
          kill(-child.pid, SIGKILL);
        }
        kill_at_ms = now + kStopGraceMs;  // SIGKILL cannot be ignored; reaping follows at once
      }
      continue;
    }
    for (Child& child : children_) {
      if (child.restart_at_ms >= 0 && now >= child.restart_at_ms) Start(child);
    }
  }
  Cleanup();
  Log(exit_code_ == 0 ? "node stopped" : "node stopped after an error");
  return exit_code_;
}

bool WritePidfile(const std::string& path, std::string* error) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    *error = "cannot write pidfile " + tmp + ": " + std::strerror(errno);
    return false;
  }
  std::fprintf(f, "%d\n", getpid());
  const bool ok = std::fclose(f) == 0 && std::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) *error = "cannot write pidfile " + path + ": " + std::strerror(errno);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  bool help_shown = false;
  std::string error;
  if (!ParseOptions(argc, argv, &opts, &help_shown, &error)) {
    std::fprintf(stderr, "ipop-node: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  if (help_shown) {
    std::fputs(kUsage, stdout);
    return 0;
  }

  // The children parse the same file and flags; parsing here first means a bad config is
  // reported once, before anything starts.
  std::vector<const char*> config_argv = {"ipop-node", "--config", opts.config_file.c_str()};
  for (const std::string& f : opts.child_flags) config_argv.push_back(f.c_str());
  const ipop::ConfigResult parsed =
      ipop::ParseConfig(static_cast<int>(config_argv.size()), config_argv.data());
  if (!parsed.config) {
    std::fprintf(stderr, "ipop-node: %s: %s\n", opts.config_file.c_str(),
                 parsed.help.empty() ? parsed.error.c_str() : "flags after -- asked for help");
    return 2;
  }
  const ipop::NodeConfig& config = *parsed.config;
  g_node_name = config.name;

  std::string dataplane, controlplane;
  if (!FindBinary(opts.dataplane_path, "dataplane", "ipop-dataplane", &dataplane, &error) ||
      !FindBinary(opts.controlplane_path, "controlplane", "ipop-controlplane", &controlplane,
                  &error)) {
    std::fprintf(stderr, "ipop-node: %s\n", error.c_str());
    return 2;
  }

  // Blocked before the first fork so no signal is lost between fork and the signalfd read;
  // children unblock them before exec.
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, sig);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  const int signal_fd = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) {
    std::fprintf(stderr, "ipop-node: signalfd: %s\n", std::strerror(errno));
    return 1;
  }
  // A log reader that goes away (journald restart, `| head`) must not kill the supervisor.
  signal(SIGPIPE, SIG_IGN);
  // Helpers a child leaves behind are re-parented to us rather than to init, so we reap them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (!opts.pidfile.empty() && !WritePidfile(opts.pidfile, &error)) {
    std::fprintf(stderr, "ipop-node: %s\n", error.c_str());
    return 1;
  }

  Log("node %s: config %s, shm %s, restart delay %lld ms", config.name.c_str(),
      opts.config_file.c_str(), config.shm_name.c_str(),
      static_cast<long long>(opts.restart_delay_ms));
  Supervisor supervisor(opts, config.shm_name, config.mgmt_socket, signal_fd);
  supervisor.AddChild("dataplane", dataplane);
  supervisor.AddChild("controlplane", controlplane);
  return supervisor.Run();
}

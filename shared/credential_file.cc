#include "shared/credential_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ipop {
namespace {

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", unsigned(mode) & 07777);
  return buf;
}

// "" when only root or we own the file and nobody else has any permission on it.
std::string PermissionProblem(const struct stat& st, const std::string& path) {
  const uid_t me = geteuid();
  if (st.st_uid != 0 && st.st_uid != me) {
    return "'" + path + "' is owned by uid " + std::to_string(st.st_uid) +
           ", who could replace the credential in it; make it yours: chown " + std::to_string(me) +
           " " + path + " && chmod 600 " + path;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) == 0) return "";
  const char* how = (st.st_mode & (S_IRGRP | S_IROTH)) != 0   ? "readable"
                    : (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ? "writable"
                                                              : "accessible";
  return "'" + path + "' is " + how + " by group or other (mode " + ModeText(st.st_mode) +
         "); it holds a credential, so only its owner may have access: chmod 600 " + path;
}

}  // namespace

CredentialFile ReadCredentialFile(const std::string& path, size_t max_bytes) {
  CredentialFile out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    out.error = "cannot open '" + path + "': " + std::strerror(errno);
    return out;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) > max_bytes) {
    ::close(fd);
    out.error =
        "'" + path + "' is not a regular file of at most " + std::to_string(max_bytes) + " bytes";
    return out;
  }
  out.error = PermissionProblem(st, path);
  if (!out.error.empty()) {
    ::close(fd);
    return out;
  }
  out.text.assign(size_t(st.st_size), '\0');
  const ssize_t n = ::read(fd, out.text.data(), out.text.size());
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    out.text.clear();
    out.error = "cannot read '" + path + "': " + std::strerror(read_errno);
    return out;
  }
  out.text.resize(size_t(n));
  return out;
}

}  // namespace ipop

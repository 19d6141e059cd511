#include "controlplane/identity/identity_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "controlplane/identity/pem.h"
#include "shared/credential_file.h"

namespace ipop::cp::identity {
namespace {

// A public file (certificate, revocation, public key): any mode, but a regular file of bounded
// size, read without blocking so a FIFO cannot hang the reader.
bool ReadPublicFile(const std::string& path, std::string* text, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) > kMaxPkiFileBytes) {
    ::close(fd);
    *error =
        path + ": not a regular file of at most " + std::to_string(kMaxPkiFileBytes) + " bytes";
    return false;
  }
  text->assign(size_t(st.st_size), '\0');
  size_t got = 0;
  while (got < text->size()) {
    const ssize_t n = ::read(fd, text->data() + got, text->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += size_t(n);
  }
  const int read_errno = errno;
  ::close(fd);
  if (got != text->size()) {
    *error = path + ": cannot read: " + std::strerror(read_errno);
    return false;
  }
  return true;
}

// The blocks of `text` labelled `want`, or an error: any other block (a key where a certificate
// belongs) is named, since that is the usual mistake.
std::vector<PemBlock> BlocksOf(const std::string& name, std::string_view text,
                               std::string_view want, std::string* error) {
  PemText pem = ReadPem(text);
  if (!pem.error.empty()) {
    *error = name + ": " + pem.error;
    return {};
  }
  if (pem.blocks.empty()) {
    *error = name + ": no '-----BEGIN " + std::string(want) + "-----' block";
    return {};
  }
  for (const PemBlock& b : pem.blocks) {
    if (b.label != want) {
      *error =
          name + ": holds a '" + b.label + "' block where an '" + std::string(want) + "' belongs";
      return {};
    }
  }
  return std::move(pem.blocks);
}

std::string Ordinal(size_t i, size_t n) {
  return n == 1 ? std::string() : "block " + std::to_string(i + 1) + ": ";
}

}  // namespace

CertificateFile ParseCertificateText(const std::string& name, std::string_view text) {
  CertificateFile out;
  const std::vector<PemBlock> blocks = BlocksOf(name, text, kCertificateLabel, &out.error);
  for (size_t i = 0; i < blocks.size(); ++i) {
    DecodedCertificate d = DecodeCertificate(blocks[i].data);
    if (!d.cert) {
      out.certs.clear();
      out.error = name + ": " + Ordinal(i, blocks.size()) + CertErrorText(d.error);
      return out;
    }
    out.certs.push_back(std::move(*d.cert));
  }
  return out;
}

CertificateFile ReadCertificateFile(const std::string& path) {
  std::string text;
  CertificateFile out;
  if (!ReadPublicFile(path, &text, &out.error)) return out;
  return ParseCertificateText(path, text);
}

RevocationFile ParseRevocationText(const std::string& name, std::string_view text) {
  RevocationFile out;
  const std::vector<PemBlock> blocks = BlocksOf(name, text, kRevocationLabel, &out.error);
  for (size_t i = 0; i < blocks.size(); ++i) {
    DecodedRevocation d = DecodeRevocation(blocks[i].data);
    if (!d.revocation) {
      out.revocations.clear();
      out.error = name + ": " + Ordinal(i, blocks.size()) + RevocationErrorText(d.error);
      return out;
    }
    out.revocations.push_back(std::move(*d.revocation));
  }
  return out;
}

RevocationFile ReadRevocationFile(const std::string& path) {
  std::string text;
  RevocationFile out;
  if (!ReadPublicFile(path, &text, &out.error)) return out;
  return ParseRevocationText(path, text);
}

PrivateKeyFile ReadPrivateKeyFile(const std::string& path) {
  PrivateKeyFile out;
  const CredentialFile file = ReadCredentialFile(path, kMaxKeyFileBytes);
  if (!file.error.empty()) {
    // ReadCredentialFile's errors already name the file.
    out.error = file.error;
    return out;
  }
  std::string error;
  out.key = PrivateKey::FromPem(file.text, &error);
  if (!out.key) out.error = path + ": " + error;
  return out;
}

PublicKeyFile ReadPublicKeyFile(const std::string& path) {
  PublicKeyFile out;
  std::string text;
  if (!ReadPublicFile(path, &text, &out.error)) return out;
  std::string error;
  const std::optional<PublicKey> key = PublicKeyFromPem(text, &error);
  if (!key) {
    out.error = path + ": " + error;
    return out;
  }
  out.key = *key;
  return out;
}

std::string WriteNewFile(const std::string& path, const std::string& text, unsigned mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode));
  if (fd < 0) {
    return path + ": cannot create: " + std::strerror(errno) +
           (errno == EEXIST ? " (ipop-cert never overwrites a file)" : "");
  }
  // The umask may have taken bits away; never more than asked for.
  if (::fchmod(fd, mode_t(mode)) != 0) {
    const int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return path + ": cannot set mode: " + std::strerror(e);
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += size_t(n);
  }
  const int write_errno = errno;
  const bool synced = done == text.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    ::unlink(path.c_str());
    return path + ": cannot write: " + std::strerror(write_errno);
  }
  return {};
}

}  // namespace ipop::cp::identity

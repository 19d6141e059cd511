// The files of the PKI (docs/pki.md): certificates and revocations as PEM blocks (a file may hold
// several, e.g. a root and its issuing CAs), private keys as PKCS#8 PEM that only their owner may
// access (shared/credential_file.h decides that, as for the network secret). Every error starts
// with the file's path and says what is wrong with it, in one line.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controlplane/identity/certificate.h"
#include "controlplane/identity/ed25519.h"
#include "controlplane/identity/revocation.h"

namespace ipop::cp::identity {

inline constexpr size_t kMaxPkiFileBytes = 1024 * 1024;

struct CertificateFile {
  std::vector<Certificate> certs;  // at least one when error is empty
  std::string error;
};
CertificateFile ReadCertificateFile(const std::string& path);
// The same from text already read (`name` is what errors call it).
CertificateFile ParseCertificateText(const std::string& name, std::string_view text);

struct RevocationFile {
  std::vector<Revocation> revocations;  // at least one when error is empty
  std::string error;
};
RevocationFile ReadRevocationFile(const std::string& path);
RevocationFile ParseRevocationText(const std::string& name, std::string_view text);

struct PrivateKeyFile {
  std::unique_ptr<PrivateKey> key;
  std::string error;
};
// Refuses a key file that group or other may access, or another user owns.
PrivateKeyFile ReadPrivateKeyFile(const std::string& path);

struct PublicKeyFile {
  PublicKey key{};
  std::string error;
};
PublicKeyFile ReadPublicKeyFile(const std::string& path);

// Creates `path` with `mode` (0600 for private keys) and writes `text`; never replaces an existing
// file. Empty on success, else the error naming the file.
std::string WriteNewFile(const std::string& path, const std::string& text, unsigned mode);

}  // namespace ipop::cp::identity

// Reading files that hold credentials (the network and overlay secrets, the router's private key):
// another local user must not be able to read them, or replace them with a key of their choosing.
#pragma once

#include <cstddef>
#include <string>

namespace ipop {

// A PEM key file (the router's Ed25519 key is a few hundred bytes).
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

struct CredentialFile {
  std::string text;   // the whole file when error is empty
  std::string error;  // names the file, what is wrong and the fix
};

// Reads `path` if it is a regular file of at most max_bytes, owned by root or the effective user,
// with no permission bit for group or other (0600 or 0400). Anything else is an error that names
// the file, the mode or owner found and the command that fixes it. Opens without blocking and
// checks the descriptor it reads, so a FIFO or a swapped file cannot hang or fool it.
CredentialFile ReadCredentialFile(const std::string& path, size_t max_bytes);

}  // namespace ipop

// Chooses the process-wide AES-256-GCM backend from network.crypto-backend at start-up, before
// any worker keys a context, and describes the choice for the one start-up line on stderr.
#pragma once

#include <string>

#include "dataplane/aead.h"
#include "shared/config.h"

namespace ipop::dp {

struct CryptoBackendSelection {
  bool ok = false;
  AeadBackend gcm = AeadBackend::kOpenSsl;
  std::string summary;  // e.g. "aes-256-gcm on ipsec-mb 1.3.0 (auto), cpu avx512+vaes"
  std::string error;    // set when !ok: ipsec-mb was demanded but cannot run here
};

// auto: ipsec-mb when built in and its known-answer self-test passes, else OpenSSL. ipsec-mb:
// the same condition or an error. openssl: always OpenSSL. Calls SetDefaultGcmBackend() when ok.
CryptoBackendSelection SelectCryptoBackend(CryptoBackend wanted);

// CPU crypto features this process runs with ("aes pclmul avx2 avx512f vaes vpclmulqdq").
std::string CpuCryptoFeatures();

}  // namespace ipop::dp

#include "dataplane/crypto_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "dataplane/aead_ipsec_mb.h"

namespace ipop::dp {

std::string CpuCryptoFeatures() {
  std::string out;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const auto add = [&out](bool has, const char* name) {
    if (!has) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(__builtin_cpu_supports("aes"), "aes");
  add(__builtin_cpu_supports("pclmul"), "pclmul");
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  // clang's __builtin_cpu_supports does not know these two; CPUID leaf 7 ECX bits 9 and 10.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool leaf7 = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0;
  add(leaf7 && (ecx & (1u << 9)) != 0, "vaes");
  add(leaf7 && (ecx & (1u << 10)) != 0, "vpclmulqdq");
#endif
  return out.empty() ? "generic" : out;
}

CryptoBackendSelection SelectCryptoBackend(CryptoBackend wanted) {
  CryptoBackendSelection s;
  const bool usable = IpsecMbUsable();
  const char* why = wanted == CryptoBackend::kAuto ? "auto" : "configured";
  if (wanted == CryptoBackend::kIpsecMb && !usable) {
    s.error = ipsecmb::Built()
                  ? "network.crypto-backend = ipsec-mb, but intel-ipsec-mb failed its AES-256-GCM "
                    "self-test on this CPU; use auto or openssl"
                  : "network.crypto-backend = ipsec-mb, but this build has no intel-ipsec-mb "
                    "(install libipsec-mb-dev and rebuild); use auto or openssl";
    return s;
  }
  s.gcm =
      wanted != CryptoBackend::kOpenSsl && usable ? AeadBackend::kIpsecMb : AeadBackend::kOpenSsl;
  SetDefaultGcmBackend(s.gcm);
  s.ok = true;
  s.summary = std::string("aes-256-gcm on ") + AeadBackendName(s.gcm);
  if (s.gcm == AeadBackend::kIpsecMb) s.summary += std::string(" ") + ipsecmb::Version();
  s.summary += std::string(" (") + why + ")";
  if (ipsecmb::Built()) {
    s.summary += std::string(", ipsec-mb arch ") + ipsecmb::ArchName();
    if (!usable) s.summary += " (self-test failed)";
  } else {
    s.summary += ", ipsec-mb not built in";
  }
  s.summary += ", chacha20-poly1305 on openssl, cpu " + CpuCryptoFeatures();
  return s;
}

}  // namespace ipop::dp

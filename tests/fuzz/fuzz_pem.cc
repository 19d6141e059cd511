// Fuzzes the PEM reader and the certificate and revocation file parsers on arbitrary text.
// Checks: an error leaves no blocks; every block read has a label and 1..kMaxPemBlockBytes bytes,
// and written again it reads back to the same label and bytes (canonical base64: one armour per
// byte string); the file parsers succeed only when every block has the right label and decodes.
#include <cstdint>
#include <string>
#include <string_view>

#include "controlplane/identity/identity_files.h"
#include "controlplane/identity/pem.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipop::cp::identity;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const PemText pem = ReadPem(text);
  if (!pem.error.empty() && !pem.blocks.empty()) __builtin_trap();
  if (pem.blocks.size() > kMaxPemBlocks) __builtin_trap();
  size_t certs = 0, revocations = 0;
  for (const PemBlock& b : pem.blocks) {
    if (b.label.empty() || b.data.empty() || b.data.size() > kMaxPemBlockBytes) __builtin_trap();
    const PemText again = ReadPem(WritePem(b.label, b.data));
    if (!again.error.empty() || again.blocks.size() != 1 || again.blocks[0].label != b.label ||
        again.blocks[0].data != b.data)
      __builtin_trap();
    if (b.label == kCertificateLabel && DecodeCertificate(b.data).cert) ++certs;
    if (b.label == kRevocationLabel && DecodeRevocation(b.data).revocation) ++revocations;
  }
  const CertificateFile cf = ParseCertificateText("fuzz", text);
  const bool all_certs = pem.error.empty() && !pem.blocks.empty() && certs == pem.blocks.size();
  if (cf.error.empty() != all_certs) __builtin_trap();
  if (cf.error.empty() && cf.certs.size() != certs) __builtin_trap();
  const RevocationFile rf = ParseRevocationText("fuzz", text);
  const bool all_revs =
      pem.error.empty() && !pem.blocks.empty() && revocations == pem.blocks.size();
  if (rf.error.empty() != all_revs) __builtin_trap();
  return 0;
}

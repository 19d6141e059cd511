// Text forms for ipop-cert: times, hex, and the `print` rendering of certificates and
// revocations (formatting stays out of controlplane/identity, which the node links).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "controlplane/identity/certificate.h"
#include "controlplane/identity/revocation.h"

namespace ipop::cert_tool {

// Concatenation by appending (GCC 12 warns, wrongly, on literal + temporary std::string).
std::string Cat(std::initializer_list<std::string_view> parts);
// "2026-12-02T12:25:06Z".
std::string FormatTime(uint64_t unix_s);
// "now", "@SECONDS", "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ"; nullopt otherwise.
std::optional<uint64_t> ParseTime(std::string_view text, uint64_t now);
std::string Hex(std::span<const uint8_t> bytes);

// One "key value" line per field, indented by two spaces.
std::string CertificateText(const cp::identity::Certificate& cert);
std::string RevocationText(const cp::identity::Revocation& r);

}  // namespace ipop::cert_tool

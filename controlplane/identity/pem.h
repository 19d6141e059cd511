// PEM armour (RFC 7468) for IPOP's own objects: "IPOP CERTIFICATE" and "IPOP REVOCATION" blocks.
// The reader is strict because what it reads comes from other people (certificate bundles,
// revocation files): every block is BEGIN label, base64 lines of at most 76 characters, END with
// the same label; no headers; canonical base64 (padding exact, unused bits zero), so one byte
// string has one armour. Text outside blocks is ignored (RFC 7468 allows explanatory text), but
// any line starting with "-----" there must be a BEGIN line.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ipop::cp::identity {

inline constexpr std::string_view kCertificateLabel = "IPOP CERTIFICATE";
inline constexpr std::string_view kRevocationLabel = "IPOP REVOCATION";
// Bounds for one text: enough for a chain or a revocation list file, small enough to read whole.
inline constexpr size_t kMaxPemBlocks = 256;
inline constexpr size_t kMaxPemBlockBytes = 4096;

struct PemBlock {
  std::string label;
  std::vector<uint8_t> data;
};

struct PemText {
  std::vector<PemBlock> blocks;  // in file order
  std::string error;             // empty when the text was read; else what is wrong and where
};

// Every block of `text`, or an error naming the line ("line 7: ...").
PemText ReadPem(std::string_view text);

// The armour of `data` under `label`: 64 base64 characters per line, ending in a newline.
std::string WritePem(std::string_view label, std::span<const uint8_t> data);

}  // namespace ipop::cp::identity

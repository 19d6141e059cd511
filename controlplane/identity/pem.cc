#include "controlplane/identity/pem.h"

#include <algorithm>

namespace ipop::cp::identity {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kEnd = "-----END ";
constexpr std::string_view kDashes = "-----";
constexpr size_t kMaxLine = 76;

// 0..63 for an alphabet character, -1 otherwise.
int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Labels are printable ASCII without '-' at either end (RFC 7468 "label").
bool ValidLabel(std::string_view label) {
  if (label.empty() || label.size() > 64 || label.front() == '-' || label.back() == '-')
    return false;
  for (char c : label)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// The label of a "-----BEGIN X-----" / "-----END X-----" line, or empty when it is not one.
std::string_view Label(std::string_view line, std::string_view opener) {
  if (line.size() < opener.size() + kDashes.size() || line.substr(0, opener.size()) != opener ||
      line.substr(line.size() - kDashes.size()) != kDashes)
    return {};
  std::string_view label = line.substr(opener.size(), line.size() - opener.size() - kDashes.size());
  return ValidLabel(label) ? label : std::string_view();
}

// Canonical base64 of a whole block body: length a multiple of 4, '=' only at the end (at most
// two), unused bits of the last group zero. False on anything else.
bool DecodeBase64(std::string_view b64, std::vector<uint8_t>* out) {
  if (b64.size() % 4 != 0) return false;
  size_t pad = 0;
  if (!b64.empty() && b64.back() == '=')
    pad = (b64.size() >= 2 && b64[b64.size() - 2] == '=') ? 2 : 1;
  out->clear();
  out->reserve(b64.size() / 4 * 3);
  for (size_t i = 0; i < b64.size(); i += 4) {
    const bool last = i + 4 == b64.size();
    int s[4];
    for (size_t j = 0; j < 4; ++j) {
      const bool padded = last && j >= 4 - pad;
      s[j] = padded ? 0 : Sextet(b64[i + j]);
      if (s[j] < 0) return false;
    }
    const uint32_t v =
        uint32_t(s[0]) << 18 | uint32_t(s[1]) << 12 | uint32_t(s[2]) << 6 | uint32_t(s[3]);
    out->push_back(uint8_t(v >> 16));
    if (last && pad == 2) {
      if ((v & 0xffff) != 0) return false;
      break;
    }
    out->push_back(uint8_t(v >> 8));
    if (last && pad == 1) {
      if ((v & 0xff) != 0) return false;
      break;
    }
    out->push_back(uint8_t(v));
  }
  return true;
}

std::string LineError(size_t line, const std::string& what) {
  return "line " + std::to_string(line) + ": " + what;
}

}  // namespace

PemText ReadPem(std::string_view text) {
  PemText out;
  size_t pos = 0;
  size_t line_no = 0;
  bool in_block = false;
  size_t block_line = 0;
  std::string label;
  std::string body;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!in_block) {
      if (line.substr(0, kDashes.size()) != kDashes) continue;  // explanatory text
      const std::string_view begin = Label(line, kBegin);
      if (begin.empty()) {
        out.error = LineError(line_no, "expected a '-----BEGIN LABEL-----' line");
        break;
      }
      if (out.blocks.size() == kMaxPemBlocks) {
        out.error = LineError(line_no, "more than " + std::to_string(kMaxPemBlocks) + " blocks");
        break;
      }
      in_block = true;
      block_line = line_no;
      label.assign(begin);
      body.clear();
      continue;
    }
    if (line.substr(0, kDashes.size()) == kDashes) {
      const std::string_view end = Label(line, kEnd);
      if (end != label) {
        out.error = LineError(line_no, "expected '-----END " + label + "-----'");
        break;
      }
      PemBlock block;
      block.label = label;
      if (!DecodeBase64(body, &block.data)) {
        out.error = LineError(block_line, "the " + label + " block is not valid base64");
        break;
      }
      if (block.data.empty() || block.data.size() > kMaxPemBlockBytes) {
        out.error = LineError(block_line, "the " + label + " block holds " +
                                              std::to_string(block.data.size()) + " bytes (1.." +
                                              std::to_string(kMaxPemBlockBytes) + " expected)");
        break;
      }
      out.blocks.push_back(std::move(block));
      in_block = false;
      continue;
    }
    if (line.empty()) continue;
    if (line.size() > kMaxLine) {
      out.error =
          LineError(line_no, "base64 line longer than " + std::to_string(kMaxLine) + " characters");
      break;
    }
    // A padded group ends the body: nothing may follow it.
    if (!body.empty() && body.back() == '=') {
      out.error = LineError(line_no, "base64 continues after padding");
      break;
    }
    if (body.size() + line.size() > kMaxPemBlockBytes * 4 / 3 + 4) {
      out.error = LineError(block_line, "the " + label + " block is too large");
      break;
    }
    body.append(line);
  }
  if (out.error.empty() && in_block)
    out.error = LineError(block_line, "'-----BEGIN " + label + "-----' has no END line");
  if (!out.error.empty()) out.blocks.clear();
  return out;
}

std::string WritePem(std::string_view label, std::span<const uint8_t> data) {
  std::string b64;
  b64.reserve((data.size() + 2) / 3 * 4);
  for (size_t i = 0; i < data.size(); i += 3) {
    const size_t n = std::min<size_t>(3, data.size() - i);
    uint32_t v = uint32_t(data[i]) << 16;
    if (n > 1) v |= uint32_t(data[i + 1]) << 8;
    if (n > 2) v |= data[i + 2];
    b64.push_back(kAlphabet[(v >> 18) & 63]);
    b64.push_back(kAlphabet[(v >> 12) & 63]);
    b64.push_back(n > 1 ? kAlphabet[(v >> 6) & 63] : '=');
    b64.push_back(n > 2 ? kAlphabet[v & 63] : '=');
  }
  std::string out;
  out.append(kBegin).append(label).append(kDashes).push_back('\n');
  for (size_t i = 0; i < b64.size(); i += 64) out.append(b64, i, 64).push_back('\n');
  out.append(kEnd).append(label).append(kDashes).push_back('\n');
  return out;
}

}  // namespace ipop::cp::identity

// Helpers the text renderers share (mgmt/render_*.cc only).
#pragma once

#include <string>

namespace ipop::cp {

// printf into `out`; a line longer than 511 bytes is cut.
void Append(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// The width of the key column of `status`.
inline constexpr int kKeyWidth = 28;

}  // namespace ipop::cp

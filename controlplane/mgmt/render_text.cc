#include "controlplane/mgmt/render_text.h"

#include <cstdarg>
#include <cstdio>

namespace ipop::cp {

void Append(std::string& out, const char* fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n > 0) out.append(line, size_t(n) < sizeof(line) ? size_t(n) : sizeof(line) - 1);
}

}  // namespace ipop::cp

// One line of the management API's counter listing: "<prefix><name> <value>\n".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ipop::cp {

inline void AppendCounterLine(std::string& out, std::string_view prefix, std::string_view name,
                              uint64_t value) {
  out.append(prefix).append(name).append(1, ' ').append(std::to_string(value)).append(1, '\n');
}

}  // namespace ipop::cp

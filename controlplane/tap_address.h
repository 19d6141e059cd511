// Gives the virtual interface its IPv4 address (static vip for now; DHCP replaces this later).
#pragma once

#include <cstdint>
#include <string>

namespace ipop::cp {

enum class AssignResult { kOk, kNoSuchInterface, kFailed };
// Idempotent: sets address + netmask on `ifname` and brings it up. kNoSuchInterface while the
// dataplane has not created the TAP yet (the caller retries).
AssignResult AssignIpv4(const std::string& ifname, uint32_t vip_host_order, uint32_t prefix_len,
                        std::string* error);

}  // namespace ipop::cp

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
// Router mode: the kernel sends `prefix/length` to `ifname` (an on-link route; the ARP proxy
// answers for its addresses). Idempotent: an existing route is kOk. kNoSuchInterface while the
// TAP is missing or down (the caller retries).
AssignResult AddInterfaceRoute(const std::string& ifname, uint32_t prefix, uint32_t length,
                               std::string* error);

}  // namespace ipop::cp

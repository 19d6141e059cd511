// Router mode on this host (docs/networks.md): the subnets other members announce are routed to
// the TAP in the kernel's table (an on-link route per prefix), so the host sends their traffic
// into the overlay. A host configured by DHCP (node.dhcp on, node.assign-address off) gets them
// in DHCP option 121 instead, and the node then leaves the kernel's table alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/log.h"

namespace ipop::cp {

struct Ipv4Prefix {
  uint32_t prefix = 0;  // host order
  uint8_t length = 0;
  bool operator==(const Ipv4Prefix&) const = default;
};

struct KernelRoute {
  Ipv4Prefix prefix;
  bool installed = false;  // AddInterfaceRoute succeeded since the TAP was made
};

class KernelRoutes {
 public:
  KernelRoutes(const Clock& clock, std::string tap) : clock_(clock), tap_(std::move(tap)) {}

  // The host is configured by DHCP: the routes go out in option 121 and none is installed here.
  void SetByDhcp(bool by_dhcp) { by_dhcp_ = by_dhcp; }
  bool by_dhcp() const { return by_dhcp_; }
  // The prefixes announced now (a prefix announced twice is routed once). Prefixes seen before
  // keep their installed state; new ones are logged.
  void Set(const std::vector<Ipv4Prefix>& announced);
  // Call periodically: installs the routes not installed yet; a failure is retried next time.
  void Tick();
  // The dataplane restarted and made the TAP anew: every route has to be installed again.
  void ForgetInstalled();
  const std::vector<KernelRoute>& routes() const { return routes_; }
  bool installed(const Ipv4Prefix& p) const;

 private:
  const Clock& clock_;
  std::string tap_;
  bool by_dhcp_ = false;
  std::vector<KernelRoute> routes_;
  RateLimiter log_{1, 3};
};

}  // namespace ipop::cp

#include "controlplane/runtime/kernel_routes.h"

#include <algorithm>

#include "controlplane/runtime/tap_address.h"
#include "shared/endpoint.h"

namespace ipop::cp {

void KernelRoutes::Set(const std::vector<Ipv4Prefix>& announced) {
  std::vector<KernelRoute> next;
  for (const Ipv4Prefix& p : announced) {
    if (std::any_of(next.begin(), next.end(), [&](const KernelRoute& k) { return k.prefix == p; }))
      continue;
    const auto old = std::find_if(routes_.begin(), routes_.end(),
                                  [&](const KernelRoute& k) { return k.prefix == p; });
    next.push_back({p, old != routes_.end() && old->installed});
    if (old == routes_.end())
      IPOP_LOG_INFO("router mode: %s/%u is announced by a member; routing it into the overlay%s",
                    FormatIpv4(p.prefix).c_str(), unsigned(p.length),
                    by_dhcp_ ? " (the host gets it by DHCP option 121)" : "");
  }
  routes_ = std::move(next);
}

void KernelRoutes::Tick() {
  if (by_dhcp_) return;
  for (KernelRoute& r : routes_) {
    if (r.installed) continue;
    std::string err;
    const AssignResult res = AddInterfaceRoute(tap_, r.prefix.prefix, r.prefix.length, &err);
    r.installed = res == AssignResult::kOk;
    uint64_t suppressed = 0;
    if (res == AssignResult::kFailed && log_.Allow(clock_.NowNs(), &suppressed))
      IPOP_LOG_WARN("cannot route %s/%u to %s: %s (retrying; %llu similar suppressed)",
                    FormatIpv4(r.prefix.prefix).c_str(), unsigned(r.prefix.length), tap_.c_str(),
                    err.c_str(), (unsigned long long)suppressed);
  }
}

void KernelRoutes::ForgetInstalled() {
  for (KernelRoute& r : routes_) r.installed = false;
}

bool KernelRoutes::installed(const Ipv4Prefix& p) const {
  return std::any_of(routes_.begin(), routes_.end(),
                     [&](const KernelRoute& k) { return k.prefix == p && k.installed; });
}

}  // namespace ipop::cp

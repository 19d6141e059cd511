// Text of `ipopctl multicast`: the querier, the groups the host joined and the groups it sends
// to with their members, e.g.
//   joined 239.1.2.3 published as 10.99.0.1 expires-in 125s
//   sending 239.1.2.3 members 2 in-table 1 frames 0: 10.99.0.2 10.99.0.3(learning)
#pragma once

#include <string>

#include "controlplane/services/multicast_groups.h"

namespace ipop::cp {

std::string RenderMulticast(const MulticastView& v);
std::string RenderMulticastJson(const MulticastView& v);

}  // namespace ipop::cp

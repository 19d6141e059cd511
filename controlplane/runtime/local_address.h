// Which of this host's addresses the kernel would use to reach a remote endpoint. A node that
// listens on the wildcard address still has to tell the overlay a concrete endpoint of itself.
#pragma once

#include <cstdint>
#include <optional>

#include "shared/endpoint.h"

namespace ipop::cp {

// True if `ep` is 0.0.0.0 / :: (any port).
bool IsUnspecified(const Endpoint& ep);
// The local address toward `remote` with `port` (a connected UDP socket, nothing is sent);
// nullopt if there is no route.
std::optional<Endpoint> LocalEndpointToward(const Endpoint& remote, uint16_t port);

}  // namespace ipop::cp

// Gives the TAP its IPv4 address (node.assign-address): the node's VIP, static or allocated
// through the DHT, set by the control plane with ioctls; and, in router mode, on-link routes to
// the TAP. With node.assign-address off the host configures itself, e.g. by DHCP from the node.
#pragma once

#include <cstdint>
#include <string>

#include "controlplane/runtime/clock.h"

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

enum class TapAddressState : uint8_t { kNotManaged, kWaiting, kAssigned, kFailed };

// Keeps the node's address on the TAP: set once the dataplane has created the TAP, again after
// the address changed or the dataplane made a new TAP; a failure is retried every second.
class TapAddressKeeper {
 public:
  // `managed` false (node.assign-address off): never touches the TAP.
  TapAddressKeeper(const Clock& clock, std::string tap, uint32_t prefix_len, bool managed)
      : clock_(clock),
        tap_(std::move(tap)),
        prefix_len_(prefix_len),
        state_(managed ? TapAddressState::kWaiting : TapAddressState::kNotManaged) {}
  // Call every loop with the node's address (0 while it has none).
  void Tick(uint32_t vip);
  // The node's address changed: set the new one.
  void AddressChanged();
  // The dataplane restarted and created the TAP anew, without an address.
  void TapRecreated();
  TapAddressState state() const { return state_; }

 private:
  static constexpr uint64_t kRetryNs = 1'000'000'000ull;
  const Clock& clock_;
  std::string tap_;
  uint32_t prefix_len_;
  TapAddressState state_;
  bool logged_waiting_ = false;
  uint64_t next_try_ns_ = 0;
};

}  // namespace ipop::cp

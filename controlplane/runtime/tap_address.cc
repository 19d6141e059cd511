// Classic SIOCSIF* ioctls rather than rtnetlink: one address per TAP is all the static-vip mode
// needs, and the kernel already treats re-setting the same address or netmask as a no-op, which
// makes the retry loop in the control plane idempotent for free.
#include "controlplane/runtime/tap_address.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "controlplane/runtime/log.h"
#include "shared/endpoint.h"

namespace ipop::cp {
namespace {

void SetSockaddrIpv4(sockaddr* sa, uint32_t host_order) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(host_order);
  std::memcpy(sa, &sin, sizeof(sin));
}

uint32_t PrefixToMask(uint32_t prefix_len) {
  return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len);
}

AssignResult Fail(const std::string& what, const std::string& ifname, std::string* error) {
  const int saved = errno;
  if (saved == ENODEV || saved == ENXIO) {
    *error = "interface " + ifname + " does not exist (yet)";
    return AssignResult::kNoSuchInterface;
  }
  *error = what + " on " + ifname + ": " + std::strerror(saved);
  if (saved == EPERM || saved == EACCES) *error += " (needs CAP_NET_ADMIN)";
  return AssignResult::kFailed;
}

}  // namespace

AssignResult AssignIpv4(const std::string& ifname, uint32_t vip_host_order, uint32_t prefix_len,
                        std::string* error) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    *error = "interface name '" + ifname + "' is empty or longer than " +
             std::to_string(IFNAMSIZ - 1) + " characters";
    return AssignResult::kFailed;
  }
  if (prefix_len == 0 || prefix_len > 32) {
    *error = "prefix length " + std::to_string(prefix_len) + " is outside 1..32";
    return AssignResult::kFailed;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return AssignResult::kFailed;
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());

  // Reading the flags first needs no privilege, so a missing TAP is reported as such even when
  // the caller lacks CAP_NET_ADMIN (the set calls check capability before the device).
  AssignResult result = AssignResult::kOk;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    result = Fail("SIOCGIFFLAGS", ifname, error);
  } else {
    const short flags = ifr.ifr_flags;
    SetSockaddrIpv4(&ifr.ifr_addr, vip_host_order);
    if (ioctl(fd, SIOCSIFADDR, &ifr) != 0) {
      result = Fail("SIOCSIFADDR", ifname, error);
    } else {
      // After the address: setting a new address resets the mask to the classful default.
      SetSockaddrIpv4(&ifr.ifr_netmask, PrefixToMask(prefix_len));
      if (ioctl(fd, SIOCSIFNETMASK, &ifr) != 0) {
        result = Fail("SIOCSIFNETMASK", ifname, error);
      } else if ((flags & IFF_UP) == 0) {
        ifr.ifr_flags = static_cast<short>(flags | IFF_UP);
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) result = Fail("SIOCSIFFLAGS", ifname, error);
      }
    }
  }
  close(fd);
  return result;
}

AssignResult AddInterfaceRoute(const std::string& ifname, uint32_t prefix, uint32_t length,
                               std::string* error) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || length == 0 || length > 32) {
    *error = "bad route " + std::to_string(prefix) + "/" + std::to_string(length) + " on '" +
             ifname + "'";
    return AssignResult::kFailed;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return AssignResult::kFailed;
  }
  rtentry rt{};
  SetSockaddrIpv4(&rt.rt_dst, prefix & PrefixToMask(length));
  SetSockaddrIpv4(&rt.rt_genmask, PrefixToMask(length));
  rt.rt_flags = RTF_UP | (length == 32 ? RTF_HOST : 0);
  char dev[IFNAMSIZ] = {};
  std::memcpy(dev, ifname.data(), ifname.size());
  rt.rt_dev = dev;
  AssignResult result = AssignResult::kOk;
  if (ioctl(fd, SIOCADDRT, &rt) != 0 && errno != EEXIST) {
    // A missing or down interface: the dataplane has not created or raised it yet.
    if (errno == ENETUNREACH || errno == ENETDOWN) errno = ENODEV;
    result = Fail("SIOCADDRT", ifname, error);
  }
  close(fd);
  return result;
}

void TapAddressKeeper::Tick(uint32_t vip) {
  if (state_ == TapAddressState::kNotManaged || state_ == TapAddressState::kAssigned) return;
  const uint64_t now = clock_.NowNs();
  if (now < next_try_ns_ || vip == 0) return;
  std::string err;
  switch (AssignIpv4(tap_, vip, prefix_len_, &err)) {
    case AssignResult::kOk:
      state_ = TapAddressState::kAssigned;
      IPOP_LOG_INFO("assigned %s/%u to %s", FormatIpv4(vip).c_str(), prefix_len_, tap_.c_str());
      break;
    case AssignResult::kNoSuchInterface:
      // Normal until the dataplane has created the TAP: retry every loop, say so once.
      state_ = TapAddressState::kWaiting;
      if (!logged_waiting_) {
        IPOP_LOG_INFO("waiting for the dataplane to create %s", tap_.c_str());
        logged_waiting_ = true;
      }
      break;
    case AssignResult::kFailed:
      if (state_ != TapAddressState::kFailed)
        IPOP_LOG_ERROR("cannot assign %s/%u to %s: %s (retrying every second)",
                       FormatIpv4(vip).c_str(), prefix_len_, tap_.c_str(), err.c_str());
      state_ = TapAddressState::kFailed;
      next_try_ns_ = now + kRetryNs;
      break;
  }
}

void TapAddressKeeper::AddressChanged() {
  if (state_ == TapAddressState::kNotManaged) return;
  state_ = TapAddressState::kWaiting;
  next_try_ns_ = 0;
}

void TapAddressKeeper::TapRecreated() {
  if (state_ == TapAddressState::kNotManaged) return;
  state_ = TapAddressState::kWaiting;
  logged_waiting_ = false;
  next_try_ns_ = 0;
}

}  // namespace ipop::cp

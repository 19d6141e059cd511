#include "dataplane/tap_device.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/vnet.h"

namespace ipop::dp {
namespace {

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Interface ioctls go through any socket; closed on scope exit.
class IoctlSocket {
 public:
  IoctlSocket() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~IoctlSocket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

void DisableIpv6(const std::string& name) {
  const std::string path = "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6";
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;  // no IPv6 in this kernel / namespace: nothing to silence
  [[maybe_unused]] ssize_t n = write(fd, "1", 1);
  close(fd);
}

}  // namespace

std::unique_ptr<TapDevice> TapDevice::Open(const TapOptions& options, std::string* error) {
  if (options.name.empty() || options.name.size() >= IFNAMSIZ) {
    *error = "node.tap: interface name '" + options.name + "' must be 1.." +
             std::to_string(IFNAMSIZ - 1) + " characters";
    return nullptr;
  }
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = Errno("open /dev/net/tun (needs CAP_NET_ADMIN and the tun module)");
    return nullptr;
  }
  std::unique_ptr<TapDevice> tap(new TapDevice(fd, options.name));

  ifreq ifr{};
  std::strncpy(ifr.ifr_name, options.name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (options.vnet_hdr) ifr.ifr_flags |= IFF_VNET_HDR;
  if (options.multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  tap->flags_ = ifr.ifr_flags;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    *error = Errno("TUNSETIFF " + options.name);
    return nullptr;
  }
  tap->name_ = ifr.ifr_name;  // the kernel may have completed a pattern such as "ipop%d"
  if (options.vnet_hdr) {
    int size = int(vnet::kHeaderSize);
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
      *error = Errno("TUNSETVNETHDRSZ on " + tap->name_);
      return nullptr;
    }
    tap->vnet_hdr_ = true;
    // Without this the kernel segments and checksums before handing frames to us; the header
    // is then always empty on reads, while writes still accept super-frames.
    if (options.tso && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) == 0) tap->tso_ = true;
  }

  IoctlSocket sock;
  if (sock.fd() < 0) {
    *error = Errno("socket for interface ioctls");
    return nullptr;
  }
  ifreq req{};
  std::strncpy(req.ifr_name, tap->name_.c_str(), IFNAMSIZ - 1);
  req.ifr_mtu = int(options.mtu);
  if (ioctl(sock.fd(), SIOCSIFMTU, &req) < 0) {
    *error = Errno("set MTU " + std::to_string(options.mtu) + " on " + tap->name_);
    return nullptr;
  }
  // A longer queue on the kernel -> TAP side absorbs the gaps while the worker is descheduled
  // on a busy host; the tun default (500) drops TCP bursts.
  req.ifr_qlen = 4096;
  if (ioctl(sock.fd(), SIOCSIFTXQLEN, &req) < 0) {
    *error = Errno("set txqueuelen on " + tap->name_);
    return nullptr;
  }
  DisableIpv6(tap->name_);  // before IFF_UP, so no router solicitation is ever sent
  if (ioctl(sock.fd(), SIOCGIFFLAGS, &req) < 0) {
    *error = Errno("get flags of " + tap->name_);
    return nullptr;
  }
  req.ifr_flags |= IFF_UP;
  if (ioctl(sock.fd(), SIOCSIFFLAGS, &req) < 0) {
    *error = Errno("bring up " + tap->name_);
    return nullptr;
  }
  if (ioctl(sock.fd(), SIOCGIFHWADDR, &req) < 0) {
    *error = Errno("read MAC of " + tap->name_);
    return nullptr;
  }
  std::memcpy(tap->mac_, req.ifr_hwaddr.sa_data, ether::kMacSize);
  return tap;
}

int TapDevice::AddQueue(std::string* error) {
  if ((flags_ & IFF_MULTI_QUEUE) == 0) {
    *error = "TAP " + name_ + " was not opened with IFF_MULTI_QUEUE";
    return -1;
  }
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = Errno("open /dev/net/tun for another queue of " + name_);
    return -1;
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = short(flags_);
  // The header size and offloads belong to the device; set again so the queue never depends on
  // the order the kernel applies them in.
  int size = int(vnet::kHeaderSize);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0 || (vnet_hdr_ && ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) ||
      (tso_ && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) < 0)) {
    *error = Errno("attach queue " + std::to_string(n_queues()) + " of " + name_);
    close(fd);
    return -1;
  }
  extra_queues_.push_back(fd);
  return fd;
}

TapDevice::~TapDevice() {
  if (fd_ >= 0) close(fd_);
  for (int fd : extra_queues_) close(fd);
}

}  // namespace ipop::dp

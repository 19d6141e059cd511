// The overlay-side virtual interface: a Linux TAP device owned by the dataplane.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shared/ether.h"

namespace ipop::dp {

struct TapOptions {
  std::string name;
  uint32_t mtu = 1400;
  // IFF_VNET_HDR: every read and write carries a virtio-net header (vnet.h), which lets the TAP
  // exchange TCP super-frames with us.
  bool vnet_hdr = false;
  // With vnet_hdr: ask for partial checksums and TSO super-frames on reads (TUN_F_CSUM|TSO4).
  bool tso = false;
  // IFF_MULTI_QUEUE: one fd (queue) per worker, added with AddQueue(). The kernel picks a TX
  // queue per flow (the queue the flow's last frame was written to, else a hash of the flow),
  // so the frames of one flow are read by one worker, in order.
  bool multi_queue = false;
};

class TapDevice {
 public:
  // Creates (or attaches to) the TAP, sets its MTU, brings it up, reads its MAC and disables
  // IPv6 on it (no ND / router-solicitation noise). Leaves IPv4 addressing to the control plane.
  // nullptr + *error naming the failed step.
  static std::unique_ptr<TapDevice> Open(const TapOptions& options, std::string* error);
  ~TapDevice();
  TapDevice(const TapDevice&) = delete;
  TapDevice& operator=(const TapDevice&) = delete;

  int fd() const { return fd_; }  // non-blocking; queue 0
  // Attaches one more queue (multi_queue only) with the same flags and offloads; its fd, or -1
  // + *error. The device owns and closes it.
  int AddQueue(std::string* error);
  size_t n_queues() const { return 1 + extra_queues_.size(); }
  int queue_fd(size_t i) const { return i == 0 ? fd_ : extra_queues_[i - 1]; }
  const std::string& name() const { return name_; }
  const uint8_t* mac() const { return mac_; }
  bool vnet_hdr() const { return vnet_hdr_; }  // reads and writes carry a virtio-net header
  bool tso() const { return tso_; }            // reads may be TSO super-frames

 private:
  TapDevice(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_;
  std::string name_;
  uint8_t mac_[ether::kMacSize] = {};
  bool vnet_hdr_ = false;
  bool tso_ = false;
  int flags_ = 0;  // TUNSETIFF flags every queue is attached with
  std::vector<int> extra_queues_;
};

}  // namespace ipop::dp

// Kernel-side steering of underlay datagrams to the worker that owns their session: a classic
// BPF program on the SO_REUSEPORT group of the workers' sockets returns OwnerWorker() of the
// datagram (session_owner.h), computed from the UDP payload. Socket i of the group is the i-th
// one bound, i.e. worker i's.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ipop::dp {

// The program for `n_workers` (>= 1). Datagrams it cannot classify (too short: the load fails
// and the program returns 0; CONTROL / HANDSHAKE: receiver index taken from the same offset)
// land on some worker, which handles them itself.
// `missteer` (tests only) delivers each datagram to the worker `missteer` places after its owner,
// so every one crosses a handoff ring.
std::vector<sock_filter> ReuseportSteeringProgram(uint32_t n_workers, uint32_t missteer = 0);

// Attaches the program to the reuseport group `fd` belongs to (bound already). False + *error
// when the kernel refuses (then the kernel's 4-tuple hash spreads datagrams and the handoff
// rings carry those that miss their owner).
bool AttachReuseportSteering(int fd, uint32_t n_workers, std::string* error, uint32_t missteer = 0);

}  // namespace ipop::dp

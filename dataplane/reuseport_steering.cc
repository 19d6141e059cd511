#include "dataplane/reuseport_steering.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "dataplane/session_owner.h"

namespace ipop::dp {

std::vector<sock_filter> ReuseportSteeringProgram(uint32_t n_workers, uint32_t missteer) {
  // The kernel runs a reuseport program with the packet's data at the UDP payload; absolute
  // loads are big endian, as the wire header is. A load past the end ends it returning 0.
  constexpr uint32_t kTypeMask = 0x0f;
  const uint32_t n = n_workers == 0 ? 1 : n_workers;
  // (index % n + missteer) % n == (index % n + missteer % n) % n; the first mod keeps the sum
  // from wrapping for any 32-bit index.
  return {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),                                          // 0
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, kTypeMask),                                 // 1
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(wire::PacketType::kRelay), 2, 0),  // 2
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kOwnerIndexOffset),                          // 3
      BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),                                            // 4
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kRelayedOwnerIndexOffset),                   // 5
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),                                         // 6
      BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, missteer % n),                              // 7
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),                                         // 8
      BPF_STMT(BPF_RET | BPF_A, 0),                                                   // 9
  };
}

bool AttachReuseportSteering(int fd, uint32_t n_workers, std::string* error, uint32_t missteer) {
  std::vector<sock_filter> code = ReuseportSteeringProgram(n_workers, missteer);
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(code.size());
  prog.filter = code.data();
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0) {
    *error = std::string("SO_ATTACH_REUSEPORT_CBPF: ") + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace ipop::dp

#include "controlplane/sessions/network_id.h"

#include <openssl/evp.h>

#include <cstring>
#include <string>

#include "shared/wire.h"

namespace ipop::cp {
namespace {

void Digest(std::string_view network, uint8_t out[32]) {
  std::string input = "ipop network v1";
  input.append(network);
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), out, &len, EVP_sha256(), nullptr) != 1 || len != 32)
    std::memset(out, 0, 32);  // unreachable with a working libcrypto; stays deterministic
}

}  // namespace

uint64_t NetworkHash(std::string_view network) {
  uint8_t d[32];
  Digest(network, d);
  return wire::LoadBe64(d);
}

void GatewayMac(std::string_view network, uint8_t mac[6]) {
  uint8_t d[32];
  Digest(network, d);
  mac[0] = 0x02;
  mac[1] = 0x49;
  mac[2] = 0x50;
  std::memcpy(mac + 3, d + 8, 3);
}

}  // namespace ipop::cp

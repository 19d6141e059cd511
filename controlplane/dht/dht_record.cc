#include "controlplane/dht/dht_record.h"

namespace ipop::cp {

const char* DhtStatusName(DhtStatus s) {
  static constexpr const char* kNames[] = {
#define IPOP_X(name, desc) #name,
      IPOP_DHT_STATUSES(IPOP_X)
#undef IPOP_X
  };
  const auto i = uint32_t(s);
  // Without the enumerator's "k" prefix: "KeyExists".
  return i < kDhtStatusCount ? kNames[i] + 1 : "unknown";
}

}  // namespace ipop::cp

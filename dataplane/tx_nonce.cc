#include "dataplane/tx_nonce.h"

namespace ipop::dp {

TxNonceSpace::TxNonceSpace(uint32_t n_peers) : slots_(std::make_unique<Slot[]>(n_peers)) {}

}  // namespace ipop::dp

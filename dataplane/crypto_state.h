// Per-worker crypto state: one sealing context per peer and one opening context plus replay
// window per session. Contexts are keyed once, when the worker adopts a generation whose key id
// for that slot differs from the one it holds (Rescan); the per-packet path only sets the IV.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/aead.h"
#include "dataplane/replay_window.h"
#include "dataplane/tx_nonce.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

struct TxCrypto {
  AeadContext aead;
  uint64_t key_id = 0;
  NonceRange nonces;  // this worker's block of the peer's counter (tx_nonce.h), across keys
  bool ready = false;
};

struct RxCrypto {
  AeadContext aead;
  ReplayWindow window;
  uint64_t key_id = 0;
  bool ready = false;
};

class CryptoState {
 public:
  // Allocates every slot up front (kMaxPeers + kMaxSessions) so the data path never allocates.
  // Workers of one process share `nonces`; without one the state keeps a private space.
  explicit CryptoState(TxNonceSpace* nonces = nullptr);
  CryptoState(const CryptoState&) = delete;
  CryptoState& operator=(const CryptoState&) = delete;

  // Once per adopted generation: re-keys the slots whose key id changed and wipes the contexts
  // of keys `g` no longer holds (retired sessions, withdrawn tx keys). The per-slot counters live
  // in TxNonceSpace and never go back (tx_nonce.h). Counts each re-key in stat rekeys.
  void Rescan(const shm::Generation& g, shm::WorkerCounters& counters);

  // peer < kMaxPeers, session < kMaxSessions (checked by the stages).
  TxCrypto& tx(uint32_t peer) { return tx_[peer]; }
  RxCrypto& rx(uint32_t session) { return rx_[session]; }
  TxNonceSpace& nonces() { return *nonces_; }

 private:
  std::unique_ptr<TxNonceSpace> own_nonces_;  // only without a shared space
  TxNonceSpace* nonces_;
  std::unique_ptr<TxCrypto[]> tx_;
  std::unique_ptr<RxCrypto[]> rx_;
};

}  // namespace ipop::dp

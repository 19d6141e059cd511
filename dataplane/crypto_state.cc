#include "dataplane/crypto_state.h"

#include <algorithm>

namespace ipop::dp {
namespace {

// A key that left the table leaves this process too: no copy of a retired key stays in memory.
template <typename Crypto>
void Wipe(Crypto& c) {
  if (!c.ready) return;
  c.aead.Clear();
  c.ready = false;
  c.key_id = 0;
}

}  // namespace

CryptoState::CryptoState(TxNonceSpace* nonces)
    : own_nonces_(nonces == nullptr ? std::make_unique<TxNonceSpace>() : nullptr),
      nonces_(nonces == nullptr ? own_nonces_.get() : nonces),
      tx_(std::make_unique<TxCrypto[]>(shm::kMaxPeers)),
      rx_(std::make_unique<RxCrypto[]>(shm::kMaxSessions)) {}

void CryptoState::Rescan(const shm::Generation& g, shm::WorkerCounters& counters) {
  // n_peers was validated when the generation was adopted; clamp anyway, the region is shared.
  const uint32_t n_peers = std::min(g.hdr.n_peers, shm::kMaxPeers);
  const uint32_t need = shm::kPeerValid | shm::kPeerTxReady;
  for (uint32_t i = 0; i < shm::kMaxPeers; ++i) {
    TxCrypto& tx = tx_[i];
    if (i >= n_peers || (g.peers[i].flags & need) != need) {
      // The slot's key was withdrawn. The worker's block of the slot's counter stays
      // (tx_nonce.h): a later key for the slot continues the counter.
      Wipe(tx);
      continue;
    }
    const shm::PeerEntry& peer = g.peers[i];
    if (tx.ready && tx.key_id == peer.tx_key_id) continue;
    tx.ready = tx.aead.Init(shm::Cipher(peer.cipher), peer.tx_key, peer.tx_salt, /*seal=*/true);
    tx.key_id = peer.tx_key_id;
    Bump(counters.stat[uint32_t(Stat::rekeys)]);
  }
  // Index 0 is never a valid receiver index.
  for (uint32_t i = 1; i < shm::kMaxSessions; ++i) {
    const shm::SessionEntry& session = g.sessions[i];
    RxCrypto& rx = rx_[i];
    if ((session.flags & shm::kSessionValid) == 0) {
      Wipe(rx);  // retired
      continue;
    }
    if (rx.ready && rx.key_id == session.key_id) continue;
    rx.ready =
        rx.aead.Init(shm::Cipher(session.cipher), session.rx_key, session.rx_salt, /*seal=*/false);
    rx.key_id = session.key_id;
    rx.window.Reset();
    Bump(counters.stat[uint32_t(Stat::rekeys)]);
  }
}

}  // namespace ipop::dp

// Revocations spread through the overlay (docs/pki.md, "Revocation: storage, flooding, expiry").
//
// A node learns a revocation from network.revocations-file and its state file at start, from
// `ipopctl revoke FILE`, or from a link (REVOKE). NodeIdentity::Learn verifies it (a root, this
// node's issuing CA, or the issuing CA certificate sent with it, itself checked against the
// roots). A new one (kAdded):
//   - runs every subject-revoked hook (sessions: PeerSessions::DropSubject; links: the link code
//     registers its "close every link of this key id" there),
//   - is sent to every link but the one it came from (a node that knows it already stops there),
//   - is written to the state file, so a restart remembers it until the certificate's not-after.
// Invalid revocations from a link are counted and dropped, never forwarded, and each link has a
// token bucket, checked before any signature, so a member cannot make others verify or forward
// without bound. On every new link both sides send REVOKE_DIGEST (count and SHA-256 of the live
// list); a side whose digest differs pushes its whole list (bounded) and answers once with its
// own digest, so both end up with the union. Every 10 s (Tick) expired entries are forgotten and
// the periodic check hook re-checks peers against the clock and the list.
//
// Pure logic over a NodeIdentity, a Clock and a send function: the control plane gives it the
// overlay's links (OverlayHost::SendToLink), tests give it a fake network.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "controlplane/identity/node_identity.h"
#include "controlplane/overlay/address.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "shared/token_bucket.h"

namespace ipop::cp {

// Overlay message types (docs/overlay.md), handled by OverlayHost next to the overlay node's.
inline constexpr uint8_t kMsgRevoke = 0x30;
inline constexpr uint8_t kMsgRevokeDigest = 0x31;
// REVOKE: common header (24) | revocation length (2) | revocation | issuing CA certificate
// length (2, 0: none) | certificate. REVOKE_DIGEST: common header | flags (1: bit0 reply) |
// reserved (3) | live count (4) | SHA-256 of the live list (32).
inline constexpr size_t kRevokeDigestSize = 24 + 4 + 4 + 32;
inline constexpr uint8_t kDigestIsReply = 0x01;

struct RevocationCounters {
  uint64_t learned_file = 0, learned_state = 0, learned_mgmt = 0, learned_link = 0;
  uint64_t known = 0, expired_on_arrival = 0, invalid = 0, malformed = 0, rate_limited = 0;
  uint64_t forwarded = 0, send_failed = 0;
  uint64_t digests_sent = 0, digests_differ = 0, pushed = 0;
  uint64_t sessions_dropped = 0, subjects_revoked = 0, expired = 0, checks = 0;
  uint64_t persisted = 0, persist_failed = 0;
  uint64_t live = 0;  // gauge
};

inline constexpr CounterDesc kRevocationCounterDescs[] = {
    IPOP_COUNTER(RevocationCounters, learned_file,
                 "new revocations from network.revocations-file at start"),
    IPOP_COUNTER(RevocationCounters, learned_state,
                 "new revocations reloaded from the state directory at start"),
    IPOP_COUNTER(RevocationCounters, learned_mgmt, "new revocations from ipopctl revoke"),
    IPOP_COUNTER(RevocationCounters, learned_link, "new revocations received from an overlay link"),
    IPOP_COUNTER(RevocationCounters, known,
                 "valid revocations already known: not forwarded (ends a flood)"),
    IPOP_COUNTER(RevocationCounters, expired_on_arrival,
                 "valid revocations of certificates already expired: ignored"),
    IPOP_COUNTER(RevocationCounters, invalid,
                 "revocations that did not verify (signer, signature, network): dropped"),
    IPOP_COUNTER(RevocationCounters, malformed,
                 "REVOKE or REVOKE_DIGEST messages that did not decode: dropped"),
    IPOP_COUNTER(RevocationCounters, rate_limited,
                 "REVOKE messages over their link's budget: dropped before verification"),
    IPOP_COUNTER(RevocationCounters, forwarded, "REVOKE messages sent to links (flood and push)"),
    IPOP_COUNTER(RevocationCounters, send_failed, "REVOKE messages the overlay could not send"),
    IPOP_COUNTER(RevocationCounters, digests_sent, "REVOKE_DIGEST messages sent"),
    IPOP_COUNTER(RevocationCounters, digests_differ,
                 "REVOKE_DIGEST messages whose digest differed from ours"),
    IPOP_COUNTER(RevocationCounters, pushed,
                 "revocations pushed to a link whose digest differed (anti-entropy)"),
    IPOP_COUNTER(RevocationCounters, sessions_dropped,
                 "data sessions ended because their peer's certificate was revoked or expired"),
    IPOP_COUNTER(RevocationCounters, subjects_revoked,
                 "new revocations whose subject hooks ran (sessions and links dropped)"),
    IPOP_COUNTER(RevocationCounters, expired,
                 "revocations forgotten because their certificate expired"),
    IPOP_COUNTER(RevocationCounters, checks,
                 "periodic re-checks of peer certificates against the clock and the list"),
    IPOP_COUNTER(RevocationCounters, persisted, "writes of the revocation state file"),
    IPOP_COUNTER(RevocationCounters, persist_failed,
                 "writes of the revocation state file that failed"),
    IPOP_GAUGE(RevocationCounters, live, "revocations currently known"),
};
static_assert(CoversEveryField<RevocationCounters>(kRevocationCounterDescs));

struct RevocationFloodOptions {
  // Where the live list is kept across restarts (node.state-dir + "/revocations.state"); empty:
  // not persisted.
  std::string state_file;
  uint64_t check_interval_ns = 10'000'000'000ull;
  // REVOKE messages per link: enough for a full anti-entropy push of a busy network.
  uint32_t per_link_rate = 50;
  uint32_t per_link_burst = 600;
  size_t max_push = 512;  // revocations pushed per differing digest
  size_t max_sources = 1024;
};

class RevocationFlood {
 public:
  enum class Source : uint8_t { kFile, kState, kMgmt, kLink };
  // Sends an overlay message (without stamp or tag) to the linked node `to`.
  using SendFn = std::function<bool(const overlay::RingAddress& to, std::span<const uint8_t> msg)>;
  // The node's current links.
  using LinksFn = std::function<std::vector<overlay::RingAddress>()>;
  // Ends whatever belongs to the key id: returns how many sessions (or links) it ended.
  using SubjectFn = std::function<size_t(const identity::KeyId& subject)>;
  // The periodic re-check of peers; returns how many sessions it ended.
  using CheckFn = std::function<size_t(uint64_t now_s)>;

  RevocationFlood(const RevocationFloodOptions& options, identity::NodeIdentity& identity,
                  const overlay::RingAddress& self, Clock& clock, SendFn send, LinksFn links);

  // Hooks run for each new revocation, with its subject key id. Sessions are wired by the
  // control plane; certificate-authenticated overlay links must add "close every link of this
  // key id" here (docs/pki.md).
  void AddSubjectRevokedHook(SubjectFn fn) { subject_hooks_.push_back(std::move(fn)); }
  void SetPeriodicCheck(CheckFn fn) { check_ = std::move(fn); }

  // Reads the state file (at start). Returns an error line, empty when fine or absent.
  std::string LoadState();
  // One revocation from anywhere; `from` is the link it came from (null: local). Floods and
  // persists a new one.
  identity::NodeIdentity::LearnResult Learn(const identity::Revocation& r,
                                            const identity::Certificate* signer_issuing,
                                            Source source,
                                            const overlay::RingAddress* from = nullptr);
  // `ipopctl revoke FILE`: every IPOP REVOCATION block of the PEM file at `path`, with the
  // IPOP CERTIFICATE blocks in it as candidate issuing CA signers.
  struct FileOutcome {
    size_t added = 0, known = 0, expired = 0, invalid = 0;
    std::string error;  // the file could not be read, or the first revocation refused
  };
  FileOutcome LearnFile(const std::string& path, Source source);
  // A REVOKE or REVOKE_DIGEST body (wire header first) from the linked node `from`; false if
  // `body` is neither type.
  bool OnMessage(const overlay::RingAddress& from, std::span<const uint8_t> body);
  // Sends our digest to links that appeared since the last call, expires and re-checks on time.
  void Tick();

  std::array<uint8_t, 32> Digest() const;
  const RevocationCounters& counters() const { return counters_; }

 private:
  std::vector<uint8_t> EncodeRevoke(const identity::Revocation& r) const;
  std::vector<uint8_t> EncodeDigest(uint8_t flags) const;
  void Forward(const identity::Revocation& r, const overlay::RingAddress* except);
  void SendTo(const overlay::RingAddress& to, std::span<const uint8_t> msg, bool digest);
  void OnRevoke(const overlay::RingAddress& from, std::span<const uint8_t> body);
  void OnDigest(const overlay::RingAddress& from, std::span<const uint8_t> body);
  bool AllowFrom(const overlay::RingAddress& from);
  void Persist();
  void Check(uint64_t now_s);
  uint64_t NowS() const { return clock_.WallNs() / 1'000'000'000ull; }

  RevocationFloodOptions options_;
  identity::NodeIdentity& identity_;
  overlay::RingAddress self_;
  Clock& clock_;
  SendFn send_;
  LinksFn links_;
  std::vector<SubjectFn> subject_hooks_;
  CheckFn check_;
  // Issuing CA certificates that signed known revocations, by key id: sent along when flooding.
  std::map<identity::KeyId, identity::Certificate> signers_;
  std::map<overlay::RingAddress, TokenBucket> buckets_;
  std::vector<overlay::RingAddress> known_links_;
  uint64_t next_check_ns_ = 0;
  RevocationCounters counters_;
};

}  // namespace ipop::cp

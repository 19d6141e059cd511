// Client-side quorum rules of the DHT, independent of how requests reach the replicas: the
// caller asks the R replicas of a key, collects what each answered (or that it did not), and
// these pure functions decide the outcome and which replicas to repair or roll back.
//
// - A GET needs a majority of the R replicas to answer kOk. Its result is every value (owner,
//   bytes) held by a strict majority of those answers, in the copy with the highest version
//   (then the longest TTL). A replica that lacks a result value, holds an older version or holds
//   it with another exclusive flag gets the result records pushed back (REPLICATE with repair).
// - A write (CREATE, PUT, REMOVE) succeeds only if a majority of the R replicas answered kOk. It
//   is rejected if a majority gave the same refusal (e.g. kKeyExists: the name is taken), and is
//   otherwise undecided (kNoQuorum: retry later). When a write did not succeed, the replicas that
//   applied it are listed for rollback; when a CREATE succeeded, the minority that refused with
//   kKeyExists holds a losing claim and is listed for repair.
// - A claiming CREATE (`claim`) is stricter: one kKeyExists among the answers rejects it with
//   kKeyExists whatever the majority says (that replica may be the only one left that knows a
//   live holder, the others new to the key), and it never repairs anyone.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "controlplane/dht/dht_record.h"

namespace ipop::cp {

// One entry per replica asked, answered or not.
struct DhtGetReply {
  bool answered = false;
  DhtStatus status = DhtStatus::kOk;  // only kOk answers are votes
  std::vector<DhtRecord> records;
};

struct DhtRepair {
  size_t replica = 0;              // index into the replies
  std::vector<DhtRecord> records;  // result records to push with DhtMergeMode::kRepair
  size_t extra_values = 0;         // values it holds that the majority does not (expire by TTL)
};

struct DhtGetOutcome {
  bool quorum = false;
  size_t votes = 0;  // kOk answers
  std::vector<DhtRecord> values;
  std::vector<DhtRepair> repairs;
};

DhtGetOutcome ResolveGet(std::span<const DhtGetReply> replies);

struct DhtWriteReply {
  bool answered = false;
  DhtStatus status = DhtStatus::kOk;
};

enum class DhtWriteDecision : uint8_t { kSucceeded, kRejected, kNoQuorum };

struct DhtWriteOutcome {
  DhtWriteDecision decision = DhtWriteDecision::kNoQuorum;
  // kRejected: the majority's refusal. kNoQuorum: the most frequent refusal, kOk if none answered.
  DhtStatus reason = DhtStatus::kOk;
  std::vector<size_t> rollback;  // did not succeed: replicas that applied the write
  std::vector<size_t> repair;    // CREATE succeeded: replicas that answered kKeyExists
};

// `exclusive` is true for CREATE.
DhtWriteOutcome DecideWrite(std::span<const DhtWriteReply> replies, bool exclusive,
                            bool claim = false);

// floor(R/2) + 1
inline size_t DhtMajority(size_t replicas) {
  return replicas / 2 + 1;
}

}  // namespace ipop::cp

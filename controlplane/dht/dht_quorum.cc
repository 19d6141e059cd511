#include "controlplane/dht/dht_quorum.h"

#include <array>

namespace ipop::cp {
namespace {

// Which of two copies of the same value a reader should believe.
bool Newer(const DhtRecord& a, const DhtRecord& b) {
  if (a.version != b.version) return a.version > b.version;
  return a.ttl_ms > b.ttl_ms;
}

const DhtRecord* FindValue(const std::vector<DhtRecord>& records, const DhtRecord& v) {
  for (const DhtRecord& r : records)
    if (SameValue(r, v)) return &r;
  return nullptr;
}

}  // namespace

DhtGetOutcome ResolveGet(std::span<const DhtGetReply> replies) {
  DhtGetOutcome out;
  for (const DhtGetReply& r : replies)
    if (r.answered && r.status == DhtStatus::kOk) ++out.votes;
  out.quorum = !replies.empty() && out.votes >= DhtMajority(replies.size());
  if (!out.quorum) return out;

  // Candidates in first-seen order; R and the values per key are small, so quadratic is fine.
  struct Candidate {
    DhtRecord best;
    size_t holders = 0;
  };
  std::vector<Candidate> candidates;
  for (const DhtGetReply& r : replies) {
    if (!r.answered || r.status != DhtStatus::kOk) continue;
    for (size_t i = 0; i < r.records.size(); ++i) {
      const DhtRecord& rec = r.records[i];
      // A replica listing the same value twice still has one vote for it.
      bool repeated = false;
      for (size_t j = 0; j < i && !repeated; ++j) repeated = SameValue(r.records[j], rec);
      if (repeated) continue;
      Candidate* c = nullptr;
      for (Candidate& k : candidates)
        if (SameValue(k.best, rec)) c = &k;
      if (c == nullptr) {
        candidates.push_back({rec, 1});
        continue;
      }
      ++c->holders;
      if (Newer(rec, c->best)) c->best = rec;
    }
  }
  const size_t need = DhtMajority(out.votes);
  for (Candidate& c : candidates)
    if (c.holders >= need) out.values.push_back(std::move(c.best));

  for (size_t i = 0; i < replies.size(); ++i) {
    const DhtGetReply& r = replies[i];
    if (!r.answered || r.status != DhtStatus::kOk) continue;
    DhtRepair repair;
    repair.replica = i;
    for (const DhtRecord& v : out.values) {
      const DhtRecord* held = FindValue(r.records, v);
      if (held == nullptr || held->version < v.version || held->exclusive != v.exclusive)
        repair.records.push_back(v);
    }
    for (const DhtRecord& h : r.records)
      if (FindValue(out.values, h) == nullptr) ++repair.extra_values;
    if (!repair.records.empty() || repair.extra_values > 0)
      out.repairs.push_back(std::move(repair));
  }
  return out;
}

DhtWriteOutcome DecideWrite(std::span<const DhtWriteReply> replies, bool exclusive, bool claim) {
  DhtWriteOutcome out;
  std::array<size_t, kDhtStatusCount> count{};
  for (const DhtWriteReply& r : replies)
    if (r.answered && uint32_t(r.status) < kDhtStatusCount) ++count[uint32_t(r.status)];
  const size_t need = DhtMajority(replies.size());
  const size_t ok = count[uint32_t(DhtStatus::kOk)];

  size_t top_refusal = 0;
  for (uint32_t s = 1; s < kDhtStatusCount; ++s) {
    if (count[s] > top_refusal) {
      top_refusal = count[s];
      out.reason = DhtStatus(s);
    }
  }
  if (claim && count[uint32_t(DhtStatus::kKeyExists)] > 0) {
    out.decision = DhtWriteDecision::kRejected;
    out.reason = DhtStatus::kKeyExists;
  } else if (!replies.empty() && ok >= need) {
    out.decision = DhtWriteDecision::kSucceeded;
    out.reason = DhtStatus::kOk;
  } else if (!replies.empty() && top_refusal >= need) {
    out.decision = DhtWriteDecision::kRejected;
  } else {
    out.decision = DhtWriteDecision::kNoQuorum;
  }

  for (size_t i = 0; i < replies.size(); ++i) {
    if (!replies[i].answered) continue;
    if (out.decision != DhtWriteDecision::kSucceeded && replies[i].status == DhtStatus::kOk)
      out.rollback.push_back(i);
    if (out.decision == DhtWriteDecision::kSucceeded && exclusive &&
        replies[i].status == DhtStatus::kKeyExists)
      out.repair.push_back(i);
  }
  return out;
}

}  // namespace ipop::cp

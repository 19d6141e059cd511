// Quorum rules: table-driven cases for majority reads, the repairs they imply, and write
// decisions with rollback and repair lists.
#include "controlplane/dht/dht_quorum.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ipop::cp {
namespace {

DhtRecord R(int owner, const std::string& v, uint64_t version = 1, bool exclusive = false,
            uint32_t ttl = 1000) {
  DhtRecord r;
  r.key = HashDhtKey("key");
  r.owner = HashDhtKey("owner" + std::to_string(owner));
  r.value.assign(v.begin(), v.end());
  r.version = version;
  r.exclusive = exclusive;
  r.ttl_ms = ttl;
  return r;
}

DhtGetReply Ok(std::vector<DhtRecord> records) {
  return {true, DhtStatus::kOk, std::move(records)};
}
DhtGetReply Silent() {
  return {};
}
DhtGetReply Refused(DhtStatus s) {
  return {true, s, {}};
}

std::vector<std::string> Strings(const std::vector<DhtRecord>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.emplace_back(r.value.begin(), r.value.end());
  return out;
}

struct GetCase {
  const char* name;
  std::vector<DhtGetReply> replies;
  bool quorum;
  std::vector<std::string> values;
  std::vector<size_t> repaired;                  // replicas with records to push
  std::vector<std::vector<std::string>> pushed;  // what each gets
};

TEST(DhtQuorum, GetTable) {
  const GetCase cases[] = {
      {"all agree", {Ok({R(1, "a")}), Ok({R(1, "a")}), Ok({R(1, "a")})}, true, {"a"}, {}, {}},
      {"one replica missed the put",
       {Ok({R(1, "a")}), Ok({}), Ok({R(1, "a")})},
       true,
       {"a"},
       {1},
       {{"a"}}},
      {"value on a minority is not returned", {Ok({R(1, "a")}), Ok({}), Ok({})}, true, {}, {}, {}},
      {"one of three silent: two agreeing answers suffice",
       {Ok({R(1, "a")}), Silent(), Ok({R(1, "a")})},
       true,
       {"a"},
       {},
       {}},
      {"two of three silent: no quorum", {Ok({R(1, "a")}), Silent(), Silent()}, false, {}, {}, {}},
      {"refusals are not votes",
       {Ok({R(1, "a")}), Refused(DhtStatus::kNotResponsible), Refused(DhtStatus::kOverloaded)},
       false,
       {},
       {},
       {}},
      {"split between two answers: neither value is a majority",
       {Ok({R(1, "a")}), Ok({R(2, "b")}), Silent()},
       true,
       {},
       {},
       {}},
      {"exclusive conflict: majority owner wins, loser repaired",
       {Ok({R(1, "a", 1, true)}), Ok({R(2, "b", 5, true)}), Ok({R(1, "a", 1, true)})},
       true,
       {"a"},
       {1},
       {{"a"}}},
      {"older version repaired with the newest copy",
       {Ok({R(1, "a", 3)}), Ok({R(1, "a", 2)}), Ok({R(1, "a", 3)})},
       true,
       {"a"},
       {1},
       {{"a"}}},
      {"multi-value: each value judged on its own",
       {Ok({R(1, "a"), R(2, "b")}), Ok({R(2, "b")}), Ok({R(1, "a"), R(2, "b"), R(3, "c")})},
       true,
       {"a", "b"},
       {1},
       {{"a"}}},
      {"same bytes from two owners are two values",
       {Ok({R(1, "x")}), Ok({R(2, "x")}), Ok({R(1, "x")})},
       true,
       {"x"},
       {1},
       {{"x"}}},
      {"a replica repeating a value votes once",
       {Ok({R(1, "a"), R(1, "a")}), Ok({}), Ok({})},
       true,
       {},
       {},
       {}},
      {"five replicas, three agree",
       {Ok({R(1, "a")}), Ok({R(1, "a")}), Ok({R(1, "a")}), Ok({}), Silent()},
       true,
       {"a"},
       {3},
       {{"a"}}},
      {"no replicas", {}, false, {}, {}, {}},
  };
  for (const GetCase& c : cases) {
    SCOPED_TRACE(c.name);
    const DhtGetOutcome o = ResolveGet(c.replies);
    EXPECT_EQ(o.quorum, c.quorum);
    EXPECT_EQ(Strings(o.values), c.values);
    std::vector<size_t> repaired;
    std::vector<std::vector<std::string>> pushed;
    for (const DhtRepair& r : o.repairs) {
      if (r.records.empty()) continue;
      repaired.push_back(r.replica);
      pushed.push_back(Strings(r.records));
    }
    EXPECT_EQ(repaired, c.repaired);
    EXPECT_EQ(pushed, c.pushed);
  }
}

TEST(DhtQuorum, ResultCarriesTheNewestCopy) {
  const std::vector<DhtGetReply> replies = {Ok({R(1, "a", 3, false, 100)}),
                                            Ok({R(1, "a", 3, false, 900)}),
                                            Ok({R(1, "a", 2, false, 5000)})};
  const DhtGetOutcome o = ResolveGet(replies);
  ASSERT_EQ(o.values.size(), 1u);
  EXPECT_EQ(o.values[0].version, 3u);
  EXPECT_EQ(o.values[0].ttl_ms, 900u);  // version first, then the longest TTL
  ASSERT_EQ(o.repairs.size(), 1u);
  EXPECT_EQ(o.repairs[0].replica, 2u);
}

TEST(DhtQuorum, ExtraValuesAreReported) {
  const std::vector<DhtGetReply> replies = {Ok({R(1, "a"), R(9, "stale")}), Ok({R(1, "a")}),
                                            Ok({R(1, "a")})};
  const DhtGetOutcome o = ResolveGet(replies);
  ASSERT_EQ(o.repairs.size(), 1u);
  EXPECT_EQ(o.repairs[0].replica, 0u);
  EXPECT_TRUE(o.repairs[0].records.empty());
  EXPECT_EQ(o.repairs[0].extra_values, 1u);
}

DhtWriteReply W(DhtStatus s) {
  return {true, s};
}
DhtWriteReply None() {
  return {};
}

struct WriteCase {
  const char* name;
  bool exclusive;
  std::vector<DhtWriteReply> replies;
  DhtWriteDecision decision;
  DhtStatus reason;
  std::vector<size_t> rollback;
  std::vector<size_t> repair;
};

TEST(DhtQuorum, WriteTable) {
  using S = DhtStatus;
  using D = DhtWriteDecision;
  const WriteCase cases[] = {
      {"create everywhere", true, {W(S::kOk), W(S::kOk), W(S::kOk)}, D::kSucceeded, S::kOk, {}, {}},
      {"create on a majority, minority holds a rival claim",
       true,
       {W(S::kOk), W(S::kKeyExists), W(S::kOk)},
       D::kSucceeded,
       S::kOk,
       {},
       {1}},
      {"create lost: majority says taken, roll back the one that accepted",
       true,
       {W(S::kKeyExists), W(S::kOk), W(S::kKeyExists)},
       D::kRejected,
       S::kKeyExists,
       {1},
       {}},
      {"create undecided: one ok, one taken, one silent",
       true,
       {W(S::kOk), W(S::kKeyExists), None()},
       D::kNoQuorum,
       S::kKeyExists,
       {0},
       {}},
      {"silence is not consent", true, {W(S::kOk), None(), None()}, D::kNoQuorum, S::kOk, {0}, {}},
      {"put with one silent replica",
       false,
       {W(S::kOk), None(), W(S::kOk)},
       D::kSucceeded,
       S::kOk,
       {},
       {}},
      {"put refused by quota on a majority",
       false,
       {W(S::kOwnerBytesQuota), W(S::kOwnerBytesQuota), W(S::kOk)},
       D::kRejected,
       S::kOwnerBytesQuota,
       {2},
       {}},
      {"put: mixed refusals are no quorum",
       false,
       {W(S::kOwnerBytesQuota), W(S::kStoreFull), W(S::kOk)},
       D::kNoQuorum,
       S::kOwnerBytesQuota,
       {2},
       {}},
      {"put success does not repair refusals",
       false,
       {W(S::kOk), W(S::kKeyExists), W(S::kOk)},
       D::kSucceeded,
       S::kOk,
       {},
       {}},
      {"even replica count needs more than half",
       true,
       {W(S::kOk), W(S::kOk), W(S::kKeyExists), W(S::kKeyExists)},
       D::kNoQuorum,
       S::kKeyExists,
       {0, 1},
       {}},
      {"single replica", true, {W(S::kOk)}, D::kSucceeded, S::kOk, {}, {}},
      {"no replicas", true, {}, D::kNoQuorum, S::kOk, {}, {}},
  };
  for (const WriteCase& c : cases) {
    SCOPED_TRACE(c.name);
    const DhtWriteOutcome o = DecideWrite(c.replies, c.exclusive);
    EXPECT_EQ(o.decision, c.decision);
    EXPECT_EQ(o.reason, c.reason) << DhtStatusName(o.reason);
    EXPECT_EQ(o.rollback, c.rollback);
    EXPECT_EQ(o.repair, c.repair);
  }
}

// A claiming CREATE: one replica that knows a rival's live record is enough to refuse it, even
// when the others (new to the key after a join or a death) let it through; its own writes are
// rolled back and nobody is repaired.
TEST(DhtQuorum, ClaimIsRefusedByAnyReplicaThatKnowsARival) {
  using S = DhtStatus;
  using D = DhtWriteDecision;
  const auto W = [](S s) { return DhtWriteReply{true, s}; };
  const DhtWriteReply none{};
  struct ClaimCase {
    const char* name;
    std::vector<DhtWriteReply> replies;
    D decision;
    S reason;
    std::vector<size_t> rollback;
  };
  const std::vector<ClaimCase> cases = {
      {"free everywhere", {W(S::kOk), W(S::kOk), W(S::kOk)}, D::kSucceeded, S::kOk, {}},
      {"one old replica knows the holder",
       {W(S::kOk), W(S::kKeyExists), W(S::kOk)},
       D::kRejected,
       S::kKeyExists,
       {0, 2}},
      {"the holder's replica answers, the others are silent",
       {none, W(S::kKeyExists), none},
       D::kRejected,
       S::kKeyExists,
       {}},
      {"new replicas abstain, the old one knows the holder",
       {W(S::kNotResponsible), W(S::kKeyExists), W(S::kNotResponsible)},
       D::kRejected,
       S::kKeyExists,
       {}},
      {"two new replicas abstain: refused for now (the caller retries later)",
       {W(S::kNotResponsible), W(S::kOk), W(S::kNotResponsible)},
       D::kRejected,
       S::kNotResponsible,
       {1}},
  };
  for (const ClaimCase& c : cases) {
    SCOPED_TRACE(c.name);
    const DhtWriteOutcome o = DecideWrite(c.replies, true, true);
    EXPECT_EQ(o.decision, c.decision);
    EXPECT_EQ(o.reason, c.reason) << DhtStatusName(o.reason);
    EXPECT_EQ(o.rollback, c.rollback);
    EXPECT_TRUE(o.repair.empty());
  }
  // The same answers for a renewal (not a claim): the majority decides and the rival is repaired.
  const DhtWriteOutcome renew =
      DecideWrite(std::vector<DhtWriteReply>{W(S::kOk), W(S::kKeyExists), W(S::kOk)}, true);
  EXPECT_EQ(renew.decision, D::kSucceeded);
  EXPECT_EQ(renew.repair, std::vector<size_t>{1});
}

TEST(DhtQuorum, Majority) {
  EXPECT_EQ(DhtMajority(1), 1u);
  EXPECT_EQ(DhtMajority(2), 2u);
  EXPECT_EQ(DhtMajority(3), 2u);
  EXPECT_EQ(DhtMajority(4), 3u);
  EXPECT_EQ(DhtMajority(5), 3u);
}

}  // namespace
}  // namespace ipop::cp

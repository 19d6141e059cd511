// DHT codec: every message type round-trips, every truncation and every malformed field is
// rejected with its own error, and the encoder refuses what the decoder would refuse.
#include "controlplane/dht/dht_messages.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ipop::cp {
namespace {

std::vector<uint8_t> V(const std::string& s) {
  return {s.begin(), s.end()};
}

std::vector<uint8_t> Encode(const DhtMessage& m) {
  std::vector<uint8_t> out(DhtMessageSize(m));
  const size_t n = EncodeDhtMessage(m, out);
  EXPECT_EQ(n, out.size());
  out.resize(n);
  return out;
}

struct Sample {
  const char* name;
  DhtMessage msg;
};

// Storage the sample messages' spans point into.
const std::vector<uint8_t> kValueA = V("10.0.0.7");
const std::vector<uint8_t> kValueB = V("");
const std::vector<uint8_t> kValueC(300, 0xab);

std::vector<Sample> Samples() {
  DhtMessage base;
  base.request_id = 0x0102030405060708ull;
  base.key = HashDhtKey("ip:10.0.0.7");
  base.owner = HashDhtKey("node-a");
  std::vector<Sample> s;
  for (DhtMsgType t : {DhtMsgType::kCreate, DhtMsgType::kPut}) {
    DhtMessage m = base;
    m.type = t;
    m.ttl_ms = 600'000;
    m.version = 0xfedcba9876543210ull;
    m.value = kValueA;
    s.push_back({t == DhtMsgType::kCreate ? "create" : "put", m});
  }
  DhtMessage get = base;
  get.type = DhtMsgType::kGet;
  get.owner = {};
  s.push_back({"get", get});
  DhtMessage rm = base;
  rm.type = DhtMsgType::kRemove;
  rm.value = kValueC;
  s.push_back({"remove", rm});
  DhtMessage rep = base;
  rep.type = DhtMsgType::kReplicate;
  rep.owner = {};
  rep.flags = kDhtFlagRepair;
  rep.record_count = 3;
  rep.records[0] = {HashDhtKey("o1"), kValueA, 1000, 7, true};
  rep.records[1] = {HashDhtKey("o2"), kValueB, 1, 0, false};
  rep.records[2] = {HashDhtKey("o3"), kValueC, 0xffffffffu, ~0ull, false};
  s.push_back({"replicate", rep});
  DhtMessage reply = rep;
  reply.type = DhtMsgType::kReply;
  reply.flags = kDhtFlagTruncated;
  reply.status = DhtStatus::kOk;
  s.push_back({"reply", reply});
  DhtMessage refusal = base;
  refusal.type = DhtMsgType::kReply;
  refusal.owner = {};
  refusal.status = DhtStatus::kKeyExists;
  s.push_back({"reply_refusal", refusal});
  DhtMessage empty_rep = base;
  empty_rep.type = DhtMsgType::kReplicate;
  empty_rep.owner = {};
  s.push_back({"replicate_empty", empty_rep});
  return s;
}

void ExpectSame(const DhtMessage& a, const DhtMessage& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.owner, b.owner);
  EXPECT_EQ(a.ttl_ms, b.ttl_ms);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(std::vector<uint8_t>(a.value.begin(), a.value.end()),
            std::vector<uint8_t>(b.value.begin(), b.value.end()));
  ASSERT_EQ(a.record_count, b.record_count);
  for (size_t i = 0; i < a.record_count; ++i) {
    EXPECT_EQ(a.records[i].owner, b.records[i].owner);
    EXPECT_EQ(a.records[i].ttl_ms, b.records[i].ttl_ms);
    EXPECT_EQ(a.records[i].version, b.records[i].version);
    EXPECT_EQ(a.records[i].exclusive, b.records[i].exclusive);
    EXPECT_EQ(std::vector<uint8_t>(a.records[i].value.begin(), a.records[i].value.end()),
              std::vector<uint8_t>(b.records[i].value.begin(), b.records[i].value.end()));
  }
}

TEST(DhtMessages, RoundTripEveryType) {
  for (const Sample& s : Samples()) {
    SCOPED_TRACE(s.name);
    const auto bytes = Encode(s.msg);
    DhtMessage back;
    ASSERT_EQ(DecodeDhtMessage(bytes, &back), DhtMsgError::kNone);
    ExpectSame(s.msg, back);
    // Decoded views point into the datagram, not elsewhere.
    if (!back.value.empty()) {
      EXPECT_GE(back.value.data(), bytes.data());
      EXPECT_LE(back.value.data() + back.value.size(), bytes.data() + bytes.size());
    }
  }
}

TEST(DhtMessages, LayoutIsTheDocumentedOne) {
  DhtMessage m = Samples()[1].msg;  // put
  const auto b = Encode(m);
  ASSERT_EQ(b.size(), kDhtWriteFixedSize + kValueA.size());
  EXPECT_EQ(b[0], 2);
  EXPECT_EQ(b[4], 0x01);
  EXPECT_EQ(b[11], 0x08);
  EXPECT_EQ(b[12], m.key[0]);
  EXPECT_EQ(b[32], m.owner[0]);
  EXPECT_EQ(uint32_t(b[52]) << 24 | uint32_t(b[53]) << 16 | uint32_t(b[54]) << 8 | b[55], 600'000u);
  EXPECT_EQ(b[56], 0xfe);
  EXPECT_EQ(b[64], 0);
  EXPECT_EQ(b[65], kValueA.size());
  EXPECT_EQ(b[66], '1');
}

TEST(DhtMessages, EveryTruncationIsRejected) {
  for (const Sample& s : Samples()) {
    SCOPED_TRACE(s.name);
    const auto bytes = Encode(s.msg);
    for (size_t n = 0; n < bytes.size(); ++n) {
      DhtMessage out;
      out.request_id = 42;
      const DhtMsgError e = DecodeDhtMessage({bytes.data(), n}, &out);
      EXPECT_TRUE(e == DhtMsgError::kTooShort || e == DhtMsgError::kTruncated)
          << n << " " << DhtMsgErrorName(e);
      EXPECT_EQ(out.request_id, 42u);  // untouched on error
    }
  }
}

TEST(DhtMessages, TrailingBytesAreRejected) {
  for (const Sample& s : Samples()) {
    auto bytes = Encode(s.msg);
    bytes.push_back(0);
    DhtMessage out;
    EXPECT_EQ(DecodeDhtMessage(bytes, &out), DhtMsgError::kTrailingBytes) << s.name;
  }
}

TEST(DhtMessages, EncoderNeedsTheWholeBuffer) {
  for (const Sample& s : Samples()) {
    const size_t need = DhtMessageSize(s.msg);
    std::vector<uint8_t> out(need);
    for (size_t n = 0; n < need; ++n) EXPECT_EQ(EncodeDhtMessage(s.msg, {out.data(), n}), 0u);
  }
}

struct Corruption {
  const char* name;
  size_t sample;  // index into Samples()
  size_t offset;
  uint8_t value;
  DhtMsgError want;
};

TEST(DhtMessages, MalformedFieldsHaveTheirOwnError) {
  const Corruption cases[] = {
      {"type 0", 2, 0, 0, DhtMsgError::kBadType},
      {"type 7", 2, 0, 7, DhtMsgError::kBadType},
      {"flags on get", 2, 1, 1, DhtMsgError::kBadFlags},
      {"unknown replicate flag", 4, 1, 2, DhtMsgError::kBadFlags},
      {"status on a request", 0, 2, 1, DhtMsgError::kBadStatus},
      {"unknown reply status", 5, 2, uint8_t(kDhtStatusCount), DhtMsgError::kBadStatus},
      {"reserved", 2, 3, 1, DhtMsgError::kBadReserved},
      {"value length above limit", 0, 64, 0x10, DhtMsgError::kValueTooLong},
      {"value length past end", 0, 65, 9, DhtMsgError::kTruncated},
      {"value length short", 0, 65, 7, DhtMsgError::kTrailingBytes},
      {"record count above limit", 4, 32, 1, DhtMsgError::kTooManyRecords},
      {"record count past end", 4, 33, 4, DhtMsgError::kTruncated},
      {"record flags", 4, 34, 2, DhtMsgError::kBadRecordFlags},
      {"remove value length above limit", 3, 52, 0x11, DhtMsgError::kValueTooLong},
  };
  const auto samples = Samples();
  for (const Corruption& c : cases) {
    auto bytes = Encode(samples[c.sample].msg);
    ASSERT_LT(c.offset, bytes.size()) << c.name;
    bytes[c.offset] = c.value;
    DhtMessage out;
    EXPECT_EQ(DecodeDhtMessage(bytes, &out), c.want) << c.name;
  }
}

TEST(DhtMessages, EncoderRefusesWhatTheDecoderWould) {
  DhtMessage m = Samples()[0].msg;
  std::vector<uint8_t> big(kDhtMaxWireValue + 1);
  std::vector<uint8_t> out(8192);
  m.value = big;
  EXPECT_EQ(EncodeDhtMessage(m, out), 0u);
  m.value = {};
  m.flags = 1;
  EXPECT_EQ(EncodeDhtMessage(m, out), 0u);
  m.flags = 0;
  m.status = DhtStatus::kKeyExists;
  EXPECT_EQ(EncodeDhtMessage(m, out), 0u);
  DhtMessage r = Samples()[4].msg;
  r.record_count = kDhtMaxRecords + 1;
  EXPECT_EQ(EncodeDhtMessage(r, out), 0u);
  r.record_count = kDhtMaxRecords;  // the maximum itself is fine
  std::vector<uint8_t> full(DhtMessageSize(r));
  ASSERT_GT(EncodeDhtMessage(r, full), 0u);
  DhtMessage back;
  EXPECT_EQ(DecodeDhtMessage(full, &back), DhtMsgError::kNone);
  EXPECT_EQ(back.record_count, kDhtMaxRecords);
}

TEST(DhtMessages, RecordConversionKeepsEveryField) {
  DhtRecord r;
  r.key = HashDhtKey("k");
  r.owner = HashDhtKey("o");
  r.value = V("abc");
  r.ttl_ms = 5;
  r.version = 6;
  r.exclusive = true;
  const DhtRecord back = ToDhtRecord(r.key, ToDhtRecordView(r));
  EXPECT_EQ(back.key, r.key);
  EXPECT_EQ(back.owner, r.owner);
  EXPECT_EQ(back.value, r.value);
  EXPECT_EQ(back.ttl_ms, 5u);
  EXPECT_EQ(back.version, 6u);
  EXPECT_TRUE(back.exclusive);
  EXPECT_STREQ(DhtMsgErrorName(DhtMsgError::kTruncated), "truncated");
}

}  // namespace
}  // namespace ipop::cp

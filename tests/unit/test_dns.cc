// DNS codec: captured dig queries, every parse rejection, response building and decoding.
#include "controlplane/services/dns.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <vector>

#include "controlplane/services/udp_frame.h"
#include "tests/unit/test_dns_captures.h"

namespace ipop::dns {
namespace {

using testing::kCapturedPayloadOffset;

template <size_t N>
std::span<const uint8_t> Payload(const uint8_t (&frame)[N]) {
  return std::span<const uint8_t>(frame).subspan(kCapturedPayloadOffset);
}

Name N(const char* text) {
  Name n;
  EXPECT_TRUE(NameFromText(text, &n)) << text;
  return n;
}

// Header with QDCOUNT=qd and the given flags, then raw bytes.
std::vector<uint8_t> Msg(uint16_t flags, uint16_t qd, const std::vector<uint8_t>& rest,
                         uint16_t ar = 0) {
  std::vector<uint8_t> m(kHeaderSize + rest.size(), 0);
  m[0] = 0x12;
  m[1] = 0x34;
  m[2] = uint8_t(flags >> 8);
  m[3] = uint8_t(flags);
  m[5] = uint8_t(qd);
  m[10] = uint8_t(ar >> 8);
  m[11] = uint8_t(ar);
  std::copy(rest.begin(), rest.end(), m.begin() + kHeaderSize);
  return m;
}

const std::vector<uint8_t> kQuestionAbc = {3, 'a', 'b', 'c', 0, 0, 1, 0, 1};

TEST(DnsCodec, CapturedQueryWithEdnsCookie) {
  Query q;
  ASSERT_EQ(ParseQuery(Payload(testing::kCapturedA), &q), ParseError::kNone);
  EXPECT_EQ(q.id, 0x736e);
  EXPECT_TRUE(q.recursion_desired);
  EXPECT_EQ(q.opcode, kOpcodeQuery);
  EXPECT_EQ(NameToText(q.question.name), "C250001001.ipop");
  EXPECT_EQ(q.question.name.labels, 2);
  EXPECT_EQ(q.question.type, kTypeA);
  EXPECT_EQ(q.question.klass, kClassIn);
  EXPECT_TRUE(q.has_edns);
  EXPECT_EQ(q.edns_udp_size, 1232);
  EXPECT_EQ(q.edns_version, 0);
}

TEST(DnsCodec, CapturedPtrAndPlainQueries) {
  Query q;
  ASSERT_EQ(ParseQuery(Payload(testing::kCapturedPtr), &q), ParseError::kNone);
  EXPECT_EQ(NameToText(q.question.name), "1.1.250.10.in-addr.arpa");
  EXPECT_EQ(q.question.type, kTypePtr);
  EXPECT_TRUE(q.has_edns);

  ASSERT_EQ(ParseQuery(Payload(testing::kCapturedNoEdns), &q), ParseError::kNone);
  EXPECT_EQ(NameToText(q.question.name), "web1.alpha.ipop");
  EXPECT_EQ(q.question.type, kTypeA);
  EXPECT_FALSE(q.has_edns);

  ASSERT_EQ(ParseQuery(Payload(testing::kCapturedAaaaMixedCase), &q), ParseError::kNone);
  EXPECT_EQ(NameToText(q.question.name), "c250001001.IPOP");  // case kept for the echo
  EXPECT_TRUE(NameEquals(q.question.name, N("C250001001.ipop")));
  EXPECT_FALSE(NameEquals(q.question.name, N("C250001002.ipop")));
  EXPECT_EQ(q.question.type, kTypeAaaa);
}

TEST(DnsCodec, CapturedFramesCarryPartialChecksums) {
  // What offloading senders put on the wire before the NIC fills the checksum in: the frame
  // parser refuses it, so TAP frames must reach the responder with the checksum completed.
  udp::FrameView v;
  EXPECT_EQ(udp::ParseFrame(testing::kCapturedA, &v), udp::FrameError::kBadChecksum);
}

TEST(DnsCodec, EveryRejectionHasItsReason) {
  struct Case {
    const char* what;
    std::vector<uint8_t> msg;
    ParseError want;
  };
  std::vector<uint8_t> long_name;
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'x');
  }
  long_name.push_back(0);
  long_name.insert(long_name.end(), {0, 1, 0, 1});
  const std::vector<uint8_t> opt = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> two_opts = kQuestionAbc;
  two_opts.insert(two_opts.end(), opt.begin(), opt.end());
  two_opts.insert(two_opts.end(), opt.begin(), opt.end());
  std::vector<uint8_t> named_opt = kQuestionAbc;
  named_opt.insert(named_opt.end(), {0xc0, 12, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});
  std::vector<uint8_t> short_rr = kQuestionAbc;
  short_rr.insert(short_rr.end(), {0, 0, 41, 0x04});
  std::vector<uint8_t> long_rdata = kQuestionAbc;
  long_rdata.insert(long_rdata.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 9, 1, 2});

  const Case cases[] = {
      {"11 bytes", std::vector<uint8_t>(11, 0), ParseError::kTooShort},
      {"QR set", Msg(0x8100, 1, kQuestionAbc), ParseError::kNotQuery},
      {"opcode STATUS", Msg(2 << 11, 1, kQuestionAbc), ParseError::kBadOpcode},
      {"no question", Msg(0x0100, 0, {}), ParseError::kQuestionCount},
      {"two questions", Msg(0x0100, 2, kQuestionAbc), ParseError::kQuestionCount},
      {"label past end", Msg(0, 1, {5, 'a', 'b'}), ParseError::kNameTruncated},
      {"no root label", Msg(0, 1, {1, 'a'}), ParseError::kNameTruncated},
      {"half pointer", Msg(0, 1, {0xc0}), ParseError::kNameTruncated},
      {"label type 01", Msg(0, 1, {0x41, 'a', 0, 0, 1, 0, 1}), ParseError::kLabelTooLong},
      {"label type 10", Msg(0, 1, {0x80, 0, 0, 1, 0, 1}), ParseError::kLabelTooLong},
      {"name > 255", Msg(0, 1, long_name), ParseError::kNameTooLong},
      {"pointer into header", Msg(0, 1, {0xc0, 4, 0, 1, 0, 1}), ParseError::kBadPointer},
      {"pointer to itself", Msg(0, 1, {0xc0, 12, 0, 1, 0, 1}), ParseError::kBadPointer},
      {"pointer loop", Msg(0, 1, {1, 'a', 0xc0, 12, 0, 1, 0, 1}), ParseError::kBadPointer},
      {"forward pointer", Msg(0, 1, {0xc0, 20, 0, 1, 0, 1, 0, 0, 0, 0}), ParseError::kBadPointer},
      {"no qtype", Msg(0, 1, {3, 'a', 'b', 'c', 0, 0, 1}), ParseError::kQuestionTruncated},
      {"OPT cut", Msg(0, 1, short_rr, 1), ParseError::kRecordTruncated},
      {"rdata past end", Msg(0, 1, long_rdata, 1), ParseError::kRecordTruncated},
      {"arcount without records", Msg(0, 1, kQuestionAbc, 1), ParseError::kNameTruncated},
      {"two OPTs", Msg(0, 1, two_opts, 2), ParseError::kDuplicateOpt},
      {"OPT with a name", Msg(0, 1, named_opt, 1), ParseError::kBadOpt},
  };
  for (const Case& c : cases) {
    Query q;
    EXPECT_EQ(ParseQuery(c.msg, &q), c.want)
        << c.what << ": got " << ParseErrorName(ParseQuery(c.msg, &q));
    if (c.want != ParseError::kTooShort) {
      EXPECT_EQ(q.id, 0x1234) << c.what;
    }
  }
  // Sanity: the base question alone parses.
  Query q;
  EXPECT_EQ(ParseQuery(Msg(0x0100, 1, kQuestionAbc), &q), ParseError::kNone);
  EXPECT_TRUE(q.recursion_desired);
  for (size_t e = 0; e < size_t(ParseError::kCount); ++e)
    EXPECT_STRNE(ParseErrorName(ParseError(e)), "?") << e;
}

TEST(DnsCodec, PointerChainsAreBounded) {
  // "a" at 12, then a chain of pointers each pointing at the previous one (strictly backwards,
  // so legal) - the hop limit still stops a long chain.
  std::vector<uint8_t> m = Msg(0, 1, {1, 'a', 0});
  for (size_t i = 0; i < kMaxPointers + 2; ++i) {
    const size_t prev = m.size() - (i == 0 ? 3 : 2);
    m.push_back(uint8_t(0xc0 | prev >> 8));
    m.push_back(uint8_t(prev));
  }
  Name n;
  size_t end = 0;
  // kMaxPointers hops: fine; one more: refused.
  const size_t ok_at = 15 + 2 * (kMaxPointers - 1);
  ASSERT_EQ(ReadName(m, ok_at, &n, &end), ParseError::kNone);
  EXPECT_EQ(NameToText(n), "a");
  EXPECT_EQ(end, ok_at + 2);
  EXPECT_EQ(ReadName(m, ok_at + 2, &n, &end), ParseError::kTooManyPointers);
}

TEST(DnsCodec, NamesFromText) {
  Name n;
  EXPECT_TRUE(NameFromText("a.B.c.", &n));
  EXPECT_EQ(n.labels, 3);
  EXPECT_EQ(n.size, 7);
  EXPECT_EQ(Label(n, 1), "B");
  EXPECT_EQ(NameToText(n), "a.B.c");
  EXPECT_TRUE(NameFromText("", &n));
  EXPECT_EQ(n.labels, 0);
  EXPECT_EQ(n.size, 1);
  EXPECT_FALSE(NameFromText("a..b", &n));
  EXPECT_FALSE(NameFromText(".a", &n));
  EXPECT_FALSE(NameFromText(std::string(64, 'x'), &n));
  EXPECT_TRUE(NameFromText(std::string(63, 'x'), &n));
  std::string longest;  // 4 x 62 + dots = 251 chars -> 253 wire bytes
  for (int i = 0; i < 4; ++i) longest += std::string(62, 'y') + (i < 3 ? "." : "");
  EXPECT_TRUE(NameFromText(longest, &n));
  EXPECT_FALSE(NameFromText(longest + ".zz", &n));
  EXPECT_TRUE(LabelEquals("IpOp", "ipop"));
  EXPECT_FALSE(LabelEquals("ipop", "ipo"));
  EXPECT_FALSE(LabelEquals("[", "{"));  // only letters fold
}

TEST(DnsCodec, ResponseRoundTrip) {
  Query q;
  ASSERT_EQ(ParseQuery(Payload(testing::kCapturedAaaaMixedCase), &q), ParseError::kNone);
  const Name target = N("C250001001.ipop");
  Record records[2];
  records[0].type = kTypeA;
  records[0].ttl = 60;
  records[0].ipv4 = 0x0afa0101;
  records[1].type = kTypePtr;
  records[1].ttl = 30;
  records[1].ptr = &target;
  ResponseSpec spec;
  spec.id = q.id;
  spec.recursion_desired = true;
  spec.authoritative = true;
  spec.question = &q.question;
  spec.answers = records;
  spec.edns = true;
  uint8_t buf[512];
  const size_t n = BuildResponse(spec, buf);
  ASSERT_EQ(n, 12 + q.question.name.size + 4 + (12 + 4) + (12 + target.size) + 11);
  EXPECT_EQ(buf[2], 0x85);  // QR, AA, RD
  EXPECT_EQ(buf[3], 0x00);  // RA 0, NOERROR
  EXPECT_EQ(BuildResponse(spec, std::span<uint8_t>(buf, n - 1)), 0u);

  Response r;
  ASSERT_EQ(ParseResponse({buf, n}, &r), ParseError::kNone);
  EXPECT_EQ(r.id, q.id);
  EXPECT_TRUE(r.authoritative);
  EXPECT_TRUE(r.recursion_desired);
  EXPECT_FALSE(r.recursion_available);
  EXPECT_EQ(r.rcode, Rcode::kNoError);
  EXPECT_EQ(NameToText(r.question.name), "c250001001.IPOP");  // echoed byte for byte
  ASSERT_EQ(r.answer_count, 2);
  EXPECT_EQ(NameToText(r.answers[0].owner), "c250001001.IPOP");  // via the 0xc00c pointer
  EXPECT_EQ(r.answers[0].type, kTypeA);
  EXPECT_EQ(r.answers[0].klass, kClassIn);
  EXPECT_EQ(r.answers[0].ttl, 60u);
  EXPECT_EQ(r.answers[0].ipv4, 0x0afa0101u);
  EXPECT_EQ(r.answers[1].type, kTypePtr);
  EXPECT_EQ(NameToText(r.answers[1].ptr), "C250001001.ipop");
  EXPECT_TRUE(r.has_edns);

  // A query is not a response and vice versa.
  Query again;
  EXPECT_EQ(ParseQuery({buf, n}, &again), ParseError::kNotQuery);
  EXPECT_EQ(ParseResponse(Payload(testing::kCapturedA), &r), ParseError::kNotResponse);
}

TEST(DnsCodec, ErrorResponsesWithoutQuestion) {
  ResponseSpec spec;
  spec.id = 0xbeef;
  spec.rcode = Rcode::kFormErr;
  uint8_t buf[64];
  const size_t n = BuildResponse(spec, buf);
  ASSERT_EQ(n, kHeaderSize);
  Response r;
  ASSERT_EQ(ParseResponse({buf, n}, &r), ParseError::kNone);
  EXPECT_EQ(r.id, 0xbeef);
  EXPECT_EQ(r.rcode, Rcode::kFormErr);
  EXPECT_EQ(r.question_count, 0);
  EXPECT_FALSE(r.authoritative);
  // Answers need a question to point at.
  Record a;
  spec.answers = {&a, 1};
  EXPECT_EQ(BuildResponse(spec, buf), 0u);
  // A PTR record without a target is refused.
  Question question;
  question.name = N("x.ipop");
  spec.question = &question;
  a.type = kTypePtr;
  EXPECT_EQ(BuildResponse(spec, buf), 0u);
  for (Rcode rc : {Rcode::kNoError, Rcode::kFormErr, Rcode::kServFail, Rcode::kNxDomain,
                   Rcode::kNotImp, Rcode::kRefused})
    EXPECT_STRNE(RcodeName(rc), "?");
}

TEST(DnsCodec, AuthoritySectionAndOwnersOutsideTheQuestion) {
  Question q;
  ASSERT_TRUE(NameFromText("host.Lab.ipop", &q.name));
  q.type = kTypeA;
  q.klass = kClassIn;
  Soa soa;
  ASSERT_TRUE(NameFromText("C077000254.ipop", &soa.mname));
  ASSERT_TRUE(NameFromText("hostmaster.ipop", &soa.rname));
  soa.serial = 7;
  soa.minimum = 5;
  Name zone, other;
  ASSERT_TRUE(NameFromText("IPOP", &zone));  // a suffix of the question, other case
  ASSERT_TRUE(NameFromText("elsewhere.example", &other));
  Record authority[2];
  authority[0].type = kTypeSoa;
  authority[0].ttl = 5;
  authority[0].soa = &soa;
  authority[0].owner = &zone;
  authority[1].type = kTypeNs;
  authority[1].ttl = 60;
  authority[1].ptr = &soa.mname;
  authority[1].owner = &other;
  ResponseSpec spec;
  spec.id = 9;
  spec.rcode = Rcode::kNxDomain;
  spec.question = &q;
  spec.authority = authority;
  uint8_t buf[512];
  const size_t n = BuildResponse(spec, buf);
  ASSERT_GT(n, 0u);
  // Owner of the SOA: a 2-byte pointer to "ipop" inside the question (offset 12 + 5 + 4).
  const size_t soa_at = kHeaderSize + q.name.size + 4;
  EXPECT_EQ(buf[soa_at], 0xc0);
  EXPECT_EQ(buf[soa_at + 1], kHeaderSize + 9);
  Response r;
  ASSERT_EQ(ParseResponse({buf, n}, &r), ParseError::kNone);
  EXPECT_EQ(r.rcode, Rcode::kNxDomain);
  EXPECT_EQ(r.answer_count, 0);
  ASSERT_EQ(r.authority_count, 2);
  EXPECT_EQ(NameToText(r.authority[0].owner), "ipop");
  EXPECT_EQ(r.authority[0].type, kTypeSoa);
  EXPECT_EQ(NameToText(r.authority[0].ptr), "C077000254.ipop");
  EXPECT_EQ(NameToText(r.authority[0].soa_rname), "hostmaster.ipop");
  EXPECT_EQ(r.authority[0].soa_serial, 7u);
  EXPECT_EQ(r.authority[0].soa_minimum, 5u);
  EXPECT_EQ(NameToText(r.authority[1].owner), "elsewhere.example");  // written out
  EXPECT_EQ(NameToText(r.authority[1].ptr), "C077000254.ipop");
  // Invalid records are refused, not written half.
  Record broken;
  broken.type = kTypeSoa;
  spec.authority = {&broken, 1};
  EXPECT_EQ(BuildResponse(spec, buf), 0u);
  // A truncated SOA rdata does not parse.
  spec.authority = {authority, 1};
  const size_t m = BuildResponse(spec, buf);
  ASSERT_GT(m, 0u);
  buf[soa_at + 11] -= 1;  // rdlength one short: the SOA's fixed fields no longer fit
  EXPECT_EQ(ParseResponse({buf, m - 1}, &r), ParseError::kRecordTruncated);
}

}  // namespace
}  // namespace ipop::dns

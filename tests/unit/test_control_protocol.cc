// HELLO codec: round trip, every truncation, every single-byte tamper, and each named rejection.
#include "controlplane/sessions/control_protocol.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "controlplane/sessions/network_id.h"
#include "shared/shm_layout.h"
#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::Ip;

std::array<uint8_t, 32> Secret(uint8_t fill) {
  std::array<uint8_t, 32> s;
  s.fill(fill);
  return s;
}

Hello SampleHello() {
  Hello h;
  h.cipher = uint8_t(shm::Cipher::kChaCha20Poly1305);
  h.sender_vip = Ip(10, 77, 0, 1);
  h.receiver_vip = Ip(10, 77, 0, 2);
  for (size_t i = 0; i < kX25519KeySize; ++i) {
    h.sender_public[i] = uint8_t(0xA0 + i);
    h.echo_public[i] = uint8_t(0x10 + i);
  }
  h.sender_receiver_index = 0x00000ABC;
  h.timestamp_ns = 0x0123456789ABCDEFull;
  return h;
}

class ControlProtocolTest : public ::testing::Test {
 protected:
  std::vector<uint8_t> Encode(const Hello& h, uint64_t net) {
    std::vector<uint8_t> buf(kMaxHelloSize);
    const size_t n = EncodeHello(h, net, auth_, buf);
    EXPECT_NE(n, 0u);
    buf.resize(n);
    return buf;
  }
  HelloError Decode(std::span<const uint8_t> d, Hello* out = nullptr) {
    Hello tmp;
    return DecodeHello(d, net_, auth_, out ? out : &tmp);
  }
  // Rewrites the tag after the test edited signed bytes, to reach checks behind the MAC.
  void Resign(std::vector<uint8_t>& d) {
    ASSERT_TRUE(auth_.Sign(std::span<const uint8_t>(d).first(kHelloSignedSize),
                           std::span<uint8_t>(d).subspan(kHelloSignedSize)));
  }

  uint64_t net_ = NetworkHash("testnet");
  PskHelloAuthenticator auth_{Secret(7), "testnet"};
};

TEST_F(ControlProtocolTest, RoundTrip) {
  const Hello in = SampleHello();
  const std::vector<uint8_t> d = Encode(in, net_);
  ASSERT_EQ(d.size(), kHelloSignedSize + PskHelloAuthenticator::kTagSize);
  EXPECT_EQ(d.size(), 128u);
  EXPECT_EQ(kHelloBodySize, 96u);
  // Header: version 1 CONTROL, index 0, counter 0.
  wire::PacketView v;
  ASSERT_EQ(wire::Parse(d, v), wire::ParseError::kNone);
  EXPECT_EQ(v.type, wire::PacketType::kControl);
  EXPECT_EQ(v.receiver_index, 0u);
  EXPECT_EQ(v.counter, 0u);
  Hello out;
  ASSERT_EQ(Decode(d, &out), HelloError::kNone);
  EXPECT_EQ(out.cipher, in.cipher);
  EXPECT_EQ(out.sender_vip, in.sender_vip);
  EXPECT_EQ(out.receiver_vip, in.receiver_vip);
  EXPECT_EQ(out.sender_public, in.sender_public);
  EXPECT_EQ(out.echo_public, in.echo_public);
  EXPECT_EQ(out.sender_receiver_index, in.sender_receiver_index);
  EXPECT_EQ(out.timestamp_ns, in.timestamp_ns);
  // Field placement is part of the protocol (docs/control-protocol.md).
  EXPECT_EQ(d[16], kMsgHello);
  EXPECT_EQ(d[16 + 1], in.cipher);
  EXPECT_EQ(wire::LoadBe32(&d[16 + 4]), in.sender_vip);
  EXPECT_EQ(wire::LoadBe32(&d[16 + 8]), in.receiver_vip);
  EXPECT_EQ(std::memcmp(&d[16 + 12], in.sender_public.data(), 32), 0);
  EXPECT_EQ(std::memcmp(&d[16 + 44], in.echo_public.data(), 32), 0);
  EXPECT_EQ(wire::LoadBe32(&d[16 + 76]), in.sender_receiver_index);
  EXPECT_EQ(wire::LoadBe64(&d[16 + 80]), in.timestamp_ns);
  EXPECT_EQ(wire::LoadBe64(&d[16 + 88]), net_);
}

TEST_F(ControlProtocolTest, EveryTruncationIsTooShort) {
  const std::vector<uint8_t> d = Encode(SampleHello(), net_);
  for (size_t n = 0; n < d.size(); ++n)
    EXPECT_EQ(Decode(std::span<const uint8_t>(d).first(n)), HelloError::kTooShort) << n;
}

TEST_F(ControlProtocolTest, TrailingBytesRejected) {
  std::vector<uint8_t> d = Encode(SampleHello(), net_);
  d.push_back(0);
  EXPECT_EQ(Decode(d), HelloError::kTrailingBytes);
}

TEST_F(ControlProtocolTest, EverySingleByteTamperIsRejected) {
  const std::vector<uint8_t> d = Encode(SampleHello(), net_);
  for (size_t i = 0; i < d.size(); ++i) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
      std::vector<uint8_t> t = d;
      t[i] ^= flip;
      const HelloError e = Decode(t);
      EXPECT_NE(e, HelloError::kNone) << "byte " << i;
      if (i >= kHelloSignedSize) {
        EXPECT_EQ(e, HelloError::kBadMac) << "tag byte " << i;
      } else if (i >= 16 + 88) {
        EXPECT_EQ(e, HelloError::kWrongNetwork) << i;
      } else if (i >= 16 + 4) {
        EXPECT_EQ(e, HelloError::kBadMac) << "field byte " << i;
      }
    }
  }
}

TEST_F(ControlProtocolTest, WrongNetworkAndWrongSecret) {
  const std::vector<uint8_t> other_net = Encode(SampleHello(), NetworkHash("othernet"));
  EXPECT_EQ(Decode(other_net), HelloError::kWrongNetwork);

  PskHelloAuthenticator wrong_secret(Secret(8), "testnet");
  std::vector<uint8_t> buf(kMaxHelloSize);
  const size_t n = EncodeHello(SampleHello(), net_, wrong_secret, buf);
  ASSERT_NE(n, 0u);
  EXPECT_EQ(Decode(std::span<const uint8_t>(buf).first(n)), HelloError::kBadMac);

  // Same secret, different network name: the HELLO key differs too (not just the hash field).
  PskHelloAuthenticator other_key(Secret(7), "othernet");
  const size_t m = EncodeHello(SampleHello(), net_, other_key, buf);
  EXPECT_EQ(Decode(std::span<const uint8_t>(buf).first(m)), HelloError::kBadMac);
}

TEST_F(ControlProtocolTest, HeaderFieldsMustBeControlWithZeroIndexAndCounter) {
  const std::vector<uint8_t> good = Encode(SampleHello(), net_);
  struct Case {
    size_t offset;
    uint8_t value;
  };
  // type DATA, type HANDSHAKE, version 2, flags, hops, reserved, index, counter
  for (const Case c : {Case{0, 0x11}, Case{0, 0x13}, Case{0, 0x22}, Case{1, 1}, Case{2, 1},
                       Case{3, 1}, Case{7, 1}, Case{15, 1}}) {
    std::vector<uint8_t> d = good;
    d[c.offset] = c.value;
    Resign(d);
    EXPECT_EQ(Decode(d), HelloError::kBadHeader) << c.offset;
  }
}

TEST_F(ControlProtocolTest, TypeReservedAndZeroPublicKeyRejectedEvenWhenSigned) {
  std::vector<uint8_t> d = Encode(SampleHello(), net_);
  d[16] = 2;
  Resign(d);
  EXPECT_EQ(Decode(d), HelloError::kBadType);

  d = Encode(SampleHello(), net_);
  d[16 + 3] = 1;
  Resign(d);
  EXPECT_EQ(Decode(d), HelloError::kBadReserved);

  Hello zero = SampleHello();
  zero.sender_public.fill(0);
  EXPECT_EQ(Decode(Encode(zero, net_)), HelloError::kZeroPublicKey);

  // A zero echo only means "your key is unknown to me" and is accepted.
  Hello no_echo = SampleHello();
  no_echo.echo_public.fill(0);
  Hello out;
  ASSERT_EQ(Decode(Encode(no_echo, net_), &out), HelloError::kNone);
  EXPECT_TRUE(IsZero(out.echo_public));
}

TEST_F(ControlProtocolTest, EncodeRefusesSmallBuffer) {
  std::vector<uint8_t> buf(kHelloSignedSize + PskHelloAuthenticator::kTagSize - 1);
  EXPECT_EQ(EncodeHello(SampleHello(), net_, auth_, buf), 0u);
}

TEST_F(ControlProtocolTest, ErrorNamesAreDistinct) {
  std::set<std::string> names;
  for (int e = 0; e <= int(HelloError::kZeroPublicKey); ++e)
    names.insert(HelloErrorName(HelloError(e)));
  EXPECT_EQ(names.size(), size_t(HelloError::kZeroPublicKey) + 1);
}

TEST(NetworkId, GatewayMacIsLocalUnicastAndNetworkSpecific) {
  uint8_t a[6], b[6], a2[6];
  GatewayMac("alpha", a);
  GatewayMac("beta", b);
  GatewayMac("alpha", a2);
  EXPECT_EQ(a[0], 0x02);
  EXPECT_EQ(a[1], 0x49);
  EXPECT_EQ(a[2], 0x50);
  EXPECT_EQ(std::memcmp(a, a2, 6), 0);
  EXPECT_NE(std::memcmp(a, b, 6), 0);
  EXPECT_NE(NetworkHash("alpha"), NetworkHash("beta"));
}

}  // namespace
}  // namespace ipop::cp

#include "controlplane/directory/signed_claim.h"

#include <algorithm>
#include <string>

#include "controlplane/dht/dht_key.h"
#include "controlplane/identity/node_identity.h"
#include "shared/endpoint.h"

namespace ipop::cp {
namespace {

using identity::Certificate;

// "<network>:<rest>" after `prefix`; false if the key name has another shape.
bool SplitNetwork(std::string_view name, std::string_view prefix, std::string_view* network,
                  std::string_view* rest) {
  if (!name.starts_with(prefix)) return false;
  name.remove_prefix(prefix.size());
  const size_t colon = name.find(':');
  if (colon == std::string_view::npos) return false;
  *network = name.substr(0, colon);
  *rest = name.substr(colon + 1);
  return true;
}

std::optional<uint32_t> Ipv4(std::string_view s) {
  return ParseIpv4(std::string(s));
}

ClaimVerdict Permitted(SignedRecordType type, std::string_view name,
                       std::span<const uint8_t> payload, const Certificate& cert) {
  const std::string& network = cert.fields.network;
  std::string_view net, rest;
  switch (type) {
    case SignedRecordType::kVip: {
      if (!SplitNetwork(name, "vip:", &net, &rest)) return ClaimVerdict::kMalformed;
      const std::optional<uint32_t> vip = Ipv4(rest);
      if (!vip || payload.size() < identity::kRingAddressSize) return ClaimVerdict::kMalformed;
      if (net != network || !cert.AllowsVip(*vip)) return ClaimVerdict::kNotPermitted;
      const identity::RingAddressBytes ring = identity::RingAddressFromKey(cert.fields.public_key);
      if (!std::equal(ring.begin(), ring.end(), payload.begin()))
        return ClaimVerdict::kNotPermitted;
      return ClaimVerdict::kOk;
    }
    case SignedRecordType::kName: {
      if (!name.starts_with("name:")) return ClaimVerdict::kMalformed;
      name.remove_prefix(5);
      const std::string_view label = name.substr(0, name.find('.'));
      return label == cert.fields.name ? ClaimVerdict::kOk : ClaimVerdict::kNotPermitted;
    }
    case SignedRecordType::kRoutes: {
      if (name != "routes:" + network)
        return name.starts_with("routes:") ? ClaimVerdict::kNotPermitted : ClaimVerdict::kMalformed;
      if (payload.empty()) return ClaimVerdict::kMalformed;
      const size_t count = payload[0];
      if (payload.size() < 1 + 5 * count) return ClaimVerdict::kMalformed;
      for (size_t i = 0; i < count; ++i) {
        const uint8_t* p = payload.data() + 1 + 5 * i;
        identity::Prefix prefix{
            uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3], p[4]};
        if (prefix.length > 32) return ClaimVerdict::kMalformed;
        if (!cert.AllowsSubnet(prefix)) return ClaimVerdict::kNotPermitted;
      }
      return ClaimVerdict::kOk;
    }
    case SignedRecordType::kMulticast: {
      if (!SplitNetwork(name, "mcast:", &net, &rest)) return ClaimVerdict::kMalformed;
      const std::optional<uint32_t> group = Ipv4(rest.substr(0, rest.find('#')));
      if (!group) return ClaimVerdict::kMalformed;
      return net == network && cert.AllowsMulticast(*group) ? ClaimVerdict::kOk
                                                            : ClaimVerdict::kNotPermitted;
    }
  }
  return ClaimVerdict::kMalformed;
}

}  // namespace

const char* ClaimVerdictName(ClaimVerdict v) {
  switch (v) {
    case ClaimVerdict::kOk:
      return "ok";
    case ClaimVerdict::kMalformed:
      return "malformed";
    case ClaimVerdict::kWrongKey:
      return "wrong key";
    case ClaimVerdict::kUnknownOwner:
      return "unknown owner";
    case ClaimVerdict::kBadSignature:
      return "bad signature";
    case ClaimVerdict::kExpired:
      return "expired";
    case ClaimVerdict::kNotPermitted:
      return "not permitted";
    case ClaimVerdict::kOwnerChanged:
      return "owner changed";
    case ClaimVerdict::kNotNewer:
      return "not newer";
    case ClaimVerdict::kNothingToRemove:
      return "nothing to remove";
  }
  return "?";
}

void ClaimCounters::Count(ClaimVerdict v) {
  switch (v) {
    case ClaimVerdict::kOk:
      return;
    case ClaimVerdict::kMalformed:
      ++malformed;
      return;
    case ClaimVerdict::kWrongKey:
      ++wrong_key;
      return;
    case ClaimVerdict::kUnknownOwner:
      ++unknown_owner;
      return;
    case ClaimVerdict::kBadSignature:
      ++bad_signature;
      return;
    case ClaimVerdict::kExpired:
      ++expired;
      return;
    case ClaimVerdict::kNotPermitted:
      ++not_permitted;
      return;
    case ClaimVerdict::kOwnerChanged:
      ++owner_changed;
      return;
    case ClaimVerdict::kNotNewer:
      ++not_newer;
      return;
    case ClaimVerdict::kNothingToRemove:
      ++nothing_to_remove;
      return;
  }
}

std::optional<std::vector<uint8_t>> EncodeClaim(std::string_view key_name,
                                                std::span<const uint8_t> payload) {
  if (key_name.size() > 255) return std::nullopt;
  std::vector<uint8_t> c;
  c.push_back(uint8_t(key_name.size()));
  c.insert(c.end(), key_name.begin(), key_name.end());
  c.insert(c.end(), payload.begin(), payload.end());
  return c;
}

bool DecodeClaim(std::span<const uint8_t> claim, std::string_view* key_name,
                 std::span<const uint8_t>* payload) {
  if (claim.empty() || claim.size() < 1 + size_t(claim[0])) return false;
  *key_name = {reinterpret_cast<const char*>(claim.data() + 1), claim[0]};
  *payload = claim.subspan(1 + size_t(claim[0]));
  return true;
}

std::vector<uint8_t> SignRecord(const identity::PrivateKey& signer, SignedRecordType type,
                                const DhtKey& key, bool tombstone, std::span<const uint8_t> claim,
                                uint64_t version, uint64_t expiry) {
  std::vector<uint8_t> rec = EncodeSignedRecord(
      type, tombstone, claim, identity::KeyIdOf(signer.public_key()), version, expiry);
  if (rec.empty()) return rec;
  const size_t signed_len = rec.size() - kSignedRecordSignatureSize;
  const identity::Signature sig =
      signer.Sign(SignedRecordMessage(type, key, std::span(rec).first(signed_len)));
  std::copy(sig.begin(), sig.end(), rec.begin() + ptrdiff_t(signed_len));
  return rec;
}

ClaimVerdict VerifyRecord(const DhtKey& key, std::span<const uint8_t> value,
                          const OwnerCertFn& certs, uint64_t now, SignedRecordView* out) {
  SignedRecordView v;
  if (DecodeSignedRecord(value, &v) != SignedRecordError::kNone) return ClaimVerdict::kMalformed;
  const Certificate* cert = certs ? certs(v.owner) : nullptr;
  if (!cert || cert->key_id() != v.owner) return ClaimVerdict::kUnknownOwner;
  if (!identity::VerifySignature(cert->fields.public_key,
                                 SignedRecordMessage(v.type, key, v.signed_part), v.signature))
    return ClaimVerdict::kBadSignature;
  if (v.expiry <= now) return ClaimVerdict::kExpired;
  if (!v.tombstone) {
    std::string_view name;
    std::span<const uint8_t> payload;
    if (!DecodeClaim(v.claim, &name, &payload)) return ClaimVerdict::kMalformed;
    if (HashDhtKey(name) != key) return ClaimVerdict::kWrongKey;
    const ClaimVerdict p = Permitted(v.type, name, payload, *cert);
    if (p != ClaimVerdict::kOk) return p;
  }
  if (out) *out = v;
  return ClaimVerdict::kOk;
}

ClaimVerdict CheckSuccession(const SignedRecordView* stored, const SignedRecordView& incoming) {
  if (!stored) return incoming.tombstone ? ClaimVerdict::kNothingToRemove : ClaimVerdict::kOk;
  if (stored->owner != incoming.owner) return ClaimVerdict::kOwnerChanged;
  if (incoming.version <= stored->version) return ClaimVerdict::kNotNewer;
  return ClaimVerdict::kOk;
}

std::optional<size_t> NewestValidRecord(const DhtKey& key, std::span<const DhtRecord> values,
                                        const OwnerCertFn& certs, uint64_t now,
                                        ClaimCounters* counters) {
  std::optional<size_t> best;
  SignedRecordView best_view;
  std::vector<SignedRecordView> tombstones;
  for (size_t i = 0; i < values.size(); ++i) {
    SignedRecordView v;
    const ClaimVerdict verdict = VerifyRecord(key, values[i].value, certs, now, &v);
    if (counters) counters->Count(verdict);
    if (verdict != ClaimVerdict::kOk) continue;
    if (v.tombstone) {
      tombstones.push_back(v);
    } else if (!best || v.version > best_view.version) {
      best = i;
      best_view = v;
    }
  }
  // A tombstone hides only its own owner's older record: it carries no claim to check.
  for (const SignedRecordView& t : tombstones)
    if (best && t.owner == best_view.owner && t.version > best_view.version) return std::nullopt;
  return best;
}

}  // namespace ipop::cp

// Fuzzes the DHT codec and the store behind it.
//
// The whole input is first decoded as one message; a message that decodes must re-encode to the
// same bytes (the encoding is canonical). Then the input is read as frames [length (2, big
// endian)][message] applied in turn to one small DhtStore: CREATE/PUT/GET/REMOVE as requests,
// REPLICATE records as merges, the low 16 bits of the request id advance the clock (ms). After
// every frame the store's accounting is checked against its limits.
#include <cstdint>
#include <cstring>
#include <vector>

#include "controlplane/dht/dht_messages.h"
#include "controlplane/dht/dht_store.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop::cp;

void CheckRoundTrip(std::span<const uint8_t> bytes) {
  DhtMessage m;
  if (DecodeDhtMessage(bytes, &m) != DhtMsgError::kNone) return;
  std::vector<uint8_t> again(DhtMessageSize(m));
  if (again.size() != bytes.size()) __builtin_trap();
  if (EncodeDhtMessage(m, again) != bytes.size()) __builtin_trap();
  if (std::memcmp(again.data(), bytes.data(), bytes.size()) != 0) __builtin_trap();
}

void Apply(const DhtMessage& m, DhtStore& store) {
  std::vector<DhtRecord> got;
  switch (m.type) {
    case DhtMsgType::kCreate:
      store.Create(m.key, m.value, m.owner, m.ttl_ms, m.version);
      break;
    case DhtMsgType::kPut:
      store.Put(m.key, m.value, m.owner, m.ttl_ms, m.version);
      break;
    case DhtMsgType::kRemove:
      store.Remove(m.key, m.value, m.owner);
      break;
    case DhtMsgType::kReplicate:
      for (size_t i = 0; i < m.record_count; ++i)
        store.Merge(ToDhtRecord(m.key, m.records[i]),
                    (m.flags & kDhtFlagRepair) ? DhtMergeMode::kRepair : DhtMergeMode::kHandover);
      break;
    case DhtMsgType::kGet:
    case DhtMsgType::kReply:
      break;
  }
  store.Get(m.key, &got);
  const DhtStoreLimits& l = store.limits();
  if (got.size() > l.max_values_per_key) __builtin_trap();
  bool exclusive = false;
  for (const DhtRecord& r : got) {
    if (r.value.size() > l.max_value_bytes || r.ttl_ms == 0 || r.ttl_ms > l.max_ttl_ms)
      __builtin_trap();
    if (store.usage(r.owner).entries > l.max_owner_entries ||
        store.usage(r.owner).bytes > l.max_owner_bytes)
      __builtin_trap();
    exclusive |= r.exclusive;
  }
  if (exclusive && got.size() != 1) __builtin_trap();
  if (store.bytes_used() > l.max_total_bytes) __builtin_trap();
  if (store.value_count() > store.key_count() * l.max_values_per_key) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckRoundTrip({data, size});

  testing::FakeClock clock;
  DhtStoreLimits limits;
  limits.max_value_bytes = 64;
  limits.max_values_per_key = 4;
  limits.max_owner_entries = 8;
  limits.max_owner_bytes = 8 * (kDhtValueOverhead + 32);
  limits.max_total_bytes = 16 * (kDhtValueOverhead + 64 + kDhtKeyOverhead);
  limits.max_ttl_ms = 60'000;
  DhtStore store(clock, limits);
  size_t pos = 0;
  while (size - pos >= 2) {
    const size_t len = size_t(data[pos]) << 8 | data[pos + 1];
    pos += 2;
    if (size - pos < len) break;
    const std::span<const uint8_t> frame(data + pos, len);
    pos += len;
    CheckRoundTrip(frame);
    DhtMessage m;
    if (DecodeDhtMessage(frame, &m) != DhtMsgError::kNone) continue;
    clock.AdvanceMs(m.request_id & 0xffff);
    Apply(m, store);
    store.Expire(4);
  }
  return 0;
}

#include "controlplane/dht/dht_service.h"

#include <algorithm>

namespace ipop::cp {
namespace {

using overlay::DeliveryMode;
using overlay::RingAddress;

// First payload byte: how the DHT message reached this node.
constexpr uint8_t kEnvToCoordinator = 1;  // client -> node nearest the key
constexpr uint8_t kEnvFanout = 2;         // coordinator -> other replica; client address follows
constexpr uint8_t kEnvDirect = 3;         // to this node in particular: replies, repair, handover
constexpr size_t kFanoutHeader = 1 + RingAddress::kBytes;
constexpr size_t kBodyBudget = overlay::kMaxRoutedPayload - kFanoutHeader;

RingAddress ToAddress(const DhtKey& k) {
  return RingAddress::FromBytes(std::span<const uint8_t, RingAddress::kBytes>(k));
}
DhtKey ToKey(const RingAddress& a) {
  DhtKey k;
  a.ToBytes(k);
  return k;
}
DhtKey Predecessor(const DhtKey& k) {
  DhtKey one{};
  one.back() = 1;
  return ToKey(ToAddress(k) - ToAddress(one));
}

}  // namespace

DhtService::DhtService(overlay::OverlayNode& node, Clock& clock, RandomSource& random,
                       const DhtServiceOptions& options)
    : node_(node),
      clock_(clock),
      random_(random),
      options_(options),
      store_(clock, options.store),
      limiter_(options.rate_limit) {
  if (options_.replicas == 0) options_.replicas = 1;
  if (options_.max_attempts == 0) options_.max_attempts = 1;
}

uint64_t DhtService::NewRequestId() {
  // Unpredictable, so nobody off the path can answer for a replica; never 0 (0 asks for no
  // reply) and never one in flight.
  for (;;) {
    uint8_t b[8];
    random_.Fill(b);
    uint64_t id = 0;
    for (uint8_t x : b) id = (id << 8) | x;
    if (id != 0 && !in_flight_.contains(id)) return id;
  }
}

std::vector<uint64_t> DhtService::RequestIdsInFlight() const {
  std::vector<uint64_t> out;
  for (const auto& [id, op] : in_flight_) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

size_t DhtService::StateBytes() const {
  size_t ops = 0;
  for (const auto& [id, op] : ops_) ops += sizeof(op) + op.value.capacity() + 32 + 24;
  return sizeof(*this) + store_.bytes_used() + ops + limiter_.sources() * (sizeof(DhtKey) + 32) +
         handover_near_.capacity() * sizeof(RingAddress);
}

// ---- client -------------------------------------------------------------------------------

void DhtService::Put(const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms,
                     DhtDoneFn done) {
  Start(DhtMsgType::kPut, key, value, ttl_ms, std::move(done));
}
void DhtService::Create(const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms,
                        DhtDoneFn done, DhtCreateMode mode) {
  Start(DhtMsgType::kCreate, key, value, ttl_ms, std::move(done), mode);
}
void DhtService::Get(const DhtKey& key, DhtDoneFn done) {
  Start(DhtMsgType::kGet, key, {}, 0, std::move(done));
}
void DhtService::Remove(const DhtKey& key, std::span<const uint8_t> value, DhtDoneFn done) {
  Start(DhtMsgType::kRemove, key, value, 0, std::move(done));
}

void DhtService::Start(DhtMsgType type, const DhtKey& key, std::span<const uint8_t> value,
                       uint32_t ttl_ms, DhtDoneFn done, DhtCreateMode mode) {
  ++counters_.ops_started;
  const uint64_t id = next_op_id_++;
  Op& op = ops_[id];
  op.type = type;
  op.create_mode = mode;
  op.key = key;
  op.value.assign(value.begin(), value.end());
  op.ttl_ms = ttl_ms;
  op.version = clock_.WallNs();
  op.started_ns = clock_.NowNs();
  op.done = std::move(done);
  if (value.size() + kDhtWriteFixedSize > kBodyBudget) {
    // Cannot be carried at all: fail at the next tick without asking anyone.
    op.attempt = options_.max_attempts;
    op.decide_ns = op.started_ns;
    op.answers.push_back({node_.address(), DhtStatus::kValueTooLarge, {}});
    return;
  }
  SendAttempt(id, op);
}

void DhtService::SendAttempt(uint64_t op_id, Op& op) {
  ++op.attempt;
  op.answers.clear();
  op.deadline_ns = clock_.NowNs() +
                   std::min(options_.max_attempt_timeout_ns,
                            options_.attempt_timeout_ns << std::min<uint32_t>(op.attempt - 1, 16));
  op.decide_ns = UINT64_MAX;
  // Replies to an earlier attempt are stale from now on.
  if (op.request_id != 0) in_flight_.erase(op.request_id);
  op.request_id = NewRequestId();
  in_flight_[op.request_id] = op_id;
  DhtMessage m;
  m.type = op.type;
  m.request_id = op.request_id;
  m.key = op.key;
  m.owner = ToKey(node_.address());  // informative only: replicas use the routed source
  m.ttl_ms = op.ttl_ms;
  m.version = op.version;
  m.value = op.value;
  uint8_t body[kBodyBudget];
  const size_t n = EncodeDhtMessage(m, body);
  // The coordinator may be this node: the reply can arrive before SendTo returns, into `op`.
  SendTo(ToAddress(op.key), DeliveryMode::kNearest, kEnvToCoordinator, nullptr, {body, n});
}

void DhtService::OnReply(const RingAddress& from, const DhtMessage& m) {
  ++counters_.replies;
  const auto f = in_flight_.find(m.request_id);
  if (f == in_flight_.end()) {
    ++counters_.replies_unknown_id;
    return;
  }
  const auto it = ops_.find(f->second);
  if (it == ops_.end() || it->second.key != m.key) {
    ++counters_.replies_stale;
    return;
  }
  if (!CouldBeReplica(m.key, from)) {
    ++counters_.replies_not_replica;
    return;
  }
  Op& op = it->second;
  for (const Answer& a : op.answers)
    if (a.from == from) return;  // a duplicate (the overlay may deliver twice)
  Answer a{from, m.status, {}};
  for (size_t i = 0; i < m.record_count; ++i) a.records.push_back(ToDhtRecord(m.key, m.records[i]));
  const bool refusal_of_service =
      m.status == DhtStatus::kNotResponsible || m.status == DhtStatus::kOverloaded;
  op.answers.push_back(std::move(a));
  const uint64_t now = clock_.NowNs();
  size_t ok = 0;
  for (const Answer& x : op.answers) ok += x.status == DhtStatus::kOk ? 1 : 0;
  if (op.answers.size() >= options_.replicas) {
    op.decide_ns = now;
  } else if (ok >= DhtMajority(options_.replicas) || refusal_of_service ||
             op.answers.size() >= DhtMajority(options_.replicas)) {
    // A coordinator that refuses does not fan out: waiting for the timeout would be in vain.
    op.decide_ns = std::min(op.decide_ns, now + options_.quorum_grace_ns);
  }
}

bool DhtService::CouldBeReplica(const DhtKey& key, const RingAddress& from) const {
  if (from == node_.address()) return true;
  const RingAddress k = ToAddress(key);
  size_t closer = overlay::CloserTo(k, node_.address(), from) ? 1 : 0;
  for (const overlay::Link& l : node_.links().links())
    if (l.structured() && l.address != from && overlay::CloserTo(k, l.address, from)) ++closer;
  // One of slack, as for handover: a link that died may still be in our table.
  return closer < options_.replicas + 1;
}

bool DhtService::Decide(Op& op, Finished* out) {
  const size_t r = options_.replicas;
  // Majorities are of R, not of who answered: pad with silent replicas, keep the first R.
  const size_t n = std::min(op.answers.size(), r);
  const bool last_attempt = op.attempt >= options_.max_attempts;
  out->result.attempts = op.attempt;
  out->result.latency_ns = clock_.NowNs() - op.started_ns;
  if (op.type == DhtMsgType::kGet) {
    std::vector<DhtGetReply> replies(r);
    for (size_t i = 0; i < n; ++i) replies[i] = {true, op.answers[i].status, op.answers[i].records};
    DhtGetOutcome g = ResolveGet(replies);
    if (!g.quorum && !last_attempt) return false;
    for (const DhtRepair& rep : g.repairs) {
      if (rep.replica >= n || rep.records.empty()) continue;
      ++counters_.read_repairs_sent;
      SendRecords(op.answers[rep.replica].from, op.key, true, rep.records);
    }
    out->result.outcome = g.quorum ? DhtOutcome::kOk : DhtOutcome::kNoQuorum;
    if (!g.quorum) {
      for (size_t i = 0; i < n; ++i)
        if (op.answers[i].status != DhtStatus::kOk) out->result.reason = op.answers[i].status;
    }
    out->result.values = std::move(g.values);
    return true;
  }
  std::vector<DhtWriteReply> replies(r);
  for (size_t i = 0; i < n; ++i) replies[i] = {true, op.answers[i].status};
  const bool create = op.type == DhtMsgType::kCreate;
  const DhtWriteOutcome w =
      DecideWrite(replies, create, create && op.create_mode == DhtCreateMode::kClaim);
  if (w.decision == DhtWriteDecision::kNoQuorum && !last_attempt) return false;
  // Only the answers we keep are indexed by the outcome.
  op.answers.resize(n);
  FinishWrite(op, w, out);
  return true;
}

void DhtService::FinishWrite(Op& op, const DhtWriteOutcome& w, Finished* out) {
  out->result.reason = w.reason;
  switch (w.decision) {
    case DhtWriteDecision::kSucceeded: {
      out->result.outcome = DhtOutcome::kOk;
      if (op.type != DhtMsgType::kCreate) return;
      // Replicas that gave the key to a rival hold a losing claim: overwrite it with ours.
      const uint64_t elapsed_ms = out->result.latency_ns / 1'000'000;
      if (elapsed_ms >= op.ttl_ms) return;
      DhtRecord rec;
      rec.key = op.key;
      rec.owner = ToKey(node_.address());
      rec.value = op.value;
      rec.ttl_ms = uint32_t(op.ttl_ms - elapsed_ms);
      rec.version = op.version;
      rec.exclusive = true;
      for (size_t i : w.repair) {
        ++counters_.create_repairs_sent;
        SendRecords(op.answers[i].from, op.key, true, {&rec, 1});
      }
      return;
    }
    case DhtWriteDecision::kRejected:
    case DhtWriteDecision::kNoQuorum:
      out->result.outcome =
          w.decision == DhtWriteDecision::kRejected ? DhtOutcome::kRejected : DhtOutcome::kNoQuorum;
      if (op.type == DhtMsgType::kRemove) return;  // a removal cannot be taken back
      // A renewal only extended our own record where it was applied: keep it there.
      if (op.type == DhtMsgType::kCreate && op.create_mode == DhtCreateMode::kRenew) return;
      for (size_t i : w.rollback) {
        ++counters_.rollbacks_sent;
        DhtMessage m;
        m.type = DhtMsgType::kRemove;
        m.key = op.key;
        m.owner = ToKey(node_.address());
        m.value = op.value;
        uint8_t body[kBodyBudget];
        const size_t len = EncodeDhtMessage(m, body);
        SendTo(op.answers[i].from, DeliveryMode::kExact, kEnvDirect, nullptr, {body, len});
      }
      return;
  }
}

void DhtService::Tick() {
  const uint64_t now = clock_.NowNs();
  // Decisions first; callbacks run last, when no op is being looked at (they may start more).
  std::vector<uint64_t> due;
  for (const auto& [id, op] : ops_)
    if (now >= op.decide_ns || now >= op.deadline_ns) due.push_back(id);
  std::sort(due.begin(), due.end());  // deterministic order for the simulator
  std::vector<Finished> finished;
  for (uint64_t id : due) {
    const auto it = ops_.find(id);
    if (it == ops_.end()) continue;
    Finished f;
    if (Decide(it->second, &f)) {
      f.done = std::move(it->second.done);
      in_flight_.erase(it->second.request_id);
      ops_.erase(it);
      switch (f.result.outcome) {
        case DhtOutcome::kOk:
          ++counters_.ops_ok;
          break;
        case DhtOutcome::kRejected:
          ++counters_.ops_rejected;
          break;
        case DhtOutcome::kNoQuorum:
          ++counters_.ops_no_quorum;
          break;
      }
      finished.push_back(std::move(f));
    } else {
      ++counters_.attempts_retried;
      SendAttempt(id, it->second);
    }
  }

  if (now >= next_tick_ns_) {
    next_tick_ns_ = now + options_.tick_interval_ns;
    store_.Expire(options_.expire_budget);
    std::vector<RingAddress> near = NearLinks();
    if (near != handover_near_) {
      near_changed_ns_ = now;
      if (handover_due_ns_ == 0) handover_due_ns_ = now + options_.handover_delay_ns;
    }
  }
  if (handover_due_ns_ != 0 && now >= handover_due_ns_) {
    handover_due_ns_ = 0;
    Handover(NearLinks());
  }
  for (Finished& f : finished)
    if (f.done) f.done(f.result);
}

uint64_t DhtService::next_wake_ns() const {
  uint64_t t = next_tick_ns_;
  if (handover_due_ns_ != 0) t = std::min(t, handover_due_ns_);
  for (const auto& [id, op] : ops_) t = std::min({t, op.decide_ns, op.deadline_ns});
  return t;
}

// ---- server -------------------------------------------------------------------------------

std::vector<RingAddress> DhtService::StructuredLinks() const {
  std::vector<RingAddress> out;
  for (const overlay::Link& l : node_.links().links())
    if (l.structured()) out.push_back(l.address);
  return out;
}

std::vector<RingAddress> DhtService::NearLinks() const {
  std::vector<RingAddress> out;
  for (const overlay::Link& l : node_.links().links())
    if (l.roles & overlay::kRoleNear) out.push_back(l.address);
  std::sort(out.begin(), out.end());
  return out;
}

bool DhtService::Responsible(const DhtKey& key, size_t slack) const {
  const RingAddress k = ToAddress(key), self = node_.address();
  size_t closer = 0;
  for (const overlay::Link& l : node_.links().links())
    if (l.structured() && overlay::CloserTo(k, l.address, self)) ++closer;
  return closer < options_.replicas + slack;
}

std::vector<RingAddress> DhtService::ReplicaSet(const DhtKey& key,
                                                std::span<const RingAddress> candidates) const {
  const RingAddress k = ToAddress(key);
  std::vector<RingAddress> all(candidates.begin(), candidates.end());
  all.push_back(node_.address());
  const size_t r = std::min(options_.replicas, all.size());
  std::partial_sort(
      all.begin(), all.begin() + ptrdiff_t(r), all.end(),
      [&](const RingAddress& a, const RingAddress& b) { return overlay::CloserTo(k, a, b); });
  all.resize(r);
  return all;
}

bool DhtService::OnRouted(const overlay::Routed& r) {
  if (r.payload_type != kPayloadDht) return false;
  const std::span<const uint8_t> p = r.payload;
  if (p.empty() || p[0] < kEnvToCoordinator || p[0] > kEnvDirect ||
      (p[0] == kEnvFanout && p.size() < kFanoutHeader)) {
    ++counters_.bad_envelope;
    return true;
  }
  const uint8_t envelope = p[0];
  const size_t header = envelope == kEnvFanout ? kFanoutHeader : 1;
  const std::span<const uint8_t> body = p.subspan(header);
  DhtMessage m;
  if (DecodeDhtMessage(body, &m) != DhtMsgError::kNone) {
    ++counters_.decode_errors;
    return true;
  }
  switch (m.type) {
    case DhtMsgType::kReply:
      if (envelope != kEnvDirect) break;
      OnReply(r.source, m);
      return true;
    case DhtMsgType::kReplicate:
      if (envelope != kEnvDirect) break;
      OnReplicate(m);
      return true;
    default: {
      // The client is the routed source, or for a forwarded request the node the coordinator
      // heard it from (with the network secret every member is trusted to say so).
      const RingAddress origin = envelope == kEnvFanout
                                     ? RingAddress::FromBytes(p.subspan<1, RingAddress::kBytes>())
                                     : r.source;
      OnRequest(origin, envelope, m, body);
      return true;
    }
  }
  ++counters_.unexpected_type;
  return true;
}

DhtStatus DhtService::CheckWrite(DhtMsgType op, const DhtKey& key, const DhtOwner& owner,
                                 std::span<const uint8_t> value) {
  if (!write_check_) return DhtStatus::kOk;
  std::vector<DhtRecord> stored;
  DhtRangeReader(store_, Predecessor(key), key).Next(1, &stored);
  const DhtStatus s = write_check_(op, key, owner, value, stored);
  if (s != DhtStatus::kOk) ++counters_.writes_unauthorized;
  return s;
}

DhtStatus DhtService::Apply(const DhtMessage& m, const DhtOwner& owner,
                            std::vector<DhtRecord>* out) {
  if (m.type == DhtMsgType::kCreate || m.type == DhtMsgType::kPut ||
      m.type == DhtMsgType::kRemove) {
    const DhtStatus s = CheckWrite(m.type, m.key, owner, m.value);
    if (s != DhtStatus::kOk) return s;
  }
  switch (m.type) {
    case DhtMsgType::kCreate:
      if (near_changed_ns_ != 0 && clock_.NowNs() - near_changed_ns_ < options_.create_settle_ns &&
          !store_.HasLive(m.key)) {
        ++counters_.creates_settling;
        return DhtStatus::kNotResponsible;
      }
      return store_.Create(m.key, m.value, owner, m.ttl_ms, m.version);
    case DhtMsgType::kPut:
      return store_.Put(m.key, m.value, owner, m.ttl_ms, m.version);
    case DhtMsgType::kGet:
      store_.Get(m.key, out);
      return DhtStatus::kOk;
    case DhtMsgType::kRemove:
      return store_.Remove(m.key, m.value, owner);
    default:
      return DhtStatus::kOk;  // not a request; filtered by the caller
  }
}

void DhtService::OnRequest(const RingAddress& origin, uint8_t envelope, const DhtMessage& m,
                           std::span<const uint8_t> body) {
  ++counters_.requests;
  const bool wants_reply = m.request_id != 0;
  if (!limiter_.Allow(ToKey(origin), clock_.NowNs())) {
    ++counters_.rate_limited;
    if (wants_reply) SendReply(origin, m.request_id, m.key, DhtStatus::kOverloaded, {});
    return;
  }
  if (!Responsible(m.key)) {
    ++counters_.not_responsible;
    if (wants_reply) SendReply(origin, m.request_id, m.key, DhtStatus::kNotResponsible, {});
    return;
  }
  if (envelope == kEnvToCoordinator) {
    const std::vector<RingAddress> links = StructuredLinks();
    for (const RingAddress& a : ReplicaSet(m.key, links)) {
      if (a == node_.address()) continue;
      ++counters_.fanouts_sent;
      SendTo(a, DeliveryMode::kExact, kEnvFanout, &origin, body);
    }
  }
  std::vector<DhtRecord> records;
  const DhtStatus s = Apply(m, ToKey(origin), &records);
  if (wants_reply) SendReply(origin, m.request_id, m.key, s, records);
}

void DhtService::OnReplicate(const DhtMessage& m) {
  // One node of slack: the sender may have noticed a death (or a join) before we did, and the
  // records are only handed over once. An extra copy is harmless (it expires; while we count
  // ourselves out we answer kNotResponsible for it).
  if (!Responsible(m.key, 1)) {
    counters_.replicate_refused += m.record_count;
    return;
  }
  const DhtMergeMode mode =
      (m.flags & kDhtFlagRepair) ? DhtMergeMode::kRepair : DhtMergeMode::kHandover;
  for (size_t i = 0; i < m.record_count; ++i) {
    const DhtRecord rec = ToDhtRecord(m.key, m.records[i]);
    DhtStatus s = CheckWrite(DhtMsgType::kReplicate, m.key, rec.owner, rec.value);
    if (s == DhtStatus::kOk) s = store_.Merge(rec, mode);
    if (s == DhtStatus::kOk)
      ++counters_.replicate_records;
    else
      ++counters_.replicate_refused;
  }
}

void DhtService::Handover(const std::vector<RingAddress>& near) {
  ++counters_.handovers;
  const std::vector<RingAddress> old_near = std::move(handover_near_);
  handover_near_ = near;
  const RingAddress self = node_.address();
  std::vector<DhtKey> drop;
  DhtRangeReader reader(store_, DhtKey{}, DhtKey{});
  std::vector<DhtRecord> batch;
  for (;;) {
    batch.clear();
    const bool more = reader.Next(64, &batch);
    for (size_t i = 0; i < batch.size();) {
      size_t j = i;
      while (j < batch.size() && batch[j].key == batch[i].key) ++j;
      const DhtKey& key = batch[i].key;
      const std::vector<RingAddress> before = ReplicaSet(key, old_near);
      const std::vector<RingAddress> after = ReplicaSet(key, near);
      const bool keep = std::find(after.begin(), after.end(), self) != after.end();
      bool sent = false;
      for (const RingAddress& a : after) {
        if (a == self) continue;
        // A node that stays in the set already has the key, unless we are leaving it (then
        // everyone gets our copy, as we are the one that may hold values they lack).
        if (keep && std::find(before.begin(), before.end(), a) != before.end()) continue;
        SendRecords(a, key, false, {batch.data() + i, j - i});
        sent = true;
      }
      counters_.handover_keys += sent ? 1 : 0;
      if (!keep) drop.push_back(key);
      i = j;
    }
    if (!more) break;
  }
  for (const DhtKey& k : drop)
    counters_.keys_dropped += store_.DropRange(Predecessor(k), k) ? 1 : 0;
}

// ---- sending ------------------------------------------------------------------------------

void DhtService::SendTo(const RingAddress& to, DeliveryMode mode, uint8_t envelope,
                        const RingAddress* origin, std::span<const uint8_t> body) {
  uint8_t payload[overlay::kMaxRoutedPayload];
  size_t n = 0;
  payload[n++] = envelope;
  if (origin) {
    origin->ToBytes(std::span<uint8_t, RingAddress::kBytes>(payload + n, RingAddress::kBytes));
    n += RingAddress::kBytes;
  }
  if (body.empty() || n + body.size() > sizeof(payload)) return;
  std::copy(body.begin(), body.end(), payload + n);
  n += body.size();
  ++counters_.messages_sent;
  if (mode == DeliveryMode::kExact && to == node_.address()) {
    // To ourselves: the overlay would deliver it too, but there is no need to ask it.
    overlay::Routed r;
    r.mode = mode;
    r.source = node_.address();
    r.key = to;
    r.payload_type = kPayloadDht;
    r.payload = {payload, n};
    OnRouted(r);
    return;
  }
  if (!node_.SendRouted(to, mode, kPayloadDht, {payload, n})) ++counters_.send_failed;
}

void DhtService::SendReply(const RingAddress& to, uint64_t request_id, const DhtKey& key,
                           DhtStatus status, std::span<const DhtRecord> records) {
  DhtMessage m;
  m.type = DhtMsgType::kReply;
  m.status = status;
  m.request_id = request_id;
  m.key = key;
  size_t bytes = kDhtRecordsFixedSize;
  for (const DhtRecord& r : records) {
    if (m.record_count == kDhtMaxRecords ||
        bytes + kDhtRecordFixedSize + r.value.size() > kBodyBudget) {
      m.flags = kDhtFlagTruncated;
      break;
    }
    bytes += kDhtRecordFixedSize + r.value.size();
    m.records[m.record_count++] = ToDhtRecordView(r);
  }
  uint8_t body[kBodyBudget];
  const size_t n = EncodeDhtMessage(m, body);
  SendTo(to, DeliveryMode::kExact, kEnvDirect, nullptr, {body, n});
}

void DhtService::SendRecords(const RingAddress& to, const DhtKey& key, bool repair,
                             std::span<const DhtRecord> records) {
  size_t i = 0;
  while (i < records.size()) {
    DhtMessage m;
    m.type = DhtMsgType::kReplicate;
    m.flags = repair ? kDhtFlagRepair : 0;
    m.key = key;
    size_t bytes = kDhtRecordsFixedSize;
    while (i < records.size() && m.record_count < kDhtMaxRecords &&
           bytes + kDhtRecordFixedSize + records[i].value.size() <= kBodyBudget) {
      bytes += kDhtRecordFixedSize + records[i].value.size();
      m.records[m.record_count++] = ToDhtRecordView(records[i++]);
    }
    if (m.record_count == 0) return;  // a record larger than a message: cannot travel
    uint8_t body[kBodyBudget];
    const size_t n = EncodeDhtMessage(m, body);
    if (!repair) ++counters_.handover_messages;
    SendTo(to, DeliveryMode::kExact, kEnvDirect, nullptr, {body, n});
  }
}

}  // namespace ipop::cp

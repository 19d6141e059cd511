#include "controlplane/directory/address_claim.h"

#include <algorithm>
#include <utility>

#include "controlplane/dht/dht_key.h"
#include "controlplane/runtime/log.h"
#include "shared/endpoint.h"

namespace ipop::cp {

AddressClaim::AddressClaim(const AddressClaimOptions& options, ClaimStore& store, Clock& clock,
                           KeyFn key_of)
    : options_(options), store_(store), clock_(clock), key_of_(std::move(key_of)) {
  if (options_.fixed != 0) {
    options_.pool_first = options_.pool_last = options_.fixed;
    vip_ = options_.fixed;  // in use from the start; withdrawn only on a conflict
    return;
  }
  const uint64_t size = pool_size();
  if (size == 0) return;
  if (options_.hint >= options_.pool_first && options_.hint <= options_.pool_last &&
      !Excluded(options_.hint)) {
    start_ = options_.hint - options_.pool_first;
  } else {
    const DhtKey h = HashDhtKey("ipop address\n" + options_.network + "\n" + options_.identity);
    uint64_t seed = 0;
    for (size_t i = 0; i < 8; ++i) seed = seed << 8 | h[i];
    start_ = seed % size;
  }
}

uint64_t AddressClaim::pool_size() const {
  if (options_.pool_last < options_.pool_first) return 0;
  return uint64_t{options_.pool_last} - options_.pool_first + 1;
}

uint32_t AddressClaim::Candidate(uint64_t i) const {
  const uint64_t size = pool_size();
  if (size == 0) return 0;
  return uint32_t(options_.pool_first + (start_ + i) % size);
}

bool AddressClaim::Excluded(uint32_t ip) const {
  return std::find(options_.excluded.begin(), options_.excluded.end(), ip) !=
         options_.excluded.end();
}

void AddressClaim::SetValue(std::vector<uint8_t> value) {
  value_ = std::move(value);
}

void AddressClaim::Tick() {
  if (stopped_ || in_flight_ || pool_size() == 0) return;
  if (clock_.NowNs() < next_ns_) return;
  if (held_) {
    Renew();
  } else {
    TryCandidate();
  }
}

void AddressClaim::RenewSoon() {
  if (held_ && !in_flight_) next_ns_ = 0;
}

void AddressClaim::TryCandidate() {
  if (confirming_ != 0) {
    SendClaim(confirming_);
    return;
  }
  const uint64_t size = pool_size();
  const uint32_t per_round =
      uint32_t(std::min<uint64_t>(std::max<uint32_t>(options_.candidates_per_round, 1), size));
  uint32_t candidate = 0;
  // Excluded addresses are skipped without costing a try; a pool of only excluded ones is empty.
  for (uint64_t skipped = 0; skipped < size; ++skipped) {
    candidate = Candidate(next_index_);
    if (!Excluded(candidate)) break;
    ++next_index_;
    candidate = 0;
  }
  if (candidate == 0 || round_tries_ >= per_round) {
    ++counters_.exhausted;
    IPOP_LOG_WARN("network %s: no free address among %u tried of %s..%s; retrying in %llu s",
                  options_.network.c_str(), round_tries_, FormatIpv4(options_.pool_first).c_str(),
                  FormatIpv4(options_.pool_last).c_str(),
                  (unsigned long long)(options_.retry_ns / 1'000'000'000ull));
    round_tries_ = 0;
    next_ns_ = clock_.NowNs() + options_.retry_ns;
    return;
  }
  ++round_tries_;
  ++counters_.attempts;
  SendClaim(candidate);
}

void AddressClaim::SendClaim(uint32_t candidate) {
  Write(candidate, DhtCreateMode::kClaim, &AddressClaim::OnClaimResult);
}

void AddressClaim::Write(uint32_t vip, DhtCreateMode mode, ResultFn then) {
  in_flight_ = true;
  std::vector<uint8_t> value = value_;
  store_.Create(key_of_(vip), value, options_.lease_ms, mode,
                [this, vip, value, then](const DhtResult& res) {
                  in_flight_ = false;
                  if (stopped_) return;
                  if (res.outcome == DhtOutcome::kOk) written_ = value;
                  (this->*then)(vip, res);
                });
}

void AddressClaim::OnClaimResult(uint32_t candidate, const DhtResult& res) {
  const uint64_t now = clock_.NowNs();
  const bool confirming = confirming_ != 0;
  if (res.outcome == DhtOutcome::kOk) {
    if (!confirming && options_.confirm_ns != 0) {
      confirming_ = candidate;
      next_ns_ = now + options_.confirm_ns;
      return;
    }
    Adopt(candidate);
    return;
  }
  if (res.outcome == DhtOutcome::kRejected && res.reason == DhtStatus::kKeyExists) {
    ++counters_.conflicts;
    confirming_ = 0;
    if (options_.fixed != 0) {
      IPOP_LOG_ERROR(
          "network %s: node.vip %s is held by another node; not using it (retrying every %llu s)",
          options_.network.c_str(), FormatIpv4(candidate).c_str(),
          (unsigned long long)(options_.retry_ns / 1'000'000'000ull));
      Set(0, false);
      round_tries_ = 0;
      next_ns_ = now + options_.retry_ns;
      return;
    }
    ++next_index_;
    next_ns_ = now;
    return;
  }
  ++counters_.undecided;
  next_ns_ = now + RetryDelay(res);
}

void AddressClaim::Adopt(uint32_t candidate) {
  ++counters_.acquired;
  confirming_ = 0;
  round_tries_ = 0;
  next_ns_ = clock_.NowNs() + options_.refresh_ns;
  IPOP_LOG_INFO("network %s: address %s %s (lease %u s)", options_.network.c_str(),
                FormatIpv4(candidate).c_str(),
                options_.fixed != 0 ? "claimed as configured" : "allocated",
                options_.lease_ms / 1000);
  Set(candidate, true);
}

void AddressClaim::Renew() {
  Write(vip_, DhtCreateMode::kRenew, &AddressClaim::OnRenewResult);
}

void AddressClaim::OnRenewResult(uint32_t vip, const DhtResult& res) {
  const uint64_t now = clock_.NowNs();
  if (res.outcome == DhtOutcome::kOk) {
    ++counters_.renewals;
    next_ns_ = now + options_.refresh_ns;
    return;
  }
  if (res.outcome == DhtOutcome::kRejected && res.reason == DhtStatus::kKeyExists) {
    ++counters_.lost;
    IPOP_LOG_ERROR("network %s: address %s is now held by another node; giving it up",
                   options_.network.c_str(), FormatIpv4(vip).c_str());
    Set(0, false);
    if (options_.fixed == 0) ++next_index_;
    next_ns_ = options_.fixed != 0 ? now + options_.retry_ns : now;
    return;
  }
  // Undecided: our record is still live on most replicas (renewals run well inside the lease).
  ++counters_.undecided;
  next_ns_ = now + RetryDelay(res);
}

uint64_t AddressClaim::RetryDelay(const DhtResult& res) const {
  const bool settling =
      res.outcome == DhtOutcome::kRejected && res.reason == DhtStatus::kNotResponsible;
  return settling ? std::min(options_.settle_retry_ns, options_.retry_ns) : options_.retry_ns;
}

void AddressClaim::Set(uint32_t vip, bool held) {
  held_ = held;
  if (vip == vip_) return;
  vip_ = vip;
  if (changed_) changed_(vip);
}

void AddressClaim::Release(std::function<void()> done) {
  stopped_ = true;
  if (!held_ && confirming_ != 0) {  // our record may be live: take it back too
    held_ = true;
    vip_ = confirming_;
  }
  if (!held_) {
    if (done) done();
    return;
  }
  const uint32_t vip = vip_;
  held_ = false;
  store_.Remove(key_of_(vip), written_, [this, vip, done](const DhtResult& res) {
    if (res.outcome == DhtOutcome::kOk) {
      ++counters_.released;
      IPOP_LOG_INFO("network %s: address %s released", options_.network.c_str(),
                    FormatIpv4(vip).c_str());
    }
    if (done) done();
  });
}

}  // namespace ipop::cp

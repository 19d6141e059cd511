#include "tools/sim/dht_workload.h"

#include <algorithm>

namespace ipop::sim {
namespace {

cp::DhtKey KeyOf(const RingAddress& a) {
  cp::DhtKey k;
  a.ToBytes(k);
  return k;
}

}  // namespace

DhtWorkload::DhtWorkload(Simulator& sim, const DhtWorkloadOptions& options)
    : sim_(sim), options_(options) {}

size_t DhtWorkload::RandomClient(const std::vector<size_t>& live) {
  // A node that is not in the ring yet would wait before using the DHT.
  for (int tries = 0; tries < 8; ++tries) {
    const size_t i = live[sim_.random().Next() % live.size()];
    if (sim_.node(i).links().CountWithRole(cp::overlay::kRoleNear) > 0) return i;
  }
  return SIZE_MAX;
}

void DhtWorkload::Step(uint64_t step_ns) {
  const std::vector<size_t> live = sim_.LiveNodes();
  if (live.empty()) return;
  const double step_s = double(step_ns) * 1e-9;
  put_credit_ += options_.puts_per_node_min / 60.0 * double(live.size()) * step_s;
  get_credit_ +=
      options_.puts_per_node_min / 60.0 * options_.gets_per_put * double(live.size()) * step_s;
  for (; put_credit_ >= 1; put_credit_ -= 1) {
    const size_t c = RandomClient(live);
    if (c != SIZE_MAX) IssuePut(c);
  }
  for (; get_credit_ >= 1; get_credit_ -= 1) {
    const size_t c = RandomClient(live);
    if (c != SIZE_MAX) IssueGet(c);
  }
}

void DhtWorkload::IssuePut(size_t client) {
  Written w;
  w.key = KeyOf(RingAddress::Random(sim_.random()));
  w.owner = KeyOf(sim_.node(client).address());
  w.value.resize(options_.value_bytes);
  sim_.random().Fill(w.value);
  const double ttl_s =
      options_.ttl_min_s + sim_.random().Unit() * (options_.ttl_max_s - options_.ttl_min_s);
  const uint32_t ttl_ms = uint32_t(ttl_s * 1000);
  w.expires_ns = sim_.now_ns() + uint64_t(ttl_ms) * 1'000'000ull;
  ++stats_.puts_issued;
  const std::vector<uint8_t> value = w.value;
  sim_.dht(client).Put(w.key, value, ttl_ms, [this, w = std::move(w)](const cp::DhtResult& r) {
    ++completed_;
    latencies_ms_.push_back(double(r.latency_ns) * 1e-6);
    attempts_sum_ += r.attempts;
    if (r.outcome == cp::DhtOutcome::kOk) {
      ++stats_.puts_ok;
      written_.push_back(w);
    } else {
      ++stats_.puts_failed;
    }
  });
  sim_.Poke(client);
}

void DhtWorkload::IssueGet(size_t client) {
  // A key written earlier with at least 10 s to live (no read races the expiry).
  const uint64_t horizon = sim_.now_ns() + 10'000'000'000ull;
  while (!written_.empty()) {
    const size_t k = sim_.random().Next() % written_.size();
    if (written_[k].expires_ns > horizon) {
      const Written w = written_[k];
      ++stats_.gets_issued;
      sim_.dht(client).Get(w.key, [this, w](const cp::DhtResult& r) {
        ++completed_;
        latencies_ms_.push_back(double(r.latency_ns) * 1e-6);
        attempts_sum_ += r.attempts;
        if (r.outcome != cp::DhtOutcome::kOk) {
          ++stats_.gets_no_quorum;
          return;
        }
        const bool found = std::any_of(r.values.begin(), r.values.end(), [&](const auto& v) {
          return v.owner == w.owner && v.value == w.value;
        });
        ++(found ? stats_.gets_ok : stats_.gets_missing);
      });
      sim_.Poke(client);
      return;
    }
    written_[k] = std::move(written_.back());
    written_.pop_back();
  }
}

DhtWorkloadStats DhtWorkload::Stats(double live_node_seconds) const {
  DhtWorkloadStats s = stats_;
  s.abandoned = s.puts_issued + s.gets_issued - completed_;
  if (!latencies_ms_.empty()) {
    std::vector<double> l = latencies_ms_;
    std::sort(l.begin(), l.end());
    double sum = 0;
    for (double x : l) sum += x;
    s.latency_mean_ms = sum / double(l.size());
    s.latency_p99_ms = l[std::min(l.size() - 1, l.size() * 99 / 100)];
    s.attempts_mean = attempts_sum_ / double(l.size());
  }
  uint64_t msgs = 0;
  for (size_t i = 0; i < sim_.size(); ++i) msgs += sim_.dht(i).counters().messages_sent;
  if (live_node_seconds > 0) s.dht_msgs_per_node_s = double(msgs) / live_node_seconds;
  return s;
}

}  // namespace ipop::sim

#include "tools/sim/scenarios.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace ipop::sim {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr uint64_t kStep = 100'000'000ull;  // scenario actions happen on 100 ms steps

uint64_t Ns(double s) {
  return uint64_t(s * 1e9);
}

}  // namespace

ScenarioReport RunScenario(const ScenarioOptions& o) {
  ScenarioReport rep;
  const auto wall_start = std::chrono::steady_clock::now();
  const bool mass = o.scenario == "mass-join", churn = o.scenario == "churn",
             loss = o.scenario == "bootstrap-loss", part = o.scenario == "partition",
             dht = o.scenario == "dht";
  if (!mass && !churn && !loss && !part && !dht) {
    rep.error =
        "unknown scenario '" + o.scenario + "' (mass-join, churn, bootstrap-loss, partition, dht)";
    return rep;
  }
  if (o.nodes < 2 || o.bootstrap < 1 || o.bootstrap > o.nodes || o.duration_s < 30) {
    rep.error = "need nodes >= 2, 1 <= bootstrap <= nodes, duration >= 30";
    return rep;
  }
  SimOptions so = o.sim;
  so.seed = o.seed;
  Simulator sim(so);
  std::unique_ptr<DhtWorkload> workload;
  if (churn || dht) workload = std::make_unique<DhtWorkload>(sim, o.dht);

  std::vector<Endpoint> boot;
  for (size_t i = 0; i < o.bootstrap; ++i) {
    Endpoint ep;
    ep.addr[10] = ep.addr[11] = 0xff;
    ep.addr[12] = 10;
    ep.addr[13] = uint8_t(i >> 16);
    ep.addr[14] = uint8_t(i >> 8);
    ep.addr[15] = uint8_t(i);
    ep.port = 5800;  // what AddNode will give node i
    boot.push_back(ep);
  }
  uint64_t last_start = 0;
  for (size_t i = 0; i < o.nodes; ++i) {
    const uint64_t start = i < o.bootstrap
                               ? i * 50'000'000ull
                               : kSecond + uint64_t(sim.random().Unit() * Ns(o.join_window_s));
    last_start = std::max(last_start, start);
    sim.AddNode(start, boot);
  }
  rep.last_start_s = double(last_start) / 1e9;

  const uint64_t end = Ns(o.duration_s);
  const uint64_t event_at = 60 * kSecond;
  const uint64_t lookups_at = end > 15 * kSecond ? end - 15 * kSecond : 0;
  const uint64_t churn_interval =
      churn ? uint64_t(600e9 / std::max(1.0, o.churn_per_10min * double(o.nodes))) : 0;
  uint64_t next_churn = event_at;
  uint64_t sent_at_half = 0;
  double live_sum = 0;
  size_t live_samples = 0, churn_checks = 0, churn_consistent = 0;
  std::vector<uint8_t> groups;
  bool split = false, healed = false, late_added = false;
  uint64_t heal_at = 0, late_at = 0;
  std::vector<size_t> late;
  const uint64_t churn_lookup_interval = 100'000'000ull;  // 10 lookups/s during churn
  bool final_lookups_started = false;

  for (uint64_t t = kStep; t <= end; t += kStep) {
    sim.RunUntil(t);
    const bool whole_second = t % kSecond == 0;
    if (t == end / 2 / kStep * kStep) sent_at_half = sim.datagrams_sent();

    if (workload && t >= Ns(o.dht_start_s) && t < lookups_at) workload->Step(kStep);
    // Scenario events.
    if (churn && t >= event_at && t < lookups_at) {
      while (next_churn <= t) {
        next_churn += churn_interval;
        std::vector<size_t> live = sim.LiveNodes();
        std::erase_if(live, [&](size_t i) { return i < o.bootstrap; });
        if (live.empty()) break;
        sim.Crash(live[sim.random().Next() % live.size()]);
        sim.AddNode(t, boot);
        ++rep.churn_events;
      }
      if (t % churn_lookup_interval == 0 && t + 5 * kSecond < lookups_at)
        sim.IssueLookup(sim.LiveNodes());
    }
    if (loss && t == event_at) {
      for (size_t i = 0; i < o.bootstrap; ++i) sim.Crash(i);
    }
    if (loss && t == event_at + 60 * kSecond && !late_added) {
      late_added = true;
      late_at = t;
      const std::vector<size_t> live = sim.LiveNodes();
      for (int k = 0; k < 20 && !live.empty(); ++k) {
        // 200 dead entries (the crashed bootstrap nodes and addresses nobody uses) and one live
        // member, shuffled.
        std::vector<Endpoint> list(boot.begin(), boot.end());
        while (list.size() < 200) {
          Endpoint ep = boot[0];
          ep.port = uint16_t(40000 + list.size());
          list.push_back(ep);
        }
        list.push_back(sim.endpoint(live[sim.random().Next() % live.size()]));
        for (size_t i = list.size() - 1; i > 0; --i)
          std::swap(list[i], list[sim.random().Next() % (i + 1)]);
        late.push_back(sim.AddNode(t, list));
      }
      rep.late_joiners = late.size();
    }
    if (part && t == event_at) {
      groups.assign(sim.size(), 0);
      for (uint8_t& g : groups) g = uint8_t(sim.random().Next() & 1);
      sim.SetPartition(groups);
      split = true;
    }
    if (part && split && !healed && t >= event_at + Ns(o.partition_s)) {
      sim.SetPartition({});
      healed = true;
      heal_at = t;
    }

    if (!whole_second) continue;
    live_sum += double(sim.LiveNodes().size());
    ++live_samples;
    // Ring checks, once a second.
    if (t >= last_start && rep.consistent_at_s < 0 && sim.RingConsistent())
      rep.consistent_at_s = double(t) / 1e9;
    if (churn && t > event_at && t < lookups_at) {
      ++churn_checks;
      churn_consistent += sim.RingConsistent() ? 1 : 0;
    }
    if (loss && t > event_at && rep.reconsistent_after_event_s < 0 && !late_added &&
        sim.RingConsistent())
      rep.reconsistent_after_event_s = double(t - event_at) / 1e9;
    if (loss && late_added && rep.late_joiners_in_ring < late.size()) {
      size_t in = 0;
      for (size_t i : late) {
        const auto* s = sim.node(i).successor();
        in += s ? 1 : 0;
      }
      if (sim.RingConsistent()) rep.late_joiners_in_ring = in;
      (void)late_at;
    }
    if (part && split && !healed && rep.sides_consistent_after_split_s < 0) {
      std::vector<size_t> a, b;
      for (size_t i : sim.LiveNodes()) (groups[i] ? b : a).push_back(i);
      if (sim.RingConsistent(a) && sim.RingConsistent(b))
        rep.sides_consistent_after_split_s = double(t - event_at) / 1e9;
    }
    if (part && healed && rep.reconsistent_after_event_s < 0 && sim.RingConsistent())
      rep.reconsistent_after_event_s = double(t - heal_at) / 1e9;
    if (o.verbose && t % (10 * kSecond) == 0) {
      size_t bad = 0;
      sim.RingConsistent({}, &bad);
      std::fprintf(stderr, "t=%4.0fs live=%zu inconsistent=%zu datagrams=%llu events=%llu\n",
                   double(t) / 1e9, sim.LiveNodes().size(), bad,
                   (unsigned long long)sim.datagrams_sent(), (unsigned long long)sim.events());
    }
    if (t >= lookups_at && !final_lookups_started) {
      final_lookups_started = true;
      if (churn) rep.churn_lookups = sim.TakeLookupStats();
      rep.final_lookups = sim.RunLookups(o.lookups, 5 * kSecond, 5 * kSecond);
      t = sim.now_ns() / kStep * kStep;
    }
  }
  sim.RunUntil(end);
  if (churn && rep.churn_lookups.issued == 0) rep.churn_lookups = sim.TakeLookupStats();
  if (churn_checks) rep.consistent_fraction = double(churn_consistent) / double(churn_checks);
  rep.nodes_final = sim.LiveNodes().size();
  rep.consistent_at_end = sim.RingConsistent({}, &rep.inconsistent_at_end);
  const double mean_live = live_samples ? live_sum / double(live_samples) : double(o.nodes);
  rep.msgs_per_node_s = double(sim.datagrams_sent()) / (mean_live * o.duration_s);
  rep.msgs_per_node_s_steady =
      double(sim.datagrams_sent() - sent_at_half) / (mean_live * (o.duration_s / 2));
  rep.state_bytes_per_node = sim.MeanStateBytes();
  if (workload) {
    rep.dht_ran = true;
    rep.dht = workload->Stats(mean_live * o.duration_s);
  }
  rep.events = sim.events();
  rep.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  rep.ok = true;
  return rep;
}

std::string FormatReport(const ScenarioOptions& o, const ScenarioReport& r) {
  std::ostringstream s;
  char buf[256];
  auto line = [&](const char* fmt, auto... args) {
    std::snprintf(buf, sizeof(buf), fmt, args...);
    s << buf << "\n";
  };
  line("scenario            %s", o.scenario.c_str());
  line("nodes               %zu (live at end %zu), seed %llu, duration %.0f s", o.nodes,
       r.nodes_final, (unsigned long long)o.seed, o.duration_s);
  line("last node started   %.1f s", r.last_start_s);
  line("consistent ring at  %.0f s%s", r.consistent_at_s, r.consistent_at_s < 0 ? " (never)" : "");
  line("consistent at end   %s (%zu nodes wrong)", r.consistent_at_end ? "yes" : "no",
       r.inconsistent_at_end);
  if (o.scenario == "churn") {
    line("churn events        %zu (crash + join each)", r.churn_events);
    line("consistent checks   %.1f%% of 1-s checks during churn", 100 * r.consistent_fraction);
    line("lookups in churn    %zu issued, %zu delivered, %zu to the true closest (%.2f%%)",
         r.churn_lookups.issued, r.churn_lookups.delivered, r.churn_lookups.correct,
         r.churn_lookups.issued
             ? 100.0 * double(r.churn_lookups.correct) / double(r.churn_lookups.issued)
             : 0.0);
  }
  if (o.scenario == "bootstrap-loss") {
    line("ring after loss     consistent %.0f s after all bootstrap nodes died",
         r.reconsistent_after_event_s);
    line("late joiners        %zu of %zu in a consistent ring", r.late_joiners_in_ring,
         r.late_joiners);
  }
  if (o.scenario == "partition") {
    line("split               both sides consistent %.0f s after the split",
         r.sides_consistent_after_split_s);
    line("heal                whole ring consistent %.0f s after the heal",
         r.reconsistent_after_event_s);
  }
  if (r.dht_ran) {
    const DhtWorkloadStats& d = r.dht;
    const auto pct = [](size_t a, size_t b) { return b ? 100.0 * double(a) / double(b) : 0.0; };
    line("dht puts            %zu issued, %zu ok (%.3f%%), %zu failed", d.puts_issued, d.puts_ok,
         pct(d.puts_ok, d.puts_issued), d.puts_failed);
    line("dht gets            %zu issued, %zu ok (%.3f%%), %zu no quorum, %zu value missing",
         d.gets_issued, d.gets_ok, pct(d.gets_ok, d.gets_issued), d.gets_no_quorum, d.gets_missing);
    line("dht abandoned       %zu (client crashed before the answer)", d.abandoned);
    line("dht latency         mean %.0f ms, p99 %.0f ms, %.2f attempts per op", d.latency_mean_ms,
         d.latency_p99_ms, d.attempts_mean);
    line("dht messages/node/s %.2f routed messages originated by the DHT", d.dht_msgs_per_node_s);
  }
  const LookupStats& l = r.final_lookups;
  line("lookups             %zu issued, %zu delivered, %zu to the true closest", l.issued,
       l.delivered, l.correct);
  line("hops                mean %.2f, p99 %u, max %u (log2(N)/2 = %.2f)", l.hops_mean, l.hops_p99,
       l.hops_max, std::log2(double(std::max<size_t>(r.nodes_final, 2))) / 2);
  line("messages/node/s     %.2f whole run, %.2f second half", r.msgs_per_node_s,
       r.msgs_per_node_s_steady);
  line("state bytes/node    %zu", r.state_bytes_per_node);
  line("events              %llu", (unsigned long long)r.events);
  line("wall time           %.1f s", r.wall_s);
  return s.str();
}

}  // namespace ipop::sim

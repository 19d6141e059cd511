// The counter registry and its exporters: every registry entry reaches `ipopctl counters` and the
// Prometheus text, the text follows the exposition format 0.0.4, and docs/metrics.md names every
// family.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "controlplane/metrics/counters_report.h"
#include "controlplane/metrics/prometheus_text.h"
#include "controlplane/mgmt/render_counters.h"

namespace ipop::cp {
namespace {

// A report with every part present and every word of every counter struct set to its own value,
// so a value shown under the wrong name is caught as well as a missing one.
struct FullReport {
  MetricsReport m;
  FullReport() {
    CountersReport& r = m.counters;
    r.workers.resize(2);
    r.overlay.emplace().claim.emplace();
    r.overlay->link_auth.emplace();
    r.multicast.emplace();
    r.dhcp.emplace();
    r.dns.emplace();
    r.dns_forwarder.emplace();
    r.dns_tcp.emplace();
    r.metrics_server.emplace();
    r.revocation.emplace();
    uint64_t next = 1000;
    for (const CounterBlock& b : CounterBlocks(r))
      for (const CounterDesc& d : b.module->counters)
        for (size_t i = 0; i < d.count; ++i) {
          const uint64_t v = next++;
          std::memcpy(const_cast<unsigned char*>(static_cast<const unsigned char*>(b.values)) +
                          d.offset + i * sizeof(uint64_t),
                      &v, sizeof(v));
        }
    for (DataplaneTotals& w : r.workers) {
      for (uint64_t& v : w.drops) v = next++;
      for (uint64_t& v : w.stats) v = next++;
    }
    m.node = "n1";
    m.network = "net";
    m.vip = 0x0a4d0001;
    PeerRow p;
    p.status.vip = 0x0a4d0002;
    p.status.up = true;
    p.status.heard = true;
    p.status.relayed = true;
    p.status.last_hello_age_ns = 1'500'000'000;
    p.traffic = {.rx_packets = 11, .rx_bytes = 12, .tx_packets = 13, .tx_bytes = 14};
    m.peers.push_back(p);
    PeerRow silent;
    silent.status.vip = 0x0a4d0003;
    m.peers.push_back(silent);
  }
};

bool Contains(const std::string& text, const std::string& line) {
  return text.starts_with(line) || text.find("\n" + line) != std::string::npos;
}

std::string Sample(const std::string& name, const std::string& labels, uint64_t v) {
  return name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
}

TEST(CounterRegistry, EveryModuleIsReachedWhenEveryPartRuns) {
  FullReport f;
  std::set<const CounterModule*> reached;
  for (const CounterBlock& b : CounterBlocks(f.m.counters)) reached.insert(b.module);
  for (const CounterModule* m : kCounterModules) EXPECT_TRUE(reached.count(m)) << m->name;
  EXPECT_EQ(reached.size(), std::size(kCounterModules));
}

TEST(CounterRegistry, FullNamesAreUniqueAndValid) {
  const std::regex valid("[a-zA-Z_:][a-zA-Z0-9_:]*");
  std::set<std::string> names;
  auto add = [&](const std::string& n) {
    EXPECT_TRUE(std::regex_match(n, valid)) << n;
    EXPECT_TRUE(names.insert(n).second) << "twice: " << n;
  };
  for (const CounterModule* m : kCounterModules)
    for (const CounterDesc& d : m->counters) add(PrometheusName(*m, d));
  for (const CounterDesc& d : kStatDescs) add(std::string("ipop_dp_") + d.name + "_total");
  add("ipop_dp_drops_total");
  for (size_t i = 0; i < kNumPeerMetrics; ++i) add(kPeerMetrics[i].name);
  add("ipop_node_info");
}

// Every registry entry (each element of an array entry too) in both exporters, with its value.
TEST(CounterRegistry, ExportersShowEveryEntryWithItsValue) {
  FullReport f;
  const std::string prom = RenderPrometheus(f.m);
  const std::string text = RenderCounters(f.m.counters);
  const std::string json = RenderCountersJson(f.m.counters);
  size_t entries = 0;
  for (const CounterBlock& b : CounterBlocks(f.m.counters))
    ForEachCounter(*b.module, b.values, [&](const CounterDesc& d, size_t i, uint64_t v) {
      ++entries;
      const std::string label =
          d.count > 1 ? std::string(d.label) + "=\"" + d.label_of(i) + "\"" : "";
      EXPECT_TRUE(Contains(prom, Sample(PrometheusName(*b.module, d), label, v)))
          << b.module->name << " " << d.name << " " << i;
      std::string name = d.name;
      if (d.count > 1) name += std::string("{") + d.label + "=" + d.label_of(i) + "}";
      char line[128];
      std::snprintf(line, sizeof(line), "%-13s %-40s %llu\n", b.module->name, name.c_str(),
                    (unsigned long long)v);
      EXPECT_TRUE(Contains(text, line)) << line;
      EXPECT_NE(json.find(":" + std::to_string(v)), std::string::npos) << line;
    });
  EXPECT_GT(entries, 300u);
  const DataplaneTotals sum = f.m.counters.DataplaneSum();
  for (size_t w = 0; w < 2; ++w) {
    const std::string worker = "worker=\"" + std::to_string(w) + "\"";
    for (uint32_t i = 0; i < kNumDropReasons; ++i)
      EXPECT_TRUE(Contains(
          prom, Sample("ipop_dp_drops_total", worker + ",reason=\"" + kDropReasonNames[i] + "\"",
                       f.m.counters.workers[w].drops[i])))
          << kDropReasonNames[i];
    for (uint32_t i = 0; i < kNumStats; ++i)
      EXPECT_TRUE(Contains(prom, Sample(std::string("ipop_dp_") + kStatNames[i] + "_total", worker,
                                        f.m.counters.workers[w].stats[i])))
          << kStatNames[i];
  }
  for (uint32_t i = 0; i < kNumStats; ++i) {
    char line[128];
    std::snprintf(line, sizeof(line), "%-13s %-40s %llu\n", "stat", kStatNames[i],
                  (unsigned long long)sum.stats[i]);
    EXPECT_TRUE(Contains(text, line)) << line;
  }
}

TEST(PrometheusText, PeersByVipAndNoAgeBeforeTheFirstHello) {
  FullReport f;
  const std::string prom = RenderPrometheus(f.m);
  const std::string p2 = "peer=\"10.77.0.2\"", p3 = "peer=\"10.77.0.3\"";
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_up", p2, 1)));
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_up", p3, 0)));
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_relayed", p2, 1)));
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_relayed", p3, 0)));
  EXPECT_TRUE(Contains(prom, "ipop_peer_last_handshake_age_seconds{" + p2 + "} 1.5\n"));
  EXPECT_EQ(prom.find("ipop_peer_last_handshake_age_seconds{" + p3), std::string::npos);
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_rx_packets_total", p2, 11)));
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_rx_bytes_total", p2, 12)));
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_tx_packets_total", p2, 13)));
  EXPECT_TRUE(Contains(prom, Sample("ipop_peer_tx_bytes_total", p2, 14)));
  EXPECT_TRUE(Contains(prom, "ipop_node_info{node=\"n1\",network=\"net\",vip=\"10.77.0.1\"} 1\n"));
}

TEST(PrometheusText, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  MetricsReport m;
  m.node = "x\"y\\z\n";
  EXPECT_TRUE(Contains(RenderPrometheus(m),
                       "ipop_node_info{node=\"x\\\"y\\\\z\\n\",network=\"\",vip=\"\"} 1\n"));
}

// A reader of the exposition format 0.0.4, strict where Prometheus is: every family's HELP and
// TYPE come before its samples, a family's samples are not interleaved with another's, names
// and label names match the grammar, label values use only the three escapes, values parse.
struct Family {
  bool help = false, type = false, closed = false;
  std::string kind;
};

std::string CheckExposition(const std::string& text) {
  static const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex label_name_re("[a-zA-Z_][a-zA-Z0-9_]*");
  std::map<std::string, Family> families;
  std::set<std::string> series;
  std::string current;
  auto enter = [&](const std::string& name) -> std::string {
    if (name == current) return "";
    if (!current.empty()) families[current].closed = true;
    if (families[name].closed) return "family " + name + " interleaved with another";
    current = name;
    return "";
  };
  std::istringstream in(text);
  std::string line;
  if (text.empty() || text.back() != '\n') return "no final newline";
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      if (!std::regex_match(name, name_re)) return "bad name in: " + line;
      if (const std::string e = enter(name); !e.empty()) return e;
      Family& f = families[name];
      if (line[2] == 'H') {
        if (f.help || f.type) return "HELP twice or after TYPE: " + line;
        f.help = true;
      } else {
        if (f.type) return "TYPE twice: " + line;
        f.type = true;
        f.kind = rest.substr(name.size() + 1);
        if (f.kind != "counter" && f.kind != "gauge") return "unknown type: " + line;
        if (f.kind == "counter" && !name.ends_with("_total")) return "counter without _total";
      }
      continue;
    }
    if (line.empty() || line[0] == '#') return "unexpected line: '" + line + "'";
    size_t pos = line.find_first_of("{ ");
    const std::string name = line.substr(0, pos);
    if (!std::regex_match(name, name_re)) return "bad sample name: " + line;
    if (const std::string e = enter(name); !e.empty()) return e;
    if (!families[name].help || !families[name].type) return "sample before HELP/TYPE: " + line;
    std::string labels;
    if (line[pos] == '{') {
      ++pos;
      while (line[pos] != '}') {
        const size_t eq = line.find('=', pos);
        if (eq == std::string::npos) return "label without '=': " + line;
        if (!std::regex_match(line.substr(pos, eq - pos), label_name_re))
          return "bad label name: " + line;
        if (line[eq + 1] != '"') return "unquoted label value: " + line;
        pos = eq + 2;
        for (;; ++pos) {
          if (pos >= line.size()) return "unterminated label value: " + line;
          if (line[pos] == '"') break;
          if (line[pos] == '\\') {
            const char e = line[++pos];
            if (e != '\\' && e != '"' && e != 'n') return "bad escape: " + line;
          }
        }
        ++pos;
        if (line[pos] == ',')
          ++pos;
        else if (line[pos] != '}')
          return "bad label list: " + line;
      }
      labels = line.substr(name.size(), pos + 1 - name.size());
      ++pos;
    }
    if (line[pos] != ' ') return "no space before the value: " + line;
    const std::string value = line.substr(pos + 1);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') return "bad value: " + line;
    if (!series.insert(name + labels).second) return "series twice: " + line;
  }
  return "";
}

TEST(PrometheusText, FollowsTheExpositionFormat) {
  FullReport f;
  const std::string text = RenderPrometheus(f.m);
  EXPECT_EQ(CheckExposition(text), "");
  // The checker itself rejects what it must.
  EXPECT_NE(CheckExposition("a_total 1\n"), "");
  EXPECT_NE(
      CheckExposition("# HELP a x\n# TYPE a gauge\na 1\n# HELP b y\n# TYPE b gauge\nb 1\na 2\n"),
      "");
  EXPECT_NE(CheckExposition("# HELP a x\n# TYPE a gauge\na{l=\"\\q\"} 1\n"), "");
  EXPECT_NE(CheckExposition("# HELP 1a x\n# TYPE 1a gauge\n1a 1\n"), "");
  EXPECT_NE(CheckExposition("# HELP a x\n# TYPE a gauge\na{l=\"v\"} 1\na{l=\"v\"} 2\n"), "");
  EXPECT_EQ(CheckExposition("# HELP a x\n# TYPE a gauge\na{l=\"\\\"\"} 1\n"), "");
}

// Prometheus's own linter on the full report (every module present): 77-style skip only when
// promtool is not installed (tests/integration/test_metrics.sh checks a real node's output).
TEST(PrometheusText, PromtoolAcceptsIt) {
  if (access("/usr/bin/promtool", X_OK) != 0 && errno == ENOENT)
    GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  FullReport f;
  char path[] = "/tmp/ipop-metrics-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = RenderPrometheus(f.m);
  ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
  close(fd);
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  const int status = pclose(p);
  unlink(path);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "") << "promtool lint findings";
}

// docs/metrics.md lists every family: a new registry entry without a line there fails here, with
// the table rows to add.
TEST(MetricsDoc, NamesEveryFamily) {
  std::ifstream in(std::string(IPOP_SOURCE_ROOT) + "/docs/metrics.md");
  ASSERT_TRUE(in) << "docs/metrics.md missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  std::string missing;
  auto want = [&](const std::string& name, const char* kind, const std::string& labels,
                  const char* help) {
    if (doc.find("`" + name + "`") == std::string::npos)
      missing += "| `" + name + "` | " + kind + " | " + labels + " | " + help + " |\n";
  };
  auto kind = [](MetricKind k) { return k == MetricKind::kCounter ? "counter" : "gauge"; };
  want("ipop_dp_drops_total", "counter", "worker, reason", "packets the dataplane dropped");
  for (const CounterDesc& d : kStatDescs)
    want(std::string("ipop_dp_") + d.name + "_total", "counter", "worker", d.help);
  for (const CounterModule* m : kCounterModules)
    for (const CounterDesc& d : m->counters)
      want(PrometheusName(*m, d), kind(d.kind), d.count > 1 ? d.label : "", d.help);
  for (size_t i = 0; i < kNumPeerMetrics; ++i)
    want(kPeerMetrics[i].name, kind(kPeerMetrics[i].kind), "peer", kPeerMetrics[i].help);
  want("ipop_node_info", "gauge", "node, network, vip", "1");
  for (const char* reason : kDropReasonNames) {
    std::string quoted = "`";
    quoted.append(reason).append("`");
    if (doc.find(quoted) == std::string::npos)
      missing.append("drop reason ").append(quoted) += '\n';
  }
  EXPECT_TRUE(missing.empty()) << "not in docs/metrics.md:\n" << missing;
}

}  // namespace
}  // namespace ipop::cp

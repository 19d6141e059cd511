// ipop-sim: runs the overlay code with thousands of nodes in one process.
//   ipop-sim --scenario mass-join --nodes 10000 --seed 1 --duration 600
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/sim/scenarios.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: ipop-sim [--scenario mass-join|churn|bootstrap-loss|partition|dht]\n"
               "                [--nodes N] [--seed S] [--duration SECONDS] [--bootstrap B]\n"
               "                [--join-window SECONDS] [--lookups L] [--churn FRACTION]\n"
               "                [--partition SECONDS] [--loss P] [--near K] [--far-per-log2 F]\n"
               "                [--dht-puts PER_NODE_PER_MIN] [--dht-gets-per-put G]\n"
               "                [--replicas R] [--verbose]\n");
}

}  // namespace

int main(int argc, char** argv) {
  ipop::sim::ScenarioOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--verbose") {
      o.verbose = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "ipop-sim: %s needs a value\n", a.c_str());
      Usage();
      return 2;
    }
    const std::string v = argv[++i];
    char* rest = nullptr;
    const double num = std::strtod(v.c_str(), &rest);
    const bool numeric = rest && *rest == '\0' && num >= 0;
    if (a == "--scenario") {
      o.scenario = v;
      continue;
    }
    if (!numeric) {
      std::fprintf(stderr, "ipop-sim: %s wants a non-negative number, got '%s'\n", a.c_str(),
                   v.c_str());
      return 2;
    }
    if (a == "--nodes")
      o.nodes = size_t(num);
    else if (a == "--seed")
      o.seed = uint64_t(num);
    else if (a == "--duration")
      o.duration_s = num;
    else if (a == "--bootstrap")
      o.bootstrap = size_t(num);
    else if (a == "--join-window")
      o.join_window_s = num;
    else if (a == "--lookups")
      o.lookups = size_t(num);
    else if (a == "--churn")
      o.churn_per_10min = num;
    else if (a == "--partition")
      o.partition_s = num;
    else if (a == "--loss")
      o.sim.loss = num;
    else if (a == "--near")
      o.sim.overlay.near_per_side = size_t(num);
    else if (a == "--far-per-log2")
      o.sim.overlay.far_links_per_log2 = num;
    else if (a == "--dht-puts")
      o.dht.puts_per_node_min = num;
    else if (a == "--dht-gets-per-put")
      o.dht.gets_per_put = num;
    else if (a == "--replicas")
      o.sim.dht.replicas = size_t(num);
    else {
      std::fprintf(stderr, "ipop-sim: unknown option %s\n", a.c_str());
      Usage();
      return 2;
    }
  }
  const ipop::sim::ScenarioReport r = ipop::sim::RunScenario(o);
  if (!r.ok) {
    std::fprintf(stderr, "ipop-sim: %s\n", r.error.c_str());
    return 2;
  }
  std::fputs(ipop::sim::FormatReport(o, r).c_str(), stdout);
  return 0;
}

// ipop-controlplane: owns the node's configuration and state, runs the HELLO protocol with the
// configured peers and publishes forwarding tables for ipop-dataplane (see control_plane.h).
//
// Exit codes: 0 stopped by SIGTERM/SIGINT or --help, 1 start-up or run-time failure,
// 2 invalid configuration or command line.
#include <cstdio>
#include <string>
#include <vector>

#include "controlplane/control_plane.h"
#include "controlplane/runtime/log.h"
#include "shared/config.h"

int main(int argc, char** argv) {
  ipop::ConfigResult parsed = ipop::ParseConfig(argc, argv);
  if (!parsed.help.empty()) {
    std::printf(
        "Runs the control plane of one IPOP node: HELLOs with the configured peers, forwarding\n"
        "tables for ipop-dataplane in shared memory, ARP answers, the management socket.\n"
        "Signals: SIGHUP reloads the config file (peers, timers, log level), SIGTERM stops.\n\n%s",
        parsed.help.c_str());
    return 0;
  }
  if (!parsed.config) {
    std::fprintf(stderr, "ipop-controlplane: %s\n(run with --help for the list of keys)\n",
                 parsed.error.c_str());
    return 2;
  }
  const ipop::NodeConfig& cfg = *parsed.config;
  if (!ipop::cp::SetLogLevel(cfg.log_level)) {
    std::fprintf(stderr,
                 "ipop-controlplane: node.log-level '%s' unknown (debug, info, warn, error)\n",
                 cfg.log_level.c_str());
    return 2;
  }
  for (const std::string& w : parsed.warnings) IPOP_LOG_WARN("config: %s", w.c_str());
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string error;
  auto cp = ipop::cp::ControlPlane::Start(cfg, std::move(args), &error);
  if (!cp) {
    IPOP_LOG_ERROR("cannot start: %s", error.c_str());
    return 1;
  }
  return cp->Run();
}

// Runs the management commands (mgmt_command.h) against the control plane's parts: collects the
// data a command shows (collect.h) and renders the reply (render_*.h). `dht put` and `dht get`
// answer later, through the server's deferred replies, when the DHT operation completes; so do
// `ping` and `validate` when their probes are answered or timed out.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "controlplane/mgmt/collect.h"
#include "controlplane/mgmt/mgmt_command.h"
#include "controlplane/mgmt/mgmt_server.h"

namespace ipop::cp {

class MgmtHandler {
 public:
  // Re-reads the configuration and applies it; returns the one-line outcome ("ok: ..." or
  // "error: ...").
  using ReloadFn = std::function<std::string()>;

  MgmtHandler(const MgmtParts& parts, ReloadFn reload)
      : parts_(parts), reload_(std::move(reload)) {}
  // Deferred replies go through `server` (set once it listens; the handler runs only from it).
  void SetServer(MgmtServer* server) { server_ = server; }
  // One request line -> reply text ("error: ..." on failure, "" once deferred).
  std::string Handle(std::string_view line);
  // What the metrics exporter collects from (the same parts every command reads).
  const MgmtParts& parts() const { return parts_; }

 private:
  std::string Run(const MgmtCommand& cmd);
  std::string Dht(const MgmtCommand& cmd);
  std::string Ping(const MgmtCommand& cmd);
  std::string Validate(const MgmtCommand& cmd);
  std::string Revoke(const MgmtCommand& cmd);
  int ProbeBudgetMs(const MgmtCommand& cmd);

  MgmtParts parts_;
  ReloadFn reload_;
  MgmtServer* server_ = nullptr;
};

}  // namespace ipop::cp

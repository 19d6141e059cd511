#include "controlplane/mgmt/mgmt_handler.h"

#include "controlplane/mgmt/render_multicast.h"

namespace ipop::cp {

std::string MgmtHandler::Handle(std::string_view line) {
  const MgmtCommand cmd = ParseMgmtCommand(line);
  if (cmd.needs_overlay() && !parts_.overlay)
    return "error: the overlay is disabled on this node (overlay.enabled = false)\n";
  switch (cmd.verb) {
    case MgmtVerb::kStatus:
      return RenderStatus(CollectStatus(parts_));
    case MgmtVerb::kPeers:
      return RenderPeers(CollectPeers(parts_));
    case MgmtVerb::kCounters:
      return RenderCounters(CollectCounters(parts_), cmd.all);
    case MgmtVerb::kReload:
      return reload_() + "\n";
    case MgmtVerb::kRoutes:
      return RenderRoutes(CollectRoutes(parts_));
    case MgmtVerb::kMulticast:
      return parts_.multicast ? RenderMulticast(parts_.multicast->View())
                              : "error: multicast needs the overlay (overlay.enabled)\n";
    case MgmtVerb::kRing:
      return RenderRing(CollectRing(*parts_.overlay, parts_.clock.NowNs()));
    case MgmtVerb::kLinks:
      return RenderLinks(CollectLinks(*parts_.overlay, parts_.clock.NowNs()));
    case MgmtVerb::kDhtPut:
    case MgmtVerb::kDhtGet:
      return Dht(cmd);
    case MgmtVerb::kDhtBad:
    case MgmtVerb::kUnknown:
      break;
  }
  return cmd.error;
}

std::string MgmtHandler::Dht(const MgmtCommand& cmd) {
  constexpr int kBudgetMs = 30000;
  const uint64_t ticket = server_ ? server_->Defer(kBudgetMs) : 0;
  if (ticket == 0) return "error: cannot defer the reply\n";
  const bool is_get = cmd.verb == MgmtVerb::kDhtGet;
  auto reply = [this, ticket, is_get](const DhtResult& r) {
    server_->Reply(ticket, RenderDhtReply(r, is_get));
  };
  if (is_get) {
    parts_.overlay->DhtGet(cmd.name, reply);
  } else {
    parts_.overlay->DhtPut(cmd.name,
                           {reinterpret_cast<const uint8_t*>(cmd.value.data()), cmd.value.size()},
                           cmd.ttl_s * 1000, reply);
  }
  return "";
}

}  // namespace ipop::cp

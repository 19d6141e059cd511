// Text and JSON of `ipopctl ping` and `ipopctl validate`: per-probe lines and a summary like
// ping(8)'s, and validate's table of every member with its path, loss and round-trip times.
// A reply whose last line starts with "fail:" (text) or whose object has "ok": false (JSON) makes
// ipopctl exit 1: ping when no probe came back, validate on any loss or unreachable member.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "controlplane/directory/overlay_echo.h"
#include "controlplane/directory/overlay_host.h"

namespace ipop::cp {

// Ring address -> node name, to name the nodes a path goes through (from the member list).
using NodeNames = std::map<overlay::RingAddress, std::string>;

// "direct" (both ways over a link between the two nodes), or "via NAME" / "via ADDRESS-PREFIX"
// (the first node the request was handed to), for an answered probe.
std::string EchoPathText(const EchoResult& r, const NodeNames& names);

struct PingReport {
  std::string target;  // as the operator typed it
  uint32_t vip = 0;
  std::string name;       // the node's name (its reply), empty if none answered
  std::string data_path;  // the data session: "direct 10.99.0.3:5800", "relayed", "no session"
  EchoSeries series;
  uint64_t elapsed_ns = 0;
};
std::string RenderPing(const PingReport& r);
std::string RenderPingJson(const PingReport& r);

struct ValidateRow {
  MemberEntry member;
  std::string data_path;
  EchoSeries series;
};
struct ValidateReport {
  uint32_t self_vip = 0;
  std::string self_name;
  bool complete = true;  // every bucket of the member list was read
  std::vector<ValidateRow> rows;
  NodeNames names;
};
std::string RenderValidate(const ValidateReport& r);
std::string RenderValidateJson(const ValidateReport& r);

}  // namespace ipop::cp

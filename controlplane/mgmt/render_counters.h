// `ipopctl counters`: every counter and gauge of the node (metrics/counters_report.h), one per
// line as "<module> <name> <value>", e.g.
//   drop          no_route                                12   (summed over the workers)
//   stat          udp_tx_bytes                            9472
//   node          hello_sent                              40
//   dhcp          requests{type=discover}                 1
// Zeros only with `all` (tests tell a zero from a name that does not exist). `counters --json`
// gives every value, zeros included, as {"<module>": {"<name>": value or {"<label>": value}}}.
#pragma once

#include <string>

#include "controlplane/metrics/counters_report.h"

namespace ipop::cp {

std::string RenderCounters(const CountersReport& r, bool all = false);
std::string RenderCountersJson(const CountersReport& r);

}  // namespace ipop::cp

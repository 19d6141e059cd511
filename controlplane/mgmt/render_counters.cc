#include "controlplane/mgmt/render_counters.h"

#include <cinttypes>
#include <vector>

#include "controlplane/mgmt/render_text.h"

namespace ipop::cp {
namespace {

// The dataplane's sums first, then the control plane's modules.
std::vector<CounterBlock> AllBlocks(const CountersReport& r, const DataplaneTotals& sum) {
  std::vector<CounterBlock> blocks{{&kDropModule, &sum}, {&kStatModule, &sum}};
  for (const CounterBlock& b : CounterBlocks(r)) blocks.push_back(b);
  return blocks;
}

// Names and label values are [a-z0-9_-] words (counter_registry.h), but a label value comes from
// a name function: escape anyway so the output stays JSON whatever it returns.
void AppendJsonString(std::string& out, const char* s) {
  out.push_back('"');
  for (; *s != '\0'; ++s) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(char(c));
    } else if (c < 0x20) {
      Append(out, "\\u%04x", c);
    } else {
      out.push_back(char(c));
    }
  }
  out.push_back('"');
}

// The members of one module's object: "name": value, or "name": {"label value": value, ...}.
void AppendJsonMembers(std::string& out, const CounterBlock& b, bool& first) {
  for (const CounterDesc& d : b.module->counters) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, d.name);
    out.push_back(':');
    if (d.count == 1) {
      out += std::to_string(ReadCounter(b.values, d));
      continue;
    }
    out.push_back('{');
    for (size_t i = d.first; i < d.count; ++i) {
      if (i != d.first) out.push_back(',');
      AppendJsonString(out, d.label_of(i));
      out.push_back(':');
      out += std::to_string(ReadCounter(b.values, d, i));
    }
    out.push_back('}');
  }
}

// Consecutive blocks of one module (its counters and its gauges) share one object.
void AppendJsonModules(std::string& out, const std::vector<CounterBlock>& blocks) {
  for (size_t i = 0; i < blocks.size(); ++i) {
    const bool opens = i == 0 || std::string_view(blocks[i - 1].module->name) !=
                                     std::string_view(blocks[i].module->name);
    if (opens) {
      if (i != 0) out += "},";
      AppendJsonString(out, blocks[i].module->name);
      out += ":{";
    }
    bool first = opens;
    AppendJsonMembers(out, blocks[i], first);
  }
  if (!blocks.empty()) out.push_back('}');
}

}  // namespace

std::string RenderCounters(const CountersReport& r, bool all) {
  const DataplaneTotals sum = r.DataplaneSum();
  std::string out;
  for (const CounterBlock& b : AllBlocks(r, sum))
    ForEachCounter(*b.module, b.values, [&](const CounterDesc& d, size_t i, uint64_t v) {
      if (!all && v == 0) return;
      std::string name = d.name;
      if (d.count > 1) name += std::string("{") + d.label + "=" + d.label_of(i) + "}";
      Append(out, "%-13s %-40s %" PRIu64 "\n", b.module->name, name.c_str(), v);
    });
  return out;
}

std::string RenderCountersJson(const CountersReport& r) {
  const DataplaneTotals sum = r.DataplaneSum();
  std::string out = "{";
  AppendJsonModules(out, AllBlocks(r, sum));
  out += ",\"workers\":[";
  for (size_t w = 0; w < r.workers.size(); ++w) {
    if (w != 0) out.push_back(',');
    out.push_back('{');
    AppendJsonModules(out, {{&kDropModule, &r.workers[w]}, {&kStatModule, &r.workers[w]}});
    out.push_back('}');
  }
  out += "]}\n";
  return out;
}

}  // namespace ipop::cp

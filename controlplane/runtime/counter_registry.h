// The control plane's counters as data, like the dataplane's IPOP_DROP_REASONS: every module
// declares, next to its counter struct, one CounterDesc per field (name, what it counts, counter
// or gauge, where the field sits). One walker reads any such struct through its table, and the
// renderers (`ipopctl counters` text and JSON, the Prometheus exporter) only walk tables; none
// names a field. CoversEveryField makes a struct field without a table entry a compile error.
//
// Naming: a module name and a field name, both [a-z0-9_]. `ipopctl counters` prints
// "<module> <name> <value>"; Prometheus gets ipop_cp_<module>_<name>_total for a counter and
// ipop_cp_<module>_<name> for a gauge (docs/metrics.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ipop::cp {

enum class MetricKind : uint8_t {
  kCounter,  // only ever grows while the process runs
  kGauge,    // a current value (a size, a state)
};

struct CounterDesc {
  const char* name;
  const char* help;  // one line: the HELP text in Prometheus
  MetricKind kind = MetricKind::kCounter;
  size_t offset = 0;  // of the field, in bytes: every counter struct holds uint64_t only
  size_t count = 1;   // > 1: an array, exported as one family with label `label`
  const char* label = nullptr;
  const char* (*label_of)(size_t i) = nullptr;  // the label value of element i
  size_t first = 0;  // elements before it are never counted (e.g. a kNone index) and not shown
};

// A named set of counters: ipop_cp_<name>_..., "<name> ..." in ipopctl.
struct CounterModule {
  const char* name;
  std::span<const CounterDesc> counters;
};

inline uint64_t ReadCounter(const void* values, const CounterDesc& d, size_t i = 0) {
  uint64_t v;
  std::memcpy(&v, static_cast<const unsigned char*>(values) + d.offset + i * sizeof(uint64_t),
              sizeof(v));
  return v;
}

// Calls fn(desc, element, value) for every exported value of `values`, a struct described by
// `module`, in table order (element is 0 for a scalar).
template <class Fn>
void ForEachCounter(const CounterModule& module, const void* values, Fn&& fn) {
  for (const CounterDesc& d : module.counters)
    for (size_t i = d.first; i < d.count; ++i) fn(d, i, ReadCounter(values, d, i));
}

constexpr bool IsMetricWord(const char* s) {
  if (s == nullptr || *s == '\0') return false;
  for (; *s != '\0'; ++s)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return false;
  return true;
}

// True if the table covers every 8-byte word of T exactly once, inside T, with valid distinct
// names: a field added to T without an entry (or an entry pointing at a removed one) fails.
template <class T>
consteval bool CoversEveryField(std::span<const CounterDesc> table) {
  if (sizeof(T) % sizeof(uint64_t) != 0) return false;
  constexpr size_t kWords = sizeof(T) / sizeof(uint64_t);
  for (size_t w = 0; w < kWords; ++w) {
    size_t covering = 0;
    for (const CounterDesc& d : table) {
      if (d.offset % sizeof(uint64_t) != 0) return false;
      const size_t begin = d.offset / sizeof(uint64_t);
      if (w >= begin && w < begin + d.count) ++covering;
    }
    if (covering != 1) return false;
  }
  for (size_t i = 0; i < table.size(); ++i) {
    const CounterDesc& d = table[i];
    if (d.count == 0 || d.offset / sizeof(uint64_t) + d.count > kWords) return false;
    if (!IsMetricWord(d.name) || d.help == nullptr || d.help[0] == '\0') return false;
    if (d.count > 1 && (!IsMetricWord(d.label) || d.label_of == nullptr)) return false;
    for (size_t j = 0; j < i; ++j) {
      const char* a = d.name;
      const char* b = table[j].name;
      while (*a != '\0' && *a == *b) ++a, ++b;
      if (*a == *b) return false;  // the same name twice
    }
  }
  return true;
}

}  // namespace ipop::cp

// An entry for field `field` of `Type` (a uint64_t or an array of them).
#define IPOP_COUNTER(Type, field, help)                                   \
  ::ipop::cp::CounterDesc {                                               \
#field, help, ::ipop::cp::MetricKind::kCounter, offsetof(Type, field) \
  }
#define IPOP_GAUGE(Type, field, help)                                   \
  ::ipop::cp::CounterDesc {                                             \
#field, help, ::ipop::cp::MetricKind::kGauge, offsetof(Type, field) \
  }
// An array field: element i exported with label `label` = name_of(i), from element `first`.
#define IPOP_COUNTER_BY(Type, field, label, name_of, first, help)          \
  ::ipop::cp::CounterDesc {                                                \
#field, help, ::ipop::cp::MetricKind::kCounter, offsetof(Type, field), \
        sizeof(Type::field) / sizeof(uint64_t), label, name_of, first      \
  }
#define IPOP_GAUGE_BY(Type, field, label, name_of, first, help)          \
  ::ipop::cp::CounterDesc {                                              \
#field, help, ::ipop::cp::MetricKind::kGauge, offsetof(Type, field), \
        sizeof(Type::field) / sizeof(uint64_t), label, name_of, first    \
  }

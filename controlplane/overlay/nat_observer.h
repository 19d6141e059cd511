// What the links tell this node about its own public mapping (docs/nat.md). Every link reports
// the endpoint our datagrams come from as it sees them (LINK_ACCEPT's observed field, OBSERVED
// messages); only authenticated datagrams bound to this node ever reach here. From the reports of
// links at different addresses the node classifies its NAT:
//   none                     every report is our local endpoint
//   endpoint-independent     reports from two or more addresses agree: one public mapping
//   address/port-dependent   two addresses report different mappings ("symmetric"): a mapping per
//                            destination, so a reflexive endpoint learned from one node is of no
//                            use to another
//   unknown                  too few reports to tell (one reporter, or none)
// A reporter whose report changes means our mapping moved (NAT rebinding, a roaming host): the
// other reporters' older reports describe the old mapping and no longer count.
// Pure logic over plain values: unit tests drive it (tests/unit/test_nat.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "controlplane/overlay/address.h"
#include "shared/endpoint.h"

namespace ipop::cp::overlay {

enum class NatClass : uint8_t {
  kUnknown = 0,
  kNone = 1,
  kEndpointIndependent = 2,
  kAddressPortDependent = 3,
};
const char* NatClassName(NatClass c);  // "unknown", "none", "endpoint-independent", ...

// Candidate endpoints a node publishes (directory record) and offers when punching.
enum class CandidateKind : uint8_t { kLocal = 1, kReflexive = 2 };
struct Candidate {
  CandidateKind kind = CandidateKind::kLocal;
  Endpoint endpoint;
  bool operator==(const Candidate&) const = default;
};
inline constexpr size_t kMaxCandidates = 4;

class NatObserver {
 public:
  static constexpr size_t kMaxReports = 16;

  explicit NatObserver(uint64_t max_age_ns = ~uint64_t{0}) : max_age_ns_(max_age_ns) {}

  void SetLocal(const Endpoint& local) { local_ = local; }
  const Endpoint& local() const { return local_; }
  // `reporter` at `reporter_endpoint` says our datagrams come from `observed`. Returns true when
  // this moved our mapping (the reporter said something else before): a rebinding.
  bool Report(const RingAddress& reporter, const Endpoint& reporter_endpoint,
              const Endpoint& observed, uint64_t now_ns);
  NatClass Classify(uint64_t now_ns) const;
  // The newest report: our public endpoint as the last link to tell us saw it.
  std::optional<Endpoint> Reflexive(uint64_t now_ns) const;
  // local first, then the reflexive endpoint when it differs (both when known).
  std::vector<Candidate> Candidates(uint64_t now_ns) const;
  size_t reports() const { return reports_.size(); }
  uint64_t rebindings() const { return rebindings_; }

 private:
  struct Entry {
    RingAddress reporter;
    Endpoint reporter_endpoint;
    Endpoint observed;
    uint64_t at_ns = 0;
    uint64_t epoch = 0;  // mapping epoch the report belongs to
  };
  bool Live(const Entry& e, uint64_t now_ns) const {
    return e.epoch == epoch_ && now_ns - e.at_ns <= max_age_ns_;
  }

  uint64_t max_age_ns_;
  Endpoint local_;
  std::vector<Entry> reports_;
  uint64_t epoch_ = 0;
  uint64_t rebindings_ = 0;
};

// Whether two nodes can expect a direct path by simultaneous probes: only when both map
// per destination (and neither can be reached from anywhere) is punching hopeless.
bool BothSymmetric(NatClass a, NatClass b);

}  // namespace ipop::cp::overlay

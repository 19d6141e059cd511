// The fixed test PKI the identity fuzz targets check against: a root CA of network "fuzzlab", an
// issuing CA and a node it signed, made once with ipop-cert (tests/fuzz/make_identity_corpus.sh,
// which signs the seeds with the same keys; the keys are test keys used nowhere else).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "controlplane/identity/certificate.h"
#include "controlplane/identity/identity_files.h"
#include "controlplane/identity/revocation.h"
#include "tests/fuzz/identity_test_pki.h"

namespace fuzz_identity {

struct TestCa {
  std::string network = "fuzzlab";
  std::vector<ipop::cp::identity::Certificate> roots;
  std::vector<ipop::cp::identity::Certificate> issuing;
  ipop::cp::identity::Certificate node_of_issuing;
  ipop::cp::identity::RevocationList revoked;  // empty: the targets add their own
  uint64_t now = 0;                            // inside every test certificate's validity
};

inline const TestCa& Ca() {
  static const TestCa ca = [] {
    using namespace ipop::cp::identity;
    TestCa t;
    auto one = [](const char* name, const char* pem) {
      CertificateFile f = ParseCertificateText(name, pem);
      if (!f.error.empty() || f.certs.size() != 1) std::abort();
      return f.certs[0];
    };
    t.roots = {one("root", kTestRootPem)};
    t.issuing = {one("issuing", kTestIssuingPem)};
    t.node_of_issuing = one("node", kTestNodePem);
    t.now = t.node_of_issuing.fields.not_before + 3600;
    return t;
  }();
  return ca;
}

}  // namespace fuzz_identity

// ipop-cert: creates and checks the certificates of an IPOP network (docs/pki.md). Every command
// reads or writes PEM files; private keys are created 0600 and refused when others may access
// them; nothing is ever overwritten. Errors are one line starting with the file concerned.
// Exit status: 0 ok, 1 a file or check failed, 2 usage error.
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/identity/certificate.h"
#include "controlplane/identity/chain.h"
#include "controlplane/identity/identity_files.h"
#include "controlplane/identity/pem.h"
#include "controlplane/identity/revocation.h"
#include "tools/cert/cert_text.h"

namespace {

using namespace ipop::cp::identity;
using ipop::cert_tool::Cat;
using ipop::cert_tool::FormatTime;
using ipop::cert_tool::Hex;
using ipop::cert_tool::ParseTime;

constexpr const char* kUsage =
    "usage: ipop-cert COMMAND [OPTIONS]\n"
    "\n"
    "Creates and checks the certificates of an IPOP network (docs/pki.md). Files are PEM;\n"
    "files named as outputs are created (private keys with mode 0600), never overwritten.\n"
    "\n"
    "commands:\n"
    "  ca        a root CA for a network: new Ed25519 key and self-signed certificate\n"
    "            --network NET --name NAME --key FILE --cert FILE [validity] [scope]\n"
    "            scope defaults: --vip 0.0.0.0/0 --subnet 0.0.0.0/0 --multicast 224.0.0.0/4\n"
    "            --group '*' (may sign anything); validity default 3650 days\n"
    "  keygen    a new Ed25519 key pair for a node or an issuing CA\n"
    "            --key FILE [--pub FILE]\n"
    "  sign      a certificate for a public key, signed by a CA\n"
    "            --ca-key FILE --ca-cert FILE --pub FILE --name NAME --out FILE\n"
    "            [--network NET] [--issuing] [validity] [scope]\n"
    "            a node needs at least one --vip; an --issuing CA inherits the signer's scope\n"
    "            unless narrowed; validity default 365 days (issuing: 1825), cut to the CA's\n"
    "  print     the fields of every certificate and revocation in the files\n"
    "            FILE...\n"
    "  verify    check a certificate's chain to a root CA at a time\n"
    "            --ca FILE [--chain FILE] [--network NET] [--at TIME] [--revoked FILE]...\n"
    "            [--key FILE] CERT\n"
    "  revoke    a signed revocation of a certificate, by its issuer or the root CA\n"
    "            --ca-key FILE --ca-cert FILE --cert FILE --out FILE [--at TIME]\n"
    "\n"
    "options:\n"
    "  --network NET      network name, 1..32 of A-Z a-z 0-9 _ -\n"
    "  --name NAME        node or CA name, 1..32 of A-Z a-z 0-9 _ -\n"
    "  --key FILE         private key: created by ca and keygen; verify checks it matches CERT\n"
    "  --pub FILE         public key: created by keygen, read by sign\n"
    "  --cert FILE        certificate: created by ca, read by revoke\n"
    "  --out FILE         the certificate (sign) or revocation (revoke) to create\n"
    "  --ca-key FILE      the signing CA's private key\n"
    "  --ca-cert FILE     the signing CA's certificate\n"
    "  --issuing          sign an issuing CA (may sign nodes) instead of a node\n"
    "  --vip PREFIX       a VIP (10.77.0.3) or pool (10.77.0.0/24) it may claim; repeatable\n"
    "  --subnet PREFIX    a subnet it may announce in router mode; repeatable\n"
    "  --multicast PREFIX multicast groups it may join (inside 224.0.0.0/4); repeatable\n"
    "  --group NAME       a peer group it belongs to (1..16 characters); repeatable\n"
    "  --days N           valid for N days from not-before\n"
    "  --not-before TIME  start of validity (default 10 minutes ago, for clock skew)\n"
    "  --not-after TIME   end of validity (instead of --days)\n"
    "  --ca FILE          trusted root CA certificate\n"
    "  --chain FILE       issuing CA certificates between CERT and the root\n"
    "  --revoked FILE     revocations to apply; repeatable\n"
    "  --at TIME          check (verify) or date (revoke) at TIME instead of now\n"
    "  -h, --help         this text\n"
    "\n"
    "TIME is now, @UNIX-SECONDS, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).\n"
    "exit status: 0 ok, 1 a file or check failed, 2 usage error\n";

constexpr uint64_t kDay = 86400;
constexpr uint64_t kSkewAllowance = 600;

int UsageError(const std::string& message) {
  std::fprintf(stderr, "ipop-cert: %s\n(try ipop-cert --help)\n", message.c_str());
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "ipop-cert: %s\n", message.c_str());
  return 1;
}

// The parsed command line of one command: options with values (repeatable ones keep all) and
// positional words.
struct Args {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> flags;
  std::vector<std::string> words;
  const std::string* One(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? nullptr : &it->second.front();
  }
  std::vector<std::string> All(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
  bool Flag(const std::string& key) const {
    return std::find(flags.begin(), flags.end(), key) != flags.end();
  }
};

struct CommandSpec {
  std::vector<std::string> single;      // options taking one value, at most once
  std::vector<std::string> repeatable;  // options taking a value, any number of times
  std::vector<std::string> flags;       // options without a value
  std::vector<std::string> required;
  bool words = false;  // takes positional arguments
};

const std::vector<std::string> kValidity = {"--days", "--not-before", "--not-after"};
const std::vector<std::string> kScope = {"--vip", "--subnet", "--multicast", "--group"};

std::vector<std::string> Join(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::map<std::string, CommandSpec>& Specs() {
  static const std::map<std::string, CommandSpec> specs = {
      {"ca",
       {Join({"--network", "--name", "--key", "--cert"}, kValidity),
        kScope,
        {},
        {"--network", "--name", "--key", "--cert"}}},
      {"keygen", {{"--key", "--pub"}, {}, {}, {"--key"}}},
      {"sign",
       {Join({"--ca-key", "--ca-cert", "--pub", "--name", "--out", "--network"}, kValidity),
        kScope,
        {"--issuing"},
        {"--ca-key", "--ca-cert", "--pub", "--name", "--out"}}},
      {"print", {{}, {}, {}, {}, true}},
      {"verify",
       {{"--ca", "--chain", "--network", "--at", "--key"}, {"--revoked"}, {}, {"--ca"}, true}},
      {"revoke",
       {{"--ca-key", "--ca-cert", "--cert", "--out", "--at"},
        {},
        {},
        {"--ca-key", "--ca-cert", "--cert", "--out"}}},
  };
  return specs;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Parses argv[2..] for `command`; on a usage error returns nullopt with *error set.
std::optional<Args> ParseArgs(const std::string& command, int argc, char** argv,
                              std::string* error) {
  const CommandSpec& spec = Specs().at(command);
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      if (Contains(spec.flags, arg)) {
        a.flags.push_back(arg);
        continue;
      }
      const bool single = Contains(spec.single, arg);
      if (!single && !Contains(spec.repeatable, arg)) {
        *error = command + ": unknown option " + arg;
        return std::nullopt;
      }
      if (i + 1 >= argc) {
        *error = command + ": " + arg + " needs a value";
        return std::nullopt;
      }
      if (single && a.values.count(arg) != 0) {
        *error = command + ": " + arg + " given twice";
        return std::nullopt;
      }
      a.values[arg].push_back(argv[++i]);
      continue;
    }
    if (!spec.words) {
      *error = command + ": unexpected argument '" + arg + "'";
      return std::nullopt;
    }
    a.words.push_back(arg);
  }
  for (const std::string& r : spec.required) {
    if (a.values.count(r) == 0) {
      *error = command + ": " + r + " is required";
      return std::nullopt;
    }
  }
  return a;
}

uint64_t Now() {
  return uint64_t(std::time(nullptr));
}

Serial NewSerial() {
  Serial s{};
  while (std::all_of(s.begin(), s.end(), [](uint8_t b) { return b == 0; })) {
    if (RAND_bytes(s.data(), int(s.size())) != 1) {
      std::fprintf(stderr, "ipop-cert: the random generator failed\n");
      std::exit(1);
    }
  }
  return s;
}

// A certificate file that must hold exactly one certificate.
bool ReadOneCertificate(const std::string& path, Certificate* out, std::string* error) {
  CertificateFile f = ReadCertificateFile(path);
  if (!f.error.empty()) {
    *error = f.error;
    return false;
  }
  if (f.certs.size() != 1) {
    *error =
        path + ": holds " + std::to_string(f.certs.size()) + " certificates; one is expected here";
    return false;
  }
  *out = std::move(f.certs.front());
  return true;
}

std::string Describe(const Certificate& c) {
  return std::string(UsageName(c.fields.usage)) + " '" + c.fields.name + "'";
}

// Scope and validity options shared by ca and sign. Returns a usage error text or "".
std::string ReadScope(const Args& a, CertificateFields* f) {
  struct List {
    const char* option;
    std::vector<Prefix>* out;
  };
  for (const List& l : {List{"--vip", &f->vips}, List{"--subnet", &f->subnets},
                        List{"--multicast", &f->multicast}}) {
    if (a.values.count(l.option) == 0) continue;
    l.out->clear();
    for (const std::string& text : a.All(l.option)) {
      const std::optional<Prefix> p = ParsePrefix(text);
      if (!p)
        return std::string(l.option) + " '" + text +
               "' is not an IPv4 address or prefix "
               "with host bits zero (10.77.0.3 or 10.77.0.0/24)";
      l.out->push_back(*p);
    }
  }
  if (a.values.count("--group") != 0) f->groups = a.All("--group");
  return "";
}

// Validity from --not-before/--days/--not-after. `default_days` applies without --days and
// --not-after; `cap` (the issuer's not-after) cuts a default, but an explicit end beyond it is an
// error for CheckScope to report.
std::string ReadValidity(const Args& a, uint64_t default_days, std::optional<uint64_t> floor,
                         std::optional<uint64_t> cap, CertificateFields* f) {
  const uint64_t now = Now();
  f->not_before = now - kSkewAllowance;
  if (floor && f->not_before < *floor) f->not_before = *floor;
  if (const std::string* t = a.One("--not-before")) {
    const std::optional<uint64_t> v = ParseTime(*t, now);
    if (!v) return "--not-before '" + *t + "' is not a TIME";
    f->not_before = *v;
  }
  const std::string* days = a.One("--days");
  const std::string* until = a.One("--not-after");
  if (days != nullptr && until != nullptr) return "give --days or --not-after, not both";
  if (until != nullptr) {
    const std::optional<uint64_t> v = ParseTime(*until, now);
    if (!v) return "--not-after '" + *until + "' is not a TIME";
    f->not_after = *v;
  } else if (days != nullptr) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(days->c_str(), &end, 10);
    if (days->empty() || *end != '\0' || n == 0 || n > 36500)
      return "--days '" + *days + "' is not a number of days in 1..36500";
    f->not_after = f->not_before + n * kDay;
  } else {
    f->not_after = f->not_before + default_days * kDay;
    if (cap && f->not_after > *cap) f->not_after = *cap;
  }
  if (f->not_after <= f->not_before)
    return Cat({"not-after (", FormatTime(f->not_after), ") is not after not-before (",
                FormatTime(f->not_before), ")"});
  return "";
}

// Names what of `subject` its issuer may not grant (for a clear error), or "".
std::string ScopeProblem(const CertificateFields& s, const Certificate& issuer) {
  const CertificateFields& i = issuer.fields;
  auto covered = [](const Prefix& p, const std::vector<Prefix>& list) {
    return std::any_of(list.begin(), list.end(), [&](const Prefix& q) { return q.Covers(p); });
  };
  struct List {
    const char* what;
    const std::vector<Prefix>& mine;
    const std::vector<Prefix>& theirs;
  };
  for (const List& l : {List{"--vip", s.vips, i.vips}, List{"--subnet", s.subnets, i.subnets},
                        List{"--multicast", s.multicast, i.multicast}}) {
    for (const Prefix& p : l.mine)
      if (!covered(p, l.theirs))
        return std::string(l.what) + " " + p.ToString() + " is outside what " + Describe(issuer) +
               " may grant (" +
               [&] {
                 std::string t;
                 for (const Prefix& q : l.theirs) t += Cat({t.empty() ? "" : " ", q.ToString()});
                 return t.empty() ? std::string("nothing") : t;
               }() +
               ")";
  }
  if (!Contains(i.groups, std::string(kAnyGroup)))
    for (const std::string& g : s.groups)
      if (!Contains(i.groups, g))
        return "--group " + g + " is not among the groups " + Describe(issuer) + " may grant";
  if (s.not_before < i.not_before)
    return Cat({"not-before ", FormatTime(s.not_before), " is before the CA's (",
                FormatTime(i.not_before), ")"});
  if (s.not_after > i.not_after)
    return Cat({"not-after ", FormatTime(s.not_after), " is after the CA's (",
                FormatTime(i.not_after), "); use --days or --not-after to end earlier"});
  return "";
}

std::string Written(const std::string& path, const std::string& what) {
  return "wrote " + path + " (" + what + ")";
}

int CmdCa(const Args& a) {
  CertificateFields f;
  f.usage = Usage::kRootCa;
  f.serial = NewSerial();
  f.network = *a.One("--network");
  f.name = *a.One("--name");
  if (!IsValidName(f.network, kMaxNameLength))
    return UsageError("ca: --network '" + f.network +
                      "': " + CertErrorText(CertError::kBadNetwork));
  if (!IsValidName(f.name, kMaxNameLength))
    return UsageError("ca: --name '" + f.name + "': " + CertErrorText(CertError::kBadName));
  f.vips = {Prefix{0, 0}};
  f.subnets = {Prefix{0, 0}};
  f.multicast = {Prefix{0xe0000000u, 4}};
  f.groups = {std::string(kAnyGroup)};
  std::string problem = ReadScope(a, &f);
  if (problem.empty()) problem = ReadValidity(a, 3650, std::nullopt, std::nullopt, &f);
  if (!problem.empty()) return UsageError("ca: " + problem);
  std::unique_ptr<PrivateKey> key = PrivateKey::Generate();
  if (!key) return Fail("cannot generate an Ed25519 key");
  f.public_key = key->public_key();
  const SignedCertificate c = SignCertificate(f, *key);
  if (!c.cert) return UsageError(std::string("ca: ") + CertErrorText(c.error));
  const std::string& key_path = *a.One("--key");
  const std::string& cert_path = *a.One("--cert");
  std::string err = WriteNewFile(key_path, key->ToPem(), 0600);
  if (!err.empty()) return Fail(err);
  err = WriteNewFile(cert_path, WritePem(kCertificateLabel, EncodeCertificate(*c.cert)), 0644);
  if (!err.empty()) {
    ::unlink(key_path.c_str());  // a key without its certificate is of no use; we just made it
    return Fail(err);
  }
  std::printf("%s\n%s\n", Written(key_path, "root CA private key, keep it offline").c_str(),
              Written(cert_path, "root CA certificate of network " + f.network + ", valid until " +
                                     FormatTime(f.not_after))
                  .c_str());
  return 0;
}

int CmdKeygen(const Args& a) {
  std::unique_ptr<PrivateKey> key = PrivateKey::Generate();
  if (!key) return Fail("cannot generate an Ed25519 key");
  const std::string& key_path = *a.One("--key");
  std::string err = WriteNewFile(key_path, key->ToPem(), 0600);
  if (!err.empty()) return Fail(err);
  const std::string* pub = a.One("--pub");
  if (pub != nullptr) {
    err = WriteNewFile(*pub, PublicKeyToPem(key->public_key()), 0644);
    if (!err.empty()) {
      ::unlink(key_path.c_str());  // all or nothing, as for ca
      return Fail(err);
    }
  }
  std::printf(
      "%s\n",
      Written(key_path, Cat({"private key, key id ", Hex(KeyIdOf(key->public_key()))})).c_str());
  if (pub != nullptr)
    std::printf("%s\n", Written(*pub, "public key: give it to the CA to sign").c_str());
  return 0;
}

// The signing CA: key and certificate that belong together, a CA, valid now.
bool ReadSigner(const Args& a, std::unique_ptr<PrivateKey>* key, Certificate* cert,
                std::string* error) {
  const std::string& cert_path = *a.One("--ca-cert");
  const std::string& key_path = *a.One("--ca-key");
  if (!ReadOneCertificate(cert_path, cert, error)) return false;
  if (!cert->IsCa()) {
    *error = cert_path + ": " + Describe(*cert) + " is not a CA certificate";
    return false;
  }
  PrivateKeyFile k = ReadPrivateKeyFile(key_path);
  if (!k.error.empty()) {
    *error = k.error;
    return false;
  }
  if (k.key->public_key() != cert->fields.public_key) {
    *error = key_path + ": is not the key of " + cert_path + " (key id " +
             Hex(KeyIdOf(k.key->public_key())) + ", the certificate's is " + Hex(cert->key_id()) +
             ")";
    return false;
  }
  const uint64_t now = Now();
  if (now >= cert->fields.not_after || now < cert->fields.not_before) {
    *error = cert_path + ": " + Describe(*cert) +
             (now >= cert->fields.not_after ? " expired at " : " is not valid before ") +
             FormatTime(now >= cert->fields.not_after ? cert->fields.not_after
                                                      : cert->fields.not_before);
    return false;
  }
  *key = std::move(k.key);
  return true;
}

int CmdSign(const Args& a) {
  std::unique_ptr<PrivateKey> ca_key;
  Certificate ca;
  std::string err;
  if (!ReadSigner(a, &ca_key, &ca, &err)) return Fail(err);
  const bool issuing = a.Flag("--issuing");
  if (issuing && ca.fields.usage != Usage::kRootCa)
    return Fail(*a.One("--ca-cert") + ": " + Describe(ca) +
                " cannot sign an issuing CA: chains are at most root -> issuing CA -> node");
  const PublicKeyFile pub = ReadPublicKeyFile(*a.One("--pub"));
  if (!pub.error.empty()) return Fail(pub.error);
  CertificateFields f;
  f.usage = issuing ? Usage::kIssuingCa : Usage::kNode;
  f.serial = NewSerial();
  f.public_key = pub.key;
  f.network = ca.fields.network;
  f.name = *a.One("--name");
  if (const std::string* net = a.One("--network"); net != nullptr && *net != ca.fields.network)
    return Fail(*a.One("--ca-cert") + ": " + Describe(ca) + " is for network '" +
                ca.fields.network + "', not '" + *net + "'");
  if (!IsValidName(f.name, kMaxNameLength))
    return UsageError("sign: --name '" + f.name + "': " + CertErrorText(CertError::kBadName));
  if (issuing) {
    f.vips = ca.fields.vips;
    f.subnets = ca.fields.subnets;
    f.multicast = ca.fields.multicast;
    f.groups = ca.fields.groups;
  }
  std::string problem = ReadScope(a, &f);
  if (problem.empty())
    problem = ReadValidity(a, issuing ? 1825 : 365, ca.fields.not_before, ca.fields.not_after, &f);
  if (!problem.empty()) return UsageError("sign: " + problem);
  if (!issuing && f.vips.empty())
    return UsageError("sign: a node certificate needs at least one --vip (address or pool)");
  if (!issuing && Contains(f.groups, std::string(kAnyGroup)))
    return UsageError("sign: '*' is for CA certificates, not a group a node can be in");
  problem = ScopeProblem(f, ca);
  if (!problem.empty()) return Fail(*a.One("--ca-cert") + ": " + problem);
  const SignedCertificate c = SignCertificate(f, *ca_key);
  if (!c.cert) return UsageError(std::string("sign: ") + CertErrorText(c.error));
  const std::string& out = *a.One("--out");
  err = WriteNewFile(out, WritePem(kCertificateLabel, EncodeCertificate(*c.cert)), 0644);
  if (!err.empty()) return Fail(err);
  std::printf("%s\n", Written(out, std::string(UsageName(f.usage)) + " certificate for '" + f.name +
                                       "' in network " + f.network + ", valid until " +
                                       FormatTime(f.not_after))
                          .c_str());
  return 0;
}

int CmdPrint(const Args& a) {
  if (a.words.empty()) return UsageError("print: name at least one FILE");
  for (const std::string& path : a.words) {
    // Which kind of file: the first block's label decides.
    CertificateFile certs = ReadCertificateFile(path);
    if (certs.error.empty()) {
      for (size_t i = 0; i < certs.certs.size(); ++i) {
        std::printf("%s: certificate %zu of %zu\n%s", path.c_str(), i + 1, certs.certs.size(),
                    ipop::cert_tool::CertificateText(certs.certs[i]).c_str());
      }
      continue;
    }
    RevocationFile revs = ReadRevocationFile(path);
    if (revs.error.empty()) {
      for (size_t i = 0; i < revs.revocations.size(); ++i) {
        std::printf("%s: revocation %zu of %zu\n%s", path.c_str(), i + 1, revs.revocations.size(),
                    ipop::cert_tool::RevocationText(revs.revocations[i]).c_str());
      }
      continue;
    }
    // Neither: report the certificate reading unless the file is a revocation file gone bad.
    const bool revocation_file =
        certs.error.find(std::string(kRevocationLabel)) != std::string::npos;
    return Fail(revocation_file ? revs.error : certs.error);
  }
  return 0;
}

int CmdVerify(const Args& a) {
  if (a.words.size() != 1) return UsageError("verify: name exactly one certificate file");
  const std::string& path = a.words.front();
  const std::string& ca_path = *a.One("--ca");
  CertificateFile roots = ReadCertificateFile(ca_path);
  if (!roots.error.empty()) return Fail(roots.error);
  for (const Certificate& r : roots.certs) {
    if (!IsValidRoot(r))
      return Fail(ca_path + ": " + Describe(r) +
                  (r.fields.usage == Usage::kRootCa
                       ? " is not correctly self-signed (altered?)"
                       : " is not a root CA certificate (pass it with --chain)"));
  }
  std::vector<Certificate> chain;
  if (const std::string* chain_path = a.One("--chain")) {
    CertificateFile c = ReadCertificateFile(*chain_path);
    if (!c.error.empty()) return Fail(c.error);
    chain = std::move(c.certs);
  }
  Certificate cert;
  std::string err;
  if (!ReadOneCertificate(path, &cert, &err)) return Fail(err);
  const std::string network =
      a.One("--network") ? *a.One("--network") : roots.certs[0].fields.network;
  uint64_t at = Now();
  if (const std::string* t = a.One("--at")) {
    const std::optional<uint64_t> v = ParseTime(*t, at);
    if (!v) return UsageError("verify: --at '" + *t + "' is not a TIME");
    at = *v;
  }
  // Revocations count only when signed by the root or an issuing CA of the chain given.
  RevocationList revoked;
  for (const std::string& rev_path : a.All("--revoked")) {
    RevocationFile rf = ReadRevocationFile(rev_path);
    if (!rf.error.empty()) return Fail(rf.error);
    for (const Revocation& r : rf.revocations) {
      const Certificate* signer = nullptr;
      for (const std::vector<Certificate>* set : {&roots.certs, &chain})
        for (const Certificate& c : *set)
          if (c.key_id() == r.fields.signer) signer = &c;
      if (signer == nullptr)
        return Fail(rev_path + ": signed by key " + Hex(r.fields.signer) +
                    ", which is neither the root nor an issuing CA given with --chain");
      if (signer->fields.usage == Usage::kIssuingCa) {
        const ChainResult sc = VerifyChain(*signer, {}, roots.certs, network, at, nullptr);
        if (!sc.ok())
          return Fail(rev_path + ": signer " + Describe(*signer) + ": " + ChainErrorText(sc.error));
      }
      const RevocationError e = VerifyRevocation(r, *signer, network);
      if (e != RevocationError::kOk) return Fail(rev_path + ": " + RevocationErrorText(e));
      revoked.Add(r, at);
    }
  }
  const ChainResult result = VerifyChain(cert, chain, roots.certs, network, at, &revoked);
  if (!result.ok()) {
    std::string what = result.failed == &cert || result.failed == nullptr
                           ? Describe(cert)
                           : Cat({"its issuer ", Describe(*result.failed)});
    std::string detail = ChainErrorText(result.error);
    if (result.error == ChainError::kExpired)
      detail += Cat({" at ", FormatTime(result.failed->fields.not_after)});
    if (result.error == ChainError::kNotYetValid)
      detail += Cat({" before ", FormatTime(result.failed->fields.not_before)});
    if (result.error == ChainError::kWrongNetwork)
      detail += " ('" + result.failed->fields.network + "', expected '" + network + "')";
    if (result.error == ChainError::kUnknownIssuer)
      detail += Cat({" (issuer key id ", Hex(result.failed->fields.issuer), ")"});
    return Fail(path + ": " + what + ": " + detail +
                (a.One("--at") ? Cat({" (checked at ", FormatTime(at), ")"}) : ""));
  }
  if (const std::string* key_path = a.One("--key")) {
    PrivateKeyFile k = ReadPrivateKeyFile(*key_path);
    if (!k.error.empty()) return Fail(k.error);
    if (k.key->public_key() != cert.fields.public_key)
      return Fail(*key_path + ": is not the key of " + path + " (key id " +
                  Hex(KeyIdOf(k.key->public_key())) + ", the certificate's is " +
                  Hex(cert.key_id()) + ")");
  }
  std::string via;
  for (size_t i = 1; i < result.path.size(); ++i) via += Cat({" <- ", Describe(*result.path[i])});
  std::printf("%s: ok: %s of network %s%s, valid until %s\n", path.c_str(), Describe(cert).c_str(),
              network.c_str(), via.c_str(), FormatTime(cert.fields.not_after).c_str());
  return 0;
}

int CmdRevoke(const Args& a) {
  std::unique_ptr<PrivateKey> ca_key;
  Certificate ca;
  std::string err;
  if (!ReadSigner(a, &ca_key, &ca, &err)) return Fail(err);
  const std::string& cert_path = *a.One("--cert");
  Certificate cert;
  if (!ReadOneCertificate(cert_path, &cert, &err)) return Fail(err);
  uint64_t at = Now();
  if (const std::string* t = a.One("--at")) {
    const std::optional<uint64_t> v = ParseTime(*t, at);
    if (!v) return UsageError("revoke: --at '" + *t + "' is not a TIME");
    at = *v;
  }
  if (cert.fields.network != ca.fields.network)
    return Fail(cert_path + ": " + Describe(cert) + " is of network '" + cert.fields.network +
                "', the CA's is '" + ca.fields.network + "'");
  if (cert.fields.usage == Usage::kRootCa)
    return Fail(cert_path + ": a root CA is not revoked: remove it from the nodes' trusted CAs");
  if (ca.fields.usage == Usage::kIssuingCa && cert.fields.issuer != ca.key_id())
    return Fail(cert_path + ": " + Describe(cert) + " was not issued by " + Describe(ca) +
                " (issuer key id " + Hex(cert.fields.issuer) +
                "); revoke it with its issuer or the root");
  if (at >= cert.fields.not_after)
    return Fail(cert_path + ": " + Describe(cert) + " expired at " +
                FormatTime(cert.fields.not_after) + "; nodes refuse it already");
  const SignedRevocation r = RevokeCertificate(cert, ca, *ca_key, at);
  if (!r.revocation) return Fail(cert_path + ": " + RevocationErrorText(r.error));
  const std::string& out = *a.One("--out");
  err = WriteNewFile(out, WritePem(kRevocationLabel, EncodeRevocation(*r.revocation)), 0644);
  if (!err.empty()) return Fail(err);
  std::printf("%s\n", Written(out, Cat({"revocation of ", Describe(cert), " serial ",
                                        Hex(cert.fields.serial), ", to be remembered until ",
                                        FormatTime(cert.fields.not_after)}))
                          .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return UsageError("no command");
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  if (Specs().count(command) == 0) return UsageError("unknown command '" + command + "'");
  std::string error;
  const std::optional<Args> args = ParseArgs(command, argc, argv, &error);
  if (!args) return UsageError(error);
  if (command == "ca") return CmdCa(*args);
  if (command == "keygen") return CmdKeygen(*args);
  if (command == "sign") return CmdSign(*args);
  if (command == "print") return CmdPrint(*args);
  if (command == "verify") return CmdVerify(*args);
  return CmdRevoke(*args);
}

#!/usr/bin/env bash
# ipop-cert end to end in a scratch directory (docs/pki.md walk-through): a root CA, an issuing CA,
# nodes signed by each, print, verify, revoke; then each error a user can run into must exit
# non-zero with one line naming the file and the problem. Usage: test_ipop_cert.sh IPOP_CERT
set -uo pipefail
BIN=$(realpath "$1")
W=$(mktemp -d /tmp/ipop-cert-test.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
umask 022

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() {
  "$BIN" "$@" >out 2>err || fail "ipop-cert $* exited $?: $(cat err)"
}
# expect_error STATUS TEXT ARGS...: exits STATUS, stderr contains TEXT; status 1 is one line.
expect_error() {
  local want_rc=$1 want=$2 rc
  shift 2
  "$BIN" "$@" >out 2>err
  rc=$?
  [[ $rc == "$want_rc" ]] || fail "ipop-cert $*: exit $rc, expected $want_rc; stderr: $(cat err)"
  grep -qF -- "$want" err || fail "ipop-cert $*: stderr lacks '$want': $(cat err)"
  if [[ $want_rc == 1 ]]; then
    [[ $(wc -l <err) == 1 ]] || fail "ipop-cert $*: error is not one line: $(cat err)"
    [[ ! -s out ]] || fail "ipop-cert $*: printed to stdout on error: $(cat out)"
  fi
}
# Changes byte OFFSET (from the start of the certificate) of the first PEM block in FILE.
tamper() { # tamper FILE OFFSET OUT
  python3 - "$@" <<'PY'
import base64, sys
src, off, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(src).read().splitlines()
label = lines[0][len("-----BEGIN "):-5]
data = bytearray(base64.b64decode("".join(lines[1:-1])))
data[off] ^= 0x01
b64 = base64.b64encode(bytes(data)).decode()
body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
open(dst, "w").write(f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
PY
}

# ---- the walk-through ----
"$BIN" --help >help || fail "--help failed"
for c in ca keygen sign print verify revoke; do
  grep -qE "^  $c " help || fail "--help does not list the command $c"
done

ok ca --network lab --name lab-root --key ca.key --cert ca.crt --vip 10.77.0.0/16 \
  --not-before 2020-01-01 --days 36500
grep -q "wrote ca.crt (root CA certificate of network lab" out || fail "ca output: $(cat out)"
[[ $(stat -c %a ca.key) == 600 ]] || fail "ca.key has mode $(stat -c %a ca.key), not 600"
[[ $(stat -c %a ca.crt) == 644 ]] || fail "ca.crt has mode $(stat -c %a ca.crt)"

ok keygen --key site.key --pub site.pub
[[ $(stat -c %a site.key) == 600 ]] || fail "site.key has mode $(stat -c %a site.key)"
ok sign --ca-key ca.key --ca-cert ca.crt --pub site.pub --name site-a --issuing \
  --vip 10.77.1.0/24 --group web --group db --out site.crt
grep -q "wrote site.crt (issuing-ca certificate for 'site-a' in network lab" out ||
  fail "sign --issuing output: $(cat out)"

ok keygen --key n1.key --pub n1.pub
ok sign --ca-key site.key --ca-cert site.crt --pub n1.pub --name n1 --vip 10.77.1.3 --group web \
  --multicast 239.1.0.0/16 --days 30 --out n1.crt
ok keygen --key n2.key --pub n2.pub
ok sign --ca-key ca.key --ca-cert ca.crt --pub n2.pub --name n2 --vip 10.77.0.0/24 \
  --subnet 192.168.7.0/24 --out n2.crt

ok print n1.crt
for line in "usage          node" "name           n1" "network        lab" \
  "vips           10.77.1.3/32" "multicast      239.1.0.0/16" "groups         web" \
  "subnets        -"; do
  grep -qF "  $line" out || fail "print n1.crt lacks '$line': $(cat out)"
done
ok print ca.crt site.crt
grep -q "groups         \*" out || fail "print ca.crt: the root's groups are not '*': $(cat out)"
[[ $(grep -c ": certificate 1 of 1" out) == 2 ]] || fail "print of two files: $(cat out)"

ok verify --ca ca.crt --chain site.crt --key n1.key n1.crt
grep -q "^n1.crt: ok: node 'n1' of network lab <- issuing-ca 'site-a' <- root-ca 'lab-root'" out ||
  fail "verify n1.crt: $(cat out)"
ok verify --ca ca.crt n2.crt
grep -q "^n2.crt: ok: node 'n2' of network lab <- root-ca 'lab-root'" out || fail "verify n2: $(cat out)"
ok verify --ca ca.crt site.crt

ok revoke --ca-key site.key --ca-cert site.crt --cert n1.crt --out n1.rev
grep -q "wrote n1.rev (revocation of node 'n1' serial" out || fail "revoke output: $(cat out)"
ok print n1.rev
grep -q "n1.rev: revocation 1 of 1" out || fail "print n1.rev: $(cat out)"
expect_error 1 "n1.crt: node 'n1': revoked" verify --ca ca.crt --chain site.crt --revoked n1.rev n1.crt
# The revocation does not touch others; the root may revoke a node of the issuing CA too.
ok verify --ca ca.crt --chain site.crt --revoked n1.rev n2.crt
ok revoke --ca-key ca.key --ca-cert ca.crt --cert site.crt --out site.rev
expect_error 1 "n1.crt: its issuer issuing-ca 'site-a': revoked" \
  verify --ca ca.crt --chain site.crt --revoked site.rev n1.crt

# ---- every error a user can run into ----
# Wrong CA.
ok ca --network lab --name other-root --key other.key --cert other.crt
expect_error 1 "n2.crt: node 'n2': issued by a key that is neither a trusted root nor a given issuing CA" \
  verify --ca other.crt n2.crt
# Expired and not yet valid (checked at a given time).
nb=$(sed -nE 's/^  not-before +.*\(@([0-9]+)\)$/\1/p' < <("$BIN" print n1.crt))
na=$(sed -nE 's/^  not-after +.*\(@([0-9]+)\)$/\1/p' < <("$BIN" print n1.crt))
[[ -n $nb && -n $na ]] || fail "cannot read n1.crt's validity from print"
ok verify --ca ca.crt --chain site.crt --at "@$nb" n1.crt
ok verify --ca ca.crt --chain site.crt --at "@$((na - 1))" n1.crt
expect_error 1 "n1.crt: node 'n1': expired at" verify --ca ca.crt --chain site.crt --at "@$na" n1.crt
expect_error 1 "n1.crt: node 'n1': not yet valid before" \
  verify --ca ca.crt --chain site.crt --at "@$((nb - 1))" n1.crt
ok sign --ca-key ca.key --ca-cert ca.crt --pub n2.pub --name old --vip 10.77.0.9 \
  --not-before 2025-01-01 --not-after 2025-02-01 --out old.crt
expect_error 1 "old.crt: node 'old': expired at 2025-02-01T00:00:00Z" verify --ca ca.crt old.crt
# Wrong network.
expect_error 1 "n2.crt: node 'n2': for another network ('lab', expected 'other')" \
  verify --ca ca.crt --network other n2.crt
expect_error 1 "ca.crt: root-ca 'lab-root' is for network 'lab', not 'other'" \
  sign --ca-key ca.key --ca-cert ca.crt --pub n2.pub --name x --vip 10.77.0.5 --network other \
  --out x.crt
# Tampered: a VIP byte, the signature, the format version.
vip_off=$((84 + 4 + 3 + 1 + 2))  # fixed part, "lab", "n2", VIP count: third address byte
tamper n2.crt "$vip_off" forged.crt
expect_error 1 "forged.crt: node 'n2': signature does not verify" verify --ca ca.crt forged.crt
tamper n2.crt 130 forged-sig.crt
expect_error 1 "forged-sig.crt: node 'n2': signature does not verify" verify --ca ca.crt forged-sig.crt
tamper n2.crt 0 v0.crt
expect_error 1 "v0.crt: unsupported certificate format version" verify --ca ca.crt v0.crt
tamper ca.crt 10 bad-root.crt  # a serial byte: still a well-formed root
expect_error 1 "bad-root.crt: root-ca 'lab-root' is not correctly self-signed" \
  verify --ca bad-root.crt n2.crt
# Key and certificate that do not belong together.
expect_error 1 "site.key: is not the key of ca.crt" \
  sign --ca-key site.key --ca-cert ca.crt --pub n2.pub --name x --vip 10.77.0.5 --out x.crt
expect_error 1 "n2.key: is not the key of n1.crt" verify --ca ca.crt --chain site.crt --key n2.key n1.crt
# A node certificate cannot sign; an issuing CA cannot sign another one.
expect_error 1 "n2.crt: node 'n2' is not a CA certificate" \
  sign --ca-key n2.key --ca-cert n2.crt --pub n1.pub --name x --vip 10.77.0.5 --out x.crt
expect_error 1 "site.crt: issuing-ca 'site-a' cannot sign an issuing CA" \
  sign --ca-key site.key --ca-cert site.crt --pub n2.pub --name x --issuing --out x.crt
# Outside the CA's scope and validity.
expect_error 1 "site.crt: --vip 10.77.2.3/32 is outside what issuing-ca 'site-a' may grant (10.77.1.0/24)" \
  sign --ca-key site.key --ca-cert site.crt --pub n2.pub --name x --vip 10.77.2.3 --out x.crt
expect_error 1 "site.crt: --group admin is not among the groups issuing-ca 'site-a' may grant" \
  sign --ca-key site.key --ca-cert site.crt --pub n2.pub --name x --vip 10.77.1.5 --group admin \
  --out x.crt
expect_error 1 "is after the CA's" \
  sign --ca-key site.key --ca-cert site.crt --pub n2.pub --name x --vip 10.77.1.5 --days 36500 \
  --out x.crt
[[ ! -e x.crt ]] || fail "a refused sign left x.crt behind"
# A CA that is no longer valid signs nothing.
ok ca --network lab --name dead-root --key dead.key --cert dead.crt --not-before 2020-01-01 \
  --not-after 2021-01-01
expect_error 1 "dead.crt: root-ca 'dead-root' expired at 2021-01-01T00:00:00Z" \
  sign --ca-key dead.key --ca-cert dead.crt --pub n2.pub --name x --vip 10.77.0.5 --out x.crt
# Revocations: only the issuer or the root; only of the network; a signer verify knows.
ok keygen --key site2.key --pub site2.pub
ok sign --ca-key ca.key --ca-cert ca.crt --pub site2.pub --name site-b --issuing --out site2.crt
expect_error 1 "n2.crt: node 'n2' was not issued by issuing-ca 'site-b'" \
  revoke --ca-key site2.key --ca-cert site2.crt --cert n2.crt --out x.rev
expect_error 1 "n1.rev: signed by key" verify --ca ca.crt --revoked n1.rev n2.crt
expect_error 1 "old.crt: node 'old' expired at" \
  revoke --ca-key ca.key --ca-cert ca.crt --cert old.crt --out old.rev
expect_error 1 "ca.crt: a root CA is not revoked" \
  revoke --ca-key ca.key --ca-cert ca.crt --cert ca.crt --out ca.rev
# Wrong files.
expect_error 1 "ca.key: holds a 'PRIVATE KEY' block where an 'IPOP CERTIFICATE' belongs" \
  verify --ca ca.key n2.crt
expect_error 1 "n1.rev: holds a 'IPOP REVOCATION' block where an 'IPOP CERTIFICATE' belongs" \
  verify --ca ca.crt n1.rev
expect_error 1 "missing.crt: cannot open: No such file or directory" verify --ca ca.crt missing.crt
echo "hello" >garbage.txt
expect_error 1 "garbage.txt: no '-----BEGIN IPOP CERTIFICATE-----' block" print garbage.txt
printf -- '-----BEGIN IPOP CERTIFICATE-----\nAAAA\n' >cut.crt
expect_error 1 "cut.crt: line 1: '-----BEGIN IPOP CERTIFICATE-----' has no END line" print cut.crt
cat ca.crt site.crt >two.crt
expect_error 1 "two.crt: holds 2 certificates; one is expected here" verify --ca ca.crt two.crt
expect_error 1 "site.crt: issuing-ca 'site-a' is not a root CA certificate (pass it with --chain)" \
  verify --ca site.crt n1.crt
(umask 077 && cp n1.pub pub-as-key)
expect_error 1 "pub-as-key: not a PEM private key" verify --ca ca.crt --chain site.crt --key pub-as-key n1.crt
expect_error 1 "n1.crt: not a PEM public key" \
  sign --ca-key ca.key --ca-cert ca.crt --pub n1.crt --name x --vip 10.77.0.5 --out x.crt
# A private key others can read is refused (the network secret's rule).
chmod 640 n2.key
expect_error 1 "'n2.key' is readable by group or other (mode 0640)" \
  verify --ca ca.crt --key n2.key n2.crt
chmod 600 n2.key
# Nothing is overwritten.
expect_error 1 "ca.crt: cannot create: File exists (ipop-cert never overwrites a file)" \
  ca --network lab --name again --key new.key --cert ca.crt
[[ ! -e new.key ]] || fail "a failed ca left its key new.key behind"
# Usage errors: exit 2 with the reason.
expect_error 2 "sign: a node certificate needs at least one --vip" \
  sign --ca-key ca.key --ca-cert ca.crt --pub n2.pub --name x --out x.crt
expect_error 2 "sign: unknown option --frobnicate" sign --frobnicate 1
expect_error 2 "ca: --network is required" ca --name r --key r.key --cert r.crt
expect_error 2 "--vip '10.77.0.3/24' is not an IPv4 address or prefix" \
  sign --ca-key ca.key --ca-cert ca.crt --pub n2.pub --name x --vip 10.77.0.3/24 --out x.crt
expect_error 2 "--not-after '2026-02-31' is not a TIME" \
  sign --ca-key ca.key --ca-cert ca.crt --pub n2.pub --name x --vip 10.77.0.3 \
  --not-after 2026-02-31 --out x.crt
expect_error 2 "ca: --name 'bad name': name is not 1..32" \
  ca --network lab --name "bad name" --key r.key --cert r.crt
expect_error 2 "unknown command 'frob'" frob
echo "ipop-cert: walk-through and every error checked"

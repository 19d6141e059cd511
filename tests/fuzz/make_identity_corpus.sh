#!/usr/bin/env bash
# Seeds for fuzz_certificate, fuzz_revocation and fuzz_pem, made with ipop-cert itself:
#   tests/fuzz/make_identity_corpus.sh build/tools/ipop-cert
# The fixed test PKI (identity_test_pki/: a root CA of network "fuzzlab", an issuing CA and a node;
# test keys used nowhere else) is made on the first run and then reused, so seeds signed later
# still verify under the root the targets embed (identity_test_pki.h, written from it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
pki=$here/identity_test_pki
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cert() { "$bin" "$@" >/dev/null; }

if [[ ! -f $pki/root.crt ]]; then
  mkdir -p "$pki"
  cert ca --network fuzzlab --name fuzz-root --key root.key --cert root.crt --vip 10.99.0.0/16 \
    --subnet 192.168.0.0/16 --not-before 2026-01-01 --not-after 2099-01-01
  cert keygen --key site.key --pub site.pub
  cert sign --ca-key root.key --ca-cert root.crt --pub site.pub --name fuzz-site --issuing \
    --vip 10.99.1.0/24 --group web --group db --not-before 2026-01-01 --not-after 2090-01-01 \
    --out site.crt
  cert keygen --key node.key --pub node.pub
  cert sign --ca-key site.key --ca-cert site.crt --pub node.pub --name fuzz-node --vip 10.99.1.7 \
    --group web --not-before 2026-01-01 --not-after 2080-01-01 --out node.crt
  cp root.key root.crt site.key site.crt node.key node.pub node.crt "$pki/"
  {
    echo "// Written by tests/fuzz/make_identity_corpus.sh from identity_test_pki/ (test keys)."
    echo "#pragma once"
    for n in root site node; do
      v=$(case $n in root) echo kTestRootPem ;; site) echo kTestIssuingPem ;; node) echo kTestNodePem ;; esac)
      echo "inline constexpr char ${v}[] ="
      sed 's/.*/    "&\\n"/' "$pki/$n.crt"
      echo "    ;"
    done
  } >"$here/identity_test_pki.h"
fi
for k in root site node; do install -m 600 "$pki/$k.key" "$tmp/$k.key"; done
cp "$pki"/*.crt "$pki"/*.pub .

raw() { sed '1d;$d' "$1" | base64 -d; }
out_c=$here/corpus/certificate out_r=$here/corpus/revocation out_p=$here/corpus/pem
rm -rf "$out_c" "$out_r" "$out_p"
mkdir -p "$out_c" "$out_r" "$out_p"

cert keygen --key n2.key --pub n2.pub
cert sign --ca-key root.key --ca-cert root.crt --pub n2.pub --name n2 --vip 10.99.0.0/24 \
  --vip 10.99.2.2 --subnet 192.168.7.0/24 --multicast 239.1.0.0/16 --multicast 224.0.0.251 \
  --group a --group b --group c --not-before 2026-01-01 --not-after 2070-01-01 --out n2.crt
cert sign --ca-key root.key --ca-cert root.crt --pub n2.pub --name old --vip 10.99.0.9 \
  --not-before 2026-01-01 --not-after 2026-01-02 --out old.crt
cert keygen --key narrow.key --pub narrow.pub
cert sign --ca-key root.key --ca-cert root.crt --pub narrow.pub --name narrow --issuing \
  --vip 10.99.3.0/24 --subnet 192.168.3.0/24 --multicast 239.3.0.0/16 --group x \
  --not-before 2026-01-01 --not-after 2060-01-01 --out narrow.crt
for c in root site node n2 old narrow; do raw "$c.crt" >"$out_c/$c"; done
head -c 100 "$out_c/n2" >"$out_c/n2-truncated"
python3 - "$out_c/n2" "$out_c/n2-bad-signature" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[-5] ^= 1
open(sys.argv[2], "wb").write(d)
PY

cert revoke --ca-key site.key --ca-cert site.crt --cert node.crt --out node.rev --at 2026-06-01
cert revoke --ca-key root.key --ca-cert root.crt --cert n2.crt --out n2.rev --at 2026-06-01
cert revoke --ca-key root.key --ca-cert root.crt --cert site.crt --out site.rev --at 2026-06-01
for r in node n2 site; do raw "$r.rev" >"$out_r/$r"; done

cp root.crt "$out_p/root.crt"
cat root.crt site.crt node.crt >"$out_p/chain.crt"
cat node.rev n2.rev >"$out_p/two.rev"
{ echo "explanatory text"; cat n2.crt; echo; } >"$out_p/text-around.crt"
cp node.pub "$out_p/public-key.pem"
printf -- '-----BEGIN IPOP CERTIFICATE-----\nAB==\n-----END IPOP CERTIFICATE-----\n' >"$out_p/bad-padding"
sed 's/$/\r/' root.crt >"$out_p/crlf.crt"
echo "seeds: $(ls "$out_c" | wc -l) certificate, $(ls "$out_r" | wc -l) revocation, $(ls "$out_p" | wc -l) pem"

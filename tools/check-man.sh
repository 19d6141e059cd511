#!/usr/bin/env bash
# Checks the man pages in dist/man: groff renders them without a warning, and each documents
# everything the programs' own --help lists (ipop-node's options, ipopctl's commands and options,
# every configuration key), so a new option or command cannot ship without its man page entry.
# Usage: tools/check-man.sh SOURCE_ROOT IPOP_NODE IPOPCTL IPOP_CONTROLPLANE [IPOP_CERT]
set -uo pipefail
root=$1 node_bin=$2 ctl_bin=$3 cp_bin=$4 cert_bin=${5:-}
man_dir=$root/dist/man
command -v groff >/dev/null || {
  echo "SKIP: groff missing (Debian groff-base)"
  exit 77
}
failed=0
problem() {
  printf 'check-man: %s\n' "$*" >&2
  failed=1
}

for page in "$man_dir"/*.[1-8]; do
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  [[ -z $warnings ]] || problem "$(basename "$page"): groff warnings: $warnings"
done

# The tag lines of a rendered page's section: .TP tags start at column 7.
tags_in() { # tags_in PAGE SECTION
  groff -man -Tascii -P-cbou "$man_dir/$1" 2>/dev/null |
    awk -v s="$2" '/^[^ ]/ {in_s = ($0 == s); next} in_s && /^       [^ ]/ {print substr($0, 8)}'
}
# documented PAGE SECTION ITEM: ITEM opens a tag of SECTION ("-h, --help" counts for --help).
documented() {
  local item=$1 tag
  while IFS= read -r tag; do
    [[ $tag == "$item" || $tag == "$item "* || $tag == *", $item" || $tag == *", $item "* ]] &&
      return 0
  done <<<"$TAGS"
  return 1
}

TAGS=$(tags_in ipop-node.8 OPTIONS)
while read -r opt; do
  documented "$opt" || problem "ipop-node.8: OPTIONS lacks $opt (from ipop-node --help)"
done < <("$node_bin" --help | grep -oE '^  --[a-z-]+')

TAGS=$(tags_in ipopctl.8 OPTIONS)
while read -r opt; do
  documented "$opt" || problem "ipopctl.8: OPTIONS lacks $opt (from ipopctl --help)"
done < <("$ctl_bin" --help | sed -n '/^options:/,/^$/p' | grep -oE '^  (-[a-z], )?--[a-z-]+' |
  sed 's/.*--/--/')
TAGS=$(tags_in ipopctl.8 COMMANDS)
while read -r cmd; do
  documented "$cmd" || problem "ipopctl.8: COMMANDS lacks '$cmd' (from ipopctl --help)"
done < <("$ctl_bin" --help | sed -n '/^commands:/,/^$/p' | grep -E '^  [a-z]' |
  awk '{print ($1 == "dht") ? $1 " " $2 : $1}')

if [[ -n $cert_bin ]]; then
  TAGS=$(tags_in ipop-cert.1 OPTIONS)
  while read -r opt; do
    documented "$opt" || problem "ipop-cert.1: OPTIONS lacks $opt (from ipop-cert --help)"
  done < <("$cert_bin" --help | sed -n '/^options:/,/^$/p' | grep -oE '^  (-[a-z], )?--[a-z-]+' |
    sed 's/.*--/--/')
  TAGS=$(tags_in ipop-cert.1 COMMANDS)
  while read -r cmd; do
    documented "$cmd" || problem "ipop-cert.1: COMMANDS lacks '$cmd' (from ipop-cert --help)"
  done < <("$cert_bin" --help | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ {print $1}')
fi

# Configuration keys: "--node.mtu arg" is key mtu under [node]; --peer, --bootstrap, --announce
# are the top-level keys ("peer = VIP HOST:PORT").
keys=$("$cp_bin" --help | sed -n '/^Configuration/,$p' | grep -oE '^  --[a-z0-9.-]+' |
  sed 's/^  --//')
[[ -n $keys ]] || problem "ipop-controlplane --help lists no configuration keys"
for key in $keys; do
  if [[ $key == *.* ]]; then
    TAGS=$(tags_in ipop.conf.5 "[${key%%.*}]")
    documented "${key#*.}" || problem "ipop.conf.5: [${key%%.*}] lacks ${key#*.}"
  else
    TAGS=$(tags_in ipop.conf.5 "TOP-LEVEL KEYS")
    documented "$key" || problem "ipop.conf.5: TOP-LEVEL KEYS lacks $key"
  fi
done
pages=("$man_dir"/*.[1-8])
((failed == 0)) && echo "check-man: ${#pages[@]} pages render cleanly and cover every option, command and key"
exit $failed

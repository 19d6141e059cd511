#!/usr/bin/env bash
# A second, unprivileged local user (nobody, uid 65534) on the host of a node:
# 1. nobody creates the node's shared-memory object /dev/shm/ipop-<name> with mode 0666 before the
#    node starts (to read the session keys or write the inject ring once the node adopts it). The
#    node must refuse to start, saying which object, its owner and mode and what to do, and must
#    not write into it or remove it.
# 2. nobody can reach a running node's management socket (its directory is searchable for them,
#    so only the socket's own protection stops them): connect() is refused, ipopctl gets nothing,
#    a reload is not executed; the node's region and config are not readable for them.
# 3. a node whose socket directory other users can write refuses to start.
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
getent passwd 65534 >/dev/null || skip "no user with uid 65534 (nobody)"
net_init lusr
umask 077 # every file of this run (configs hold the secret) is for root only
# A clean environment: root's PATH may lead into directories nobody cannot enter.
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups -- env -i PATH=/usr/bin:/bin "$@"
}

SQUAT=/dev/shm/ipop-$(node_name 1)
squat_cleanup() {
  local rc=$?
  rm -f "$SQUAT"
  (exit "$rc")
  net_cleanup
}
trap squat_cleanup EXIT

# nobody can run a copy of ipopctl: the build tree may sit under a directory they cannot enter.
chmod 0711 "$WORK"
mkdir "$WORK/bin"
chmod 0755 "$WORK/bin"
cp "$IPOP_BUILD/tools/ipopctl" "$WORK/bin/ipopctl"
chmod 0755 "$WORK/bin/ipopctl"
as_nobody "$WORK/bin/ipopctl" --help >/dev/null || fail "nobody cannot run ipopctl (setup)"

for i in 1 2 3; do
  net_add_host "$i"
  write_config "$i" 2 "[overlay]" "enabled = false" >/dev/null
done

# --- 1. a squatted region --------------------------------------------------------------------
as_nobody sh -c "umask 0 && : >'$SQUAT' && chmod 0666 '$SQUAT'" || fail "nobody cannot create $SQUAT"
before=$(stat -c '%u %a %s %i' "$SQUAT")
[[ $before == "65534 666 0 "* ]] || fail "squat setup: $before"
start_node 1 --restart-delay-ms 200
pid1=${NODE_PID[1]}
for ((t = 0; t < 150; t++)); do
  kill -0 "$pid1" 2>/dev/null || break
  sleep 0.2
done
kill -0 "$pid1" 2>/dev/null && fail "node 1 is still running on a region planted by another user"
wait "$pid1"
rc=$?
unset "NODE_PID[1]"
((rc != 0)) || fail "node 1 exited 0 after refusing its region"
want="region /ipop-$(node_name 1) ($SQUAT) is owned by uid 65534 with mode 0666, expected uid 0 and mode 0600: it was not created by this node"
grep -qF "cannot start: cannot create or attach shared memory /ipop-$(node_name 1): $want" "$WORK/n1.log" ||
  fail "control plane did not refuse the region with the expected error"
grep -qF "ipop-dataplane: fatal: $want" "$WORK/n1.log" ||
  fail "dataplane did not refuse the region with the expected error"
grep -qF "remove it (rm $SQUAT) and start the node again" "$WORK/n1.log" || fail "error names no fix"
# Waiting cannot make the object ours: the dataplane exits at once (and is restarted), instead of
# waiting out dataplane.attach-timeout-ms (15 s) until the node stops.
grep -qE "dataplane pid [0-9]+ exited \(exit status 1\); restarting" "$WORK/n1.log" ||
  fail "the dataplane kept waiting for a region it refused"
grep -q "crash loop, stopping the node" "$WORK/n1.log" || fail "node 1 did not stop"
grep -qF "left the shared region in place" "$WORK/n1.log" || fail "supervisor did not say it kept $SQUAT"
after=$(stat -c '%u %a %s %i' "$SQUAT" 2>&1)
[[ $after == "$before" ]] || fail "the planted object changed: before '$before', after '$after'"
[[ ! -e $WORK/n1.sock ]] || fail "node 1 opened its management socket"
log "node 1 refused the region nobody planted (exit $rc); the object is untouched: $after"

# --- 2. nobody against a running node's management socket -----------------------------------
start_node 2
wait_for 30 "node 2 answers its owner" ctl 2 status
sock="$WORK/n2.sock"
[[ $(stat -c '%u %a' "$sock") == "0 600" ]] || fail "socket $(stat -c '%u %a' "$sock")"
as_nobody test -x "$WORK" || fail "setup: nobody cannot search $WORK"
# shellcheck disable=SC2016
connect=$(as_nobody python3 -c '
import errno, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
' "$sock")
[[ $connect == EACCES ]] || fail "nobody's connect() to the management socket: $connect (want EACCES)"
for cmd in status reload peers "dht put x y"; do
  # shellcheck disable=SC2086
  out=$(as_nobody "$WORK/bin/ipopctl" --socket "$sock" $cmd 2>&1)
  code=$?
  ((code == 2)) || fail "nobody's 'ipopctl $cmd' exited $code: $out"
  grep -q "Permission denied" <<<"$out" || fail "nobody's 'ipopctl $cmd': $out"
done
grep -qE "reload(ed| failed| refused)" "$WORK/n2.log" && fail "node 2 logged a reload nobody asked for"
out=$(as_nobody cat "/dev/shm/ipop-$(node_name 2)" 2>&1 >/dev/null) && fail "nobody read node 2's region"
grep -q "Permission denied" <<<"$out" || fail "reading the region as nobody: $out"
out=$(as_nobody cat "$WORK/n2.conf" 2>&1 >/dev/null) && fail "nobody read node 2's config"
ctl 2 status >/dev/null || fail "node 2 no longer answers its owner"
log "nobody: connect EACCES, ipopctl refused for status/reload/peers/dht put, region unreadable"

# --- 3. a socket directory other users can write ----------------------------------------------
mkdir "$WORK/open"
chmod 1777 "$WORK/open"
sed -i "s|^mgmt-socket = .*|mgmt-socket = $WORK/open/n3.sock|" "$WORK/n3.conf"
start_node 3 --restart-delay-ms 200
pid3=${NODE_PID[3]}
for ((t = 0; t < 150; t++)); do
  kill -0 "$pid3" 2>/dev/null || break
  sleep 0.2
done
kill -0 "$pid3" 2>/dev/null && fail "node 3 is running with its socket in a directory anyone can write"
wait "$pid3"
unset "NODE_PID[3]"
grep -qF "the management socket's directory $WORK/open is writable by group or other (mode 1777): another local user could take the socket's name first; chmod go-w $WORK/open" "$WORK/n3.log" ||
  fail "node 3 did not refuse its socket directory with the expected error"
[[ ! -e $WORK/open/n3.sock ]] || fail "node 3 created its socket in $WORK/open"
log "node 3 refused a management socket directory with mode 1777"
log "PASS"

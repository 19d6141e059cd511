#!/usr/bin/env bash
# By hand, as root (not in CI): runs the installed ipop-node@.service under a real systemd, also on
# a machine whose PID 1 is not systemd. The build is installed into a scratch DESTDIR; systemd
# boots as PID 1 of private mount, PID, UTS, IPC and cgroup namespaces inside node 1's network
# namespace, on a read-only view of / with scratch layers over /etc, /var and /usr/local, a
# minimal /dev, /proc/sys read-only but for net, and /sys read-only, into an empty target with the
# units that would touch the host's kernel or devices masked. Node 2 runs plainly next to it.
# Checks: the unit starts and reloads, the node claims an address and pings node 2, its processes
# hold only CAP_NET_ADMIN with no-new-privileges and a seccomp filter, the TAP's IPv6 is off,
# systemd restarts a killed supervisor, and a stop removes the region and the socket.
# Usage: tools/netns/systemd_unit.sh   (IPOP_BUILD=build dir, default ./build; KEEP_WORK=1 keeps it)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
net_require
[[ -x /lib/systemd/systemd ]] || skip "systemd missing"
[[ -d /sys/fs/cgroup/unified || $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] ||
  skip "no cgroup2 hierarchy to give the container's systemd"
grep -qw overlay /proc/filesystems || skip "overlayfs missing"
net_init sdu
DEST=$WORK/dest
meson install -C "$IPOP_BUILD" --no-rebuild --destdir "$DEST" >"$WORK/install.log" 2>&1 ||
  fail "meson install: $(tail -n 5 "$WORK/install.log")"
PREFIX=$(meson introspect --buildoptions "$IPOP_BUILD" |
  python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
[[ $PREFIX == /usr/local ]] || skip "expects the default prefix /usr/local (got $PREFIX)"
net_add_host 1
net_add_host 2

# The container's cgroup: a child of ours in the cgroup2 hierarchy, its namespace root.
if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then CG_ROOT=/sys/fs/cgroup; else CG_ROOT=/sys/fs/cgroup/unified; fi
CG=$CG_ROOT/$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup | sed 's|^/||')
CG=${CG%/}/ipop-$RUN
mkdir "$CG" || fail "cannot create cgroup $CG"
SD_PID=
container_cleanup() {
  local rc=$?
  [[ -n $SD_PID ]] && kill -KILL "$SD_PID" 2>/dev/null
  sleep 0.5
  [[ -d $CG ]] && find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
  (exit "$rc") # net_cleanup takes the test's status from $?
  net_cleanup
}
trap container_cleanup EXIT

R=$WORK/root
cat >"$WORK/stage2.sh" <<'EOF'
set -e
mount --make-rprivate /
mkdir -p "$T" "$R"
mount -t tmpfs tmpfs "$T"
mount --bind / "$R"
mount -o remount,bind,ro "$R"
for d in etc var usr/local; do
  mkdir -p "$T/$d/up" "$T/$d/work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/$d/up,workdir=$T/$d/work" "$R/$d"
done
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t tmpfs -o mode=755 tmpfs "$R/dev"
for d in null zero full random urandom tty net/tun; do
  mkdir -p "$(dirname "$R/dev/$d")"
  touch "$R/dev/$d"
  mount --bind "/dev/$d" "$R/dev/$d"
done
mkdir -p "$R/dev/shm" "$R/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
touch "$T/console" "$R/dev/console"
mount --bind "$T/console" "$R/dev/console"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount --bind "$R/proc/sys/net" "$R/proc/sys/net"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
cp -a "$DEST/usr/local/." "$R/usr/local/"
mkdir -p "$R/etc/systemd/system" "$R/etc/ipop"
printf '[Unit]\nDefaultDependencies=no\nAllowIsolate=yes\n' >"$R/etc/systemd/system/ipoptest.target"
for u in systemd-udevd.service systemd-udev-trigger.service systemd-udevd-control.socket \
  systemd-udevd-kernel.socket systemd-timesyncd.service systemd-sysctl.service \
  systemd-binfmt.service proc-sys-fs-binfmt_misc.automount systemd-modules-load.service \
  kmod-static-nodes.service systemd-tmpfiles-setup-dev.service systemd-hwdb-update.service \
  systemd-remount-fs.service systemd-pstore.service sys-kernel-debug.mount \
  sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount \
  dev-hugepages.mount dev-mqueue.mount networking.service systemd-networkd.service \
  systemd-resolved.service swap.target cryptsetup.target systemd-journal-flush.service \
  systemd-firstboot.service systemd-machine-id-commit.service ldconfig.service \
  systemd-sysusers.service systemd-update-done.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
cd "$R"
exec env -i container=ipop-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  chroot . /lib/systemd/systemd --system --unit=ipoptest.target --log-target=console
EOF
bash -c 'echo $$ >"$0/cgroup.procs" && exec ip netns exec "$1" env T="$2" R="$3" DEST="$4" \
  unshare --mount --pid --fork --uts --ipc --cgroup bash "$5"' \
  "$CG" "$(ns_of 1)" "$WORK/t" "$R" "$DEST" "$WORK/stage2.sh" >"$WORK/stage2.log" 2>&1 &
PIDS+=($!)
UNSHARE_PID=$!
wait_for 10 "systemd started in the container" pgrep -P "$UNSHARE_PID"
SD_PID=$(pgrep -P "$UNSHARE_PID")
in_sd() { nsenter -t "$SD_PID" -m -p -u -i -n -C -r -w "$@"; }
state() { [[ $(in_sd systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
wait_for 30 "the container's systemd is running" state
log "systemd runs as PID 1 of the container (host pid $SD_PID)"

# Node 1 under the unit, configured in the container's /etc/ipop; node 2 plainly from $DEST.
N1=$(node_name 1)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/lab.key"
cp "$WORK/lab.key" "/proc/$SD_PID/root/etc/ipop/lab.key"
printf '[node]\nname = %s\n[network]\nname = lab\nsecret-file = /etc/ipop/lab.key\nsubnet = 10.77.0.0/16\n' \
  "$N1" >"/proc/$SD_PID/root/etc/ipop/$N1.conf"
printf 'bootstrap = %s:5800\n[node]\nname = %s\nmgmt-socket = %s\n[network]\nname = lab\nsecret-file = %s\nsubnet = 10.77.0.0/16\n' \
  "$(underlay_ip 1)" "$(node_name 2)" "$WORK/n2.sock" "$WORK/lab.key" >"$WORK/n2.conf"
in_sd systemctl daemon-reload
in_sd systemctl start "ipop-node@$N1" || fail "systemctl start ipop-node@$N1"
ip netns exec "$(ns_of 2)" "$DEST/usr/local/sbin/ipop-node" --config "$WORK/n2.conf" >>"$WORK/n2.log" 2>&1 &
PIDS+=($!)
NODE_PID[2]=$!
NODES+=(2)

vip_of_node() { # vip_of_node CTL...: the claimed address from an ipopctl status
  "$@" status 2>/dev/null | awk '$1 == "vip" && $2 ~ /^10\.77\./ {sub("/.*", "", $2); print $2}'
}
has_vip() { [[ -n $(vip_of_node "$@") ]]; }
wait_for 60 "node 1 (under systemd) holds an address" has_vip in_sd ipopctl --node "$N1"
wait_for 60 "node 2 holds an address" has_vip "$DEST/usr/local/bin/ipopctl" --socket "$WORK/n2.sock"
vip2=$(vip_of_node "$DEST/usr/local/bin/ipopctl" --socket "$WORK/n2.sock")
wait_for 30 "node 1 pings node 2" ping_ok 1 "$vip2" 1
ping_ok 1 "$vip2" 5 || fail "ping from the unit's node to $vip2 lost echoes"
log "the unit's node pings node 2 ($vip2)"

for p in $(pgrep -f -- "--config /etc/ipop/$N1.conf"); do
  st=/proc/$p/status
  grep -q "^CapEff:.*0000000000001000$" "$st" || fail "$(cat "/proc/$p/comm") has capabilities $(grep CapEff "$st")"
  grep -q "^NoNewPrivs:.*1$" "$st" || fail "$(cat "/proc/$p/comm") may gain privileges"
  grep -q "^Seccomp:.*2$" "$st" || fail "$(cat "/proc/$p/comm") runs without a seccomp filter"
done
[[ $(in_ns 1 cat /proc/sys/net/ipv6/conf/ipop0/disable_ipv6) == 1 ]] ||
  fail "IPv6 is still on on the TAP (ReadWritePaths under ProtectKernelTunables)"
log "processes: CAP_NET_ADMIN only, no-new-privileges, seccomp; IPv6 off on the TAP"

in_sd systemctl reload "ipop-node@$N1"
wait_for 10 "the reload reached the control plane" bash -c \
  "nsenter -t $SD_PID -m -p -u -i -n -C -r -w journalctl -u ipop-node@$N1 | grep -q 'reloaded'"
main=$(in_sd systemctl show -p MainPID --value "ipop-node@$N1")
in_sd kill -KILL "$main"
restarted() { local m; m=$(in_sd systemctl show -p MainPID --value "ipop-node@$N1"); [[ $m != 0 && $m != "$main" ]]; }
wait_for 20 "systemd restarts a killed supervisor" restarted
wait_for 60 "node 1 pings node 2 after the restart" ping_ok 1 "$vip2" 1
log "reload reaches the control plane; a killed supervisor is restarted and the node comes back"

in_sd systemctl stop "ipop-node@$N1"
in_sd test ! -e "/dev/shm/ipop-$N1" || fail "the shared region outlived the stop"
in_sd test ! -e "/run/ipop/$N1.sock" || fail "the management socket outlived the stop"
in_sd test -d /run/ipop || fail "/run/ipop went away with the instance"
log "stop: region and socket removed, /run/ipop kept"
in_sd systemd-analyze security "ipop-node@$N1" 2>&1 | tail -n 1
log "PASS"

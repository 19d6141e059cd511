#!/usr/bin/env python3
"""Sorts `perf report --no-children --sort comm,dso,sym -g none --stdio` output (read on stdin)
into an account of where the machine's cycles went during an IPOP transfer (bench/profile.sh):
per process, and inside the dataplanes per kind of work, with the AEAD share set against the
crypto limit measured by bench/bench_crypto."""
import argparse
import re
import sys

LINE = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")

# (name, test on (dso, sym)), first match wins; only for samples of the dataplane processes.
KINDS = [
    ("AEAD (AES-256-GCM seal/open)",
     lambda d, s: "IPSec_MB" in d or "libcrypto" in d or re.search(r"aes|gcm|ghash|chacha|poly1305", s, re.I)),
    ("copies (kernel <-> user, memcpy)",
     lambda d, s: re.search(r"copy_user|memcpy|memmove|copy_to_iter|copy_from_iter|copy_page|csum_partial_copy|rep_movs", s)),
    ("TAP (tun driver)", lambda d, s: re.match(r"_*tun_|tap_", s)),
    ("UDP/IP/veth/bridge stack",
     lambda d, s: d == "[kernel.kallsyms]" and re.search(
         r"udp|^_*ip_|^_*ip6|inet|veth|^br_|netif|napi|^_*dev_|skb|gro|gso|^sk_|^_*sock|fib|nf_|nft|net_rx|xmit|sch_|qdisc|neigh|csum|tcp|icmp|rt_|dst_", s)),
    ("io_uring", lambda d, s: d == "[kernel.kallsyms]" and re.match(r"_*io_|io_uring", s)),
    ("scheduler, syscalls, yields",
     lambda d, s: d == "[kernel.kallsyms]" and re.search(
         r"sched|schedule|switch|yield|syscall|entry_|exit_to_user|pick_next|enqueue|dequeue|update_|raw_spin|irq|softirq|rcu|hrtimer|tick|clock|ktime|futex|wake", s)),
    ("other kernel", lambda d, s: d == "[kernel.kallsyms]"),
    ("dataplane code (ipop-dataplane)", lambda d, s: "ipop-dataplane" in d),
    ("libc, other user", lambda d, s: True),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gbit", type=float, required=True, help="received Gbit/s during the profile")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--cpus", type=int, required=True)
    ap.add_argument("--mtu", type=int, default=1420, help="inner MTU: bytes per sealed packet")
    # bench_crypto, AeadContext on ipsec-mb, seal + open of one 1400-byte packet (docs/architecture.md)
    ap.add_argument("--seal-open-ns", type=float, default=337.0)
    a = ap.parse_args()

    by_comm, dp = {}, {}
    total = 0.0
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        pct, comm, dso, _, sym = float(m[1]), m[2], m[3], m[4], m[5]
        total += pct
        group = ("idle" if comm.startswith("swapper") else
                 "ipop-dataplane" if comm.startswith("ipop-dataplane") else
                 "ipop-controlplane" if comm.startswith("ipop-control") else
                 "iperf3" if comm.startswith("iperf3") else "other")
        by_comm[group] = by_comm.get(group, 0.0) + pct
        if group == "ipop-dataplane":
            for name, test in KINDS:
                if test(dso, sym):
                    dp[name] = dp.get(name, 0.0) + pct
                    break
    if total == 0:
        sys.exit("no samples parsed")

    cores = a.cpus  # percentages below are of all cores: x cores = % * cpus / 100
    print(f"Machine ({a.cpus} cores, {a.seconds:.0f} s, {a.gbit:.2f} Gbit/s through the overlay), "
          f"share of all samples:")
    for g in ("ipop-dataplane", "iperf3", "ipop-controlplane", "other", "idle"):
        v = by_comm.get(g, 0.0)
        print(f"  {g:20} {v:6.1f} %   ({v * cores / 100:.2f} cores)")
    dp_total = by_comm.get("ipop-dataplane", 0.0)
    print("Both dataplanes (sender seals, receiver opens), by kind of work:")
    for name, _ in KINDS:
        v = dp.get(name, 0.0)
        share = 100 * v / dp_total if dp_total else 0
        print(f"  {name:34} {v * cores / 100:5.2f} cores  {share:5.1f} % of the dataplanes")
    pkts = a.gbit * 1e9 / 8 / a.mtu
    limit_cores = pkts * a.seal_open_ns * 1e-9
    measured = dp.get(KINDS[0][0], 0.0) * cores / 100
    print(f"Crypto limit: {pkts / 1e3:.0f} k packets/s of {a.mtu} B x {a.seal_open_ns:.0f} ns "
          f"(bench_crypto seal + open) = {limit_cores:.2f} cores; profiled AEAD {measured:.2f} cores.")
    if dp_total:
        print(f"At the crypto limit alone, the dataplanes' {dp_total * cores / 100:.2f} cores would "
              f"move {a.gbit * dp_total * cores / 100 / max(limit_cores, 1e-9):.0f} Gbit/s; "
              f"AEAD is {100 * measured / (dp_total * cores / 100):.0f} % of their cycles.")


if __name__ == "__main__":
    main()

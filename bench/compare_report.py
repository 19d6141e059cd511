#!/usr/bin/env python3
"""Summarises bench/compare.sh measurements: medians, a table with ratios, optional JSON and a
PNG chart. Input is a TSV of (path, metric, value) rows, one per measurement."""
import argparse
import collections
import json
import statistics
import sys

ORDER = ["native", "vxlan", "wireguard-go", "nebula", "ipop", "ipop-dpdk", "tapfwd"]
KERNEL_PATHS = {"native", "vxlan"}


def load(path):
    raw = collections.defaultdict(lambda: collections.defaultdict(list))
    with open(path) as f:
        for line in f:
            p, metric, value = line.rstrip("\n").split("\t")
            if not value:
                continue
            raw[p][metric].append(float(value))
    return raw


def median_of(raw, p, metric):
    values = raw.get(p, {}).get(metric)
    return statistics.median(values) if values else None


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def num(v, fmt):
    return "-" if v is None else format(v, fmt)


def print_tables(args, paths, med, raw):
    print(f"IPOP comparison on {args.cores} cores: iperf3 {args.seconds:g} s per test x "
          f"{args.rounds} interleaved rounds, medians; UDP -b 0 -l {args.udp_len}")
    head = (f"{'path':<13}{'TCP1 Gb/s':>10}{'TCP4 Gb/s':>10}{'UDP Gb/s':>9}{'loss %':>8}"
            f"{'RTT us':>8}{'CPU s/Gb':>10}{'mach s/Gb':>11}{'busy %':>8}")
    print(head)
    for p in paths:
        m = med[p]
        cpu = m.get("tcp1_proc_cpu_per_gbit")
        print(f"{p:<13}{num(m.get('tcp1'), '.3f'):>10}{num(m.get('tcp4'), '.3f'):>10}"
              f"{num(m.get('udp'), '.3f'):>9}{num(m.get('udp_loss'), '.1f'):>8}"
              f"{num(m.get('rtt_us'), '.0f'):>8}{num(cpu, '.3f'):>10}"
              f"{num(m.get('tcp1_sys_cpu_per_gbit'), '.3f'):>11}"
              f"{num(m.get('tcp1_machine_busy_pct'), '.0f'):>8}")
    print()
    userspace = [p for p in ("wireguard-go", "nebula") if med.get(p, {}).get("tcp1")]
    print(f"Ratios; 'best' = the faster of {' and '.join(userspace) or '(none measured)'} "
          f"in that column")
    print(f"{'path':<13}{'TCP1/native':>12}{'TCP1/best':>10}{'TCP1/vxlan':>11}"
          f"{'TCP4/native':>12}{'TCP4/best':>10}{'TCP4/vxlan':>11}{'RTT-native us':>14}")
    ref = {}
    for metric in ("tcp1", "tcp4"):
        best = [med[p][metric] for p in userspace if med[p].get(metric)]
        ref[metric] = {
            "native": med.get("native", {}).get(metric),
            "best": max(best) if best else None,
            "vxlan": med.get("vxlan", {}).get(metric),
        }
    native_rtt = med.get("native", {}).get("rtt_us")
    for p in paths:
        cells = []
        for metric in ("tcp1", "tcp4"):
            v = med[p].get(metric)
            cells += [ratio(v, ref[metric]["native"]), ratio(v, ref[metric]["best"]),
                      ratio(v, ref[metric]["vxlan"])]
        rtt = med[p].get("rtt_us")
        drtt = f"{rtt - native_rtt:+.0f}" if rtt is not None and native_rtt is not None else "-"
        print(f"{p:<13}{cells[0]:>12}{cells[1]:>10}{cells[2]:>11}{cells[3]:>12}{cells[4]:>10}"
              f"{cells[5]:>11}{drtt:>14}")
    print()
    print("CPU s/Gb: utime+stime of the tunnel processes in both namespaces (/proc/<pid>/stat,")
    print("  all threads) over each 1-stream TCP test, divided by Gbit received; '-' for kernel")
    print("  paths, which have no tunnel process. mach s/Gb: busy time of the whole machine")
    print("  (/proc/stat, all cores, everything running incl. iperf3 and any other load) over the")
    print("  same test, divided by Gbit received; the only CPU figure for kernel paths. busy %:")
    print("  the machine's busy share during that test; near 100 % the machine-wide figure is")
    print("  just cores x seconds / Gbit and says little about the path itself.")
    idle = med.get("ipop", {}).get("idle_core_pct")
    if idle is not None:
        print(f"IPOP idle node (supervisor + control plane + dataplane, sessions up, no traffic, "
              f"{args.idle_seconds:g} s): {idle:.2f} % of one core")
        parts = [f"{m[len('idle_pct_'):]} {v:.2f} %" for m, v in sorted(med["ipop"].items())
                 if m.startswith("idle_pct_") and v is not None]
        if parts:
            print("  by process: " + ", ".join(parts))
    for note in args.note:
        print(note)
    if args.skipped.strip():
        print(f"Skipped (set-up failed): {args.skipped}")
    runs = {p: {k: v for k, v in raw[p].items() if k in ("tcp1", "tcp4", "udp")} for p in paths}
    for p in paths:
        parts = [f"{k} " + " ".join(f"{x:.2f}" for x in v) for k, v in sorted(runs[p].items())]
        print(f"runs {p:<13}" + "; ".join(parts))


def draw_chart(args, paths, med):
    if args.chart == "none":
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("chart skipped: matplotlib not available (Debian package python3-matplotlib)")
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    width = 0.27
    xs = range(len(paths))
    for k, (metric, label) in enumerate(
            [("tcp1", "TCP 1 stream"), ("tcp4", "TCP 4 streams"), ("udp", "UDP received")]):
        vals = [med[p].get(metric) or 0 for p in paths]
        bars = axes[0].bar([x + (k - 1) * width for x in xs], vals, width, label=label)
        axes[0].bar_label(bars, fmt="%.2f", fontsize=7, rotation=90, padding=2)
    axes[0].set_ylabel("Gbit/s")
    axes[0].set_title("Throughput (median)")
    axes[0].legend(fontsize=8)
    rtts = [med[p].get("rtt_us") or 0 for p in paths]
    bars = axes[1].bar(list(xs), rtts, 0.6, color="tab:purple")
    axes[1].bar_label(bars, fmt="%.0f", fontsize=8)
    axes[1].set_ylabel("microseconds")
    axes[1].set_title("Ping RTT (median)")
    for k, (metric, label) in enumerate([("tcp1_proc_cpu_per_gbit", "tunnel processes"),
                                         ("tcp1_sys_cpu_per_gbit", "whole machine")]):
        have = [(x, med[p][metric]) for x, p in zip(xs, paths) if med[p].get(metric) is not None]
        bars = axes[2].bar([x + (k - 0.5) * 0.4 for x, _ in have], [v for _, v in have], 0.4,
                           label=label)
        axes[2].bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    axes[2].set_ylabel("CPU seconds per Gbit")
    axes[2].set_title("CPU seconds per Gbit, 1-stream TCP")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.set_xticks(list(xs))
        ax.set_xticklabels(paths, fontsize=9)
        ax.margins(y=0.2)
    fig.suptitle(f"IPOP vs kernel and userspace overlays, 2 namespaces, {args.cores} cores, "
                 f"iperf3 {args.seconds:g} s x {args.rounds} rounds")
    fig.tight_layout()
    fig.savefig(args.chart, dpi=110)
    print(f"chart written to {args.chart}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--json")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--udp-len", type=int, required=True)
    ap.add_argument("--idle-seconds", type=float, required=True)
    ap.add_argument("--cores", type=int, required=True)
    ap.add_argument("--clk-tck", type=int, required=True)
    ap.add_argument("--skipped", default="")
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()
    raw = load(args.results)
    for p in raw:
        if "rtt_ms" in raw[p]:
            raw[p]["rtt_us"] = [x * 1000 for x in raw[p].pop("rtt_ms")]
    paths = [p for p in ORDER if p in raw] + sorted(p for p in raw if p not in ORDER)
    if not paths:
        sys.exit("no measurements")
    med = {p: {m: median_of(raw, p, m) for m in raw[p]} for p in paths}
    print_tables(args, paths, med, raw)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"medians": med, "runs": raw, "seconds": args.seconds,
                       "rounds": args.rounds, "udp_len": args.udp_len, "cores": args.cores}, f,
                      indent=1)
    draw_chart(args, paths, med)


if __name__ == "__main__":
    main()

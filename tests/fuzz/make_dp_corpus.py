#!/usr/bin/env python3
"""Writes the seed corpora of the dataplane stage fuzz targets (record formats in each target):
tests/fuzz/corpus/{inbound_deliver,tap_classify,tso_split,tcp_coalesce,rings}/.

Packets are built here with correct IPv4/TCP/UDP checksums so the seeds reach the interesting
branches (an MSS to clamp, a super-frame to cut, segments that continue each other); the broken
ones are broken on purpose, one field each.
Run from anywhere: python3 tests/fuzz/make_dp_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def ip4(a, b, c, d):
    return bytes([a, b, c, d])


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=1, flags=0x4000, ttl=64, tos=0, options=b"", total=None):
    ihl = 20 + len(options)
    length = total if total is not None else ihl + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl // 4, tos, length, ident, flags, ttl, proto, 0,
                    src, dst) + options
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp(src, dst, sport, dport, seq, flags, payload=b"", options=b"", ack=0x10000, window=512):
    thl = 20 + len(options)
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, thl // 4 << 4, flags,
                      window, 0, 0) + options + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = csum(src + dst + struct.pack("!BBH", 0, 17, len(seg)) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def tcp_packet(src, dst, seq, tcp_flags, payload=b"", options=b"", **ip_kw):
    return ipv4(src, dst, 6, tcp(src, dst, 40000, 5201, seq, tcp_flags, payload, options), **ip_kw)


def udp_packet(src, dst, dport, payload=b"data", sport=40000):
    return ipv4(src, dst, 17, udp(src, dst, sport, dport, payload))


MSS1460 = b"\x02\x04\x05\xb4"
SYN, ACK, PSH, FIN, CWR = 0x02, 0x10, 0x08, 0x01, 0x80
PEER0, PEER1, NODE = ip4(10, 77, 0, 2), ip4(10, 78, 3, 4), ip4(10, 77, 0, 1)
TAP_MAC, GW_MAC = bytes.fromhex("021122334455"), bytes.fromhex("024950010203")


def eth(payload, dst=GW_MAC, src=TAP_MAC, ethertype=0x0800):
    return dst + src + struct.pack("!H", ethertype) + payload


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)
    print(f"{name}: {len(seeds)} seeds")


# ---- inbound_deliver: mtu (2, BE), then [ctl][len: 2, BE][inner packet] ----

def deliver(mtu, *records):
    return struct.pack("!H", mtu) + b"".join(
        bytes([ctl]) + struct.pack("!H", len(p)) + p for ctl, p in records)


syn = tcp_packet(PEER0, NODE, 7, SYN, options=MSS1460)
inbound = {
    "udp-from-peer": deliver(1400, (0, udp_packet(PEER0, NODE, 5000))),
    "syn-mss-clamped": deliver(1400, (0, syn)),
    "syn-mss-clamped-576": deliver(576, (0, syn)),
    "syn-no-clamping": deliver(0, (0, syn)),
    "syn-mss-below-limit": deliver(1500, (0, tcp_packet(PEER0, NODE, 7, SYN,
                                                        options=b"\x02\x04\x05\x00"))),
    "syn-mss-odd-offset": deliver(1400, (0, tcp_packet(
        PEER1, NODE, 7, SYN, options=b"\x01\x02\x04\x05\xb4\x01\x01\x00"))),
    "synack-full-options": deliver(1280, (0, tcp_packet(
        PEER1, NODE, 9, SYN | ACK,
        options=MSS1460 + b"\x04\x02\x08\x0a\0\0\0\x01\0\0\0\0\x01\x03\x03\x07"))),
    "syn-bad-option-before-mss": deliver(1400, (0, tcp_packet(
        PEER0, NODE, 7, SYN, options=b"\x08\x00\x00\x00" + MSS1460))),
    "syn-mss-length-3": deliver(1400, (0, tcp_packet(PEER0, NODE, 7, SYN,
                                                     options=b"\x02\x03\x05\x01\x00\x00\x00\x00"))),
    "syn-two-mss": deliver(1400, (0, tcp_packet(PEER0, NODE, 7, SYN, options=MSS1460 + MSS1460))),
    "syn-end-before-mss": deliver(1400, (0, tcp_packet(PEER0, NODE, 7, SYN,
                                                       options=b"\x00\x00\x00\x00" + MSS1460))),
    "syn-fragment": deliver(1400, (0, tcp_packet(PEER0, NODE, 7, SYN, options=MSS1460,
                                                 flags=0x2000))),
    "ack-with-mss-option": deliver(1400, (0, tcp_packet(PEER0, NODE, 7, ACK, b"x",
                                                        options=MSS1460))),
    "syn-ip-options": deliver(1400, (0, ipv4(PEER0, NODE, 6, tcp(PEER0, NODE, 1, 2, 7, SYN, b"",
                                                                 MSS1460),
                                             options=b"\x94\x04\0\0"))),
    "syn-checksum-ffff": deliver(1400, (0, tcp_packet(PEER0, NODE, 0x1234, SYN,
                                                      options=b"\x02\x04\xff\xff"))),
    "multicast-to-group": deliver(1400, (0, udp_packet(PEER1, ip4(239, 1, 2, 3), 5000))),
    "limited-broadcast": deliver(1400, (0, udp_packet(PEER0, ip4(255, 255, 255, 255), 5000))),
    "directed-broadcast": deliver(1400, (0, udp_packet(PEER0, ip4(10, 77, 0, 255), 5000))),
    "source-not-allowed": deliver(1400, (0, udp_packet(ip4(10, 77, 0, 9), NODE, 5000))),
    "source-of-invalid-peer": deliver(1400, (3, udp_packet(ip4(10, 79, 0, 5), NODE, 5000))),
    "source-of-other-peer": deliver(1400, (2, udp_packet(PEER0, NODE, 5000))),
    "not-ipv4": deliver(1400, (0, b"\x60" + udp_packet(PEER0, NODE, 5000)[1:])),
    "ihl-too-small": deliver(1400, (0, b"\x44" + udp_packet(PEER0, NODE, 5000)[1:])),
    "total-past-end": deliver(1400, (0, ipv4(PEER0, NODE, 17, b"abcd", total=200))),
    "total-below-header": deliver(1400, (0, ipv4(PEER0, NODE, 17, b"abcd", total=16))),
    "truncated-header": deliver(1400, (0, udp_packet(PEER0, NODE, 5000)[:19])),
    "short-headroom": deliver(1400, (4, udp_packet(PEER0, NODE, 5000))),
    "padded": deliver(1400, (0, syn + b"\0" * 14)),
    "burst-mixed": deliver(1400, (0, syn), (0, udp_packet(ip4(10, 77, 0, 9), NODE, 53)),
                           (0, udp_packet(PEER1, ip4(224, 0, 0, 251), 5353)), (4, syn),
                           (0, tcp_packet(PEER1, NODE, 11, SYN | ACK, options=MSS1460)),
                           (0, b"\x45")),
}


# ---- tap_classify: cfg, mtu (2, BE), then [len: 2, BE][virtio-net header + frame] ----

def vnet(flags=0, gso_type=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def reads(cfg, mtu, *frames):
    return bytes([cfg]) + struct.pack("!H", mtu) + b"".join(
        struct.pack("!H", len(f)) + f for f in frames)


def partial(frame, proto):
    """The frame as the kernel hands it with TUN_F_CSUM: the L4 checksum field holds the
    pseudo-header sum (not inverted), and a header asking us to complete it."""
    ip = frame[14:]
    ihl = (ip[0] & 0xF) * 4
    l4 = ip[ihl:]
    off = 16 if proto == 6 else 6
    s = sum(struct.unpack("!4H", ip[12:20])) + proto + len(l4)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    body = bytearray(frame)
    struct.pack_into("!H", body, 14 + ihl + off, s)
    return vnet(1, 0, 0, 0, 14 + ihl, off) + bytes(body)


HOST = ip4(10, 77, 0, 1)
SERVICE = ip4(10, 77, 0, 254)
out_tcp = eth(tcp_packet(HOST, PEER0, 100, ACK | PSH, b"hello world"))
out_udp = eth(udp_packet(HOST, PEER0, 5000, b"ping" * 5))
super_frame = eth(tcp_packet(HOST, PEER0, 1000, ACK | PSH | FIN | CWR, bytes(range(256)) * 12))
classify = {
    "plain-tcp": reads(0, 1400, vnet(2) + out_tcp),
    "tcp-needs-csum": reads(0, 1400, partial(out_tcp, 6)),
    "udp-needs-csum": reads(0, 1400, partial(out_udp, 17)),
    "csum-past-end": reads(0, 1400, vnet(1, 0, 0, 0, 34, 2000) + out_tcp),
    "csum-odd-offset": reads(0, 1400, vnet(1, 0, 0, 0, 34, 7) + out_tcp),
    "arp": reads(0, 1400, vnet() + eth(bytes(28), dst=b"\xff" * 6, ethertype=0x0806)),
    "ipv6": reads(0, 1400, vnet() + eth(bytes(40), ethertype=0x86DD)),
    "short-frame": reads(0, 1400, vnet() + b"\x02\x11"),
    "short-read": reads(0, 1400, b"\x00\x00\x00"),
    "dhcp-discover": reads(0, 1400, vnet() + eth(udp_packet(ip4(0, 0, 0, 0), ip4(255, 255, 255, 255),
                                                             67, bytes(240), sport=68),
                                                  dst=b"\xff" * 6)),
    "dns-to-service": reads(0, 1400, vnet() + eth(udp_packet(HOST, ip4(10, 77, 0, 254), 53))),
    "dns-elsewhere": reads(0, 1400, vnet() + eth(udp_packet(HOST, PEER0, 53))),
    "dns-tcp-to-service": reads(0, 1400, vnet() + eth(ipv4(HOST, SERVICE, 6, tcp(
        HOST, SERVICE, 40001, 53, 7, SYN, options=MSS1460))), partial(eth(ipv4(HOST, SERVICE, 6, tcp(
            HOST, SERVICE, 40001, 53, 8, ACK | PSH, b"\0\x1d" + bytes(29)))), 6)),
    "dns-tcp-elsewhere": reads(0, 1400, vnet() + eth(ipv4(HOST, PEER0, 6, tcp(
        HOST, PEER0, 40001, 53, 7, SYN, options=MSS1460)))),
    "tcp-to-service-other-port": reads(0, 1400, vnet() + eth(ipv4(HOST, SERVICE, 6, tcp(
        HOST, SERVICE, 40001, 80, 7, SYN, options=MSS1460)))),
    "tcp-to-service-short-header": reads(0, 1400, vnet() + eth(ipv4(HOST, SERVICE, 6,
                                                                    b"\x9c\x41\x00\x35" + bytes(12)))),
    "igmp-report": reads(0, 1400, vnet() + eth(ipv4(HOST, ip4(239, 1, 1, 1), 2,
                                                    b"\x16\0\0\0\xef\x01\x01\x01",
                                                    options=b"\x94\x04\0\0", ttl=1))),
    "to-group-with-entry": reads(0, 1400, vnet() + eth(udp_packet(HOST, ip4(239, 1, 1, 1), 5000))),
    "to-broadcast": reads(0, 1400, vnet() + eth(udp_packet(HOST, ip4(10, 77, 0, 255), 5000))),
    "to-all-hosts": reads(0, 1400, vnet() + eth(udp_packet(HOST, ip4(224, 0, 0, 1), 5000))),
    "to-group-no-entry-punted": reads(0x28, 1400, vnet() + eth(udp_packet(HOST, ip4(239, 9, 9, 9),
                                                                          5000))),
    "to-group-no-entry-limited": reads(0x20, 1400,
                                       vnet() + eth(udp_packet(HOST, ip4(239, 9, 9, 9), 5000)),
                                       vnet() + eth(udp_packet(HOST, ip4(239, 9, 9, 8), 5000))),
    "group-too-big": reads(0, 600, vnet() + eth(udp_packet(HOST, ip4(239, 1, 1, 1), 5000,
                                                           bytes(700)))),
    "too-big-icmp": reads(0x07, 600, vnet() + eth(tcp_packet(HOST, PEER0, 5, ACK, bytes(900)))),
    "too-big-no-limit": reads(0x00, 600, vnet() + eth(tcp_packet(HOST, PEER0, 5, ACK, bytes(900)))),
    "too-big-out-of-tokens": reads(0x05, 600,
                                   *[vnet() + eth(tcp_packet(HOST, PEER0, s, ACK, bytes(900)))
                                     for s in range(3)]),
    "too-big-icmp-source": reads(0x07, 600, vnet() + eth(ipv4(HOST, PEER0, 1, b"\x03\x04" + bytes(700)))),
    "cut-short-read": reads(0x07, 600, vnet() + eth(ipv4(HOST, PEER0, 17, bytes(60), total=4000))),
    "cut-short-small": reads(0x07, 600, vnet() + eth(ipv4(HOST, PEER0, 17, b"", total=4000))),
    "bad-ipv4": reads(0, 1400, vnet() + eth(b"\x45" + bytes(10))),
    "padded-syn": reads(0, 1400, vnet() + eth(tcp_packet(HOST, PEER0, 7, SYN, options=MSS1460)
                                              + bytes(6))),
    "syn-clamped-576": reads(0, 576, vnet() + eth(tcp_packet(HOST, PEER0, 7, SYN, options=MSS1460))),
    "tso-and-plain": reads(0, 1400, vnet(1, 1, 66, 1000, 34, 16) + super_frame, vnet() + out_tcp),
    "output-full": reads(0x40, 1400, *[vnet() + out_tcp] * 6),
}


# ---- tso_split: free segments, capacity, mtu (2, BE), then reads ----

def tso_read(frame, gso_size, gso_type=1, flags=1):
    ip = frame[14:]
    ihl = (ip[0] & 0xF) * 4
    thl = (ip[ihl + 12] >> 4) * 4
    return vnet(flags, gso_type, 14 + ihl + thl, gso_size, 14 + ihl, 16) + frame


def tso(free, capacity, mtu, *rs):
    return bytes([free, capacity]) + struct.pack("!H", mtu) + b"".join(
        struct.pack("!H", len(r)) + r for r in rs)


payload = bytes((i * 7) & 0xFF for i in range(4000))
big = eth(tcp_packet(HOST, PEER0, 0xFFFFF000, ACK | PSH | FIN | CWR, payload))
ts_opts = b"\x01\x01\x08\x0a\x00\x00\x10\x00\x00\x00\x20\x00"
tso_seeds = {
    "split-4000-by-1360": tso(16, 32, 1400, tso_read(big, 1360)),
    "split-exact-multiple": tso(16, 32, 1400, tso_read(eth(tcp_packet(HOST, PEER0, 1, ACK,
                                                                      payload[:2720])), 1360)),
    "split-one-segment": tso(16, 32, 1400, tso_read(eth(tcp_packet(HOST, PEER0, 1, ACK | PSH,
                                                                   b"abc")), 1360)),
    "split-with-options": tso(16, 32, 1400, tso_read(eth(tcp_packet(HOST, PEER0, 9, ACK,
                                                                    payload[:3000],
                                                                    options=ts_opts)), 1348)),
    "split-ip-options": tso(16, 32, 1400, tso_read(eth(ipv4(HOST, PEER0, 6, tcp(
        HOST, PEER0, 1, 2, 3, ACK, payload[:2500]), options=b"\x94\x04\0\0")), 1000)),
    "split-ecn": tso(16, 32, 1400, tso_read(big, 1000, gso_type=0x81)),
    "split-id-wraps": tso(16, 32, 1400, tso_read(eth(ipv4(HOST, PEER0, 6, tcp(
        HOST, PEER0, 1, 2, 3, ACK, payload[:3000]), ident=0xFFFF)), 1000)),
    "split-tiny-mss": tso(63, 255, 1400, tso_read(eth(tcp_packet(HOST, PEER0, 1, ACK,
                                                                 payload[:200])), 7)),
    "split-9000": tso(8, 32, 9000, tso_read(eth(tcp_packet(HOST, PEER0, 1, ACK, payload * 8)), 8960)),
    "mss-too-big-for-mtu": tso(16, 32, 1400, tso_read(big, 1400)),
    "gso-size-zero": tso(16, 32, 1400, tso_read(big, 0)),
    "gso-udp": tso(16, 32, 1400, tso_read(big, 1000, gso_type=3)),
    "gso-not-tcp": tso(16, 32, 1400, vnet(1, 1, 42, 1000, 34, 6) + out_udp),
    "gso-no-payload": tso(16, 32, 1400, tso_read(eth(tcp_packet(HOST, PEER0, 1, ACK)), 1000)),
    "gso-fragment": tso(16, 32, 1400, tso_read(eth(ipv4(HOST, PEER0, 6, tcp(
        HOST, PEER0, 1, 2, 3, ACK, payload[:2000]), flags=0x2000)), 1000)),
    "more-segments-than-output": tso(16, 2, 1400, tso_read(big, 1000)),
    "not-enough-free-buffers": tso(2, 32, 1400, tso_read(big, 1000), vnet() + out_tcp),
    "output-fills-up": tso(16, 5, 1400, vnet() + out_tcp, tso_read(big, 1000), vnet() + out_tcp),
    "plain-after-split": tso(16, 32, 1400, tso_read(big, 1360), vnet(2) + out_tcp,
                             tso_read(big, 2000)),
    "short-read": tso(16, 32, 1400, b"\x01\x01"),
}


# ---- tcp_coalesce: segment records and raw frames ----

def seg(flow, flags=ACK, delta=0, length=1448, fill=0x41, variant=0):
    return bytes([flow, flags, delta & 0xFF]) + struct.pack("!H", length) + bytes([fill, variant])


def raw(frame):
    return b"\x80" + struct.pack("!H", len(frame)) + frame


coalesce = {
    "one-flow-train": b"".join(seg(0) for _ in range(8)),
    "train-ends-with-psh": b"".join(seg(0) for _ in range(5)) + seg(0, ACK | PSH),
    "train-short-last": b"".join(seg(0) for _ in range(4)) + seg(0, length=100) + seg(0),
    "two-flows-interleaved": b"".join(seg(i % 2) + seg(2 + i % 2) for i in range(6)),
    "gap-in-sequence": seg(0) + seg(0) + seg(0, delta=10) + seg(0),
    "retransmission": seg(0) + seg(0) + seg(0, delta=-100 & 0xFF) + seg(0),
    "timestamps-agree": b"".join(seg(1, variant=1) for _ in range(6)),
    "timestamps-differ": seg(1, variant=1) + seg(1, variant=2) + seg(1, variant=1),
    "ttl-differs": seg(0) + seg(0, variant=4) + seg(0),
    "ip-options-differ": seg(3, variant=0x10, fill=1) + seg(3, variant=0x10, fill=2),
    "syn-and-fin-not-merged": seg(0, SYN, length=0) + seg(0) + seg(0, ACK | FIN) + seg(0),
    "pure-acks": seg(0, length=0) + seg(0, length=0),
    "tight-headroom": seg(2, variant=8) + seg(2) + seg(2, variant=8),
    "jumbo-near-64k": b"".join(seg(0, length=9000) for _ in range(8)),
    "many-segments": b"".join(seg(0, length=100) for _ in range(70)),
    "nine-flows": b"".join(seg(f % 4, variant=(f // 4) * 4) for f in range(9)) * 2,
    "raw-between": seg(0) + raw(eth(udp_packet(PEER0, NODE, 5000), dst=TAP_MAC, src=GW_MAC))
    + seg(0) + raw(b"\x01\x02"),
    "seq-wraps": seg(3) + seg(3) + seg(3) + seg(3),
}


# ---- rings: byte 0 even = shared ring ops, odd = handoff ops ----

def ring_op(op, *fields):
    return bytes([op]) + b"".join(fields)


u8 = lambda v: bytes([v & 0xFF])  # noqa: E731
u16 = lambda v: struct.pack("!H", v & 0xFFFF)  # noqa: E731
u32 = lambda v: struct.pack("!I", v & 0xFFFFFFFF)  # noqa: E731


def punt(kind, port, worker, length, fill):
    return ring_op(5, u8(kind - 1), u16(port), u8(worker), u16(length), u8(fill))


CONSUME, RESET = ring_op(3), ring_op(4)


def hop(kind, repeat=1, sleep=False):
    """A HandoffRings op byte: kind = op % 3 (push, pop, wake), repeat = 1 + (op >> 2) % 64,
    sleep = op & 4 (wake ops)."""
    for b in range(256):
        if b % 3 != kind:
            continue
        if kind == 2 and bool(b & 4) == sleep:
            return bytes([b])
        if kind != 2 and 1 + (b >> 2) % 64 == repeat:
            return bytes([b])
    raise ValueError((kind, repeat, sleep))
rings = {
    "fifo": b"\0" + u16(1400) + punt(1, 5800, 0, 60, 1) + punt(2, 0, 1, 42, 2) + CONSUME * 3,
    "fill-and-drain": b"\0" + u16(1400) + punt(1, 5800, 0, 100, 3) * 10 + CONSUME * 10,
    "too-long-for-slot": b"\0" + u16(1400) + punt(1, 5800, 0, 2017, 4) + punt(1, 5800, 0, 2016, 4)
    + CONSUME * 2,
    "inject-tap-frame-bounds": b"\0" + u16(576) + punt(2, 0, 0, 13, 0) + punt(2, 0, 0, 14, 0)
    + punt(2, 0, 0, 590, 0) + punt(2, 0, 0, 591, 0) + CONSUME * 4,
    "inject-port-zero": b"\0" + u16(1400) + punt(1, 0, 0, 60, 5) + CONSUME,
    "tail-far-ahead": b"\0" + u16(1400) + punt(1, 1, 0, 10, 0) + ring_op(0, u32(1000)) + CONSUME
    + RESET + CONSUME,
    "tail-behind-head": b"\0" + u16(1400) + ring_op(1, u32(5)) + ring_op(0, u32(3)) + CONSUME
    + RESET,
    "head-corrupts-producer": b"\0" + u16(1400) + ring_op(1, u32(0x80000000))
    + punt(1, 9, 0, 20, 1) * 3 + CONSUME * 3,
    "length-corrupt": b"\0" + u16(1400) + punt(1, 9, 0, 20, 1)
    + ring_op(2, u16(0), u8(4), b"\xff\xff\xff\x7f") + CONSUME + RESET,
    "kind-rewritten": b"\0" + u16(1400) + punt(1, 9, 0, 20, 1) + ring_op(2, u16(4), u8(2), b"\x07\x00")
    + CONSUME,
    "wrap-around": b"\0" + u16(1400) + ring_op(1, u32(0xFFFFFFFE)) + ring_op(0, u32(0xFFFFFFFE))
    + punt(1, 1, 0, 5, 0) * 4 + CONSUME * 4,
    "handoff-two-workers": b"\x01" + u8(0) + u8(40) + hop(0) + u8(0) + u16(60) + u8(1)
    + hop(1) + u8(0) + hop(0) + u8(1) + u16(10) + u8(2) + hop(1) + u8(1),
    "handoff-fill-ring": b"\x01" + u8(0) + u8(0)
    + (hop(0, 64) + u8(0) + u16(50) + u8(9)) * 33 + (hop(1, 64) + u8(0)) * 33,
    "handoff-three-workers": b"\x01" + u8(1) + u8(20)
    + b"".join(hop(0, 3) + u8(p) + u16(30 + p) + u8(p) for p in range(6))
    + b"".join(hop(1, 2) + u8(p) for p in range(6)),
    "handoff-too-long": b"\x01" + u8(0) + u8(0) + hop(0) + u8(0) + u16(200) + u8(1) + hop(1) + u8(0),
    "handoff-wake": b"\x01" + u8(0) + u8(0) + hop(2, sleep=True) + u8(1) + hop(2) + u8(1)
    + hop(2, sleep=True) + u8(0),
}


def main():
    write("inbound_deliver", inbound)
    write("tap_classify", classify)
    write("tso_split", tso_seeds)
    write("tcp_coalesce", coalesce)
    write("rings", rings)


if __name__ == "__main__":
    main()

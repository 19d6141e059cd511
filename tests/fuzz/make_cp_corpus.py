#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_control and fuzz_arp (tests/fuzz/corpus/{control,arp}).

The control seeds are real HELLOs (HMAC with the fuzz target's secret and network) arranged as
handshakes, restarts, replays and reconfigurations in the record format fuzz_control.cc reads.
The local X25519 key pair is reproduced from the target's FakeRandom(42) (splitmix64) with the
RFC 7748 ladder below (pure Python, checked against the RFC's test vector), so the seeds can
echo the target's public key and reach the tx-ready states.
Run from anywhere: python3 tests/fuzz/make_cp_corpus.py
"""
import hashlib, hmac, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
NET = b"fuzznet"
SECRET = bytes(range(32))
M64 = (1 << 64) - 1


def ip(a, b, c, d):
    return a << 24 | b << 16 | c << 8 | d


def hkdf(ikm, salt, info, n):
    prk = hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


HELLO_KEY = hkdf(SECRET, b"", b"ipop v1 hello" + NET, 32)
NET_HASH = hashlib.sha256(b"ipop network v1" + NET).digest()[:8]


P25519 = 2**255 - 19


def x25519(k, u):  # RFC 7748 section 5
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P25519, (x2 - z2) % P25519
        aa, bb = a * a % P25519, b * b % P25519
        e = (aa - bb) % P25519
        c, d = (x3 + z3) % P25519, (x3 - z3) % P25519
        da, cb = d * a % P25519, c * b % P25519
        x3, z3 = (da + cb) ** 2 % P25519, x1 * (da - cb) ** 2 % P25519
        x2, z2 = aa * bb % P25519, e * (aa + 121665 * e) % P25519
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P25519 - 2, P25519) % P25519).to_bytes(32, "little")


def public_key(private):
    return x25519(private, (9).to_bytes(32, "little"))


assert public_key(bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")) \
    == bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


class FakeRandom:  # same stream as tests/unit/cp_fakes.h
    def __init__(self, seed):
        self.state, self.word, self.left = seed, 0, 0

    def fill(self, n):
        out = bytearray()
        for _ in range(n):
            if self.left == 0:
                self.state = (self.state + 0x9E3779B97F4A7C15) & M64
                z = self.state
                z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
                z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
                self.word, self.left = z ^ (z >> 31), 8
            out.append(self.word & 0xFF)
            self.word >>= 8
            self.left -= 1
        return bytes(out)


rnd = FakeRandom(42)
rnd.fill(4)  # receiver-index allocator start
LOCAL_PUB = public_key(rnd.fill(32))
LOCAL_PUB_AFTER_DP_RESTART = public_key(rnd.fill(32))
LOCAL = ip(10, 0, 0, 1)
PEER = ip(10, 0, 0, 2)
P1 = public_key(bytes(range(0xA0, 0xC0)))  # the peer, then the peer after its restart
P2 = public_key(bytes(range(0xC0, 0xE0)))
LOW_ORDER = b"\1" + b"\0" * 31  # u = 1: X25519 with it gives all zeros
ZERO = b"\0" * 32
T0 = 1_700_000_000_000_000_000


def hello(sender=PEER, receiver=LOCAL, pub=P1, echo=ZERO, index=0, ts=T0, net=NET_HASH,
          cipher=1, key=HELLO_KEY, mac=True):
    hdr = bytes([0x12, 0, 0, 0]) + b"\0" * 12
    body = bytes([1, cipher, 0, 0]) + struct.pack(">II", sender, receiver) + pub + echo
    body += struct.pack(">IQ", index, ts) + net
    signed = hdr + body
    tag = hmac.new(key, signed, hashlib.sha256).digest()[:16] if mac else b"\0" * 16
    return signed + tag


def rec(op, body):
    return bytes([op]) + struct.pack("<H", len(body)) + body


def dgram(d, src=0):
    return rec(0, bytes([src]) + d)


def advance(ms):
    return rec(1, struct.pack("<Q", ms))


TICK = rec(2, b"")
HANDSHAKE = dgram(hello()) + dgram(hello(echo=LOCAL_PUB, index=7, ts=T0 + 1)) + TICK


PEER_ENTRY_SIZE = 112  # sizeof(shm::PeerEntry), shared/shm_layout.h


def peer_entry(flags, vip, port=5800, cipher=1, remote=9, key_id=0x1234, dp=1):
    addr = b"\0" * 10 + b"\xff\xff" + struct.pack(">I", ip(192, 0, 2, vip & 0xFF))
    return (struct.pack("<II", flags, vip) + addr + struct.pack("<HBBIQQ", port, cipher, 0, remote,
                                                                key_id, dp)
            + bytes(range(32)) + b"salt").ljust(PEER_ENTRY_SIZE, b"\0")


def session(index, peer, cipher=1, key_id=0x55):
    return struct.pack("<H", index) + struct.pack("<IIQ", 1, peer, key_id) + bytes(32) + b"salt" + \
        bytes([cipher, 0, 0, 0])


control = {
    "hello-first": b"\0" + dgram(hello()),
    "handshake": b"\0" + HANDSHAKE + advance(1000) + TICK,
    "peer-restart": b"\0" + HANDSHAKE + dgram(hello(pub=P2, ts=T0 + 5)) + advance(11000) + TICK
    + dgram(hello(pub=P2, echo=LOCAL_PUB, index=8, ts=T0 + 6)) + advance(11000) + TICK,
    "replay": b"\0" + HANDSHAKE + dgram(hello()) + dgram(hello(), src=3),
    "dp-restart": b"\0" + HANDSHAKE + rec(3, struct.pack("<Q", 2)) + TICK
    + dgram(hello(echo=LOCAL_PUB_AFTER_DP_RESTART, index=9, ts=T0 + 7)),
    "timeout": b"\0" + HANDSHAKE + advance(6000) + TICK + advance(6000) + TICK,
    "reconfigure": b"\0" + HANDSHAKE + rec(4, b"\x06") + TICK + rec(4, b"\x01") + TICK,
    "roam": b"\0" + HANDSHAKE + dgram(hello(echo=LOCAL_PUB, index=7, ts=T0 + 9), src=3),
    "any-tag-odd-fields": b"\x01" + dgram(hello(mac=False, index=0xFFFFFFFF, ts=M64))
    + dgram(hello(mac=False, sender=ip(10, 0, 0, 3), echo=LOCAL_PUB, index=4095, ts=1)),
    "inherit": b"\x02" + struct.pack("<I", 2) + b"\x02" + peer_entry(3, PEER)
    + peer_entry(1, ip(10, 0, 0, 9)) + b"\x03" + session(7, 0) + session(8, 5) + session(9, 1)
    + HANDSHAKE + advance(11000) + TICK,
    "wrong-network": b"\0" + dgram(hello(net=b"\1" * 8)),
    "bad-mac": b"\0" + dgram(hello(key=b"\2" * 32)),
    "truncated": b"\0" + dgram(hello()[:40]),
    "cipher-mismatch": b"\0" + dgram(hello(cipher=2)),
    "zero-key": b"\0" + dgram(hello(pub=ZERO)),
    "low-order-key": b"\0" + HANDSHAKE + dgram(hello(pub=LOW_ORDER, echo=LOCAL_PUB, index=8,
                                                      ts=T0 + 2)) + advance(1000) + TICK,
}

REQ = bytes.fromhex("ffffffffffff164d5d56b1c20806000108000604000116"
                    "4d5d56b1c20a4d0001" "000000000000" "0a4d0002")


def with_target(frame, target):
    return frame[:38] + struct.pack(">I", target)


def with_sender(frame, sender):
    return frame[:28] + struct.pack(">I", sender) + frame[32:]


# fuzz_arp's table: node 10.77.0.1/16, service 10.77.0.254, 10.77.0.2/32 and 10.78.0.0/16 to
# valid peers, 10.77.0.3/32 and 10.79.0.0/24 to a peer that is not valid.

arp = {
    "captured-request": REQ,
    "padded-request": REQ + b"\0" * 18,
    "prefix-target": with_target(REQ, ip(10, 78, 3, 4)),
    "unknown-target": with_target(REQ, ip(10, 77, 0, 99)),
    "own-address": with_target(REQ, ip(10, 77, 0, 1)),
    "probe": REQ[:28] + b"\0\0\0\0" + REQ[32:],
    "reply": REQ[:21] + b"\x02" + REQ[22:],
    "bad-hlen": REQ[:18] + b"\x08" + REQ[19:],
    "ipv4-frame": REQ[:12] + b"\x08\x00" + REQ[14:],
    "truncated": REQ[:30],
    "service-address": with_target(REQ, ip(10, 77, 0, 254)),
    "invalid-peer-host": with_target(REQ, ip(10, 77, 0, 3)),
    "invalid-peer-prefix": with_target(REQ, ip(10, 79, 0, 5)),
    "prefix-last": with_target(REQ, ip(10, 78, 255, 255)),
    "below-prefix": with_target(REQ, ip(10, 76, 255, 255)),
    "outside-subnet": with_target(REQ, ip(192, 168, 1, 1)),
    "zero-target": with_target(REQ, 0),
    "gratuitous": with_sender(REQ, ip(10, 77, 0, 2)),
    # The reply goes to the MAC in the ARP body, not the Ethernet source.
    "sender-mac-differs": REQ[:22] + bytes.fromhex("02aabbccddee") + REQ[28:],
    "op-3": REQ[:21] + b"\x03" + REQ[22:],
    "bad-ptype": REQ[:16] + b"\x86\xdd" + REQ[18:],
    "bad-plen": REQ[:19] + b"\x10" + REQ[20:],
    "short-by-one": REQ[:41],
}

for name, seeds in (("control", control), ("arp", arp)):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    empty = os.path.join(d, "empty")
    if os.path.exists(empty):
        os.remove(empty)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)
    print(f"{name}: {len(seeds)} seeds")

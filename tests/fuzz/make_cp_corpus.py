#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_control and fuzz_arp (tests/fuzz/corpus/{control,arp}).

The control seeds are real HELLOs (HMAC with the fuzz target's secret and network) arranged as
handshakes, restarts, replays and reconfigurations in the record format fuzz_control.cc reads.
The local nonce is reproduced from the target's FakeRandom(42) (splitmix64).
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
LOCAL_NONCE = rnd.fill(16)
LOCAL_NONCE_AFTER_DP_RESTART = rnd.fill(16)
LOCAL = ip(10, 0, 0, 1)
PEER = ip(10, 0, 0, 2)
P1 = bytes(range(0xA0, 0xB0))
P2 = bytes(range(0xC0, 0xD0))
T0 = 1_700_000_000_000_000_000


def hello(sender=PEER, receiver=LOCAL, nonce=P1, echo=b"\0" * 16, index=0, ts=T0, net=NET_HASH,
          cipher=1, key=HELLO_KEY, mac=True):
    hdr = bytes([0x12, 0, 0, 0]) + b"\0" * 12
    body = bytes([1, cipher, 0, 0]) + struct.pack(">II", sender, receiver) + nonce + echo
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
HANDSHAKE = dgram(hello()) + dgram(hello(echo=LOCAL_NONCE, index=7, ts=T0 + 1)) + TICK


def peer_entry(flags, vip, port=5800, cipher=1, remote=9, key_id=0x1234, dp=1):
    addr = b"\0" * 10 + b"\xff\xff" + struct.pack(">I", ip(192, 0, 2, vip & 0xFF))
    return (struct.pack("<II", flags, vip) + addr + struct.pack("<HBBIQQ", port, cipher, 0, remote,
                                                                key_id, dp)
            + bytes(range(32)) + b"salt" + b"\0" * 4)


def session(index, peer, cipher=1, key_id=0x55):
    return struct.pack("<H", index) + struct.pack("<IIQ", 1, peer, key_id) + bytes(32) + b"salt" + \
        bytes([cipher, 0, 0, 0])


control = {
    "hello-first": b"\0" + dgram(hello()),
    "handshake": b"\0" + HANDSHAKE + advance(1000) + TICK,
    "peer-restart": b"\0" + HANDSHAKE + dgram(hello(nonce=P2, ts=T0 + 5)) + advance(11000) + TICK
    + dgram(hello(nonce=P2, echo=LOCAL_NONCE, index=8, ts=T0 + 6)) + advance(11000) + TICK,
    "replay": b"\0" + HANDSHAKE + dgram(hello()) + dgram(hello(), src=3),
    "dp-restart": b"\0" + HANDSHAKE + rec(3, struct.pack("<Q", 2)) + TICK
    + dgram(hello(echo=LOCAL_NONCE_AFTER_DP_RESTART, index=9, ts=T0 + 7)),
    "timeout": b"\0" + HANDSHAKE + advance(6000) + TICK + advance(6000) + TICK,
    "reconfigure": b"\0" + HANDSHAKE + rec(4, b"\x06") + TICK + rec(4, b"\x01") + TICK,
    "roam": b"\0" + HANDSHAKE + dgram(hello(echo=LOCAL_NONCE, index=7, ts=T0 + 9), src=3),
    "any-tag-odd-fields": b"\x01" + dgram(hello(mac=False, index=0xFFFFFFFF, ts=M64))
    + dgram(hello(mac=False, sender=ip(10, 0, 0, 3), echo=LOCAL_NONCE, index=4095, ts=1)),
    "inherit": b"\x02" + struct.pack("<I", 2) + b"\x02" + peer_entry(3, PEER)
    + peer_entry(1, ip(10, 0, 0, 9)) + b"\x03" + session(7, 0) + session(8, 5) + session(9, 1)
    + HANDSHAKE + advance(11000) + TICK,
    "wrong-network": b"\0" + dgram(hello(net=b"\1" * 8)),
    "bad-mac": b"\0" + dgram(hello(key=b"\2" * 32)),
    "truncated": b"\0" + dgram(hello()[:40]),
    "cipher-mismatch": b"\0" + dgram(hello(cipher=2)),
}

REQ = bytes.fromhex("ffffffffffff164d5d56b1c20806000108000604000116"
                    "4d5d56b1c20a4d0001" "000000000000" "0a4d0002")


def with_target(frame, target):
    return frame[:38] + struct.pack(">I", target)


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

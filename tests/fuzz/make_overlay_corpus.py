#!/usr/bin/env python3
"""Writes seed inputs for fuzz_overlay and fuzz_overlay_host (record formats in fuzz_overlay.cc and
fuzz_overlay_host.cc) to corpus/overlay/ and corpus/overlay_host/.

fuzz_overlay_host reads the same records (op 0 gets a valid one-byte tag appended by the target),
so its corpus is the overlay seeds plus its own: DHT names, directory records, and datagrams that
fail authentication (op 4 passes the bytes as given, here with a wrong tag byte), each of which
must leave the node exactly as it was. When the authentication trailer changes, change TAG_OK /
TAG_BAD (and the target's authenticator) and run this again.
Run: python3 tests/fuzz/make_overlay_corpus.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "overlay")
OUT_HOST = os.path.join(HERE, "corpus", "overlay_host")
TAG_BAD = b"\x01"  # fuzz_overlay_host's authenticator accepts exactly one zero byte
WIRE = bytes([0x12, 0, 0, 0]) + bytes(12)  # version 1, CONTROL, rest zero


def addr(n):
    return bytes([n]) * 20


SELF = b"\x80" + bytes(19)  # RingAddress::FromFraction(0.5), fuzz_overlay's node
HOST_SELF = b"\x40" + bytes(19)  # FromFraction(0.25), fuzz_overlay_host's node


def ep(last, port=5800):
    return bytes(10) + b"\xff\xff" + bytes([10, 0, 0, last]) + struct.pack(">H", port)


def common(t, sender):
    return WIRE + bytes([t, 1, 0, 0]) + sender


def link_request(sender, kind, token, receiver=bytes(20)):
    return common(0x20, sender) + bytes([kind, 0, 0, 0]) + struct.pack(">Q", token) + receiver


def link_accept(sender, kind, token, status=0):
    return common(0x21, sender) + bytes([kind, status, 0, 0]) + struct.pack(">Q", token) + ep(9)


def keepalive(sender, reply, token=7):
    return common(0x22, sender) + bytes([1 if reply else 0, 0, 0, 0]) + struct.pack(">Q", token)


def close(sender, reason=1):
    return common(0x23, sender) + bytes([reason, 0, 0, 0])


def neighbours(sender, entries, flags=0):
    body = b"".join(a + e for a, e in entries)
    return common(0x24, sender) + bytes([flags, len(entries), 0, 0]) + body


def routed(sender, mode, key, payload_type=0x10, payload=b"hi", flags=0, hops=0, limit=8,
           source=None):
    source = source or sender
    return (common(0x25, sender) + bytes([mode, flags, hops, limit]) + struct.pack(">Q", 99) +
            source + ep(3) + key + bytes([payload_type, 0]) + struct.pack(">H", len(payload)) +
            payload)


def rec(op, data):
    return bytes([op]) + struct.pack("<H", len(data)) + data


def dgram(src_index, d):
    return rec(0, bytes([src_index]) + d)


def tick(ticks10ms=100):
    return rec(1, struct.pack("<H", ticks10ms))


seeds = {
    # A bootstrap entry answers our leaf request (token unknown to the seed: exercises refusal
    # paths), then peers ask us for links and talk to us.
    "link-request-near": dgram(1, link_request(addr(0x30), 2, 5)) + tick(),
    "link-request-wrong-receiver": dgram(2, link_request(addr(0x31), 2, 6, addr(0x99))),
    "accept-unknown-token": dgram(1, link_accept(addr(0x32), 1, 12345)),
    "keepalive-unknown": dgram(3, keepalive(addr(0x33), False)),
    "linked-then-keepalive": dgram(1, link_request(addr(0x34), 3, 8)) + dgram(1, keepalive(addr(0x34), False)) + dgram(1, close(addr(0x34), 2)),
    "neighbours": dgram(4, neighbours(addr(0x40), [(addr(0x41), ep(5)), (addr(0x7f), ep(6))], 1)),
    "routed-join": dgram(1, link_request(addr(0x50), 2, 9)) +
                   dgram(2, routed(addr(0x50), 3, addr(0x80), 1, struct.pack(">BxxxQ", 2, 77), 1)),
    "routed-far": dgram(1, routed(addr(0x60), 2, addr(0x81), 2, struct.pack(">BxxxQ", 3, 78), 1)),
    "routed-app": dgram(1, routed(addr(0x61), 1, addr(0x80))) + rec(2, bytes([1]) + addr(0x20) + b"x"),
    "routed-hop-limit": dgram(1, routed(addr(0x62), 2, addr(0x10), hops=8, limit=8)),
    "truncated": dgram(1, link_request(addr(0x30), 2, 5)[:40]),
    "ticks-and-move": tick(2000) + rec(3, b"") + tick(3000) + tick(3000) + tick(6000),
    # fuzz_overlay's node is at 0x80 00..: a message claiming to come from it links nothing.
    "link-request-from-self": dgram(1, link_request(SELF, 2, 5)) + tick(),
    # fuzz_overlay allows 8 links: the ninth requester is refused.
    "table-full": b"".join(dgram(1 + i % 8, link_request(addr(0x10 + 0x11 * i), 3, 20 + i))
                           for i in range(10)) + tick(),
    "leaf-limit": b"".join(dgram(1 + i % 8, link_request(addr(0x21 + i), 1, 40 + i))
                           for i in range(5)),
}



# The stamp OverlayHost puts between a message and its tag: the sender's timestamp (ns, big
# endian) and the receiver's ring address. FakeClock's wall clock starts at 1.7e18 ns.
WALL0 = 1_700_000_000_000_000_000


def stamp(ts=WALL0 + 1_000_000_000, receiver=HOST_SELF):
    return struct.pack(">Q", ts) + receiver


def unauth(src_index, d, tag=TAG_BAD, with_stamp=True):
    return rec(4, bytes([src_index]) + d + (stamp() if with_stamp else b"") + tag)


def as_given(src_index, d, st):
    """Op 4 with a valid tag byte: the stamp decides."""
    return rec(4, bytes([src_index]) + d + st + b"\x00")


def dht_put(key20):
    """A DHT PUT request (controlplane/dht/dht_messages.h) to the coordinator (envelope 1)."""
    body = struct.pack(">BBBBQ", 2, 0, 0, 0, 5) + key20 + addr(0x55) + struct.pack(">IQH", 60000, 1, 1)
    return b"\x01" + body + b"x"


linked = dgram(1, link_request(addr(0x34), 3, 8))
host_seeds = dict(seeds)
host_seeds.update({
    "dht-get-name": rec(2, b"\x01greeting") + rec(1, struct.pack("<H", 50)),
    "directory-record": rec(3, bytes(range(1, 21)) + bytes(10) + b"\xff\xff" + bytes([172, 31, 0, 1])
                            + struct.pack(">H", 5800)),
    "directory-record-short": rec(3, bytes(range(1, 21))),
    "resolve-and-tick": rec(2, bytes([10, 77, 0, 2])) + rec(1, struct.pack("<H", 100))
    + rec(1, struct.pack("<H", 456)),
    # Authentication fails: nothing may change.
    "unauth-link-request": unauth(1, link_request(addr(0x30), 2, 5)) + tick(),
    "link-request-from-self": dgram(1, link_request(HOST_SELF, 2, 5)) + tick(),
    "unauth-then-auth": unauth(1, link_request(addr(0x30), 2, 5)) + dgram(1, link_request(addr(0x30), 2, 5)),
    "unauth-close": linked + unauth(1, close(addr(0x34), 2)) + tick(),
    "unauth-keepalive-new-endpoint": linked + unauth(5, keepalive(addr(0x34), False)),
    "unauth-neighbours": linked + unauth(1, neighbours(addr(0x34), [(addr(0x41), ep(5))])),
    "unauth-routed-dht-put": linked + unauth(1, routed(addr(0x34), 2, addr(0x40), 0x20,
                                                         dht_put(addr(0x40)))),
    "auth-routed-dht-put": linked + dgram(1, routed(addr(0x34), 2, addr(0x40), 0x20,
                                                     dht_put(addr(0x40)))),
    "unauth-empty-tag": linked + unauth(1, close(addr(0x34), 2), tag=b""),
    "unauth-too-short": unauth(1, WIRE + bytes([0x22]), tag=b"", with_stamp=False),
    "unauth-no-stamp": linked + unauth(1, close(addr(0x34), 2), with_stamp=False),
    # Authenticated, refused by the stamp: nothing may change either.
    "stamp-before-start": linked + as_given(1, close(addr(0x34), 2), stamp(ts=WALL0 - 31_000_000_000)),
    "stamp-far-ahead": linked + as_given(1, close(addr(0x34), 2), stamp(ts=WALL0 + 400_000_000_000)),
    "stamp-for-another-node": linked + as_given(1, close(addr(0x34), 2),
                                                stamp(receiver=addr(0x77))),
    "stamp-replayed": linked + as_given(1, keepalive(addr(0x34), False), stamp())
    + as_given(5, keepalive(addr(0x34), False), stamp()),
    "stamp-unbound-request-moves-nothing": linked + as_given(
        5, link_request(addr(0x34), 1, 9), stamp(receiver=bytes(20))),
    "unauth-too-long": unauth(1, routed(addr(0x35), 1, addr(0x40), 0x10, bytes(1600))),
})


def write(out, table):
    os.makedirs(out, exist_ok=True)
    for name, data in table.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(table)} seeds to {out}")


write(OUT, seeds)
write(OUT_HOST, host_seeds)

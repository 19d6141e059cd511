#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_dht_service, fuzz_mcast_members and fuzz_mgmt
(tests/fuzz/corpus/{dht_service,mcast_members,mgmt}; record formats in each target).

DHT bodies follow controlplane/dht/dht_messages.h (the helpers of make_dht_corpus.py); ring
addresses are RingAddress::FromFraction as the targets compute them.
Run from anywhere: python3 tests/fuzz/make_cp_service_corpus.py
"""
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_dht_corpus as dht  # noqa: E402
import make_dp_corpus as dp  # noqa: E402

CREATE, PUT, GET, REMOVE, REPLICATE, REPLY = 1, 2, 3, 4, 5, 6
OK, KEY_EXISTS, NOT_RESPONSIBLE, OVERLOADED = 0, 3, 11, 12


def frac(f):
    return struct.pack(">Q", int(math.ldexp(f, 64))) + bytes(12)


def rec(op, body):
    return bytes([op]) + struct.pack("<H", len(body)) + body


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)
    print(f"{name}: {len(seeds)} seeds")


# ---- dht_service ----
# Fake peers at 0.499, 0.4995, 0.5005, 0.501, 0.1, 0.8; this node at 0.5; keys 0.5, 0.5007,
# 0.1002, 0.75.
PEERS = [0.499, 0.4995, 0.5005, 0.501, 0.1, 0.8]
KEYS = [frac(f) for f in (0.5, 0.5007, 0.1002, 0.75)]
P_PUT, P_CLAIM, P_RENEW, P_GET, P_REMOVE = range(5)


def client(kind, key, value=b"v"):
    return rec(0, bytes([kind, key]) + value)


def routed(src, payload):
    return rec(1, bytes([src]) + payload)


def reply(req, src, status=OK, records=(), other_key=False, twice=False):
    body = bytes([req, src, status, 0x80 if other_key else 0])
    for owner, flags, ttl, value in records:
        body += bytes([owner, flags, ttl, len(value)]) + value
    return rec(5 if twice else 2, body)


def tick(ms10=100):
    return rec(3, struct.pack("<H", ms10))


def toggle(peer):
    return rec(4, bytes([peer]))


def env(e, body, origin=None):
    return bytes([e]) + (origin or b"") + body


owner_a, owner_b = frac(0.499), frac(0.3)
put_k0 = dht.write(PUT, 77, KEYS[0], owner_b, 60000, 5, b"routed")
create_k0 = dht.write(CREATE, 78, KEYS[0], owner_b, 60000, 5, b"claim")
ticks = lambda n, ms10=100: tick(ms10) * n  # noqa: E731
dht_service = {
    "put-get-alone": b"\0" + client(P_PUT, 0, b"hello") + ticks(3) + client(P_GET, 0) + ticks(3),
    "claim-rejected-alone": b"\0" + client(P_CLAIM, 0, b"a") + ticks(2) + client(P_CLAIM, 0, b"b")
    + ticks(3),
    "create-replies-ok": b"\4" + client(P_CLAIM, 1, b"x") + reply(0, 2) + reply(0, 3) + reply(0, 1)
    + ticks(2),
    "claim-one-rival-refuses": b"\4" + client(P_CLAIM, 1, b"x") + reply(0, 2) + reply(0, 3)
    + reply(0, 1, KEY_EXISTS) + ticks(2),
    "renew-majority-wins": b"\4" + client(P_RENEW, 1, b"x") + reply(0, 2) + reply(0, 3)
    + reply(0, 1, KEY_EXISTS) + ticks(2),
    "write-majority-refuses": b"\4" + client(P_PUT, 1, b"x") + reply(0, 2, 5) + reply(0, 3, 5)
    + reply(0, 1) + ticks(2),
    "get-read-repair": b"\4" + client(P_GET, 1) + reply(0, 2, OK, [(0, 0, 60, b"v1")])
    + reply(0, 3, OK, [(0, 0, 60, b"v1"), (1, 1, 60, b"v2")]) + reply(0, 1, OK, []) + ticks(2),
    "get-no-quorum": b"\4" + client(P_GET, 2) + reply(0, 4, NOT_RESPONSIBLE) + ticks(60),
    "reply-twice": b"\4" + client(P_PUT, 1) + reply(0, 2, twice=True) + reply(0, 3) + ticks(2),
    "reply-other-key": b"\4" + client(P_PUT, 1) + reply(0, 2, other_key=True) + ticks(3),
    "reply-after-retry": b"\4" + client(P_PUT, 2) + ticks(25) + reply(0, 4) + reply(1, 4)
    + ticks(60),
    "overloaded-coordinator": b"\4" + client(P_GET, 3) + reply(0, 5, OVERLOADED) + ticks(10),
    "timeouts-only": b"\6" + b"".join(client(k, k % 4) for k in range(5)) + ticks(60),
    "oversize-value": b"\0" + client(P_PUT, 0, b"z" * 1500) + ticks(2),
    "routed-put-coordinator": b"\4" + routed(0, env(1, put_k0)) + ticks(1),
    "routed-create-then-get": b"\0" + routed(1, env(1, create_k0))
    + routed(2, env(1, dht.header(GET, 80, KEYS[0]))),
    "routed-fanout-names-client": b"\4" + routed(3, env(2, put_k0, frac(0.3))),
    "routed-direct-remove": b"\0" + routed(1, env(1, put_k0))
    + routed(1, env(3, dht.remove(0, KEYS[0], owner_b, b"routed"))),
    "routed-remove-by-other": b"\0" + routed(1, env(1, put_k0))
    + routed(2, env(3, dht.remove(0, KEYS[0], owner_b, b"routed"))),
    "routed-body-owner-lies": b"\0" + routed(1, env(1, dht.write(PUT, 9, KEYS[0], frac(0.9), 60000,
                                                                 1, b"mine"))),
    "routed-reply-unknown": b"\0" + routed(2, env(3, dht.records(REPLY, 12345 << 8 | 1, KEYS[0],
                                                                 [(0, owner_a, 100, 1, b"x")]))),
    "routed-reply-as-request": b"\0" + routed(2, env(1, dht.records(REPLY, 1, KEYS[0], []))),
    "routed-replicate": b"\0" + routed(4, env(3, dht.records(
        REPLICATE, 0, KEYS[0], [(1, owner_a, 5000, 3, b"x"), (0, owner_b, 10, 1, b"")], flags=1))),
    "routed-replicate-not-direct": b"\0" + routed(4, env(1, dht.records(
        REPLICATE, 0, KEYS[0], [(1, owner_a, 5000, 3, b"x")], flags=1))),
    "bad-envelopes": b"\0" + routed(1, env(0, put_k0)) + routed(1, env(4, put_k0))
    + routed(1, b"\2" + bytes(10)) + routed(1, b"") + routed(1, env(1, put_k0[:-3])),
    "rate-limit": b"\0" + b"".join(routed(1, env(1, dht.header(GET, i + 1, KEYS[0])))
                                    for i in range(60)),
    "handover-on-churn": b"\4" + routed(1, env(1, put_k0)) + routed(1, env(1, create_k0))
    + toggle(2) + toggle(3) + ticks(3) + toggle(2) + ticks(3) + ticks(40, 100),
    "links-die-of-silence": b"\6" + client(P_PUT, 0) + ticks(60) + client(P_GET, 0) + ticks(60),
}


# ---- mcast_members ----
GROUP1, GROUP2, MDNS, BCAST, GROUP9 = range(5)
JOIN, LEAVE, DATA, RAW = range(4)


def members(group, shard, records):
    body = bytes([group, shard])
    for owner, flags, ttl, value in records:
        body += bytes([owner, flags, ttl, len(value)]) + value
    return rec(0, body)


def frame(kind, group, raw=b""):
    return rec(1, bytes([kind, group]) + raw)


def mtick(ms100=10):
    return rec(2, struct.pack("<H", ms100))


PUBLISH = rec(3, b"")


def vip(index, mask):
    return rec(4, bytes([index, mask]))


def traffic(counter, delta):
    return rec(5, bytes([counter, delta]))


def ip(*a):
    return bytes(a)


v2 = lambda last: ip(10, 77, 0, last)  # noqa: E731
def v3_report(group):
    """IGMPv3 report (RFC 3376 4.2) with one CHANGE_TO_EXCLUDE record: a join of `group`."""
    igmp = bytearray(b"\x22\0\0\0\0\0\0\x01" + b"\x04\0\0\0" + group)
    struct.pack_into("!H", igmp, 2, dp.csum(bytes(igmp)))
    ip_hdr = dp.ipv4(ip(10, 77, 0, 1), ip(224, 0, 0, 22), 2, bytes(igmp), ttl=1,
                     options=b"\x94\x04\0\0")
    return bytes.fromhex("01005e000016") + bytes.fromhex("029900000001") + b"\x08\x00" + ip_hdr
mcast = {
    "members-learned": members(GROUP1, 0, [(0, 0, 60, v2(9)), (1, 0, 60, v2(2))])
    + members(GROUP1, 1, [(2, 0, 60, v2(5))]) + frame(DATA, GROUP1) + mtick() + PUBLISH,
    "join-publishes": frame(JOIN, GROUP2) + mtick() + mtick() + PUBLISH,
    "join-then-leave": frame(JOIN, GROUP2) + mtick() + frame(LEAVE, GROUP2) + mtick() + PUBLISH,
    "vip-changes": frame(JOIN, GROUP1) + mtick() + vip(4, 0x0f) + mtick() + PUBLISH + vip(1, 0x0f)
    + mtick(),
    "odd-value-lengths": members(GROUP1, 0, [(0, 0, 60, b""), (1, 0, 60, b"\x0a\x4d\x00"),
                                             (2, 1, 60, v2(3) + b"\0"), (3, 0, 60, v2(4) * 2),
                                             (0, 0, 60, v2(6))])
    + frame(DATA, GROUP1) + mtick() + PUBLISH,
    "other-shard-name": members(GROUP1, 2, [(0, 0, 60, v2(7))]) + frame(DATA, GROUP1) + mtick()
    + PUBLISH,
    "our-vip-listed": members(GROUP1, 1, [(0, 0, 60, v2(1)), (1, 0, 60, v2(0))]) + frame(DATA, GROUP1)
    + mtick() + PUBLISH,
    "broadcast-members": members(BCAST, 0, [(0, 0, 60, v2(2)), (1, 0, 60, v2(4))])
    + members(BCAST, 1, [(2, 0, 60, v2(3))]) + frame(DATA, BCAST) + mtick() + PUBLISH,
    "group-goes-idle": members(GROUP9, 0, [(0, 0, 250, v2(2))]) + frame(DATA, GROUP9) + mtick()
    + PUBLISH + mtick(400) + PUBLISH,
    "traffic-keeps-group": frame(DATA, GROUP2) + mtick() + traffic(0, 5) + mtick(200) + traffic(0, 9)
    + mtick(200) + PUBLISH,
    "records-expire": members(GROUP1, 0, [(0, 0, 0, v2(2))]) + frame(DATA, GROUP1) + mtick(20)
    + mtick(60) + PUBLISH,
    "many-members": members(GROUP2, 0, [(i % 4, 0, 60, v2(2 * i + 2)) for i in range(8)])
    + members(GROUP2, 1, [(i % 4, 0, 60, v2(2 * i + 1)) for i in range(8)]) + vip(0, 0xff)
    + frame(DATA, GROUP2) + mtick() + PUBLISH,
    "raw-igmpv3-join": frame(RAW, 0, v3_report(ip(239, 2, 2, 2))) + mtick() + mtick() + PUBLISH,
    "exclusive-member-record": members(GROUP1, 0, [(0, 1, 60, v2(2))])
    + members(GROUP1, 0, [(1, 0, 60, v2(3))]) + frame(DATA, GROUP1) + mtick() + PUBLISH,
}


# ---- mgmt: the bytes a client sends ----
mgmt = {
    "status": b"status\n",
    "peers-no-newline": b"peers",
    "counters-crlf": b"counters\r\n",
    "reload-blanks": b" \treload \t\n",
    "routes": b"routes\n",
    "multicast": b"multicast\n",
    "ring": b"ring\n",
    "links": b"links\n",
    "dht-put": b"dht put name value\n",
    "dht-put-ttl": b"dht  put\tname   value 60 \n",
    "dht-put-max-ttl": b"dht put n v 999999\n",
    "dht-put-ttl-zero": b"dht put n v 000000\n",
    "dht-put-ttl-too-long": b"dht put n v 1000000\n",
    "dht-put-ttl-not-number": b"dht put n v 1e3\n",
    "dht-get": b"dht get name\n",
    "dht-alone": b"dht\n",
    "dht-get-missing": b"dht get\n",
    "dht-tab": b"dht\tget x\n",
    "dht-unknown-verb": b"dht del x\n",
    "unknown": b"bogus\n",
    "two-lines": b"status\nreload\n",
    "control-char": b"sta\x01tus\n",
    "delete-char": b"\x7f\n",
    "cr-inside": b"sta\rtus\n",
    "cr-at-eof": b"status\r",
    "only-newline": b"\n",
    "empty": b"",
    "longest-line": b"a" * 4095,
    "too-long": b"a" * 4096,
    "too-long-then-newline": b"b" * 5000 + b"\n",
    "newline-at-limit": b"c" * 4095 + b"\n",
    "utf8": "dht put n\u00e4me v\u00e4lue\n".encode(),
    "json-status": b"json status\n",
    "json-tab-dht": b"json\tdht get n\n",
    "json-alone": b"json\n",
    "json-twice": b"json json peers\n",
    "ping": b"ping n3\n",
    "ping-options": b"json ping 10.77.0.3 -c 5 -i 200\n",
    "ping-no-target": b"ping -c 3\n",
    "ping-count-zero": b"ping n3 -c 0\n",
    "ping-dup-option": b"ping n3 -c 1 -c 2\n",
    "ping-missing-value": b"ping n3 -i\n",
    "validate": b"validate\n",
    "validate-options": b"validate\t-i 10 -c 100\n",
    "validate-extra": b"validate n3\n",
}


def main():
    write("dht_service", dht_service)
    write("mcast_members", mcast)
    write("mgmt", mgmt)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_dht (tests/fuzz/corpus/dht/). Layout: controlplane/dht/dht_messages.h."""
import hashlib
import os
import struct
import sys

CREATE, PUT, GET, REMOVE, REPLICATE, REPLY = 1, 2, 3, 4, 5, 6


def key(name):
    return hashlib.sha256(name.encode()).digest()[:20]


def header(t, req, k, flags=0, status=0):
    return struct.pack(">BBBBQ", t, flags, status, 0, req) + k


def write(t, req, k, owner, ttl, version, value):
    return header(t, req, k) + owner + struct.pack(">IQH", ttl, version, len(value)) + value


def remove(req, k, owner, value):
    return header(REMOVE, req, k) + owner + struct.pack(">H", len(value)) + value


def records(t, req, k, recs, flags=0, status=0):
    out = header(t, req, k, flags, status) + struct.pack(">H", len(recs))
    for excl, owner, ttl, version, value in recs:
        out += struct.pack(">B", excl) + owner + struct.pack(">IQH", ttl, version, len(value)) + value
    return out


def frames(*msgs):
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "dht")
    os.makedirs(out, exist_ok=True)
    a, b, k1, k2 = key("owner-a"), key("owner-b"), key("ip:10.0.0.7"), key("dns:alice")
    seeds = {
        "create.bin": write(CREATE, 1, k1, a, 60000, 1, b"10.0.0.7"),
        "put.bin": write(PUT, 2, k2, b, 1000, 2, b"alice"),
        "get.bin": header(GET, 3, k1),
        "remove.bin": remove(4, k1, a, b"10.0.0.7"),
        "replicate.bin": records(REPLICATE, 5, k1, [(1, a, 5000, 3, b"x"), (0, b, 10, 1, b"")], flags=1),
        "reply.bin": records(REPLY, 6, k2, [(0, a, 100, 9, b"v" * 40)], flags=1, status=0),
        "reply_refused.bin": records(REPLY, 7, k2, [], status=3),
        "truncated.bin": write(PUT, 8, k2, b, 1000, 2, b"alice")[:-2],
        "race.bin": frames(write(CREATE, 0, k1, a, 500, 1, b"A"), write(CREATE, 10, k1, b, 500, 1, b"B"),
                           header(GET, 600, k1), write(CREATE, 0, k1, b, 500, 2, b"B"),
                           write(PUT, 0, k1, a, 500, 3, b"A2")),
        "multi_put.bin": frames(*[write(PUT, i, k2, key("o%d" % (i % 3)), 2000, i, b"val%d" % i)
                                  for i in range(12)] + [remove(0, k2, key("o1"), b"val1")]),
        "repair.bin": frames(write(CREATE, 0, k1, b, 60000, 1, b"B"),
                             records(REPLICATE, 0, k1, [(1, a, 60000, 2, b"A")], flags=1),
                             records(REPLICATE, 0, k1, [(0, b, 60000, 2, b"S")], flags=0)),
        "quota.bin": frames(*[write(PUT, 1, key("k%d" % i), a, 60000, 1, b"q" * 30) for i in range(12)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

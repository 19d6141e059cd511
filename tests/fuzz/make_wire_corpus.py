#!/usr/bin/env python3
"""Writes the RELAY seeds of fuzz_wire (tests/fuzz/corpus/wire/relay-*).

They wrap the existing DATA/CONTROL seeds of the same directory in a RELAY header (docs/
wire-format.md) and are aimed at the fixed link table of fuzz_wire.cc: this node at 0x50..,
valid links at 0x10.. and 0x80.., an invalid one at 0xc0...
Run: python3 tests/fuzz/make_wire_corpus.py
"""
import os

VERSION = 1
RELAY = 4


def ring(top, last=0):
    return bytes([top]) + bytes(18) + bytes([last])


def relay(dst, hops, inner, reserved=0):
    return bytes([VERSION << 4 | RELAY, 0, hops, reserved]) + dst + inner


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")

    def seed(name):
        with open(os.path.join(out, name), "rb") as f:
            return f.read()

    gcm, chacha, control = seed("data-gcm-valid"), seed("data-chacha-valid"), seed("control")
    seeds = {
        "relay-for-us-gcm-valid": relay(ring(0x50), 3, gcm),
        "relay-for-us-chacha-valid": relay(ring(0x50), 0, chacha),
        "relay-forward-exact-link": relay(ring(0x80), 0, gcm),
        "relay-forward-across-wrap": relay(ring(0x05), 31, gcm),
        "relay-hop-limit": relay(ring(0x80), 32, gcm),
        "relay-no-route": relay(ring(0x50, 1), 0, gcm),
        "relay-inner-control": relay(ring(0x80), 0, control),
        "relay-inner-relay": relay(ring(0x80), 0, relay(ring(0x80), 0, gcm)),
        "relay-short": relay(ring(0x80), 0, gcm[:31]),
        "relay-bad-reserved": relay(ring(0x80), 0, gcm, reserved=1),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the RELAY and tampered seeds of fuzz_wire (tests/fuzz/corpus/wire/relay-*, *-tampered-*).

The RELAY seeds wrap the existing DATA/CONTROL seeds of the same directory in a RELAY header
(docs/wire-format.md) and are aimed at the fixed link table of fuzz_wire.cc: this node at 0x50..,
valid links at 0x10.. and 0x80.., an invalid one at 0xc0... The tampered seeds are the sealed
*-valid seeds with one bit flipped in the ciphertext, the tag, the counter (nonce and AAD) or the
receiver index (AAD): fuzz_wire requires Open to refuse each, so a broken tag check fails the
corpus replay.
Run: python3 tests/fuzz/make_wire_corpus.py
"""
import os

VERSION = 1
RELAY = 4


def ring(top, last=0):
    return bytes([top]) + bytes(18) + bytes([last])


def relay(dst, hops, inner, reserved=0):
    return bytes([VERSION << 4 | RELAY, 0, hops, reserved]) + dst + inner


def flip(data, offset):
    """`data` with the low bit of byte `offset` (negative: from the end) inverted."""
    b = bytearray(data)
    b[offset] ^= 1
    return bytes(b)


HEADER = 16  # version/type, flags, reserved, receiver index, counter (docs/wire-format.md)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")

    def seed(name):
        with open(os.path.join(out, name), "rb") as f:
            return f.read()

    gcm, chacha, control = seed("data-gcm-valid"), seed("data-chacha-valid"), seed("control")
    empty = seed("data-gcm-empty-valid")
    seeds = {
        "data-gcm-tampered-ciphertext": flip(gcm, HEADER + 3),
        "data-gcm-tampered-tag": flip(gcm, -1),
        "data-gcm-tampered-counter": flip(gcm, 15),
        "data-gcm-tampered-receiver": flip(gcm, 7),
        "data-gcm-empty-tampered-tag": flip(empty, -16),
        "data-chacha-tampered-ciphertext": flip(chacha, HEADER),
        "data-chacha-tampered-tag": flip(chacha, -1),
        "data-chacha-tampered-counter": flip(chacha, 8),
        "relay-for-us-gcm-tampered": relay(ring(0x50), 1, flip(gcm, HEADER + 5)),
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

#!/usr/bin/env python3
"""Seeds for fuzz_echo (tests/fuzz/fuzz_echo.cc): a selector byte, then an ECHO payload
(controlplane/directory/overlay_echo.h)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "echo")
PROBED = b"\x33" * 20
OTHER = b"\x44" * 20
PROBE_ID = 0x5A5A5A5A5A5A5A5A


def echo(kind, hops, vip, ident, first_hop=b"\0" * 20, name=b"", reserved=0):
    return struct.pack("!BBBBIQ", kind, hops, len(name), reserved, vip, ident) + first_hop + name


def sel(exact=True, who=0, hops=1):
    return bytes([(1 if exact else 0) | (who << 1) | (hops << 3)])


SEEDS = {
    "request-any": sel() + echo(1, 0, 0, 7),
    "request-self": sel(hops=3) + echo(1, 0, 0x0A4D0001, 7, OTHER),
    "request-other-vip": sel() + echo(1, 0, 0x0A4D0009, 7),
    "request-nearest": sel(exact=False) + echo(1, 0, 0, 7),
    "request-with-name": sel() + echo(1, 0, 0, 7, name=b"x"),
    "reply-answer": sel() + echo(2, 1, 0x0A4D0003, PROBE_ID, PROBED, b"n3"),
    "reply-relayed": sel(hops=2) + echo(2, 2, 0x0A4D0003, PROBE_ID, OTHER, b"n3"),
    "reply-wrong-node": sel(who=1) + echo(2, 1, 0x0A4D0003, PROBE_ID, PROBED, b"n3"),
    "reply-wrong-id": sel() + echo(2, 1, 0x0A4D0003, PROBE_ID ^ 1, PROBED, b"n3"),
    "reply-wrong-vip": sel() + echo(2, 1, 0x0A4D0004, PROBE_ID, PROBED, b"n3"),
    "reply-bad-name": sel() + echo(2, 1, 0x0A4D0003, PROBE_ID, PROBED, b"n 3"),
    "reply-long-name": sel() + echo(2, 1, 0x0A4D0003, PROBE_ID, PROBED, b"a" * 63),
    "reserved-set": sel() + echo(1, 0, 0, 7, reserved=1),
    "bad-kind": sel() + echo(3, 0, 0, 7),
    "short": sel() + b"\x01\x00",
    "trailing": sel() + echo(1, 0, 0, 7) + b"\0",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"echo: {len(SEEDS)} seeds")


if __name__ == "__main__":
    main()

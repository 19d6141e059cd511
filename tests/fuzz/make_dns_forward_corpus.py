#!/usr/bin/env python3
"""Seeds for fuzz_dns_forward: a steering byte, then an upstream reply to the fixed query
"fuzz.example A" (whose ID the target patches in when bit 0 of the steering byte is set)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "dns_forward")
QUESTION = b"\x04fuzz\x07example\x00" + struct.pack("!HH", 1, 1)


def reply(flags=0x8180, qd=1, an=1, question=QUESTION, records=None):
    if records is None:
        records = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    return struct.pack("!HHHHHH", 0, flags, qd, an, 0, 0) + question + records


SEEDS = {
    "answer": b"\x01" + reply(),
    "answer-expire": b"\x05" + reply(),
    "nxdomain": b"\x01" + reply(flags=0x8183, an=0, records=b""),
    "tc-set": b"\x01" + reply(flags=0x8380, an=0, records=b""),
    "oversize": b"\x01" + reply(an=3, records=(b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, 201)
                                                + b"\xc8" + b"y" * 200) * 3),
    "wrong-source": b"\x03" + reply(),
    "wrong-question": b"\x01" + reply(question=b"\x04fuzz\x07exampla\x00\x00\x01\x00\x01"),
    "no-question": b"\x01" + reply(qd=0, an=0, question=b"", records=b""),
    "unknown-id": b"\x00" + reply(),
    "query-not-reply": b"\x01" + reply(flags=0x0100),
    "short": b"\x01\x00\x00\x81",
    "pointer-question": b"\x01" + reply(question=b"\xc0\x0c\x00\x01\x00\x01"),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)

#!/usr/bin/env python3
"""Writes the seeds of tests/fuzz/corpus/igmp: the frames Linux sent (taken from
tests/unit/test_igmp_captures.h, so the capture lives in one place), a data frame to a group,
and bare IGMP messages (fuzz_igmp also wraps its input in a frame with the checksum fixed)."""
import pathlib
import re
import struct

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "corpus" / "igmp"
CAPTURES = HERE.parent / "unit" / "test_igmp_captures.h"


def captured():
    text = CAPTURES.read_text()
    for name, body in re.findall(r"k(\w+)Hex =\s*((?:\"[0-9a-f]+\"\s*)+);", text):
        yield name, bytes.fromhex("".join(re.findall(r"\"([0-9a-f]+)\"", body)))


def record(rtype, group, sources=(), aux=b""):
    body = struct.pack("!BBH4s", rtype, len(aux) // 4, len(sources), bytes(group))
    return body + b"".join(bytes(s) for s in sources) + aux


def v3_report(records):
    return struct.pack("!BBHHH", 0x22, 0, 0, 0, len(records)) + b"".join(records)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in captured():
        (OUT / f"captured-{name}").write_bytes(frame)
    g = [239, 1, 2, 3]
    bare = {
        "bare-v3-all-record-types": v3_report(
            [record(t, g, [[10, 0, 0, t]] if t % 2 else []) for t in range(1, 7)]),
        "bare-v3-aux-data": v3_report([record(2, [224, 0, 0, 251], [], b"\x01\x02\x03\x04")]),
        "bare-v3-record-count-too-big": struct.pack("!BBHHH", 0x22, 0, 0, 0, 9) + record(4, g),
        "bare-v2-query-group": struct.pack("!BBH4s", 0x11, 10, 0, bytes(g)),
        "bare-v3-query-float-code": struct.pack("!BBH4sBBH", 0x11, 0x9f, 0, bytes(4), 2, 0x8c, 0),
    }
    for name, msg in bare.items():
        (OUT / name).write_bytes(msg)
    # A UDP datagram from the host to the group (what the dataplane punts to a new group).
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + 4, 0, 0, 1, 17, 0, bytes([10, 77, 0, 20]),
                     bytes(g))
    udp = struct.pack("!HHHH", 40000, 5000, 12, 0) + b"ping"
    eth = bytes.fromhex("01005e010203") + bytes.fromhex("0200000a0014") + b"\x08\x00"
    (OUT / "data-to-group").write_bytes(eth + ip + udp)


if __name__ == "__main__":
    main()

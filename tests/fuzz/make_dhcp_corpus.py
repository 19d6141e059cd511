#!/usr/bin/env python3
"""Writes the seeds of tests/fuzz/corpus/dhcp: the frames real clients sent (taken from
tests/unit/test_dhcp_captures.h, so the capture lives in one place), client messages for the
states the capture lacks, and bare DHCP payloads (fuzz_dhcp also wraps its input in a frame)."""
import pathlib
import re
import struct

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "corpus" / "dhcp"
CAPTURES = HERE.parent / "unit" / "test_dhcp_captures.h"

MAC = bytes.fromhex("0299ee4426e2")
GW_MAC = bytes.fromhex("024950010203")
VIP, SERVER = bytes([10, 77, 0, 20]), bytes([10, 77, 0, 1])


def captured():
    text = CAPTURES.read_text()
    for name, body in re.findall(r"k(\w+)Hex =\s*((?:\"[0-9a-f]+\"\s*)+);", text):
        yield name, bytes.fromhex("".join(re.findall(r"\"([0-9a-f]+)\"", body)))


def payload(msg_type, ciaddr=b"\0" * 4, options=b"", cookie=b"\x63\x82\x53\x63"):
    fixed = struct.pack("!BBBBIHH", 1, 1, 6, 0, 0x01020304, 0, 0) + ciaddr + b"\0" * 12
    fixed += MAC + b"\0" * 10 + b"\0" * 192
    return fixed + cookie + bytes([53, 1, msg_type]) + options + b"\xff"


def ip_checksum(header):
    s = sum(struct.unpack("!10H", header))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return struct.pack("!H", ~s & 0xFFFF)


def frame(dhcp, src_ip=b"\0" * 4, dst_ip=b"\xff" * 4, dst_mac=b"\xff" * 6):
    udp = struct.pack("!HHHH", 68, 67, 8 + len(dhcp), 0) + dhcp  # checksum 0: none (RFC 768)
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0) + src_ip + dst_ip
    ip = ip[:10] + ip_checksum(ip) + ip[12:]
    return dst_mac + MAC + b"\x08\x00" + ip + udp


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {f"captured-{name}": data for name, data in captured()}
    opt = lambda code, value: bytes([code, len(value)]) + value  # noqa: E731
    seeds["renew"] = frame(payload(3, ciaddr=VIP), src_ip=VIP, dst_ip=SERVER, dst_mac=GW_MAC)
    seeds["inform"] = frame(payload(8, ciaddr=bytes([10, 77, 0, 5])))
    seeds["release"] = frame(payload(7, ciaddr=VIP, options=opt(54, SERVER)), src_ip=VIP)
    seeds["decline"] = frame(payload(4, options=opt(50, VIP) + opt(54, SERVER)))
    seeds["payload-overload"] = payload(1, options=opt(52, b"\x03") + opt(61, b"\x01" + MAC))
    seeds["payload-truncated-option"] = payload(3, options=bytes([50, 4, 10, 77]))[:-1]
    seeds["payload-bad-cookie"] = payload(1, cookie=b"\0\0\0\0")
    # dhclient with rfc3442-classless-static-routes asks for 121 in its parameter list; a client
    # echoing a 121 value (RFC 3442 example routes) must not confuse the parser.
    seeds["discover-requests-121"] = frame(payload(1, options=opt(55, bytes([1, 3, 6, 15, 121]))))
    seeds["payload-option-121"] = payload(
        3, options=opt(50, VIP) + opt(121, bytes([0, 10, 77, 0, 1, 24, 192, 168, 77, 10, 77, 0, 1])))
    # Option 50 naming an address that is not the node's: the server must still offer (and may
    # only ACK) the node's own address, never the one asked for.
    foreign, outside = bytes([10, 77, 0, 99]), bytes([192, 168, 1, 50])
    seeds["discover-requested-foreign"] = frame(payload(1, options=opt(50, foreign)))
    seeds["discover-requested-outside"] = frame(payload(1, options=opt(50, outside)))
    seeds["discover-requested-server"] = frame(payload(1, options=opt(50, SERVER)))
    seeds["request-selecting-foreign"] = frame(payload(3, options=opt(50, foreign) + opt(54, SERVER)))
    seeds["request-init-reboot-foreign"] = frame(payload(3, options=opt(50, outside)))
    seeds["renew-foreign-ciaddr"] = frame(payload(3, ciaddr=foreign), src_ip=foreign, dst_ip=SERVER,
                                          dst_mac=GW_MAC)
    seeds["payload-discover-requested-foreign"] = payload(
        1, options=opt(55, bytes([1, 3, 6])) + opt(50, foreign) + opt(61, b"\x01" + MAC))
    seeds["payload-request-foreign"] = payload(3, options=opt(50, foreign) + opt(54, SERVER))
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    empty = OUT / "empty"
    if empty.exists():
        empty.unlink()
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()

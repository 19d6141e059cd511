#!/usr/bin/env python3
"""A tiny authoritative DNS server for the forwarding test: answers A for fwd.example, a TXT record
too large for one 1232-byte reply for big.example, NXDOMAIN for anything else. Usage:
dns_upstream.py ADDRESS PORT READY_FILE"""
import socket
import struct
import sys

ANSWERS = {b"fwd.example": "192.0.2.99"}


def qname(msg, pos):
    labels = []
    while msg[pos] != 0:
        n = msg[pos]
        labels.append(msg[pos + 1:pos + 1 + n])
        pos += 1 + n
    return b".".join(labels), pos + 1


def main():
    addr, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    open(ready, "w").close()
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        (qid, flags, qd) = struct.unpack("!HHH", msg[:6])
        name, end = qname(msg, 12)
        question = msg[12:end + 4]
        lname = name.lower()
        answers = b""
        count = 0
        rcode = 0
        if lname in ANSWERS:
            ip = socket.inet_aton(ANSWERS[lname])
            answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + ip
            count = 1
        elif lname == b"big.example":
            for i in range(8):
                txt = bytes([200]) + b"x" * 200
                answers += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 30, len(txt)) + txt
            count = 8
        else:
            rcode = 3
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1, count, 0, 0)
        s.sendto(hdr + question + answers, peer)


if __name__ == "__main__":
    main()

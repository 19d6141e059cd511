#!/usr/bin/env python3
"""Seeds for fuzz_dns_tcp (record format at the top of fuzz_dns_tcp.cc): a host's TCP
conversations with the node's DNS responder - handshake, queries whole, split and pipelined,
answers at once and late, out-of-order data, retransmissions, FIN and RST both ways, a full
table, idle close, a closed window - and malformed frames.
Run from anywhere: python3 tests/fuzz/make_dns_tcp_corpus.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "dns_tcp")
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
# "C077000002.ipop A", RD.
QUERY = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x0aC077000002\x04ipop\x00" \
    + struct.pack("!HH", 1, 1)
MSG = struct.pack("!H", len(QUERY)) + QUERY


def cfg(answer_now, size_sel=0):
    return bytes([(1 if answer_now else 0) | (size_sel << 1)])


def seg(port, flags, payload=b"", dseq=0, dack=0, win=65535, mss=0):
    return b"\x01" + bytes([port, flags, dseq & 0xFF, dack & 0xFF]) + struct.pack(
        "!HHH", win, mss, len(payload)) + payload


def time(ms):
    return b"\x02" + struct.pack("!H", ms)


def answer(index, size):
    return b"\x03" + bytes([index]) + struct.pack("!H", size)


def raw(frame):
    return b"\x00" + struct.pack("!H", len(frame)) + frame


def connect(port, mss=1460):
    return seg(port, SYN, mss=mss) + seg(port, ACK)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(tcp_bytes, src=bytes([10, 77, 0, 1]), dst=bytes([10, 77, 0, 254]), proto=6, fix=True):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp_bytes), 1, 0x4000, 64, proto, 0, src,
                     dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    if fix and proto == 6 and len(tcp_bytes) >= 18:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp_bytes))
        t = tcp_bytes[:16] + b"\0\0" + tcp_bytes[18:]
        tcp_bytes = t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]
    eth = bytes.fromhex("024950000001") + bytes.fromhex("020000000002") + b"\x08\x00"
    return eth + ip + tcp_bytes


def tcp(sport, flags, seq=1, ack=0, off=5, payload=b"", options=b""):
    return struct.pack("!HHIIBBHHH", sport, 53, seq, ack, off << 4, flags, 65535, 0, 0) \
        + options + payload


SEEDS = {
    "query-answered": cfg(True) + connect(0) + seg(0, ACK | PSH, MSG) + seg(0, ACK)
    + seg(0, ACK | FIN) + seg(0, ACK),
    "query-late-big-answer": cfg(False) + connect(0, 536) + seg(0, ACK | PSH, MSG)
    + answer(0, 3000) + seg(0, ACK) + seg(0, ACK) + time(1000) + seg(0, ACK),
    "two-queries-one-segment": cfg(True, 2) + connect(1) + seg(1, ACK | PSH, MSG + MSG)
    + seg(1, ACK),
    "split-message": cfg(True) + connect(2) + seg(2, ACK, MSG[:1]) + seg(2, ACK, MSG[1:9])
    + seg(2, ACK | PSH, MSG[9:]) + seg(2, ACK),
    "out-of-order": cfg(True) + connect(3) + seg(3, ACK | PSH, MSG[5:], dseq=5)
    + seg(3, ACK | PSH, MSG, dseq=-(len(MSG) - 5) - 5) + seg(3, ACK),
    "retransmit-then-reset": cfg(True, 1) + connect(0) + seg(0, ACK | PSH, MSG) + time(1000)
    + time(2000) + time(4000) + time(8000),
    "table-full": cfg(True) + b"".join(connect(p) for p in range(5)) + seg(0, ACK | PSH, MSG),
    "rst": cfg(True) + connect(4) + seg(4, RST) + seg(4, ACK),
    "rst-out-of-window": cfg(True) + connect(4) + seg(4, RST, dseq=100),
    "no-connection": cfg(True) + seg(5, ACK, dack=7) + seg(5, FIN, b"abc") + seg(5, RST),
    "half-close-late-answer": cfg(False) + connect(6) + seg(6, ACK | PSH | FIN, MSG)
    + answer(0, 40) + seg(6, ACK),
    "idle-close": cfg(True) + connect(7) + seg(7, ACK | PSH, MSG) + seg(7, ACK) + time(10000)
    + seg(7, ACK) + seg(7, ACK | FIN),
    "zero-window": cfg(True, 3) + connect(0) + seg(0, ACK, win=0) + seg(0, ACK | PSH, MSG, win=0)
    + time(1000) + seg(0, ACK),
    "query-too-large": cfg(True) + connect(1) + seg(1, ACK | PSH, b"\xff\xff" + QUERY),
    "empty-message": cfg(True) + connect(1) + seg(1, ACK | PSH, b"\x00\x00" + MSG),
    "syn-again-and-new-isn": cfg(True) + seg(2, SYN, mss=1460) + seg(2, SYN, dseq=-1, mss=1460)
    + seg(2, SYN, dseq=50) + seg(2, ACK),
    "challenge-ack": cfg(True) + connect(3) + seg(3, SYN, dseq=-1),
    "bad-ack": cfg(True) + seg(4, SYN, mss=1460) + seg(4, ACK, dack=9) + seg(4, ACK),
    "malformed-frames": cfg(True) + raw(frame(tcp(40000, SYN), fix=False))  # bad checksum
    + raw(frame(tcp(40000, SYN, off=3)))  # data offset below 5
    + raw(frame(tcp(40000, SYN, off=15)))  # past the segment
    + raw(frame(tcp(40000, SYN, off=6, options=b"\x02\x09\x05\xb4")))  # option too long
    + raw(frame(tcp(40000, SYN | FIN)))  # SYN+FIN
    + raw(frame(b"\x9c\x40\x00\x35" + bytes(12), proto=17))  # UDP: not ours
    + raw(b"\x02\x49"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"dns_tcp: {len(SEEDS)} seeds")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A tiny authoritative DNS server for the forwarding tests, on UDP and TCP (RFC 7766) at the same
address and port: A for fwd.example, eight 201-byte TXT records for big.example and 100 A records
for many.example (both too large for a 1232-byte reply), NXDOMAIN for anything else. Over UDP an
answer larger than the query allows (512 bytes, or its EDNS0 size) goes out as header and question
with TC set, as real servers do; over TCP every answer is whole. Each query is logged as
"udp NAME" or "tcp NAME" on stdout. Usage: dns_upstream.py ADDRESS PORT READY_FILE"""
import socket
import struct
import sys
import threading

ANSWERS = {b"fwd.example": "192.0.2.99"}
LOG_LOCK = threading.Lock()


def log(line):
    with LOG_LOCK:
        print(line, flush=True)


def qname(msg, pos):
    labels = []
    while msg[pos] != 0:
        n = msg[pos]
        labels.append(msg[pos + 1:pos + 1 + n])
        pos += 1 + n
    return b".".join(labels), pos + 1


def skip_name(msg, pos):
    while True:
        n = msg[pos]
        if n >= 0xC0:
            return pos + 2
        if n == 0:
            return pos + 1
        pos += 1 + n


def udp_limit(msg, pos, skip, arcount):
    """512, or the size an EDNS0 OPT in the additional section advertises (at least 512)."""
    for i in range(skip + arcount):
        pos = skip_name(msg, pos)
        rtype, rclass, _, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
        if i >= skip and rtype == 41:
            return max(512, rclass)
        pos += 10 + rdlen
    return 512


def answer(msg, transport):
    """(whole reply, reply for a UDP client of the query's size)."""
    (qid, flags, qd, an, ns, ar) = struct.unpack("!HHHHHH", msg[:12])
    name, end = qname(msg, 12)
    question = msg[12:end + 4]
    lname = name.lower()
    log(f"{transport} {lname.decode(errors='replace')}")
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
    elif lname == b"many.example":
        for i in range(1, 101):
            answers += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + bytes([198, 18, 0, i])
        count = 100
    else:
        rcode = 3
    base = 0x8400 | (flags & 0x0100) | 0x0080 | rcode
    whole = struct.pack("!HHHHHH", qid, base, 1, count, 0, 0) + question + answers
    if len(whole) <= udp_limit(msg, end + 4, an + ns, ar):
        return whole, whole
    cut = struct.pack("!HHHHHH", qid, base | 0x0200, 1, 0, 0, 0) + question
    return whole, cut


def serve_udp(s):
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        _, cut = answer(msg, "udp")
        s.sendto(cut, peer)


def read_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_tcp_connection(c):
    with c:
        while True:
            prefix = read_exact(c, 2)
            if prefix is None:
                return
            msg = read_exact(c, struct.unpack("!H", prefix)[0])
            if msg is None or len(msg) < 12:
                return
            whole, _ = answer(msg, "tcp")
            c.sendall(struct.pack("!H", len(whole)) + whole)


def serve_tcp(listener):
    while True:
        c, _ = listener.accept()
        threading.Thread(target=serve_tcp_connection, args=(c,), daemon=True).start()


def main():
    addr, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, port))
    t.listen(16)
    threading.Thread(target=serve_tcp, args=(t,), daemon=True).start()
    open(ready, "w").close()
    serve_udp(u)


if __name__ == "__main__":
    main()

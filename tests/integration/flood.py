#!/usr/bin/env python3
"""Floods a node's underlay port the way an outsider without the network secret can: from many
source ports of one address, as fast as one process sends, with datagrams that pass the
dataplane's header check and are punted to the control plane (overlay-looking CONTROL messages
with a wrong tag, HELLO-sized HANDSHAKE and CONTROL datagrams) and plain garbage that is not.

Usage: flood.py HOST PORT SECONDS [SOCKETS]
Prints "sent N datagrams in S s" when the time is up or on SIGTERM.
"""
import os
import signal
import socket
import sys
import time


def datagrams():
    out = []
    # wire header: version 1 | type, flags, hops, reserved, receiver index, counter (16 bytes)
    control = bytes([0x12, 0, 0, 0]) + bytes(12)
    handshake = bytes([0x13, 0, 0, 0]) + bytes(12)
    for msg_type in range(0x20, 0x26):  # overlay LINK_REQUEST .. ROUTED, version 1, bad tag
        out.append(control + bytes([msg_type, 1]) + os.urandom(22 + 60 + 32))
    out.append(control + bytes([1]) + os.urandom(150))  # a HELLO-looking CONTROL datagram
    out.append(handshake + os.urandom(120))
    out.append(os.urandom(64))  # garbage: mostly a bad version, dropped by the dataplane
    return out


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    n_sockets = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    socks = []
    for _ in range(n_sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))  # a port of its own
        s.setblocking(False)
        socks.append(s)
    payloads = datagrams()
    sent = 0
    start = time.monotonic()
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    dest = (host, port)
    while not stop[0] and time.monotonic() - start < seconds:
        for i, s in enumerate(socks):
            try:
                s.sendto(payloads[(sent + i) % len(payloads)], dest)
                sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                pass
    print("sent %d datagrams in %.1f s" % (sent, time.monotonic() - start), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Seeds for fuzz_route_signature: unsigned and signed router-mode records (route_signature.h).
Signed with the fuzz target's fixed test key (below; used nowhere else) through `openssl pkeyutl`."""
import os
import struct
import subprocess
import tempfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "route_signature")
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIoTvFkmipllLHNjlZzcldjW9LCpXztTNOnXMsdBc193
-----END PRIVATE KEY-----
"""


def fields(prefix, length, via, expiry=None):
    v = struct.pack("!IBI", prefix, length, via)
    return v if expiry is None else v + struct.pack("!Q", expiry)


def sign(network, body):
    msg = b"ipop route v1\0" + network + b"\0" + body
    with tempfile.TemporaryDirectory() as d:
        key, data = os.path.join(d, "k"), os.path.join(d, "m")
        open(key, "w").write(TEST_KEY)
        open(data, "wb").write(msg)
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", data],
                              check=True, capture_output=True).stdout


def main():
    os.makedirs(OUT, exist_ok=True)
    net = 0xC0A84D00  # 192.168.77.0
    via = 0x0A4D0002  # 10.77.0.2
    good = fields(net, 24, via, 1_700_000_240)
    seeds = {
        "unsigned": fields(net, 24, via),
        "unsigned-host-bits": fields(net | 9, 24, via),
        "unsigned-len0": fields(net, 0, via),
        "unsigned-via0": fields(net, 24, 0),
        "signed": good + sign(b"rt", good),
        "signed-other-network": good + sign(b"other", good),
        "signed-far-future": fields(net, 24, via, 1 << 62) + sign(b"rt", fields(net, 24, via, 1 << 62)),
        "signed-bad-sig": good + b"\0" * 64,
        "short": good[:8],
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

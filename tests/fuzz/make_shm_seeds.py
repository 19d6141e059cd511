#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_shm_validator (tests/fuzz/corpus/shm_validator/).

Each seed is read both as a region image (RegionHeader at offset 0) and as the head of a table
Generation. Offsets and sizes mirror shared/shm_layout.h (RegionHeader is 1344 bytes, Generation
390208); if the layout changes, regenerate so the valid-looking seeds stay valid-looking.
Run: python3 tests/fuzz/make_shm_seeds.py
"""
import os
import struct

MAGIC = 0x31504F5049504F49
LAYOUT_VERSION = 3
HEADER_SIZE = 1344  # sizeof(RegionHeader)
GENERATION_SIZE = 398400  # sizeof(Generation)
GENERATION_HEADER_SIZE = 64
PEER_SIZE = 112
RING_BYTES = 128 + 512 * 2048  # SpscRingShared + kRingSlots * kRingSlotSize
COUNTERS_SIZE = 34208  # sizeof(WorkerCounters)
NUM_GENERATIONS = 4
PEER_VALID = 1


def align_up(v, a):
    return (v + a - 1) // a * a


def layout(n_workers):
    gen_off = align_up(HEADER_SIZE, 4096)
    gen_stride = align_up(GENERATION_SIZE, 4096)
    rings_off = gen_off + NUM_GENERATIONS * gen_stride
    ring_stride = align_up(RING_BYTES, 4096)
    counters_off = rings_off + 2 * n_workers * ring_stride
    counters_stride = align_up(COUNTERS_SIZE, 4096)
    size = counters_off + n_workers * counters_stride
    return size, gen_off, gen_stride, rings_off, ring_stride, counters_off, counters_stride


def region_header(n_workers, version=LAYOUT_VERSION, magic=MAGIC, override=None):
    fields = list(layout(max(n_workers, 1)))
    if override:
        index, value = override
        fields[index] = value
    head = struct.pack("<QII7Q", magic, version, n_workers, *fields)
    img = bytearray(HEADER_SIZE)
    img[: len(head)] = head
    struct.pack_into("<Q", img, 128, (7 << 8) | 2)  # active: seq 7 in slot 2
    struct.pack_into("<i", img, 256, 4242)  # dp_pid
    for w in range(16):  # every WorkerState::quiescent_seq = kOffline
        struct.pack_into("<Q", img, 320 + 64 * w, 0xFFFFFFFFFFFFFFFF)
    return bytes(img)


def peer(vip, flags=PEER_VALID):
    p = bytearray(PEER_SIZE)
    struct.pack_into("<II", p, 0, flags, vip)
    return bytes(p)


def generation_head(seq, n_peers, n_prefixes, mtu=1400, peers=(), tail_odd=False, n_groups=0):
    # Layout 2 appends n_links (0), self_ring (20 bytes) and service_ip (0); layout 3 puts
    # n_groups after the gateway MAC.
    hdr = struct.pack("<QIIIII6sHI20s4x", seq, n_peers, n_prefixes, 0x0A000001, 24, mtu,
                      b"\x02\x00\x00\x00\x00\x01", n_groups, 0, bytes(range(1, 21)))
    assert len(hdr) == GENERATION_HEADER_SIZE
    body = hdr + b"".join(peers)
    # The fuzz target tiles odd-ending inputs over the route tables.
    return body + (b"\x01" if tail_odd else b"\x00")


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "shm_validator")
    os.makedirs(out, exist_ok=True)
    peers = [peer(0x0A000002 + i) for i in range(4)]
    seeds = {
        "region-valid-1worker": region_header(1),
        "region-valid-16workers": region_header(16),
        "region-bad-version": region_header(2, version=1),
        "region-bad-magic": region_header(2, magic=MAGIC ^ 0xFF),
        "region-zero-workers": region_header(0),
        "region-bad-counters-stride": region_header(3, override=(6, 12)),
        "region-truncated": region_header(1)[:1000],
        "generation-valid-zero-padded": generation_head(5, 4, 0, peers=peers),
        "generation-valid-tiled": generation_head(5, 4, 2, peers=peers, tail_odd=True),
        "generation-huge-counts": generation_head(1, 0xFFFFFFFF, 0xFFFFFFFF, mtu=0, tail_odd=True),
        "generation-invalid-peer": generation_head(9, 2, 1, peers=[peer(1, 0), peer(2)]),
        # The target tiles odd-ending inputs over the group table too.
        "generation-groups-tiled": generation_head(5, 4, 0, peers=peers, tail_odd=True, n_groups=3),
        "generation-huge-groups": generation_head(5, 4, 0, peers=peers, n_groups=0xFFFF),
        "tiny": b"\x49\x4f\x50\x49\x50\x4f\x50",
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    placeholder = os.path.join(out, "empty")
    if os.path.exists(placeholder):
        os.remove(placeholder)


if __name__ == "__main__":
    main()

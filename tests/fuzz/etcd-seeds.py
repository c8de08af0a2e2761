#!/usr/bin/env python3
"""etcd-seeds.py DIR - writes the seed corpus of fuzz_etcd_pb: etcd's answers with
the values a real one-member etcd 3.4 cluster gave (etcdctl -w json, saved below),
encoded with the field numbers of proto/etcd.proto. Each file is the selector byte
fuzz_etcd_pb.c switches on, then the answer(s), separated by 0xfe x4."""
import os, sys

def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def f_int(num, v):
    return varint(num << 3) + varint(v) if v else b""

def f_bytes(num, v):
    if isinstance(v, str):
        v = v.encode()
    return varint(num << 3 | 2) + varint(len(v)) + v

CLUSTER, MEMBER = 1080744234072745466, 18105542555152533218
def header(rev=4):
    return f_bytes(1, f_int(1, CLUSTER) + f_int(2, MEMBER) + f_int(3, rev) + f_int(4, 2))

def kv(i, rev):
    return f_bytes(1, "/registry/k%d" % i) + f_int(2, rev) + f_int(3, rev) + f_int(4, 1) + f_bytes(5, "value %d" % i)

SEP = b"\xfe" * 4
range_resp = header() + b"".join(f_bytes(2, kv(i, i + 1)) for i in (1, 2, 3)) + f_int(4, 3)
page1 = header() + b"".join(f_bytes(2, kv(i, i + 1)) for i in (1, 2)) + f_int(3, 1) + f_int(4, 3)
page2 = header() + f_bytes(2, kv(3, 4)) + f_int(4, 1)
status = (header() + f_bytes(2, "3.4.23") + f_int(3, 20480) + f_int(4, MEMBER) + f_int(5, 8) + f_int(6, 2)
          + f_int(7, 8) + f_int(9, 16384))
status_err = status + f_bytes(8, "etcdserver: mvcc: database space exceeded")
members = header(0) + f_bytes(2, f_int(1, MEMBER) + f_bytes(2, "etcd1") + f_bytes(3, "http://127.0.0.1:23344")
                           + f_bytes(4, "http://127.0.0.1:23343"))
alarms = header() + f_bytes(2, f_int(1, MEMBER) + f_int(2, 1))  # NOSPACE
no_alarms = header()
hashkv = header() + f_int(2, 1321179767) + f_int(3, -1)
grant = header() + f_int(2, 7587869377455458308) + f_int(3, 60)
keepalive = header() + f_int(2, 7587869377455458308) + f_int(3, 60)
auth = header() + f_bytes(2, "lYgrXYovpOsKhnam.9")
snap = header() + f_int(2, 16384) + f_bytes(3, bytes(range(256)) * 16)

seeds = {
    "range": (0, [range_resp]),
    "range-each-two-pages": (1, [page1, page2]),
    "status": (2, [status]),
    "member-list": (3, [members]),
    "alarm-list": (4, [alarms]),
    "alarm-disarm": (5, [alarms, no_alarms]),
    "hashkv": (6, [hashkv]),
    "member-health-nospace": (7, [status_err, alarms]),
    "lease-grant": (8, [grant]),
    "lease-keepalive": (9, [keepalive]),
    "authenticate": (10, [auth]),        # 10 % 12 >= 10: unpack_other(0)
    "snapshot-chunk": (12 + 11, [snap]),  # unpack_other(1)
}
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, (sel, msgs) in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([sel]) + SEP.join(msgs))

#!/usr/bin/env python3
"""segment_rewrite.py IN OUT [OLD NEW]: a continuous-backup segment (the format of
docs/reference/continuous.md) written again as OUT: its body with the bytes OLD
replaced by NEW (same length), its sha256 made again, compressed with the zstd CLI.
Without OLD and NEW, the same events: a copy as another writer would have made."""
import hashlib
import subprocess
import sys

src, dst = sys.argv[1], sys.argv[2]
body = subprocess.run(["zstd", "-dc", src], check=True, capture_output=True).stdout
assert body.startswith(b"RVSEG1\n"), "not a segment"
plain = body[:-32]
if len(sys.argv) > 4:
    old, new = sys.argv[3].encode(), sys.argv[4].encode()
    assert len(old) == len(new) and old in plain, "the bytes to replace are not in the segment"
    plain = plain.replace(old, new)
out = plain + hashlib.sha256(plain).digest()
with open(dst, "wb") as f:
    f.write(subprocess.run(["zstd", "-q", "-c", "--check"], input=out, check=True, capture_output=True).stdout)

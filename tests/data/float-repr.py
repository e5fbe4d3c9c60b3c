#!/usr/bin/env python3
"""Writes tests/data/float-repr.txt: doubles (as float.hex(), exact) and
Python's repr() of each, for tests/test_pyfloat.c.  Run it with Python 3
to regenerate: python3 tests/data/float-repr.py > tests/data/float-repr.txt"""
import random
import struct
import sys

rng = random.Random(20)
values = [0.0, -0.0, 1.0, -1.0, 2.0, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 0.5, 2.5, 9.5,
          2.0034561157226562, 1e-5, 1e-4, 1.5e-5, 0.001, 1e15, 1e16, 1e17,
          9999999999999998.0, 123456789012345678.0, 1e22, 1e23, 5e-324, 2.2250738585072014e-308,
          1.7976931348623157e308, 0.30000000000000004, 100.0, 1234.5, 86400.0, 3600.000001,
          float("inf"), float("-inf"), float("nan")]
# elapsed times as Bots computes them: time.time() - time.time() earlier
for _ in range(400):
    start = rng.uniform(1.6e9, 1.9e9)
    values.append((start + rng.uniform(0, 7200)) - start)
for _ in range(200):
    values.append(rng.randrange(0, 10 ** 9) / 10 ** 6)   # microseconds, as ours
# every magnitude, random bits
for _ in range(1000):
    bits = rng.getrandbits(64)
    v = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if v == v:
        values.append(v)
for e in range(-20, 25):
    values.append(10.0 ** e)
    values.append(rng.random() * 10.0 ** e)

print("# float.hex() repr(); written by tests/data/float-repr.py")
for v in values:
    h = v.hex() if v == v and abs(v) != float("inf") else repr(v)
    sys.stdout.write("%s %r\n" % (h, v))

"""Regenerates float_repr.txt: `<f64 bits in hex> <CPython repr>` per line.

Run with any CPython 3: python3 gen_float_repr.py > float_repr.txt
Values: random bit patterns, random decimals of every magnitude, powers of ten and their
neighbours around the fixed/exponent switch points (1e-4, 1e16).
"""
import math
import random
import struct

rng = random.Random(20261122)
vals = []
for _ in range(2000):
    f = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    if math.isfinite(f):
        vals.append(f)
for _ in range(2000):
    vals.append(round(rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30), rng.randint(0, 12)))
for e in range(-330, 310):
    for m in (1.0, 1.5, 9.999999999999999, 2.5):
        try:
            v = float(f"{m}e{e}")
        except OverflowError:
            continue
        for x in (v, math.nextafter(v, math.inf), math.nextafter(v, -math.inf)):
            if math.isfinite(x):
                vals.append(x)
vals += [0.0, -0.0, 5e-324, 1.7976931348623157e308, 0.1, 0.2, 0.30000000000000004]
for v in vals:
    print(struct.pack(">d", v).hex(), repr(v))

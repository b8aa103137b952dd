"""Column statistics of a CSV with numpy: the analysis the python3 + numpy test image runs."""
import sys

import numpy as np

data = np.loadtxt(sys.argv[1], delimiter=",")
with open(sys.argv[2], "w") as out:
    for name, values in (("mean", data.mean(axis=0)), ("std", data.std(axis=0)), ("max", data.max(axis=0))):
        out.write(name + "," + ",".join(f"{v:.6f}" for v in values) + "\n")
    out.write(f"svd0,{np.linalg.svd(data, compute_uv=False)[0]:.6f}\n")

#!/usr/bin/env python3
"""berth's file hashing against `sha256sum`, side by side, and the cached re-hash.

Creates a file of SIZE bytes (default 1 GiB, random) in a temporary directory, reads it once so
that both sides find it in the page cache, then runs `sha256sum FILE` and berth's hasher
(`cargo run --release -p berth-store --example hash -- --no-cache FILE`) alternately, ROUNDS
times each. The machine is shared and noisy: alternating keeps both sides under the same load,
and the median of the per-round ratios (sha256sum time / berth time; above 1 means berth is
faster) is the figure to read. Both print the same digest, or the benchmark fails.

Then the cached re-hash: the hasher runs twice with a store (`--home`), the first run filling
the store's hash cache, the second finding the unchanged file there. Reported as whole-process
wall time and as the time the hasher itself took (from the example's stderr).

Last, a directory of 16 files of SIZE/32 bytes each, hashed with 1 thread and with 2, to show
what parallel hashing of a directory gains on this machine.

Usage: python3 bench/hash_vs_sha256sum.py [--rounds N] [--size BYTES] [--keep DIR]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "target", "release", "examples", "hash")


def timed(cmd):
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{r.stderr}")
    return took, r.stdout.split()[0], r.stderr


def inner_time(stderr):
    """The hasher's own time, from the example's `hash: PATH in S s (...)` line."""
    m = re.search(r" in ([0-9.]+) s \(", stderr)
    return float(m.group(1)) if m else float("nan")


def write_random(path, size):
    chunk = 4 << 20
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=1 << 30)
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "berth-store", "--example", "hash"],
                   cwd=REPO, check=True)
    with tempfile.TemporaryDirectory(prefix="berth-hash-bench-") as tmp:
        big = os.path.join(tmp, "big.bin")
        write_random(big, args.size)
        subprocess.run(["cat", big], stdout=subprocess.DEVNULL, check=True)  # into the page cache

        print(f"file: {args.size} bytes; {args.rounds} alternating rounds; "
              f"sha_ni: {'yes' if 'sha_ni' in open('/proc/cpuinfo').read() else 'no'}; "
              f"load average: {os.getloadavg()[0]:.2f}")
        ratios, t_sum, t_berth = [], [], []
        for i in range(args.rounds):
            a, digest_a, _ = timed(["sha256sum", big])
            b, digest_b, _ = timed([EXAMPLE, "--no-cache", big])
            if digest_a != digest_b:
                sys.exit(f"error: digests differ: sha256sum {digest_a}, berth {digest_b}")
            t_sum.append(a)
            t_berth.append(b)
            ratios.append(a / b)
            print(f"  round {i + 1}: sha256sum {a:.3f} s, berth {b:.3f} s, ratio {a / b:.2f}")
        mb = args.size / 1e6
        print(f"sha256sum median {statistics.median(t_sum):.3f} s ({mb / statistics.median(t_sum):.0f} MB/s)")
        print(f"berth     median {statistics.median(t_berth):.3f} s ({mb / statistics.median(t_berth):.0f} MB/s)")
        median_ratio = statistics.median(ratios)
        print(f"median ratio sha256sum/berth: {median_ratio:.2f} (target: at least 0.90)")

        home = os.path.join(tmp, "home")
        # The file was written well over the store's 2 s racy window ago, so it is cached.
        first, _, err1 = timed([EXAMPLE, "--home", home, big])
        cached = []
        for _ in range(args.rounds):
            t, _, err = timed([EXAMPLE, "--home", home, big])
            if "1 from the cache" not in err:
                sys.exit(f"error: the re-hash did not use the cache:\n{err}")
            cached.append((t, inner_time(err)))
        print(f"cache fill: {first:.3f} s; cached re-hash: median {statistics.median(c[0] for c in cached) * 1000:.1f} ms "
              f"per process, {statistics.median(c[1] for c in cached) * 1000:.2f} ms in the hasher")

        tree = os.path.join(tmp, "tree")
        os.mkdir(tree)
        for i in range(16):
            write_random(os.path.join(tree, f"f{i:02}"), args.size // 32)
        subprocess.run(["cat"] + [os.path.join(tree, f) for f in os.listdir(tree)],
                       stdout=subprocess.DEVNULL, check=True)
        per_threads = {1: [], 2: []}
        for _ in range(args.rounds):
            for n in (1, 2):
                _, _, err = timed([EXAMPLE, "--no-cache", "--threads", str(n), tree])
                per_threads[n].append(inner_time(err))
        one, two = statistics.median(per_threads[1]), statistics.median(per_threads[2])
        print(f"directory of 16 x {args.size // 32} bytes: 1 thread {one:.3f} s, 2 threads {two:.3f} s "
              f"(speed-up {one / two:.2f})")
        return 0 if median_ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())

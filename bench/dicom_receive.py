#!/usr/bin/env python3
"""Receiving DICOM: `berth dicom listen` against dcmtk's `storescp`, side by side, fed by the
same dcmtk `storescu` with the same N files (default 400 distinct instances of heudiconv's
Siemens DWI file, 3.9 MB each, over 4 series, made by crates/berth/tests/dicom/peer.py
generate), ROUNDS times each, alternating (medians reported).

Both receivers write into an empty directory on the same file system and announce the same
largest PDU (64 KiB: berth's default; storescp's own default is 16 KiB). storescu and storescp
run with TCP_NODELAY=1 (dcmtk otherwise leaves Nagle's algorithm on and every instance waits
about 40 ms for a delayed ACK; berth sets TCP_NODELAY on its sockets). storescp writes and
answers without fsync. berth runs twice: with its default `[dicom] sync = "always"` (every
instance made durable before Success: fsync of the file and of its directory, which storescp
does not do) and with `sync = "never"` (renamed into place before Success, no fsync: the same
durability as storescp's, plus the rename that keeps a partial file from ever being visible);
both record every instance in berth's store. `--small` uses pydicom's CT_small.dcm (39 kB)
instead, where per-instance costs dominate. `--work DIR` puts the received files on another
file system (a tmpfs, say).

storescp runs twice: as it comes (it parses each data set and writes it again) and with
`+B` (bit-preserving: the received bytes written as they are, like berth, still without fsync).
Reports instances/s and MB/s (file bytes received) per receiver and the ratios of each berth
mode over each storescp mode. Target (issue 20): ratio >= 1.0.

Usage: python3 bench/dicom_receive.py [--count N] [--rounds R] [--small] [--berth PATH]
       (default --berth target/release/berth; build it with `cargo build --release -p berth`)
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# storescu proposes the files' own transfer syntax, so neither receiver makes it convert.
PROPOSE = "-xi"
PEER = os.path.join(REPO, "crates/berth/tests/dicom/peer.py")


def fetch(name):
    return subprocess.run([os.path.join(REPO, "scripts/fetch-test-data.sh"), name], check=True,
                          capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, limit=30):
    start = time.time()
    while time.time() - start < limit:
        if proc.poll() is not None:
            raise SystemExit(f"receiver exited early: {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("receiver did not start")


# dcmtk leaves Nagle's algorithm on unless TCP_NODELAY=1 is in its environment; with it on, each
# small PDU waits for the peer's delayed ACK (about 40 ms per instance, whoever receives).
DCMTK_ENV = dict(os.environ, TCP_NODELAY="1")


def send(port, files):
    start = time.perf_counter()
    subprocess.run(["storescu", PROPOSE, "-aet", "STORESCU", "-aec", "BERTH", "127.0.0.1", str(port), *files],
                   check=True, capture_output=True, env=DCMTK_ENV)
    return time.perf_counter() - start


def round_storescp(files, work, extra=()):
    out = tempfile.mkdtemp(dir=work)
    port = free_port()
    # The same largest PDU berth announces ([dicom] max_pdu's default), so both get the same PDUs.
    p = subprocess.Popen(["storescp", "-aet", "BERTH", "--max-pdu", "65536", *extra, "-od", out, str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=DCMTK_ENV)
    try:
        wait_port(port, p)
        t = send(port, files)
    finally:
        p.kill()
        p.wait()
    got = sum(len(fs) for _, _, fs in os.walk(out))
    shutil.rmtree(out)
    return t, got


def round_berth(berth, files, work, sync):
    base = tempfile.mkdtemp(dir=work)
    data = os.path.join(base, "data")
    os.makedirs(data)
    with open(os.path.join(base, "config.toml"), "w") as f:
        f.write(f'[dicom]\nsync = "{sync}"\n')
    env = dict(os.environ, BERTH_HOME=os.path.join(base, "home"), BERTH_CONFIG=os.path.join(base, "config.toml"))
    env.pop("BERTH_LOG", None)
    subprocess.run([berth, "project", "add", "bench", "--data-root", data], check=True, capture_output=True, env=env)
    port = free_port()
    p = subprocess.Popen([berth, "dicom", "listen", "--project", "bench", "--port", str(port), "--ae-title", "BERTH"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port, p)
        t = send(port, files)
    finally:
        p.kill()
        p.wait()
    got = sum(len([f for f in fs if f.endswith(".dcm")]) for _, _, fs in os.walk(data))
    shutil.rmtree(base)
    return t, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--berth", default=os.path.join(REPO, "target/release/berth"))
    ap.add_argument("--work", default=None, help="directory for received files (default: a temp dir in target/)")
    a = ap.parse_args()
    for tool in ("storescu", "storescp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install dcmtk)")
    if not os.access(a.berth, os.X_OK):
        raise SystemExit(f"{a.berth} is missing: cargo build --release -p berth")
    work = a.work or os.path.join(REPO, "target", "bench-dicom")
    os.makedirs(work, exist_ok=True)
    src = tempfile.mkdtemp(dir=work)
    try:
        global PROPOSE
        if a.small:
            PROPOSE = "-xe"  # CT_small is explicit VR little endian
            template = os.path.join(fetch("pydicom"), "pydicom/data/test_files/CT_small.dcm")
        else:
            template = os.path.join(fetch("heudiconv"), "heudiconv/tests/data/b0dwiForFmap/b0dwi_for_fmap+00001.dcm")
        subprocess.run([sys.executable, PEER, "generate", template, src, str(a.count), "4"], check=True)
        files = sorted(os.path.join(src, f) for f in os.listdir(src))
        total = sum(os.path.getsize(f) for f in files)
        times = {"storescp": [], "storescp+B": [], "berth": [], "berth-sync-never": []}
        names = list(times)
        for r in range(a.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                if name.startswith("berth"):
                    t, got = round_berth(a.berth, files, work, "never" if name == "berth-sync-never" else "always")
                else:
                    t, got = round_storescp(files, work, ["+B"] if name == "storescp+B" else [])
                if got != len(files):
                    raise SystemExit(f"{name} stored {got} of {len(files)} files")
                times[name].append(t)
                print(f"round {r + 1} {name:16} {t:7.3f} s  {len(files) / t:8.1f} inst/s  {total / t / 1e6:8.1f} MB/s",
                      file=sys.stderr)
        result = {"files": len(files), "bytes": total, "rounds": a.rounds}
        for name, ts in times.items():
            m = statistics.median(ts)
            result[name] = {"median_s": round(m, 3), "instances_per_s": round(len(files) / m, 1),
                            "mb_per_s": round(total / m / 1e6, 1)}
        for mine in ("berth", "berth-sync-never"):
            for other in ("storescp", "storescp+B"):
                result[f"ratio_{mine}_over_{other}"] = round(result[mine]["instances_per_s"] /
                                                            result[other]["instances_per_s"], 3)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(src, ignore_errors=True)


if __name__ == "__main__":
    main()

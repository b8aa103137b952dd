#!/usr/bin/env python3
"""pynetdicom as a second real DICOM peer for berth's DICOM node tests, and a generator of
distinct instances (pydicom) for the kill and benchmark tests.

Usage:
  peer.py send HOST PORT CALLING CALLED FILE...   C-STORE each file on one association; prints
                                                   one JSON line per file: {"file", "status"}
                                                   (status null: no response)
  peer.py send-half HOST PORT CALLING CALLED FILE N PAUSE
                                                   C-STORE FILE but, after the command and N
                                                   P-DATA PDUs of its data set, print
                                                   {"paused": N}, wait PAUSE seconds and exit
                                                   without a word (the connection drops
                                                   mid-instance)
  peer.py echo HOST PORT CALLING CALLED           C-ECHO; prints {"status": ...} or
                                                   {"rejected": true, "result", "source", "reason"}
  peer.py same ORIGINAL RECEIVED [ORIGINAL RECEIVED ...]
                                                   each pair: the same transfer syntax and equal
                                                   data sets (pydicom, element by element); a
                                                   sender may re-encode lengths on the wire
                                                   (dcmtk sends sequences with explicit lengths
                                                   and drops trailing padding)
  peer.py generate TEMPLATE OUTDIR COUNT SERIES   COUNT copies of TEMPLATE with new SOP Instance
                                                   UIDs, spread over SERIES new series of one
                                                   new study (distinct UIDs, same pixel data)

The script bootstraps itself like tools/dicom-normalize/tests/independent_check.py: a virtual
environment in $BERTH_PYNETDICOM_VENV (default: target/pynetdicom-venv of the repository) with
the pinned pydicom and pynetdicom from PyPI, built once under a lock and reused. If pip cannot
install them it fails with exit status 3 and says so.
"""

import fcntl
import json
import os
import subprocess
import sys
import venv

REQUIREMENTS = ["pydicom==3.0.2", "pynetdicom==3.0.4"]
IN_VENV_MARKER = "BERTH_PYNETDICOM_IN_VENV"


def bootstrap(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "..", "..", "target", "pynetdicom-venv")
    venv_dir = os.path.abspath(os.environ.get("BERTH_PYNETDICOM_VENV") or default)
    python = os.path.join(venv_dir, "bin", "python")
    stamp = os.path.join(venv_dir, "berth-requirements.txt")
    wanted = "\n".join(REQUIREMENTS)
    try:
        os.makedirs(os.path.dirname(venv_dir), exist_ok=True)
        with open(venv_dir + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (os.path.exists(stamp) and open(stamp).read() == wanted):
                print(f"peer.py: creating venv in {venv_dir}", file=sys.stderr)
                venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
                pip = subprocess.run(
                    [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *REQUIREMENTS],
                    stdout=sys.stderr,
                )
                if pip.returncode != 0:
                    print(
                        f"error: pip could not install {' '.join(REQUIREMENTS)} (exit status {pip.returncode})\n"
                        "hint: check access to PyPI, or set BERTH_PYNETDICOM_VENV to a venv that has them",
                        file=sys.stderr,
                    )
                    return 3
                with open(stamp, "w") as f:
                    f.write(wanted)
    except OSError as e:
        print(f"error: cannot set up the venv in {venv_dir}: {e}", file=sys.stderr)
        return 3
    env = dict(os.environ, **{IN_VENV_MARKER: "1"})
    return subprocess.run([python, os.path.abspath(__file__), *argv], env=env).returncode


def send(host, port, calling, called, files):
    from pydicom import dcmread
    from pynetdicom import AE

    datasets = [(f, dcmread(f)) for f in files]
    ae = AE(ae_title=calling)
    for _, ds in datasets:
        # Propose the file's own transfer syntax, so the data set goes as it is stored.
        ts = ds.file_meta.TransferSyntaxUID
        if not any(c.abstract_syntax == ds.SOPClassUID and ts in c.transfer_syntax for c in ae.requested_contexts):
            ae.add_requested_context(ds.SOPClassUID, [ts])
    assoc = ae.associate(host, int(port), ae_title=called)
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return 1
    for f, ds in datasets:
        status = assoc.send_c_store(ds)
        print(json.dumps({"file": f, "status": status.Status if status else None}), flush=True)
    assoc.release()
    return 0


def send_half(host, port, calling, called, file, pdus, pause):
    import time

    from pydicom import dcmread
    from pynetdicom import AE
    from pynetdicom.transport import AssociationSocket

    ds = dcmread(file)
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate(host, int(port), ae_title=called)
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return 1
    sent = {"pdata": 0}
    original = AssociationSocket.send

    def send_then_vanish(self, bytestream):
        original(self, bytestream)
        if bytestream[:1] == b"\x04":  # P-DATA-TF: the command first, then the data set
            sent["pdata"] += 1
            if sent["pdata"] == 1 + int(pdus):
                print(json.dumps({"paused": int(pdus)}), flush=True)
                time.sleep(float(pause))
                os._exit(0)

    AssociationSocket.send = send_then_vanish
    assoc.send_c_store(ds)
    print(json.dumps({"error": "the whole instance was sent"}), flush=True)
    return 1


def echo(host, port, calling, called):
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate(host, int(port), ae_title=called)
    if assoc.is_rejected:
        rj = assoc.acceptor.primitive
        print(json.dumps({"rejected": True, "result": rj.result, "source": rj.result_source, "reason": rj.diagnostic}))
        return 0
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return 1
    status = assoc.send_c_echo()
    print(json.dumps({"status": status.Status if status else None}))
    assoc.release()
    return 0


def same(pairs):
    from pydicom import dcmread

    bad = 0
    for a, b in zip(pairs[0::2], pairs[1::2]):
        da, db = dcmread(a), dcmread(b)
        ts_a, ts_b = da.file_meta.TransferSyntaxUID, db.file_meta.TransferSyntaxUID
        if ts_a != ts_b:
            print(f"{a}: transfer syntax {ts_a} became {ts_b}")
            bad += 1
            continue
        # dcmtk drops Data Set Trailing Padding (FFFC,FFFC) when it sends a file.
        padding = 0xFFFCFFFC
        diff = [str(e.tag) for e in da if e.tag != padding and (e.tag not in db or db[e.tag] != e)]
        diff += [str(e.tag) for e in db if e.tag not in da]
        if diff:
            print(f"{a}: {b} differs in {', '.join(diff[:10])}")
            bad += 1
    return 1 if bad else 0


def generate(template, outdir, count, series):
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    ds = dcmread(template)
    study = generate_uid()
    series_uids = [generate_uid() for _ in range(int(series))]
    os.makedirs(outdir, exist_ok=True)
    for i in range(int(count)):
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series_uids[i % len(series_uids)]
        ds.SeriesNumber = 1 + i % len(series_uids)
        ds.InstanceNumber = 1 + i // len(series_uids)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(os.path.join(outdir, f"{i:06d}.dcm"), enforce_file_format=True)
    return 0


def main(argv):
    if os.environ.get(IN_VENV_MARKER) != "1":
        return bootstrap(argv)
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "send" and len(args) >= 5:
        return send(args[0], args[1], args[2], args[3], args[4:])
    if cmd == "send-half" and len(args) == 7:
        return send_half(*args)
    if cmd == "echo" and len(args) == 4:
        return echo(*args)
    if cmd == "same" and args and len(args) % 2 == 0:
        return same(args)
    if cmd == "generate" and len(args) == 4:
        return generate(*args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

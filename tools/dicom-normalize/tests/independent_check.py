#!/usr/bin/env python3
"""Independent pixel-level check of dicom-normalize, with pydicom and numpy.

Nothing here shares code with the Rust implementation: files are read with pydicom, the
expected output is recomputed with numpy from the documented formula, and every output
pixel and rewritten attribute is compared.

Usage:
  independent_check.py check INPUT OUTPUT --min MIN --max MAX
  independent_check.py manifest MANIFEST.json      # [{"input":..,"output":..,"min":..,"max":..}, ..]
  independent_check.py validate FILE...            # dcmread + pixel_array sanity check

The script bootstraps itself: it creates a virtual environment (a temporary one, or the
directory named by --venv / $BERTH_PYDICOM_VENV, which is reused when already set up),
installs the pinned pydicom and numpy from PyPI, and re-runs itself inside it. If pip
cannot install them, it fails with exit status 3 and says so.

Exit status: 0 all checks passed, 1 a check failed, 2 usage error, 3 environment error.
"""

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv

# Pinned so that a rerun in a year checks with the same reader.
REQUIREMENTS = ["pydicom==3.0.2", "numpy==2.4.6"]
IN_VENV_MARKER = "BERTH_INDEPENDENT_CHECK_IN_VENV"

# Attributes dicom-normalize is documented to rewrite, add or remove; everything else in
# the data set must be equal between input and output.
REWRITTEN = {
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "RescaleType",
    "PixelPaddingValue",
    "ImageType",
    "DerivationDescription",
    "SourceImageSequence",
    "WindowCenter",
    "WindowWidth",
    "WindowCenterWidthExplanation",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "PixelData",
}
REMOVED = {"VOILUTSequence", "VOILUTFunction", "SmallestPixelValueInSeries", "LargestPixelValueInSeries"}


def bootstrap(argv):
    """Creates the venv, installs the requirements, and re-runs this script inside it."""
    venv_dir = os.environ.get("BERTH_PYDICOM_VENV")
    for i, arg in enumerate(argv):
        if arg == "--venv" and i + 1 < len(argv):
            venv_dir = argv[i + 1]
    temporary = venv_dir is None
    if temporary:
        venv_dir = tempfile.mkdtemp(prefix="berth-pydicom-venv-")
    python = os.path.join(venv_dir, "bin", "python")
    stamp = os.path.join(venv_dir, "berth-requirements.txt")
    try:
        wanted = "\n".join(REQUIREMENTS)
        # Several tests (one per engine) may bootstrap the same venv at once: one builds it while
        # the others wait on the lock, then find the stamp.
        os.makedirs(os.path.dirname(os.path.abspath(venv_dir)), exist_ok=True)
        lock = open(os.path.abspath(venv_dir) + ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (os.path.exists(stamp) and open(stamp).read() == wanted):
            print(f"independent_check: creating venv in {venv_dir}", file=sys.stderr)
            venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
            pip = subprocess.run(
                [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *REQUIREMENTS],
                stdout=sys.stderr,
            )
            if pip.returncode != 0:
                print(
                    f"error: pip could not install {' '.join(REQUIREMENTS)} from PyPI "
                    f"(pip exit status {pip.returncode}); the independent check cannot run.\n"
                    "hint: check network access to PyPI, or point --venv at a venv that has them",
                    file=sys.stderr,
                )
                return 3
            with open(stamp, "w") as f:
                f.write(wanted)
        fcntl.flock(lock, fcntl.LOCK_UN)
        env = dict(os.environ, **{IN_VENV_MARKER: "1"})
        return subprocess.run([python, os.path.abspath(__file__), *argv], env=env).returncode
    except OSError as e:
        print(f"error: cannot set up the venv in {venv_dir}: {e}", file=sys.stderr)
        return 3
    finally:
        if temporary:
            shutil.rmtree(venv_dir, ignore_errors=True)


class Failures:
    def __init__(self, label):
        self.label = label
        self.messages = []

    def expect(self, condition, message):
        if not condition:
            self.messages.append(message)


def stored_values(ds, np):
    """Stored values of all frames, decoded from the raw Pixel Data bytes by hand, and
    cross-checked against pydicom's own pixel_array."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    allocated, stored = int(ds.BitsAllocated), int(ds.BitsStored)
    signed = int(ds.PixelRepresentation) == 1
    n = rows * cols * frames
    big = ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2"
    if ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5":
        # RLE Lossless: pydicom's own RLE decoder stands in for the hand decoding.
        raw = np.asarray(ds.pixel_array).reshape(-1).astype(np.int64)
        raw = raw & ((1 << allocated) - 1)
    else:
        dtype = np.uint8 if allocated == 8 else np.dtype(">u2" if big else "<u2")
        raw = np.frombuffer(ds.PixelData, dtype=dtype, count=n).astype(np.int64)
    values = raw & ((1 << stored) - 1)
    if signed:
        values = np.where(values >= (1 << (stored - 1)), values - (1 << stored), values)
    # pydicom's view, reduced the same way, must agree with the hand decoding.
    theirs = np.asarray(ds.pixel_array).astype(np.int64).reshape(-1) & ((1 << stored) - 1)
    if signed:
        theirs = np.where(theirs >= (1 << (stored - 1)), theirs - (1 << stored), theirs)
    return values, raw, theirs


def round_half_away(x, np):
    # Exact for |x| < 2**52: trunc and the fraction are computed without rounding error,
    # unlike floor(x + 0.5), which misrounds 0.49999999999999994.
    t = np.trunc(x)
    frac = x - t
    return t + np.where(np.abs(frac) >= 0.5, np.sign(x), 0.0), frac


def check_pair(input_path, output_path, vmin, vmax):
    import numpy as np
    import pydicom

    f = Failures(f"{input_path} -> {output_path} [{vmin}, {vmax}]")
    src = pydicom.dcmread(input_path)
    out = pydicom.dcmread(output_path)

    s, _, s_pydicom = stored_values(src, np)
    f.expect(np.array_equal(s, s_pydicom), "input: hand decoding and pydicom pixel_array disagree")
    o, o_raw, o_pydicom = stored_values(out, np)
    f.expect(np.array_equal(o, o_pydicom), "output: hand decoding and pydicom pixel_array disagree")

    k = float(src.RescaleSlope) if "RescaleSlope" in src else 1.0
    b = float(src.RescaleIntercept) if "RescaleIntercept" in src else 0.0
    m = k * s.astype(np.float64) + b
    lo, hi = m.min(), m.max()
    if hi > lo:
        scale = (vmax - vmin) / (hi - lo)
        m_out = vmin + (m - lo) * scale
    else:
        m_out = np.full_like(m, vmin)
    expected, frac = round_half_away((m_out - b) / k, np)
    bound_lo = round_half_away(np.array([(vmin - b) / k]), np)[0][0]
    bound_hi = round_half_away(np.array([(vmax - b) / k]), np)[0][0]
    expected = np.clip(expected, min(bound_lo, bound_hi), max(bound_lo, bound_hi)).astype(np.int64)

    diff = np.abs(expected - o)
    max_diff = int(diff.max()) if diff.size else 0
    # Only a near-tie (fraction within 1e-9 of .5) may legitimately differ, by one step,
    # if a different floating-point evaluation order moved it across the tie.
    near_tie = np.abs(np.abs(frac) - 0.5) < 1e-9
    f.expect(
        bool(np.all((diff == 0) | ((diff == 1) & near_tie))),
        f"pixel mismatch: max |expected - actual| = {max_diff} at "
        f"{int(np.count_nonzero(diff))} of {diff.size} samples",
    )
    ties = int(np.count_nonzero(np.abs(frac) == 0.5))

    # Bits above High Bit: sign extension for signed, zero for unsigned.
    allocated = int(out.BitsAllocated)
    signed = int(out.PixelRepresentation) == 1
    full = np.where(o < 0, o + (1 << allocated), o) if signed else o
    f.expect(np.array_equal(o_raw, full), "output bits above High Bit are not the documented sign extension / zero")

    # Rewritten attributes.
    f.expect(out.SOPInstanceUID != src.SOPInstanceUID, "SOP Instance UID was not changed")
    f.expect(str(out.SOPInstanceUID).startswith("2.25."), f"SOP Instance UID {out.SOPInstanceUID} is not a 2.25 UID")
    f.expect(
        out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID,
        "Media Storage SOP Instance UID does not match SOP Instance UID",
    )
    # RLE Lossless input is written natively (Explicit VR Little Endian); others keep theirs.
    rle = src.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    f.expect(
        out.file_meta.TransferSyntaxUID == ("1.2.840.10008.1.2.1" if rle else src.file_meta.TransferSyntaxUID),
        f"transfer syntax {src.file_meta.TransferSyntaxUID} became {out.file_meta.TransferSyntaxUID}",
    )
    f.expect(
        out.file_meta.MediaStorageSOPClassUID == src.file_meta.MediaStorageSOPClassUID,
        "Media Storage SOP Class UID changed",
    )
    f.expect(float(out.WindowCenter) == (vmin + vmax + 1) / 2, f"Window Center {out.WindowCenter}")
    f.expect(float(out.WindowWidth) == vmax - vmin + 1, f"Window Width {out.WindowWidth}")
    f.expect(list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"], f"Image Type {out.ImageType}")
    if "ImageType" in src:
        f.expect(list(out.ImageType)[2:] == list(src.ImageType)[2:], "Image Type values 3.. changed")
    f.expect(
        "SeriesInstanceUID" in out and out.SeriesInstanceUID != src.get("SeriesInstanceUID"),
        "the derived image is not in a new series",
    )
    if "RescaleSlope" in src or "RescaleIntercept" in src:
        f.expect(out.get("RescaleType") == "US", f"Rescale Type {out.get('RescaleType')}, expected US")
    f.expect("DerivationDescription" in out, "Derivation Description missing")
    ref = out.SourceImageSequence[0] if "SourceImageSequence" in out else None
    f.expect(ref is not None and ref.ReferencedSOPInstanceUID == src.SOPInstanceUID, "Source Image Sequence does not reference the input")
    for kw, value in (("SmallestImagePixelValue", int(o.min())), ("LargestImagePixelValue", int(o.max()))):
        if kw in src:
            f.expect(kw in out and int(out[kw].value) == value, f"{kw} is {out.get(kw)} , expected {value}")

    # Everything else unchanged, nothing else added or removed.
    for elem in src:
        if elem.keyword in REWRITTEN or elem.keyword in REMOVED:
            continue
        f.expect(elem.tag in out, f"{elem.tag} {elem.keyword} was removed")
        if elem.tag in out:
            f.expect(out[elem.tag].value == elem.value, f"{elem.tag} {elem.keyword} changed: {elem.value!r} -> {out[elem.tag].value!r}")
    for elem in out:
        if elem.tag not in src:
            f.expect(elem.keyword in REWRITTEN, f"{elem.tag} {elem.keyword} was added")
    for kw in REMOVED:
        f.expect(kw not in out, f"{kw} should have been removed")

    status = "ok" if not f.messages else "FAILED"
    print(
        f"{status}: {f.label}: {o.size} samples, input modality range [{lo:g}, {hi:g}], "
        f"max |diff| = {max_diff}, exact .5 ties = {ties}"
    )
    for message in f.messages:
        print(f"  - {message}")
    return not f.messages


def validate(path):
    import numpy as np
    import pydicom

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    f = Failures(path)
    f.expect(ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1", "not Explicit VR Little Endian")
    f.expect(arr.dtype == np.uint16, f"pixel_array dtype {arr.dtype}")
    f.expect(arr.shape == (int(ds.Rows), int(ds.Columns)), f"pixel_array shape {arr.shape}")
    f.expect(int(arr.max()) < (1 << int(ds.BitsStored)), "values exceed Bits Stored")
    if "SmallestImagePixelValue" in ds:
        f.expect(int(ds.SmallestImagePixelValue) == int(arr.min()), "Smallest Image Pixel Value is wrong")
        f.expect(int(ds.LargestImagePixelValue) == int(arr.max()), "Largest Image Pixel Value is wrong")
    f.expect(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, "meta and data set SOP Instance UID differ")
    status = "ok" if not f.messages else "FAILED"
    print(
        f"{status}: {path}: {ds.SOPClassUID.name}, {ds.Rows}x{ds.Columns}, {arr.dtype}, "
        f"values [{arr.min()}, {arr.max()}], mean {arr.mean():.1f}, PatientName {ds.PatientName}"
    )
    for message in f.messages:
        print(f"  - {message}")
    return not f.messages


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", help="reuse/create the venv in this directory")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="compare one input/output pair")
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument("--min", type=float, required=True)
    c.add_argument("--max", type=float, required=True)
    m = sub.add_parser("manifest", help="compare every pair listed in a JSON file")
    m.add_argument("manifest")
    v = sub.add_parser("validate", help="read files with pydicom and sanity-check them")
    v.add_argument("files", nargs="+")
    args = parser.parse_args(argv)

    if args.command == "check":
        results = [check_pair(args.input, args.output, args.min, args.max)]
    elif args.command == "manifest":
        with open(args.manifest) as f:
            pairs = json.load(f)
        if not pairs:
            print("error: the manifest lists no pairs", file=sys.stderr)
            return 2
        results = [check_pair(p["input"], p["output"], float(p["min"]), float(p["max"])) for p in pairs]
    else:
        results = [validate(path) for path in args.files]
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    if os.environ.get(IN_VENV_MARKER) == "1":
        sys.exit(main(sys.argv[1:]))
    # Answer help and obvious usage errors before spending a minute on the venv.
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stdout if len(sys.argv) >= 2 else sys.stderr)
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    sys.exit(bootstrap(sys.argv[1:]))

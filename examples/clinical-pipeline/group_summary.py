#!/usr/bin/env python3
"""Group summary of the clinical example: one row per participant and volume.

    python3 group_summary.py PREFIX nibabel JSON... mrstats TXT...

Reads each participant's nibabel-stats JSON (`--per-volume`) and MRtrix3 mrstats table (fields
mean median std min max count, one line per volume), and writes PREFIX.tsv (one row per
participant and volume) and PREFIX.json (the same rows and the group's mean of each
participant's first-volume mean). The participant is read from the file name (`sub-<label>_...`); a file
without one, a participant with only one of the two statistics, or volumes that disagree between
nibabel and MRtrix3 (more than 1e-4 relative) are errors (exit 1). Only the standard library is
used: it runs in the nibabel-stats image, minified or not.
"""
import json
import os
import sys


def fail(message):
    print(f"group_summary: error: {message}", file=sys.stderr)
    sys.exit(1)


def participant(path):
    name = os.path.basename(path)
    if not name.startswith("sub-") or "_" not in name:
        fail(f"{name}: not named sub-<label>_...")
    return name[4 : name.index("_")]


def parse_args(argv):
    if len(argv) < 2:
        fail("usage: group_summary.py PREFIX nibabel JSON... mrstats TXT...")
    prefix, groups, current = argv[1], {"nibabel": [], "mrstats": []}, None
    for a in argv[2:]:
        if a in groups:
            current = a
        elif current is None:
            fail(f"{a}: expected nibabel or mrstats first")
        else:
            groups[current].append(a)
    return prefix, groups


def read_mrstats(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                fail(f"{os.path.basename(path)}:{n}: expected 6 fields (mean median std min max count), got {len(fields)}")
            rows.append(dict(zip(["mean", "median", "std", "min", "max", "count"], map(float, fields))))
    return rows


def close(a, b):
    return abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b))


def main():
    prefix, groups = parse_args(sys.argv)
    nib = {participant(p): p for p in groups["nibabel"]}
    mrs = {participant(p): p for p in groups["mrstats"]}
    if set(nib) != set(mrs):
        fail(f"participants differ: nibabel {sorted(nib)}, mrstats {sorted(mrs)}")
    if not nib:
        fail("no participants")
    rows, firsts = [], []
    for label in sorted(nib):
        with open(nib[label]) as f:
            n = json.load(f)
        volumes = n.get("volumes") or [n["all"]]
        m = read_mrstats(mrs[label])
        if len(m) != len(volumes):
            fail(f"sub-{label}: nibabel has {len(volumes)} volume(s), mrstats {len(m)}")
        for i, (v, s) in enumerate(zip(volumes, m)):
            for key in ("mean", "min", "max"):
                if not close(v[key], s[key]):
                    fail(f"sub-{label} volume {i}: {key} is {v[key]} (nibabel) but {s[key]} (MRtrix3)")
            if int(s["count"]) != v["voxels"]:
                fail(f"sub-{label} volume {i}: {v['voxels']} voxels (nibabel) but {s['count']:g} (MRtrix3)")
            rows.append({
                "participant_id": f"sub-{label}",
                "volume": i,
                "shape": "x".join(str(x) for x in n["shape"][:3]),
                "zooms": "x".join(f"{z:g}" for z in n["zooms"][:3]),
                "voxels": v["voxels"],
                "mean": v["mean"],
                "std": v["std"],
                "min": v["min"],
                "max": v["max"],
                "median_mrtrix": s["median"],
                "p5": v.get("p5"),
                "p95": v.get("p95"),
            })
        firsts.append(volumes[0]["mean"])
    keys = list(rows[0])
    with open(prefix + ".tsv", "w") as f:
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join("n/a" if r[k] is None else str(r[k]) for k in keys) + "\n")
    summary = {
        "participants": [f"sub-{k}" for k in sorted(nib)],
        "group_mean_of_first_volume_means": float(f"{sum(firsts) / len(firsts):.7g}"),
        "rows": rows,
    }
    with open(prefix + ".json", "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""An independent oracle for berth's OSV matching on PyPI records.

A second implementation of the matching rules, written from the OSV schema's evaluation
algorithm (events in order: `introduced` makes a version vulnerable, `fixed` and `last_affected`
make it not) with `packaging`'s PEP 440 versions, not from berth's code:

- a record affects an installed version when one of its ranges or its `versions` list does; an
  entry `packaging` cannot read is skipped (an unreadable `fixed` leaves the version vulnerable);
- records of one package are one vulnerability when they are connected through shared ids or
  aliases (connected components of the alias graph, over every record of the package); a
  component is a finding when one of its records affects the installed version;
- the advised fix is the lowest version above the installed one that a record of the component
  names as `fixed` and that no record of the component holds affected; none if there is none;
- the severity is the highest CVSS v3 severity among the records that affect it, else unknown.

It generates SEED-determined records and a root filesystem with Python distributions, runs
`berth db update` and `berth scan`, and compares every finding: the ids of each group, the
advised fix, the severity. Prints agreement counts; exits 1 on any difference.

Usage: tests/oracle/osv_oracle.py --berth PATH [--seed N] [--records N] [--keep DIR]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def packaging_version():
    """`packaging.version` from a private virtualenv (installed from PyPI once)."""
    venv = os.environ.get("BERTH_ORACLE_VENV", os.path.join(REPO, "target", "oracle-venv"))
    py = os.path.join(venv, "bin", "python")
    site = None
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    r = subprocess.run([py, "-c", "import packaging, sys; print(packaging.__path__[0])"], capture_output=True, text=True)
    if r.returncode != 0:
        if subprocess.run([py, "-m", "pip", "install", "-q", "packaging==24.2"]).returncode != 0:
            sys.exit("osv_oracle: error: could not install packaging from PyPI into " + venv)
        r = subprocess.run([py, "-c", "import packaging; print(packaging.__path__[0])"], capture_output=True, text=True, check=True)
    site = os.path.dirname(r.stdout.strip())
    sys.path.insert(0, site)
    from packaging import version  # noqa: E402

    return version


V = None  # packaging.version, set in main


def parse(v):
    try:
        return V.Version(v)
    except V.InvalidVersion:
        return None


POOL = ["0.9", "1.0", "1.0.1", "1.1", "1.2", "1.2.1", "1.3", "2.0", "2.0.1", "2.1", "3.0", "3.0.post1"]
INVALID = ["1.1-final!!", "banana", "2.0.0.0-dev-x"]
CVSS = {
    "critical": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "high": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    "medium": "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N",
    "low": "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
}
ORDER = ["unknown", "negligible", "low", "medium", "high", "critical"]


def generate(seed, n):
    rnd = random.Random(seed)
    packages = {f"oracle-pkg-{i}": rnd.choice(POOL) for i in range(8)}
    vulns = [f"CVE-2031-{1000 + i}" for i in range(n // 2)]
    records = []
    for i in range(n):
        pkg = rnd.choice(sorted(packages))
        cve = rnd.choice(vulns)
        rid = f"PYSEC-2031-{i}" if i % 2 else f"GHSA-{i:04d}-orac-le{i % 7}"
        aliases = [cve] if rnd.random() < 0.85 else []
        if rnd.random() < 0.2:
            aliases.append(f"GHSA-shared-{rnd.randrange(6)}")
        ranges = []
        for _ in range(rnd.choice([1, 1, 2])):
            points = sorted(rnd.sample(range(len(POOL)), 2))
            start = "0" if rnd.random() < 0.3 else POOL[points[0]]
            end = POOL[points[1]]
            kind = rnd.choices(["fixed", "last_affected", "open", "bad-fixed", "bad-introduced"], [10, 2, 1, 1, 1])[0]
            events = [{"introduced": start if kind != "bad-introduced" else rnd.choice(INVALID)}]
            if kind == "fixed" or kind == "bad-introduced":
                events.append({"fixed": end})
            elif kind == "last_affected":
                events.append({"last_affected": end})
            elif kind == "bad-fixed":
                events.append({"fixed": rnd.choice(INVALID)})
            ranges.append({"type": "ECOSYSTEM", "events": events})
        versions = []
        if rnd.random() < 0.3:
            versions = rnd.sample(POOL, 3) + ([rnd.choice(INVALID)] if rnd.random() < 0.5 else [])
        rec = {
            "id": rid,
            "modified": "2031-01-01T00:00:00Z",
            "aliases": aliases,
            "affected": [{"package": {"ecosystem": "PyPI", "name": pkg}, "ranges": ranges, "versions": versions}],
        }
        if rnd.random() < 0.4:
            rec["severity"] = [{"type": "CVSS_V3", "score": CVSS[rnd.choice(sorted(CVSS))]}]
        records.append(rec)
    return packages, records


def affected_by(rec, version):
    """Whether `rec` (its single affected entry) holds `version` (a packaging Version) affected."""
    entry = rec["affected"][0]
    for rng in entry.get("ranges", []):
        vulnerable = False
        for e in rng["events"]:
            if "introduced" in e:
                i = e["introduced"]
                if i == "0" or (parse(i) is not None and version >= parse(i)):
                    vulnerable = True
            elif "fixed" in e:
                f = parse(e["fixed"])
                if f is not None and version >= f:
                    vulnerable = False
            elif "last_affected" in e:
                last = parse(e["last_affected"])
                if last is not None and version > last:
                    vulnerable = False
        if vulnerable:
            return True
    return any(parse(v) is not None and parse(v) == version for v in entry.get("versions", []))


def expected(packages, records):
    out = {}
    for pkg, installed in packages.items():
        v = parse(installed)
        mine = [r for r in records if r["affected"][0]["package"]["name"] == pkg]
        # connected components over shared ids, over every record of the package (one that does
        # not affect the installed version still says which versions of the vulnerability do)
        groups = []
        for r in mine:
            ids = {r["id"], *r["aliases"]}
            joined = [g for g in groups if g["ids"] & ids]
            merged = {"ids": set(ids), "records": [r]}
            for g in joined:
                merged["ids"] |= g["ids"]
                merged["records"] += g["records"]
                groups.remove(g)
            groups.append(merged)
        for g in groups:
            if not any(affected_by(r, v) for r in g["records"]):
                continue
            fixes = set()
            for r in g["records"]:
                for rng in r["affected"][0].get("ranges", []):
                    for e in rng["events"]:
                        f = parse(e.get("fixed", ""))
                        if f is not None and f > v:
                            fixes.add(f)
            advised = None
            for c in sorted(fixes):
                if not any(affected_by(r, c) for r in g["records"]):
                    advised = str(c)
                    break
            sev = "unknown"
            for r in (r for r in g["records"] if affected_by(r, v)):
                for s in r.get("severity", []):
                    name = next(k for k, vec in CVSS.items() if vec == s["score"])
                    if ORDER.index(name) > ORDER.index(sev):
                        sev = name
            out[(pkg, frozenset(g["ids"]))] = (advised, sev)
    return out


def main():
    global V
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", required=True)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--records", type=int, default=120)
    ap.add_argument("--keep")
    args = ap.parse_args()
    V = packaging_version()
    work = args.keep or tempfile.mkdtemp(prefix="berth-osv-oracle-")
    os.makedirs(work, exist_ok=True)
    try:
        packages, records = generate(args.seed, args.records)
        recs = os.path.join(work, "records")
        root = os.path.join(work, "root")
        shutil.rmtree(recs, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(recs)
        os.makedirs(os.path.join(root, "etc"))
        with open(os.path.join(root, "etc", "os-release"), "w") as f:
            f.write('ID=debian\nVERSION_ID="12"\n')
        for r in records:
            with open(os.path.join(recs, r["id"] + ".json"), "w") as f:
                json.dump(r, f)
        for name, ver in packages.items():
            d = os.path.join(root, "usr/lib/python3/dist-packages", f"{name.replace('-', '_')}-{ver}.dist-info")
            os.makedirs(d)
            with open(os.path.join(d, "METADATA"), "w") as f:
                f.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n")
        env = dict(os.environ, BERTH_HOME=os.path.join(work, "home"), NO_COLOR="1")
        db = os.path.join(work, "db.sqlite")
        subprocess.run([args.berth, "db", "update", "--source", recs, "--db", db], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        scan = subprocess.run([args.berth, "scan", root, "--db", db, "-f", "json"], env=env, check=True,
                              capture_output=True, text=True)
        report = json.loads(scan.stdout)
        got = {}
        for f in report["findings"]:
            key = (f["package"], frozenset([f["id"], *f["aliases"]]))
            if key in got:
                print(f"DIFF: berth reports {sorted(key[1])} in {key[0]} twice")
            got[key] = (f.get("fixed_version"), f["severity"])
        want = expected(packages, records)
        agree = 0
        diffs = []
        for key in sorted(set(want) | set(got), key=lambda k: (k[0], sorted(k[1]))):
            w, g = want.get(key), got.get(key)
            if w == g:
                agree += 1
            else:
                diffs.append(f"{key[0]} {sorted(key[1])}: oracle {w}, berth {g}")
        for d in diffs:
            print("DIFF:", d)
        fixes = sum(1 for w in want.values() if w[0])
        print(
            f"osv_oracle: seed {args.seed}, {len(records)} records, {len(packages)} packages: "
            f"{len(want)} expected findings ({fixes} with a fix), {len(got)} from berth, "
            f"{agree} agree, {len(diffs)} differ"
        )
        return 1 if diffs else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Validates an RO-Crate with the reference validator (rocrate-validator, PyPI `roc-validator`)
against the Workflow Run Crate and Provenance Run Crate profiles, REQUIRED level.

The validator is installed once into a private virtualenv (BERTH_ROCRATE_VENV, default
target/rocrate-venv) under a lock. This machine has no route to w3id.org, so the RO-Crate JSON-LD
context cannot be fetched: the check runs on a copy of the crate whose `@context` is the RO-Crate
context bundled with the `rocrate` package (ro-crate-py), with `ComputationalWorkflow` mapped to
bioschemas as in the 1.1 context. Everything else is the crate as berth wrote it.

Usage: tests/rocrate/validate.py CRATE_DIR   (exit 0: valid; 1: the validator's findings)
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("BERTH_ROCRATE_VENV", os.path.join(REPO, "target", "rocrate-venv"))
PROFILES = ["workflow-run-crate-0.5", "provenance-run-crate-0.5"]


def venv():
    os.makedirs(os.path.dirname(VENV), exist_ok=True)
    with open(VENV + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ok = os.path.join(VENV, ".installed")
        if not os.path.exists(ok):
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
            r = subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", "roc-validator==0.13.0", "rocrate==0.16.0"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"error: cannot install roc-validator from PyPI into {VENV}:\n{r.stderr[-2000:]}")
            open(ok, "w").close()
    return VENV


def main():
    crate = sys.argv[1]
    v = venv()
    site = subprocess.run([os.path.join(v, "bin", "python"), "-c", "import rocrate, os; print(os.path.dirname(rocrate.__file__))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    context = json.load(open(os.path.join(site, "data", "ro-crate.jsonld")))["@context"]
    context["ComputationalWorkflow"] = "https://bioschemas.org/ComputationalWorkflow"
    work = tempfile.mkdtemp(prefix="berth-rocrate-check-")
    failed = False
    try:
        copy = os.path.join(work, "crate")
        shutil.copytree(crate, copy)
        meta_path = os.path.join(copy, "ro-crate-metadata.json")
        meta = json.load(open(meta_path))
        ctx = meta["@context"]
        extra = [c for c in ctx if isinstance(c, dict)] if isinstance(ctx, list) else []
        meta["@context"] = [context] + extra
        json.dump(meta, open(meta_path, "w"), indent=1)
        for profile in PROFILES:
            r = subprocess.run([os.path.join(v, "bin", "rocrate-validator"), "-y", "--disable-color", "validate",
                                "--offline", "-f", "json", "-l", "REQUIRED", "-p", profile, copy],
                               capture_output=True, text=True)
            report, _ = json.JSONDecoder().raw_decode(r.stdout)
            st = report["statistics"]
            print(f"{profile}: {'passed' if report['passed'] else 'FAILED'} "
                  f"({st['total_passed_checks']}/{st['total_checks']} checks; profiles {', '.join(st['profiles'])})")
            for i in report.get("issues", []):
                failed = True
                print(f"  {i.get('severity')} {i.get('check', {}).get('identifier')}: {i.get('message')} "
                      f"[{i.get('violatingEntity')}]")
            failed |= not report["passed"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

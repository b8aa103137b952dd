#!/usr/bin/env python3
"""Differential test: berth against the reference implementation, bosh.

Runs ``bosh`` (PyPI ``boutiques==0.5.33``, in a venv of its own) and
``berth`` on the same inputs and compares what they do:

* simulate: ``berth simulate D -i I`` must print exactly the command that
  ``bosh exec simulate -i I D`` prints after its "Generated Command:" header
  (plus one newline) and write exactly the same files into its working
  directory; when bosh fails (rejects or crashes), berth must exit non-zero
  with a message on stderr.
* invocation: ``berth invocation D -i I`` must accept exactly what
  ``bosh invocation D -i I`` accepts, except where berth is stricter by
  design (all-or-none groups, value-requires, value-disables, empty
  invocations: see ``stricter_reasons``).
* inline: for own cases, the same simulation with descriptor and invocation
  given as JSON text instead of paths.
* validate: ``berth validate D`` must accept exactly the descriptors that
  ``bosh validate D`` accepts; a bosh crash counts as a rejection.  For
  ``tests/bosh/invalid/*.json`` berth's output must also contain every line
  of the sibling ``*.expect`` file (check "expect").
* case: own cases must still do in bosh what their file names say (an
  invocation named ``*rejected*`` is one bosh refuses to simulate), and every
  ``invalid/*.json`` must be rejected by bosh.

Inputs: every descriptor of the installed boutiques package (a JSON object
with "command-line") crossed with every other JSON object file of the
package, plus this directory's ``cases/`` and ``invalid/``.  The package
files are read from the installed package at run time, never copied.

Run ``python3 tests/bosh/differential.py --help`` for the options.  The
harness process itself uses only the standard library; bosh runs in a
helper process (``bosh_oracle.py``) under the venv's python.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BOSH_VERSION = "0.5.33"
BOSH_REQUIREMENT = f"boutiques=={BOSH_VERSION}"
# bosh's dependencies are pinned too: jsonschema decides how some invalid
# invocations fail (a clean rejection or a crash inside jsonschema's error
# ranking) and simplejson how JSON is read.  Other versions should only change
# *how* bosh fails, not what it prints, but pinning keeps the report
# reproducible.
PINNED = {"boutiques": BOSH_VERSION, "jsonschema": "4.26.0", "simplejson": "4.3.0"}
ORACLE = HERE / "bosh_oracle.py"
CASES_DIR = HERE / "cases"
INVALID_DIR = HERE / "invalid"
BERTH_TIMEOUT = 60  # seconds for one berth run

# ---------------------------------------------------------------------------
# Allow-list of known, accepted disagreements.
#
# Key: (check, item id or fnmatch glob on the item id).  check is one of
# "simulate", "inline", "invocation", "validate", "expect", "case".  Value:
# the reason, which must say why the difference is acceptable (not merely
# that it exists).  Item ids are what the output and `--list` show, e.g.
#     ("invocation", "case:float_overflow/*"): "bosh accepts inf because ...",
# An allow-listed disagreement is reported as "allowed" and does not fail
# the run.  Keep this empty or nearly so: a disagreement is a bug in berth
# unless there is a written reason here.  Entries that match nothing are
# reported as stale so that the list shrinks when berth improves.
# ---------------------------------------------------------------------------
ALLOW: dict[tuple[str, str], str] = {
    # (no entries)
}


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


def load_json_file(path: Path):
    """Parse like bosh does, closely enough for classification: UTF-8 text,
    NaN/Infinity accepted, duplicate keys -> last one wins."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return json.loads(f.read())


def short(text, n=600):
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= n else text[:n] + f"... [{len(text) - n} more chars]"


def decode(b: bytes) -> str:
    return b.decode("utf-8", errors="backslashreplace")


# ---------------------------------------------------------------------------
# the bosh venv
# ---------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_versions(py: Path):
    code = (
        "import importlib.metadata as m, json\n"
        "v = {}\n"
        f"for n in {sorted(PINNED)!r}:\n"
        "    try: v[n] = m.version(n)\n"
        "    except Exception: v[n] = None\n"
        "print(json.dumps(v))\n"
    )
    try:
        out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout) if out.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return {}


def ensure_venv(venv: Path) -> Path:
    py = venv_python(venv)
    if py.exists():
        have = installed_versions(py)
        if have == PINNED:
            return py
        if have.get("boutiques") == BOSH_VERSION:
            # usable, but with other dependency versions: say so and go on
            eprint(f"[bosh] note: {venv} has {have}, the harness pins {PINNED}")
            return py
    eprint(f"[bosh] preparing a venv with {BOSH_REQUIREMENT} at {venv}")
    if not py.exists():
        r = subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True
        )
        if r.returncode != 0:
            sys.exit(
                "error: could not create the bosh venv at "
                f"{venv}:\n{r.stdout}{r.stderr}\n"
                "hint: install python3-venv, or point BERTH_BOSH_VENV at an "
                f"existing venv that has {BOSH_REQUIREMENT}"
            )
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", *(f"{n}=={v}" for n, v in PINNED.items())],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0 or installed_versions(py).get("boutiques") != BOSH_VERSION:
        sys.exit(
            f"error: could not install {BOSH_REQUIREMENT} into {venv} "
            "(is PyPI reachable from this machine?)\n"
            f"--- pip output ---\n{r.stdout}{r.stderr}\n"
            "hint: the differential test needs the reference implementation; "
            "set BERTH_BOSH_VENV to a venv that already has it"
        )
    return py


# ---------------------------------------------------------------------------
# the bosh oracle process
# ---------------------------------------------------------------------------


class Oracle:
    """One long-lived bosh process answering JSON-line requests."""

    def __init__(self, python: Path, home: Path):
        env = dict(os.environ)
        env["HOME"] = str(home)  # bosh's data cache lives under ~/.cache
        env["PYTHONUTF8"] = "1"  # config files are written as UTF-8
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [str(python), str(ORACLE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=str(home),
        )
        self.lock = threading.Lock()
        self.n = 0

    def ask(self, **req):
        with self.lock:
            self.n += 1
            req["id"] = self.n
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            sys.exit("error: the bosh oracle process died")
        answer = json.loads(line)
        if answer.get("kind") == "oracle-error":
            sys.exit(f"error: the bosh oracle failed on {req}: {answer.get('error')}")
        return answer

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


# ---------------------------------------------------------------------------
# discovering the inputs
# ---------------------------------------------------------------------------


class Pair:
    def __init__(self, pid, descriptor: Path, invocation: Path, source, expect=None):
        self.id = pid
        self.descriptor = descriptor
        self.invocation = invocation
        self.source = source  # "package" or "case"
        # for own cases: "ok" (bosh must simulate it) or "rejected"
        self.case_expect = expect


class VItem:
    def __init__(self, vid, descriptor: Path, source, expect_lines=None):
        self.id = vid
        self.descriptor = descriptor
        self.source = source  # "package", "case" or "invalid"
        self.expect_lines = expect_lines


def discover_package(pkg: Path):
    descriptors, others, unparsable = [], [], []
    for path in sorted(pkg.rglob("*.json")):
        if "__pycache__" in path.parts:
            continue
        try:
            data = load_json_file(path)
        except (ValueError, UnicodeDecodeError):
            unparsable.append(path)
            continue
        if isinstance(data, dict) and "command-line" in data:
            descriptors.append(path)
        elif isinstance(data, dict):
            others.append(path)
    return descriptors, others, unparsable


def discover(pkg: Path):
    pairs, vitems = [], []
    descriptors, others, unparsable = discover_package(pkg)
    rel = lambda p: p.relative_to(pkg).as_posix()  # noqa: E731
    for d in descriptors:
        for i in others:
            pairs.append(Pair(f"pkg:{rel(d)} :: pkg:{rel(i)}", d, i, "package"))
    for d in descriptors:
        vitems.append(VItem(f"pkg:{rel(d)}", d, "package"))
    for d in unparsable:
        vitems.append(VItem(f"pkg:{rel(d)}", d, "package"))
    if CASES_DIR.is_dir():
        for case in sorted(p for p in CASES_DIR.iterdir() if p.is_dir()):
            desc = case / "descriptor.json"
            if not desc.exists():
                continue
            vitems.append(VItem(f"case:{case.name}", desc, "case"))
            for inv in sorted(case.glob("invocation*.json")):
                expect = "rejected" if "rejected" in inv.name else "ok"
                pairs.append(
                    Pair(f"case:{case.name}/{inv.name}", desc, inv, "case", expect)
                )
    if INVALID_DIR.is_dir():
        for d in sorted(INVALID_DIR.glob("*.json")):
            exp = d.with_suffix(".expect")
            lines = None
            if exp.exists():
                lines = [
                    ln
                    for ln in exp.read_text(encoding="utf-8").splitlines()
                    if ln.strip()
                ]
            vitems.append(VItem(f"invalid:{d.name}", d, "invalid", lines))
    stats = {
        "package_descriptors": len(descriptors),
        "package_other_objects": len(others),
        "package_unparsable": len(unparsable),
    }
    return pairs, vitems, stats


# ---------------------------------------------------------------------------
# where berth is stricter than bosh by design
# ---------------------------------------------------------------------------


def with_defaults(desc, inv):
    data = dict(inv)
    for inp in desc.get("inputs") or []:
        if not isinstance(inp, dict):
            continue
        if inp.get("default-value") is not None and data.get(inp.get("id")) is None:
            data[inp.get("id")] = inp.get("default-value")
    return data


def stricter_reasons(desc_path: Path, inv_path: Path):
    """Reasons why berth may reject an invocation that bosh accepts.

    berth also enforces all-or-none groups, value-requires and
    value-disables, validates empty invocations (bosh skips invocation
    validation when the invocation plus defaults is empty), and rejects
    numbers beyond the range of a double (bosh accepts them as inf and then
    fails to simulate).  A member counts
    as present when its id is in the invocation (with defaults); because a
    Flag set to false could reasonably be read either way, a violation under
    either reading is accepted.
    """
    try:
        desc = load_json_file(desc_path)
        inv = load_json_file(inv_path)
    except (ValueError, OSError, UnicodeDecodeError):
        return []
    if not isinstance(desc, dict) or not isinstance(inv, dict):
        return []
    data = with_defaults(desc, inv)
    reasons = []
    if not data:
        reasons.append("empty invocation (bosh does not validate it)")
    def non_finite(v):
        if isinstance(v, float):
            return v != v or v in (float("inf"), float("-inf"))
        if isinstance(v, list):
            return any(non_finite(x) for x in v)
        if isinstance(v, dict):
            return any(non_finite(x) for x in v.values())
        return False

    # A JSON number beyond the double range parses as inf in Python: bosh's invocation check
    # accepts it and its simulate then fails to serialize it; berth rejects it up front.
    for k, v in data.items():
        if non_finite(v):
            reasons.append(f"non-finite number in {k!r}")
    present_any = set(data)
    present_true = {k for k, v in data.items() if v is not False}
    for g in desc.get("groups") or []:
        if not isinstance(g, dict) or not g.get("all-or-none"):
            continue
        members = [m for m in g.get("members") or [] if isinstance(m, str)]
        for present in (present_any, present_true):
            n = sum(1 for m in members if m in present)
            if 0 < n < len(members):
                reasons.append(f"all-or-none group {g.get('id')!r}")
                break
    for inp in desc.get("inputs") or []:
        if not isinstance(inp, dict) or inp.get("id") not in data:
            continue
        val = data[inp["id"]]
        vals = val if isinstance(val, list) else [val]
        for field in ("value-requires", "value-disables"):
            table = inp.get(field)
            if not isinstance(table, dict):
                continue
            for choice, ids in table.items():
                if not any(str(v) == str(choice) or v == choice for v in vals):
                    continue
                ids = [x for x in ids or [] if isinstance(x, str)]
                if field == "value-requires":
                    bad = [x for x in ids if x not in present_any or x not in present_true]
                else:
                    bad = [x for x in ids if x in present_any or x in present_true]
                if bad:
                    reasons.append(f"{field} of {inp['id']!r}={choice!r}: {bad}")
    return reasons


# ---------------------------------------------------------------------------
# running berth
# ---------------------------------------------------------------------------


def berth_env(home: Path):
    env = dict(os.environ)
    env["HOME"] = str(home)
    env.setdefault("RUST_BACKTRACE", "0")
    return env


def run_berth(berth, args, cwd: Path, env):
    t0 = time.monotonic()
    try:
        r = subprocess.run(
            [str(berth), *args],
            cwd=str(cwd),
            capture_output=True,
            env=env,
            timeout=BERTH_TIMEOUT,
        )
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", (e.stderr or b"") + b"\n[timeout]"
    except OSError as e:
        rc, out, err = "oserror", b"", str(e).encode()
    return {"rc": rc, "stdout": out, "stderr": err, "secs": time.monotonic() - t0}


def panicked(res):
    return res["rc"] == 101 or b"panicked at" in res["stderr"]


def snapshot(root: Path, cwd: Path):
    """Files and directories under root, keyed by path relative to cwd."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        d = Path(dirpath)
        for name in dirnames:
            p = d / name
            if p == cwd or cwd.is_relative_to(p):
                continue
            if not any(p.iterdir()):
                files[os.path.relpath(p, cwd) + "/"] = b""
        for name in sorted(filenames):
            p = d / name
            try:
                files[os.path.relpath(p, cwd)] = p.read_bytes()
            except OSError as e:
                files[os.path.relpath(p, cwd)] = f"<unreadable: {e}>".encode()
    return files


def normalize(data: bytes, cwd: Path) -> bytes:
    """Replace the (per-run) absolute working directory by $CWD, and its parent
    and grandparent by $CWD/.. and $CWD/../.. (outputs with uses-absolute-path
    may point above the working directory)."""
    forms = []
    for base in {str(cwd), os.path.realpath(cwd)}:
        p = Path(base)
        forms += [(str(p), "$CWD"), (str(p.parent), "$CWD/.."), (str(p.parent.parent), "$CWD/../..")]
    # longest first, so that a path is replaced before any of its prefixes
    for form, placeholder in sorted(set(forms), key=lambda f: -len(f[0])):
        data = data.replace(form.encode(), placeholder.encode())
    return data


def normalize_files(files, cwd):
    # names too: a relative output path can embed another, absolute, one
    # (e.g. "./" + "/tmp/x/cwd/y" is written as cwd/tmp/x/cwd/y), so names are
    # matched with a leading "/" added
    def name(k):
        b = normalize(("/" + k).encode("utf-8", "surrogateescape"), cwd)
        text = b.decode("utf-8", "surrogateescape")
        return text[1:] if text.startswith("/") else text

    return {name(k): normalize(v, cwd) for k, v in files.items()}


def diff_files(a, b):
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append(f"only berth wrote {k!r}")
        elif k not in b:
            out.append(f"only bosh wrote {k!r}")
        elif a[k] != b[k]:
            out.append(
                f"{k!r} differs: bosh {short(decode(a[k]), 300)!r} "
                f"vs berth {short(decode(b[k]), 300)!r}"
            )
    return out


def first_difference(a: bytes, b: bytes):
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    lo = max(0, i - 30)
    return (
        f"first difference at byte {i}: bosh {decode(a[lo:i + 40])!r} "
        f"vs berth {decode(b[lo:i + 40])!r}"
    )


# ---------------------------------------------------------------------------
# verdicts
# ---------------------------------------------------------------------------


class Results:
    def __init__(self):
        self.records = []  # dicts for the report
        self.lock = threading.Lock()
        self.allow_hits = set()

    def add(self, check, item_id, ok, category, detail, extra=None):
        status = "pass" if ok else "fail"
        allowed_by = None
        if not ok:
            for (c, pattern), reason in ALLOW.items():
                if c == check and (pattern == item_id or fnmatch.fnmatchcase(item_id, pattern)):
                    status = "allowed"
                    allowed_by = reason
                    with self.lock:
                        self.allow_hits.add((c, pattern))
                    break
        rec = {
            "check": check,
            "id": item_id,
            "status": status,
            "category": category,
            "detail": detail,
        }
        if allowed_by:
            rec["allowed_because"] = allowed_by
        if extra:
            rec.update(extra)
        with self.lock:
            self.records.append(rec)
        return rec


def bosh_summary(r):
    if r.get("ok"):
        return "ok"
    msg = f"{r.get('kind')}: {r.get('error_type')}: {r.get('error')}"
    if r.get("where"):
        msg += f" (at {r['where']})"
    return msg


def judge_simulate(results, pair, bosh, berth, bosh_cwd, berth_cwd, reasons, check="simulate"):
    b_sim = bosh["simulate"]
    extra = {
        "descriptor": str(pair.descriptor),
        "invocation": str(pair.invocation),
        "source": pair.source,
        "bosh": {
            "ok": b_sim.get("ok"),
            "kind": b_sim.get("kind"),
            "error_type": b_sim.get("error_type"),
            "error": b_sim.get("error"),
            "where": b_sim.get("where"),
            "stdout": b_sim.get("stdout"),
            "files": {k: short(decode(v), 20000) for k, v in bosh["files"].items()},
        },
        "berth": {
            "rc": berth["rc"],
            "stdout": short(decode(berth["stdout"]), 20000),
            "stderr": short(decode(berth["stderr"]), 4000),
            "files": {k: short(decode(v), 20000) for k, v in berth["files"].items()},
        },
    }
    if panicked(berth):
        return results.add(check, pair.id, False, "berth-panicked",
                           f"berth panicked: {short(decode(berth['stderr']))}", extra)
    if berth["rc"] in ("timeout", "oserror"):
        return results.add(check, pair.id, False, f"berth-{berth['rc']}",
                           short(decode(berth["stderr"])), extra)
    if b_sim.get("ok"):
        if berth["rc"] != 0:
            if reasons:
                return results.add(check, pair.id, True, "berth-stricter",
                                   "; ".join(reasons), extra)
            return results.add(
                check, pair.id, False, "bosh-ok-berth-failed",
                f"bosh printed {short(b_sim.get('stdout'), 300)!r}; berth exited "
                f"{berth['rc']}: {short(decode(berth['stderr']))}", extra)
        expected = normalize((b_sim.get("stdout") or "").encode("utf-8", "surrogatepass") + b"\n", bosh_cwd)
        got = normalize(berth["stdout"], berth_cwd)
        problems = []
        if expected != got:
            problems.append("stdout differs: " + first_difference(expected, got)
                            + f"\n      bosh : {short(decode(expected), 400)!r}"
                            + f"\n      berth: {short(decode(got), 400)!r}")
        fd = diff_files(normalize_files(bosh["files"], bosh_cwd),
                        normalize_files(berth["files"], berth_cwd))
        if fd:
            problems.append("files differ: " + "; ".join(fd))
        if problems:
            return results.add(check, pair.id, False, "output-differs",
                               "\n    ".join(problems), extra)
        return results.add(check, pair.id, True, "same-output", "", extra)
    # bosh failed
    if berth["rc"] == 0:
        return results.add(
            check, pair.id, False, "bosh-failed-berth-ok",
            f"bosh {bosh_summary(b_sim)!s:.600}; berth printed "
            f"{short(decode(berth['stdout']), 300)!r}", extra)
    if not berth["stderr"].strip():
        return results.add(check, pair.id, False, "berth-failed-silently",
                           f"berth exited {berth['rc']} with nothing on stderr", extra)
    category = "both-failed" if b_sim.get("kind") != "crash" else "both-failed-bosh-crashed"
    return results.add(check, pair.id, True, category, "", extra)


def judge_invocation(results, pair, bosh, berth, reasons):
    b_inv = bosh["invocation"]
    extra = {
        "source": pair.source,
        "bosh": {"ok": b_inv.get("ok"), "kind": b_inv.get("kind"),
                 "error": short(b_inv.get("error"), 2000)},
        "berth": {"rc": berth["rc"], "stdout": short(decode(berth["stdout"]), 2000),
                  "stderr": short(decode(berth["stderr"]), 2000)},
    }
    if panicked(berth) or berth["rc"] not in (0, 1):
        return results.add("invocation", pair.id, False, "berth-bad-exit",
                           f"berth exited {berth['rc']}: {short(decode(berth['stderr']))}", extra)
    if berth["files"]:
        return results.add("invocation", pair.id, False, "berth-wrote-files",
                           f"berth invocation wrote {sorted(berth['files'])}", extra)
    if b_inv.get("ok") and berth["rc"] == 0:
        return results.add("invocation", pair.id, True, "both-accept", "", extra)
    if not b_inv.get("ok") and berth["rc"] == 1:
        return results.add("invocation", pair.id, True, "both-reject", "", extra)
    if b_inv.get("ok"):
        if reasons:
            return results.add("invocation", pair.id, True, "berth-stricter",
                               "; ".join(reasons), extra)
        return results.add("invocation", pair.id, False, "bosh-accepts-berth-rejects",
                           f"berth: {short(decode(berth['stderr'] + berth['stdout']))}", extra)
    return results.add("invocation", pair.id, False, "bosh-rejects-berth-accepts",
                       f"bosh {short(bosh_summary(b_inv))}", extra)


def judge_validate(results, item, bosh, berth):
    extra = {
        "descriptor": str(item.descriptor),
        "source": item.source,
        "bosh": {"ok": bosh.get("ok"), "kind": bosh.get("kind"),
                 "error_type": bosh.get("error_type"),
                 "error": short(bosh.get("error"), 4000), "where": bosh.get("where")},
        "berth": {"rc": berth["rc"], "stdout": short(decode(berth["stdout"]), 4000),
                  "stderr": short(decode(berth["stderr"]), 4000)},
    }
    if panicked(berth) or berth["rc"] not in (0, 1):
        results.add("validate", item.id, False, "berth-bad-exit",
                    f"berth exited {berth['rc']}: {short(decode(berth['stderr']))}", extra)
    elif bosh.get("ok"):
        if berth["rc"] != 0:
            results.add("validate", item.id, False, "bosh-valid-berth-invalid",
                        f"berth: {short(decode(berth['stdout'] + berth['stderr']), 1500)}", extra)
        elif berth["stdout"].strip() != b"OK":
            results.add("validate", item.id, False, "berth-valid-without-OK",
                        f"berth printed {short(decode(berth['stdout']))!r}", extra)
        else:
            results.add("validate", item.id, True, "both-valid", "", extra)
    else:
        if berth["rc"] == 0:
            results.add("validate", item.id, False, "bosh-invalid-berth-valid",
                        f"bosh {short(bosh_summary(bosh), 1500)}", extra)
        else:
            cat = "both-invalid-bosh-crashed" if bosh.get("kind") == "crash" else "both-invalid"
            results.add("validate", item.id, True, cat, "", extra)
    if item.source == "invalid":
        # the file must be invalid for bosh, or it tests nothing
        if bosh.get("ok"):
            results.add("case", item.id, False, "bosh-accepts-invalid-file",
                        "bosh accepts this descriptor, so it is not an invalid case", extra)
        text = decode(berth["stdout"] + berth["stderr"])
        if item.expect_lines is None:
            results.add("expect", item.id, False, "missing-expect",
                        f"no {item.descriptor.with_suffix('.expect').name}", extra)
        else:
            missing = [ln for ln in item.expect_lines if ln not in text]
            if missing:
                results.add("expect", item.id, False, "message-lacks",
                            f"berth's output lacks {missing}; it was: {short(text, 1500)!r}", extra)
            else:
                results.add("expect", item.id, True, "message-names-problem", "", extra)


def judge_case(results, pair, bosh):
    """Own cases must still exercise what they claim in bosh."""
    ok = bosh["simulate"].get("ok")
    extra = {"source": pair.source}
    if pair.case_expect == "ok" and not ok:
        results.add("case", pair.id, False, "bosh-rejects-case",
                    f"bosh was expected to simulate this case: {short(bosh_summary(bosh['simulate']))}", extra)
    elif pair.case_expect == "rejected" and ok:
        results.add("case", pair.id, False, "bosh-accepts-rejected-case",
                    "the file name says bosh rejects it, but bosh simulated it: "
                    f"{short(bosh['simulate'].get('stdout'))!r}", extra)
    else:
        results.add("case", pair.id, True, f"bosh-{pair.case_expect}", "", extra)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def default_berth():
    env = os.environ.get("BERTH_BIN")
    return Path(env) if env else REPO / "target" / "debug" / "berth"


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Differential test of berth against bosh " + BOSH_VERSION)
    ap.add_argument("--berth", type=Path, default=None,
                    help="berth binary (default: $BERTH_BIN or <repo>/target/debug/berth)")
    ap.add_argument("--only", action="append", default=[], metavar="SUBSTRING",
                    help="only items whose id contains SUBSTRING (repeatable: any of them)")
    ap.add_argument("--list", action="store_true", help="print the items and exit")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                    help="berth processes to run concurrently (default: CPU count)")
    ap.add_argument("--report", type=Path, default=REPO / "target" / "bosh-differential.json",
                    help="JSON report path (default: target/bosh-differential.json)")
    ap.add_argument("--venv", type=Path, default=None,
                    help="bosh venv (default: $BERTH_BOSH_VENV or <repo>/target/bosh-venv)")
    ap.add_argument("--no-package", action="store_true",
                    help="skip the package cross product (own cases and invalid/ only)")
    ap.add_argument("--keep-temp", action="store_true",
                    help="keep the temporary working directories")
    ap.add_argument("--max-show", type=int, default=200,
                    help="disagreements to print in detail (default 200)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t_start = time.monotonic()
    berth = (args.berth or default_berth())
    berth = berth if berth.is_absolute() else Path.cwd() / berth
    venv = args.venv or Path(os.environ.get("BERTH_BOSH_VENV") or REPO / "target" / "bosh-venv")
    venv = venv if venv.is_absolute() else Path.cwd() / venv

    python = ensure_venv(venv)
    tmp = Path(tempfile.mkdtemp(prefix="berth-bosh-diff-"))
    home = tmp / "home"
    home.mkdir()
    oracle = Oracle(python, home)
    try:
        return run(args, berth, oracle, tmp, home, t_start)
    finally:
        oracle.close()
        if args.keep_temp:
            eprint(f"[diff] temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, berth, oracle, tmp, home, t_start):
    hello = oracle.ask(op="hello")
    if hello.get("version") != BOSH_VERSION:
        sys.exit(f"error: the oracle runs boutiques {hello.get('version')}, "
                 f"expected {BOSH_VERSION}")
    pkg = Path(hello["package_dir"])
    pairs, vitems, stats = discover(pkg)
    if args.no_package:
        pairs = [p for p in pairs if p.source != "package"]
        vitems = [v for v in vitems if v.source != "package"]
    if args.only:
        keep = lambda s: any(o in s for o in args.only)  # noqa: E731
        pairs = [p for p in pairs if keep(p.id)]
        vitems = [v for v in vitems if keep("validate " + v.id)]
    if args.list:
        for p in pairs:
            print(f"pair     {p.id}")
        for v in vitems:
            print(f"validate {v.id}")
        print(f"{len(pairs)} pairs, {len(vitems)} descriptors to validate")
        return 0

    if not berth.exists():
        sys.exit(f"error: berth binary not found at {berth}\n"
                 "hint: run `cargo build -p berth` or pass --berth PATH / set BERTH_BIN")

    eprint(f"[diff] bosh {hello['version']} from {pkg}")
    eprint(f"[diff] berth: {berth}")
    eprint(f"[diff] {len(pairs)} pairs, {len(vitems)} descriptors to validate, "
           f"{args.jobs} berth jobs")

    results = Results()
    benv = berth_env(home)
    work = tmp / "w"
    work.mkdir()

    # -- bosh: one thread feeding the single oracle process ----------------
    bosh_pairs = {}
    bosh_valid = {}

    def bosh_worker():
        for n, item in enumerate(vitems):
            bosh_valid[n] = oracle.ask(op="validate", descriptor=str(item.descriptor))
        last = time.monotonic()
        for n, pair in enumerate(pairs):
            root = work / f"p{n}" / "bosh"
            cwd = root / "cwd"
            cwd.mkdir(parents=True)
            ans = oracle.ask(op="pair", descriptor=str(pair.descriptor),
                             invocation=str(pair.invocation), cwd=str(cwd))
            ans["files"] = snapshot(root, cwd)
            ans["cwd"] = cwd
            bosh_pairs[n] = ans
            if time.monotonic() - last > 15:
                last = time.monotonic()
                eprint(f"[diff] bosh: {n + 1}/{len(pairs)} pairs")

    # -- berth: a pool of processes ----------------------------------------
    def berth_pair(n, pair):
        root = work / f"p{n}" / "berth"
        cwd = root / "cwd"
        cwd.mkdir(parents=True)
        sim = run_berth(berth, ["simulate", str(pair.descriptor), "-i", str(pair.invocation)], cwd, benv)
        sim["files"] = snapshot(root, cwd)
        sim["cwd"] = cwd
        iroot = work / f"p{n}" / "berth-inv"
        icwd = iroot / "cwd"
        icwd.mkdir(parents=True)
        inv = run_berth(berth, ["invocation", str(pair.descriptor), "-i", str(pair.invocation)], icwd, benv)
        inv["files"] = snapshot(iroot, icwd)
        inline = None
        if pair.source == "case":
            # the same simulation with descriptor and invocation given as JSON text
            lroot = work / f"p{n}" / "berth-inline"
            lcwd = lroot / "cwd"
            lcwd.mkdir(parents=True)
            d_text = pair.descriptor.read_text(encoding="utf-8", errors="surrogateescape")
            i_text = pair.invocation.read_text(encoding="utf-8", errors="surrogateescape")
            inline = run_berth(berth, ["simulate", d_text, "-i", i_text], lcwd, benv)
            inline["files"] = snapshot(lroot, lcwd)
            inline["cwd"] = lcwd
        return sim, inv, inline

    def berth_validate(n, item):
        cwd = work / f"v{n}"
        cwd.mkdir(parents=True)
        return run_berth(berth, ["validate", str(item.descriptor)], cwd, benv)

    bt = threading.Thread(target=bosh_worker, daemon=True)
    bt.start()
    berth_pairs, berth_valid = {}, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        vf = {ex.submit(berth_validate, n, v): n for n, v in enumerate(vitems)}
        pf = {ex.submit(berth_pair, n, p): n for n, p in enumerate(pairs)}
        for f in concurrent.futures.as_completed(vf):
            berth_valid[vf[f]] = f.result()
        for f in concurrent.futures.as_completed(pf):
            berth_pairs[pf[f]] = f.result()
    t_berth = time.monotonic() - t_start
    bt.join()
    t_all = time.monotonic() - t_start

    # -- verdicts ----------------------------------------------------------
    for n, item in enumerate(vitems):
        judge_validate(results, item, bosh_valid[n], berth_valid[n])
    stricter_cache = {}
    for n, pair in enumerate(pairs):
        bosh = bosh_pairs[n]
        sim, inv, inline = berth_pairs[n]
        key = (pair.descriptor, pair.invocation)
        if key not in stricter_cache:
            stricter_cache[key] = stricter_reasons(pair.descriptor, pair.invocation)
        reasons = stricter_cache[key]
        judge_simulate(results, pair, bosh, sim, bosh["cwd"], sim["cwd"], reasons)
        judge_invocation(results, pair, bosh, inv, reasons)
        if inline is not None:
            judge_simulate(results, pair, bosh, inline, bosh["cwd"], inline["cwd"], reasons,
                           check="inline")
        if pair.source == "case":
            judge_case(results, pair, bosh)

    return report(args, results, pairs, vitems, stats, hello, berth, t_all, t_berth)


def report(args, results, pairs, vitems, stats, hello, berth, t_all, t_berth):
    recs = results.records
    by = {}
    for r in recs:
        by.setdefault((r["check"], r.get("source"), r["category"], r["status"]), 0)
        by[(r["check"], r.get("source"), r["category"], r["status"])] += 1

    def count(check, source=None, status=None, category=None):
        return sum(
            1 for r in recs
            if r["check"] == check
            and (source is None or r.get("source") == source)
            and (status is None or r["status"] == status)
            and (category is None or r["category"] == category)
        )

    pkg_pairs = sum(1 for p in pairs if p.source == "package")
    case_pairs = sum(1 for p in pairs if p.source == "case")
    case_dirs = len({p.descriptor.parent for p in pairs if p.source == "case"})
    bosh_ok_pkg = sum(1 for r in recs if r["check"] == "simulate" and r.get("source") == "package" and r["bosh"]["ok"])
    bosh_ok_case = sum(1 for r in recs if r["check"] == "simulate" and r.get("source") == "case" and r["bosh"]["ok"])

    print()
    deps = ", ".join(f"{k} {v}" for k, v in (hello.get("dependencies") or {}).items())
    print(f"bosh {hello['version']} ({deps}; package {hello['package_dir']}) vs berth {berth}")
    print(f"package: {stats['package_descriptors']} descriptors x "
          f"{stats['package_other_objects']} other JSON objects = {pkg_pairs} pairs "
          f"({bosh_ok_pkg} simulate OK in bosh)")
    print(f"own cases: {case_dirs} case directories, {case_pairs} pairs "
          f"({bosh_ok_case} simulate OK in bosh)")
    print(f"validate: {len(vitems)} descriptors "
          f"({sum(1 for v in vitems if v.source == 'invalid')} from tests/bosh/invalid)")
    print()
    print(f"{'check':<11} {'source':<8} {'category':<28} {'status':<8} count")
    for (check, source, cat, status), n in sorted(by.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        print(f"{check:<11} {str(source or '-'):<8} {cat:<28} {status:<8} {n}")

    failed = [r for r in recs if r["status"] == "fail"]
    allowed = [r for r in recs if r["status"] == "allowed"]
    if failed:
        print()
        print(f"DISAGREEMENTS ({len(failed)}):")
        for r in failed[: args.max_show]:
            print(f"  [{r['check']}] {r['id']}")
            print(f"    {r['category']}: {r['detail']}")
        if len(failed) > args.max_show:
            print(f"  ... {len(failed) - args.max_show} more in the report")
    if allowed:
        print()
        print(f"allowed by the allow-list ({len(allowed)}):")
        for r in allowed[: args.max_show]:
            print(f"  [{r['check']}] {r['id']}: {r['allowed_because']}")
    stale = [k for k in ALLOW if k not in results.allow_hits]
    if stale and not args.only and not args.no_package:
        print()
        print("stale allow-list entries (matched nothing; remove them):")
        for k in stale:
            print(f"  {k}")

    passed = sum(1 for r in recs if r["status"] in ("pass", "allowed"))
    report_data = {
        "bosh": hello,
        "berth": str(berth),
        "seconds": round(t_all, 1),
        "stats": {
            **stats,
            "package_pairs": pkg_pairs,
            "package_pairs_bosh_ok": bosh_ok_pkg,
            "case_dirs": case_dirs,
            "case_pairs": case_pairs,
            "case_pairs_bosh_ok": bosh_ok_case,
            "validated": len(vitems),
        },
        "passed": passed,
        "failed": len(failed),
        "allowed": len(allowed),
        "records": recs,
    }
    try:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report_data, f, indent=1, ensure_ascii=False, default=str)
        print()
        print(f"report: {args.report}  ({t_all:.0f} s; berth side done after {t_berth:.0f} s)")
    except OSError as e:
        print(f"warning: could not write the report {args.report}: {e}")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

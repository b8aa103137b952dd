"""Oracle side of the bosh differential harness.

This script is run by the python of the *bosh venv* (the one that has
``boutiques==0.5.33`` installed), never by the harness interpreter itself.
It keeps one warm Python process that answers requests from
``differential.py`` so that bosh's ~0.35 s import cost is paid once.

Protocol: one JSON object per line on stdin, one JSON object per line on
the *original* stdout.  Everything bosh prints (``print`` calls, warnings)
is captured per request and returned in the answer, so it can never corrupt
the protocol stream.

Requests:

* ``{"op": "hello"}`` -> bosh version and package directory.
* ``{"op": "validate", "descriptor": PATH}`` -> ``boutiques.validate(PATH)``.
* ``{"op": "pair", "descriptor": PATH, "invocation": PATH, "cwd": DIR}`` ->
  ``boutiques.invocation(D, "-i", I)`` and, when that accepts,
  ``boutiques.execute("simulate", D, "-i", I)`` run inside ``DIR``.
  ``execute("simulate", ...)`` starts with exactly the same
  ``invocation(D, "-i", I)`` call, so when the invocation is rejected the
  simulation would fail with that very error and is not run a second time.

Every exception is caught, ``SystemExit`` included.  An exception whose class
is one of bosh's own "this input is wrong" errors is a *rejection*; any other
exception (``KeyError``, ``TypeError``, ``SyntaxError`` from the ``eval`` of
a conditional-path-template, ...) is a *crash*.  Both mean bosh did not
accept the input.
"""

import contextlib
import io
import json
import os
import sys
import traceback

# The protocol channel is a private duplicate of the original stdout; fd 1
# itself is pointed at stderr so that nothing written at the fd level by a
# library can interleave with answers.
_proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)

import boutiques  # noqa: E402  (must come after the fd shuffle)

# bosh's own "your input is wrong" exception classes.  Anything else that
# escapes a bosh call is reported as a crash.
_REJECTIONS = set()
for _mod, _name in [
    ("boutiques.validator", "DescriptorValidationError"),
    ("boutiques.invocationSchemaHandler", "InvocationValidationError"),
    ("boutiques.localExec", "ExecutorError"),
    ("boutiques.util.utils", "LoadError"),
]:
    try:
        _REJECTIONS.add(getattr(__import__(_mod, fromlist=[_name]), _name))
    except Exception:  # pragma: no cover - layout differs in another version
        pass

_MAX_MSG = 4000


def _classify(exc):
    if isinstance(exc, SystemExit):
        # argparse usage errors and invocationSchemaHandler.errExit
        return "exit"
    if any(isinstance(exc, cls) for cls in _REJECTIONS):
        return "rejected"
    return "crash"


def _call(fn, *args):
    """Run ``fn(*args)`` capturing prints; never raises."""
    out, err = io.StringIO(), io.StringIO()
    result = {"ok": False}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            value = fn(*args)
        result["ok"] = True
        result["value"] = value
    except BaseException as exc:  # noqa: BLE001 - SystemExit included on purpose
        if isinstance(exc, KeyboardInterrupt):
            raise
        result["kind"] = _classify(exc)
        result["error_type"] = type(exc).__name__
        msg = str(exc)
        if isinstance(exc, SystemExit) and err.getvalue():
            msg = err.getvalue().strip() + f" (exit {exc.code})"
        result["error"] = msg[:_MAX_MSG]
        if result["kind"] == "crash":
            tb = traceback.extract_tb(exc.__traceback__)
            if tb:
                last = tb[-1]
                result["where"] = (
                    f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}"
                )
    result["printed"] = out.getvalue()
    result["printed_stderr"] = err.getvalue()[:_MAX_MSG]
    return result


def _op_validate(req):
    r = _call(boutiques.validate, req["descriptor"])
    r.pop("value", None)
    return r


def _op_pair(req):
    d, i, cwd = req["descriptor"], req["invocation"], req["cwd"]
    here = os.getcwd()
    os.chdir(cwd)
    try:
        inv = _call(boutiques.invocation, d, "-i", i)
        inv.pop("value", None)
        if inv["ok"]:
            sim = _call(boutiques.execute, "simulate", d, "-i", i)
            value = sim.pop("value", None)
            if sim["ok"]:
                sim["stdout"] = getattr(value, "stdout", None)
                sim["exit_code"] = getattr(value, "exit_code", None)
        else:
            sim = dict(inv)
            sim["same_as_invocation"] = True
    finally:
        os.chdir(here)
    return {"invocation": inv, "simulate": sim}


def _op_hello(_req):
    version = None
    try:
        from boutiques.__version__ import VERSION as version  # noqa: N811
    except Exception:
        try:
            import importlib.metadata as md

            version = md.version("boutiques")
        except Exception:
            version = None
    deps = {}
    for name in ("jsonschema", "simplejson"):
        try:
            import importlib.metadata as md

            deps[name] = md.version(name)
        except Exception:
            deps[name] = None
    return {
        "ok": True,
        "version": version,
        "dependencies": deps,
        "package_dir": os.path.dirname(os.path.abspath(boutiques.__file__)),
        "python": sys.version.split()[0],
    }


_OPS = {"hello": _op_hello, "validate": _op_validate, "pair": _op_pair}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = {}
        try:
            req = json.loads(line)
            answer = _OPS[req["op"]](req)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            answer = {"ok": False, "kind": "oracle-error", "error": repr(exc)}
        answer["id"] = req.get("id") if isinstance(req, dict) else None
        _proto.write(json.dumps(answer, ensure_ascii=True) + "\n")
        _proto.flush()


if __name__ == "__main__":
    main()

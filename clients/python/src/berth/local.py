"""A client of the local ``berth`` command line, through its ``--json`` output.

No service is needed: runs go to this machine's engine (or to Slurm, as ``berth run`` is
configured) and are recorded in the same store as ``berth`` typed by hand. Sessions and their
steps come back as the same models as from a server (``berth.models``); runs, records and
pipelines as the JSON ``berth`` prints (the provenance record is a superset of Boutiques').
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import models
from .session import Session
from .errors import BerthError, RunFailed

PathLike = Union[str, "os.PathLike[str]"]
Output = Callable[[str, str], None]
"""Called with (``"stdout"`` or ``"stderr"``, a line) as the command writes it."""


class Local:
    """The ``berth`` command line on this machine.

    >>> b = Local()
    >>> outcome = b.run("dcm2niix", {"input": "sub-01/dicom"}, output_dir="out/sub-01")
    >>> outcome["status"]
    'succeeded'

    ``berth`` is found on ``PATH`` unless given; ``env`` adds variables (``BERTH_HOME``,
    ``BERTH_ENGINE``, ``DOCKER_HOST``, …) to the environment it runs in; ``cwd`` is where
    relative paths in invocations are resolved.
    """

    def __init__(
        self,
        berth: Optional[PathLike] = None,
        *,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[PathLike] = None,
    ) -> None:
        found = str(berth) if berth is not None else os.environ.get("BERTH_BIN") or shutil.which("berth")
        if not found:
            raise BerthError("no `berth` on PATH", hint="install berth, or give its path: Local(berth='/path/to/berth')")
        self.berth = found
        self.env = dict(env or {})
        self.cwd = None if cwd is None else str(cwd)

    # --- plumbing --------------------------------------------------------------------------

    def call(self, args: Sequence[str], *, output: Optional[Output] = None, stdin: Optional[str] = None) -> Any:
        """Runs ``berth ARGS`` (which must include ``--json``) and returns the JSON it printed.

        A non-zero exit status raises :class:`BerthError` with berth's ``error:`` and ``hint:``
        lines, unless it printed JSON (a run that failed still has an outcome). ``output``
        receives stderr line by line as it is written (the tool's output, with ``--json``).
        """
        cmd = [self.berth, *args]
        env = {**os.environ, **self.env}
        env.setdefault("NO_COLOR", "1")
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=self.cwd,
            )
        except OSError as e:
            raise BerthError(f"cannot run {self.berth}: {e}") from None
        err_lines: List[str] = []
        reader = threading.Thread(target=_read_lines, args=(proc.stderr, err_lines, output), daemon=True)
        reader.start()
        if proc.stdin is not None and stdin is not None:
            with proc.stdin:
                proc.stdin.write(stdin.encode())
        out = proc.stdout.read() if proc.stdout is not None else b""
        proc.wait()
        reader.join()
        text = out.decode("utf-8", "replace")
        value: Any = None
        if text.strip():
            try:
                value = json.loads(text)
            except ValueError:
                if proc.returncode == 0:
                    raise BerthError(f"`berth {' '.join(args)}` printed something that is not JSON") from None
        if proc.returncode != 0 and value is None:
            raise _error_of(err_lines, proc.returncode, args)
        return value

    # --- runs ------------------------------------------------------------------------------

    def run(
        self,
        tool: str,
        inputs: Optional[Mapping[str, Any]] = None,
        *,
        output_dir: Optional[PathLike] = None,
        engine: Optional[str] = None,
        options: Sequence[str] = (),
        check: bool = True,
        output: Optional[Output] = None,
    ) -> Dict[str, Any]:
        """Runs ``tool`` (a registered ``NAME[@VERSION]`` or a descriptor file) and waits.

        Returns the outcome ``berth run --json`` prints (run id, status, exit code, outputs).
        ``options`` are more ``berth run`` options (``["--memory", "4g"]``). With ``check`` a
        run that did not succeed raises :class:`RunFailed` (the outcome in ``.result``).
        """
        args = ["run", tool, "--json", "-i", json.dumps(dict(inputs or {}))]
        if output_dir is not None:
            args += ["-o", str(output_dir)]
        if engine:
            args += ["--engine", engine]
        args += list(options)
        outcome = _object(self.call(args, output=output), "berth run")
        if check and outcome.get("status") != "succeeded":
            raise RunFailed(f"run {outcome.get('run_id', '?')} of {tool} ended {outcome.get('status')}", outcome)
        return outcome

    def runs(self, *, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Recorded runs, newest first."""
        args = ["runs", "--json"]
        if limit is not None:
            args += ["--limit", str(limit)]
        return _objects(self.call(args), "berth runs")

    def show(self, run_id: str) -> Dict[str, Any]:
        """A run's provenance record."""
        return _object(self.call(["show", run_id, "--json"]), "berth show")

    def logs(self, run_id: str) -> str:
        """A run's stdout and stderr as ``berth logs`` prints them."""
        return self._text(["logs", run_id])

    def verify(self, run_id: str) -> Dict[str, Any]:
        """Re-executes a recorded run (or pipeline run, or session) and compares its outputs."""
        return _object(self.call(["verify", run_id, "--json"]), "berth verify")

    def add_tool(self, descriptor: PathLike, *, replace: bool = False) -> List[Dict[str, Any]]:
        """Registers a Boutiques descriptor or an XNAT Command file to run by name; what was
        registered (name, version, kind, ``outcome``: registered, unchanged or replaced)."""
        args = ["tool", "add", str(descriptor), "--json"] + (["--replace"] if replace else [])
        return _objects(self.call(args), "berth tool add")

    def tools(self) -> List[Dict[str, Any]]:
        """The registered tools."""
        return _objects(self.call(["tool", "ls", "--json"]), "berth tool ls")

    # --- sessions --------------------------------------------------------------------------

    def start_session(
        self,
        tool: str,
        inputs: Optional[Mapping[str, Any]] = None,
        *,
        output_dir: Optional[PathLike] = None,
        mounts: Sequence[PathLike] = (),
        idle_timeout: Optional[str] = None,
        engine: Optional[str] = None,
    ) -> Session:
        """Starts a long-lived container of ``tool`` (its File ``inputs`` and ``mounts``
        mounted read-only, ``output_dir`` writable)."""
        args = ["session", "start", tool, "--json"]
        if inputs:
            args += ["-i", json.dumps(dict(inputs))]
        if output_dir is not None:
            args += ["-o", str(output_dir)]
        for m in mounts:
            args += ["--mount", str(m)]
        if idle_timeout is not None:
            args += ["--idle-timeout", str(idle_timeout)]
        if engine:
            args += ["--engine", engine]
        return Session(self, models.ToolSessionRecord.from_json(self.call(args)))

    def sessions(self, *, all: bool = False) -> List[models.ToolSessionRecord]:
        """Sessions (running ones; ``all``: ended ones too)."""
        args = ["session", "ls", "--json"] + (["--all"] if all else [])
        return [models.ToolSessionRecord.from_json(s) for s in self.call(args)]

    def session(self, session_id: str) -> Session:
        """A session already started (by this client, another, or by hand)."""
        return Session(self, self.get_session(session_id).session)

    def get_session(self, session_id: str) -> models.SessionDetail:
        """A session with its steps."""
        return models.SessionDetail.from_json(self.call(["session", "show", session_id, "--json"]))

    def exec(
        self,
        session_id: str,
        command: Optional[Sequence[str]] = None,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        output: Optional[Output] = None,
        check: bool = False,
    ) -> models.SessionStep:
        """Runs ``command`` (or the tool's own command for ``inputs``) in a session; the step.

        The command's output reaches ``output`` line by line as it is written (stdout and
        stderr together, as ``berth session exec --json`` writes both to its stderr); the step
        keeps them apart.
        """
        if (command is None) == (inputs is None):
            raise ValueError("give either `command` or `inputs`")
        args = ["session", "exec", session_id, "--json"]
        if inputs is not None:
            args += ["-i", json.dumps(dict(inputs))]
        else:
            args += ["--", *command]  # type: ignore[misc]
        step = models.SessionStep.from_json(self.call(args, output=output))
        if check and step.exit_code != 0:
            raise RunFailed(f"`{' '.join(step.argv)}` exited with {step.exit_code}", step)
        return step

    def stop_session(self, session_id: str) -> models.ToolSessionRecord:
        """Stops a session and removes its container."""
        return models.ToolSessionRecord.from_json(self.call(["session", "stop", session_id, "--json"]))

    # --- pipelines -------------------------------------------------------------------------

    def run_pipeline(
        self,
        file: PathLike,
        *,
        output_dir: PathLike,
        bids: Optional[PathLike] = None,
        params: Optional[Mapping[str, str]] = None,
        participant_label: Sequence[str] = (),
        jobs: Optional[int] = None,
        options: Sequence[str] = (),
        check: bool = True,
    ) -> Dict[str, Any]:
        """Runs a pipeline file to the end; the result ``berth pipeline run --json`` prints."""
        args = ["pipeline", "run", str(file), "-o", str(output_dir), "--json"]
        if bids is not None:
            args += ["--bids", str(bids)]
        for k, v in (params or {}).items():
            args += ["--param", f"{k}={v}"]
        for p in participant_label:
            args += ["--participant-label", p]
        if jobs is not None:
            args += ["-j", str(jobs)]
        args += list(options)
        result = _object(self.call(args), "berth pipeline run")
        if check and result.get("status") != "succeeded":
            raise RunFailed(f"pipeline run {result.get('id', '?')} ended {result.get('status')}", result)
        return result

    def pipelines(self) -> List[Dict[str, Any]]:
        """Pipeline runs, newest first."""
        return _objects(self.call(["pipeline", "ls", "--json"]), "berth pipeline ls")

    def pipeline(self, pipeline_id: str) -> Dict[str, Any]:
        """A pipeline run with its tasks."""
        return _object(self.call(["pipeline", "show", pipeline_id, "--json"]), "berth pipeline show")

    def _text(self, args: Sequence[str]) -> str:
        env = {**os.environ, **self.env}
        proc = subprocess.run([self.berth, *args], capture_output=True, env=env, cwd=self.cwd)
        if proc.returncode != 0:
            raise _error_of(proc.stderr.decode("utf-8", "replace").splitlines(), proc.returncode, args)
        return proc.stdout.decode("utf-8", "replace")


def _object(value: Any, what: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise BerthError(f"`{what} --json` printed {type(value).__name__}, not an object")
    return value


def _objects(value: Any, what: str) -> List[Dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BerthError(f"`{what} --json` printed something other than a list of objects")
    return value


def _read_lines(stream: Optional[IO[bytes]], into: List[str], output: Optional[Output]) -> None:
    if stream is None:
        return
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        into.append(line.rstrip("\n"))
        if output is not None:
            output("stderr", line)


def _error_of(lines: List[str], code: int, args: Sequence[str]) -> BerthError:
    """berth's ``error:`` / ``Caused by:`` / ``hint:`` lines as one error."""
    message: List[str] = []
    hints: List[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("error:"):
            message.append(text[len("error:"):].strip())
        elif text.startswith("hint:"):
            hints.append(text[len("hint:"):].strip())
        elif message and not hints and text:
            message.append(text)
    if not message:
        tail = [ln for ln in lines if ln.strip()][-5:]
        message = [f"`berth {' '.join(args[:2])}` exited with {code}" + (": " + " / ".join(tail) if tail else "")]
    return BerthError(" ".join(message), hint=" ".join(hints) or None, status=code)

"""Errors of the berth client: one type, with what berth said and what to do about it."""

from __future__ import annotations

from typing import Any, List, Optional


class BerthError(Exception):
    """berth refused or failed a request.

    ``message`` is berth's one-sentence error, ``hint`` what to do about it (when berth gave
    one), ``status`` the HTTP status (server) or the exit code (command line), ``problems``
    the individual problems of a validation failure.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: Optional[str] = None,
        status: Optional[int] = None,
        problems: Optional[List[Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.problems = problems or []

    def __str__(self) -> str:
        text = self.message
        if self.status is not None:
            text = f"{text} (status {self.status})"
        if self.hint:
            text = f"{text}\nhint: {self.hint}"
        return text


class RunFailed(BerthError):
    """A run (or a step of a session) ended without success; ``result`` is what berth recorded."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class Timeout(BerthError):
    """Waiting for a run took longer than asked."""

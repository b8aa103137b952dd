"""A tool session, whichever way berth is reached (:class:`~berth.Local` or :class:`~berth.Server`):
``exec`` again and again, then ``stop`` (or use ``with``)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

from . import models


class SessionClient(Protocol):
    """What a session needs of its client; both ``Local`` and ``Server`` have it."""

    def exec(
        self,
        session_id: str,
        command: Optional[Sequence[str]] = None,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        output: Optional[Callable[[str, str], None]] = None,
        check: bool = False,
    ) -> models.SessionStep: ...

    def get_session(self, session_id: str) -> models.SessionDetail: ...

    def stop_session(self, session_id: str) -> models.ToolSessionRecord: ...


class Session:
    """A tool session: its record as last seen, and the client it goes through."""

    def __init__(self, client: SessionClient, record: models.ToolSessionRecord) -> None:
        self.client = client
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    def exec(
        self,
        command: Optional[Sequence[str]] = None,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        output: Optional[Callable[[str, str], None]] = None,
        check: bool = False,
    ) -> models.SessionStep:
        """See ``Local.exec`` / ``Server.exec``."""
        return self.client.exec(self.id, command, inputs=inputs, output=output, check=check)

    def show(self) -> models.SessionDetail:
        """The session and its steps, as recorded now."""
        detail = self.client.get_session(self.id)
        self.record = detail.session
        return detail

    def stop(self) -> models.ToolSessionRecord:
        """Stops it."""
        self.record = self.client.stop_session(self.id)
        return self.record

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

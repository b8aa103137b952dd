"""berth from Python: run described analysis tools in containers and keep sessions of them.

Two ways in, one vocabulary:

- :class:`Local` drives the ``berth`` command line on this machine (``--json``);
- :class:`Server` talks to a ``berth serve`` with an API token.

Both run a tool and wait, list and show runs, start tool sessions and ``exec`` in them, and run
pipelines. API models (``berth.models``) are generated from the server's OpenAPI document.
"""

from . import models
from .errors import BerthError, RunFailed, Timeout
from .local import Local
from .server import Server
from .session import Session

__all__ = ["BerthError", "Local", "RunFailed", "Server", "Session", "Timeout", "models"]
__version__ = "0.1.0"

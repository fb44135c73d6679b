"""Python client for PulseDB-C's HTTP API (standard library only).

    from pulsedb import PulseDB
    db = PulseDB("http://127.0.0.1:7070")          # token: token=... or $PULSEDB_TOKEN
    team = db.collectives.create("team", embedding_dim=4)
    db.experiences.create(team["id"], "retry with backoff fixed it", [0.9, 0.1, 0, 0])
    db.search(team["id"], [1, 0, 0, 0], k=5)
"""
from .bulk import ImportProgress, ImportResult
from .client import PulseDB
from .errors import (APIError, BadRequest, Conflict, ConnectionFailed, Forbidden, InternalError,
                     MethodNotAllowed, NotFound, PulseDBError, TooLarge, Unauthorized,
                     Unavailable, UnsupportedMediaType)
from .watch import Event, Watch

__version__ = "0.1.0"
__all__ = [
    "PulseDB", "Event", "Watch", "ImportProgress", "ImportResult",
    "PulseDBError", "ConnectionFailed", "APIError", "BadRequest", "Unauthorized", "Forbidden",
    "NotFound", "MethodNotAllowed", "Conflict", "TooLarge", "UnsupportedMediaType",
    "InternalError", "Unavailable",
]

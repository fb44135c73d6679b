"""watch: a collective's changes as server-sent events, resumable.

Each change arrives as an Event with its WAL sequence number as `id`. When
the connection drops, the stream reconnects and asks for what follows the
last id it saw (Last-Event-ID), so nothing is missed or repeated; a new
Watch made with last_event_id=... resumes the same way after a restart.
"""
import http.client
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

from ._http import Transport, error_of
from .errors import ConnectionFailed

LINE_MAX = 8 << 20            # bytes in one event line: a change with a large embedding fits
READ_TIMEOUT_S = 45.0         # the server sends a heartbeat every 15 s
RECONNECT_TIMEOUT_S = 60.0    # give up when the server stays unreachable this long
_HELLO = re.compile(r"^ ?watching \S+ after (\d+)$")


@dataclass(frozen=True)
class Event:
    """One event: `event` is "change" (data: seq, op, entity, collective_id,
    entity_id, origin, hlc, fields) or "gap" (data: from, to: changes
    compacted away before they could be sent; resync those)."""

    id: Optional[int]
    event: str
    data: Dict[str, Any]


class Watch(Iterator[Event]):
    """Iterate for events; blocks until the next one. close() ends it.
    Opens the stream when made: API errors and ConnectionFailed raise then."""

    def __init__(self, transport: Transport, collective_id: str, after: Optional[int],
                 reconnect: bool = True, read_timeout: float = READ_TIMEOUT_S,
                 reconnect_timeout: float = RECONNECT_TIMEOUT_S) -> None:
        self._transport = transport
        self._path = f"/v1/collectives/{collective_id}/watch"
        #  The position to resume after: the last event's id, or where the
        #  server said the stream started.
        self.last_event_id: Optional[int] = after
        self._reconnect = reconnect
        self._read_timeout = read_timeout
        self._reconnect_timeout = reconnect_timeout
        self._retry_s = 1.0
        self._conn: Optional[http.client.HTTPConnection] = None
        self._resp: Optional[http.client.HTTPResponse] = None
        self._closed = False
        self.reconnects = 0
        #  Connected now, so that a watch from the head sees every change
        #  made after this returns; errors (404, 401, unreachable) raise here.
        self._reopen(first=True)

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._resp = None

    def _open(self, first: bool) -> None:
        """Connects; API errors (404 once the collective is deleted, 401) are
        raised. The position goes as ?from= the first time, then as
        Last-Event-ID, as a reconnecting EventSource sends it."""
        headers = {"Accept": "text/event-stream"}
        query = None
        if self.last_event_id is not None and first:
            query = {"from": self.last_event_id}
        elif self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        conn = self._transport.connect(self._read_timeout)
        try:
            conn.request("GET", self._transport.path(self._path, query),
                         headers=self._transport.headers(headers))
            resp = conn.getresponse()
        except (http.client.HTTPException, OSError):
            conn.close()
            raise
        if resp.status != 200:
            body = resp.read()
            conn.close()
            raise error_of(resp.status, body)
        self._conn, self._resp = conn, resp

    def _reopen(self, first: bool) -> None:
        deadline = time.monotonic() + self._reconnect_timeout
        while True:
            try:
                self._open(first)
                return
            except (http.client.HTTPException, OSError) as e:
                if first or not self._reconnect or time.monotonic() >= deadline:
                    raise ConnectionFailed(f"watch {self._transport.url}{self._path}: "
                                           f"{e!r}") from e
            time.sleep(self._retry_s)

    def _readline(self, resp: http.client.HTTPResponse) -> Optional[str]:
        """The next line without its end, or None when the stream ended or broke."""
        try:
            line = resp.readline(LINE_MAX + 1)
        except (http.client.HTTPException, OSError):
            return None
        except (AttributeError, ValueError):
            if self._closed:       # close() from another thread, mid-read
                return None
            raise
        if not line:
            return None
        if len(line) > LINE_MAX:
            raise ConnectionFailed(f"watch: an event line over {LINE_MAX} bytes")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def _read_event(self, resp: http.client.HTTPResponse) -> Optional[Event]:
        """Parses lines up to the next event; None when the stream ended."""
        kind, data, event_id = "message", [], None  # type: str, List[str], Optional[str]
        while True:
            line = self._readline(resp)
            if line is None:
                return None
            if line == "":
                if data:
                    return self._dispatch(kind, data, event_id)
                kind, event_id = "message", None
                continue
            if line.startswith(":"):
                hello = _HELLO.match(line[1:])
                if hello and self.last_event_id is None:
                    self.last_event_id = int(hello.group(1))
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                kind = value
            elif field == "id":
                event_id = value
            elif field == "retry" and value.isdigit():
                self._retry_s = min(int(value), 30000) / 1000.0

    def _dispatch(self, kind: str, data: List[str], event_id: Optional[str]) -> Event:
        seq = int(event_id) if event_id and event_id.isdigit() else None
        try:
            payload = json.loads("\n".join(data))
        except ValueError as e:
            raise ConnectionFailed(f"watch: event {event_id} has invalid JSON: {e}") from e
        if seq is not None:
            self.last_event_id = seq
        return Event(seq, kind, payload if isinstance(payload, dict) else {"value": payload})

    def __next__(self) -> Event:
        while not self._closed:
            if self._resp is None:
                self._reopen(first=False)
            assert self._resp is not None
            event = self._read_event(self._resp)
            if event is not None:
                return event
            #  Ended or broken: resume after the last event seen.
            self._drop()
            if not self._reconnect or self._closed:
                break
            self.reconnects += 1
            time.sleep(self._retry_s)
        raise StopIteration


__all__ = ["Event", "Watch"]

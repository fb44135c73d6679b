"""HTTP transport: keep-alive connections (one per thread), JSON bodies,
the bearer token, and errors turned into exceptions. Standard library only.
"""
import http.client
import json
import select
import ssl
import threading
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .errors import ConnectionFailed, PulseDBError, api_error

#  The gateway closes idle keep-alive connections after 30 s; a GET that
#  finds its reused connection closed is sent again once.
_RETRY_METHODS = frozenset({"GET", "HEAD"})
_ERROR_BODY_MAX = 64 << 10      # bytes of an error reply kept for its message


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether a kept-alive connection was closed by the server while idle
    (its socket is readable: EOF, or bytes nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Transport:
    """Sends requests to one gateway; safe to share between threads."""

    def __init__(self, url: str, token: Optional[str], timeout: float,
                 ssl_context: Optional[ssl.SSLContext]) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http://HOST[:PORT] or https://...: {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._ssl = ssl_context or (ssl.create_default_context() if self._https else None)
        self._local = threading.local()
        self._made: List[http.client.HTTPConnection] = []    # pooled ones, for close_all
        self._made_lock = threading.Lock()

    def clone(self) -> "Transport":
        """The same server and token with a pool of its own."""
        return Transport(self.url, self._token, self.timeout, self._ssl)

    # -- connections ------------------------------------------------------
    def connect(self, timeout: Optional[float] = None) -> http.client.HTTPConnection:
        """A new connection of its own (for streams), not pooled."""
        t = self.timeout if timeout is None else timeout
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=t,
                                               context=self._ssl)
        return http.client.HTTPConnection(self._host, self._port, timeout=t)

    def _pooled(self) -> Tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it was used before."""
        conn: Optional[http.client.HTTPConnection] = getattr(self._local, "conn", None)
        if conn is not None and not _dropped(conn):
            return conn, True
        self._discard()
        conn = self.connect()
        self._local.conn = conn
        with self._made_lock:
            self._made.append(conn)
        return conn, False

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        conn.close()
        self._local.conn = None
        with self._made_lock:
            if conn in self._made:
                self._made.remove(conn)

    def close(self) -> None:
        """Closes this thread's connection (others close when their thread ends)."""
        self._discard()

    def close_all(self) -> None:
        """Closes every pooled connection, of all threads. One in use by
        another thread fails its request; an idle one is replaced when next used."""
        with self._made_lock:
            made, self._made = self._made, []
        for conn in made:
            conn.close()

    # -- requests ---------------------------------------------------------
    def path(self, path: str, query: Optional[Mapping[str, Any]] = None) -> str:
        out = self._prefix + path
        if query:
            pairs = {k: ("true" if v is True else "false" if v is False else v)
                     for k, v in query.items() if v is not None}
            if pairs:
                out += "?" + urllib.parse.urlencode(pairs)
        return out

    def headers(self, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        out = {"Accept": "application/json", "User-Agent": "pulsedb-python/0.1"}
        if self._token:
            out["Authorization"] = f"Bearer {self._token}"
        out.update(extra or {})
        return out

    def request(self, method: str, path: str, body: Any = None, *,
                query: Optional[Mapping[str, Any]] = None, data: Optional[bytes] = None,
                content_type: str = "application/json") -> Any:
        """One request. `body` is sent as JSON; `data` as raw bytes with
        content_type. Returns the decoded JSON reply (text for other types,
        None for an empty one); raises an APIError for an error reply and
        ConnectionFailed when the server cannot be reached."""
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode()
        headers = self.headers({"Content-Type": content_type} if data is not None else None)
        target = self.path(path, query)
        while True:
            conn, reused = self._pooled()
            try:
                conn.request(method, target, body=data, headers=headers)
                resp = conn.getresponse()
                status, ctype, raw = resp.status, resp.getheader("Content-Type", ""), resp.read()
                if resp.will_close:
                    self._discard()
                break
            except (http.client.HTTPException, OSError) as e:
                self._discard()
                if reused and method in _RETRY_METHODS:
                    continue
                raise ConnectionFailed(f"{method} {self.url}{target}: {e!r}") from e
        return decode(status, ctype, raw)


def decode(status: int, content_type: str, raw: bytes) -> Any:
    """The reply's value, or the APIError it stands for."""
    if status >= 400:
        raise error_of(status, raw)
    if not raw:
        return None
    if content_type.startswith("application/json"):
        try:
            return json.loads(raw)
        except ValueError as e:
            raise PulseDBError(f"the server sent invalid JSON: {e}", status=status) from e
    return raw.decode("utf-8", "replace")


def error_of(status: int, raw: bytes) -> PulseDBError:
    """{"error": {"code", "message"[, "index"]}} as an exception; any other
    body (a proxy's page, /health's {"status", "reason"}) gives its text."""
    text = raw[:_ERROR_BODY_MAX].decode("utf-8", "replace")
    code, message, index = None, text.strip() or f"HTTP {status}", None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        code = doc["error"].get("code")
        message = str(doc["error"].get("message", message))
        index = doc["error"].get("index")      # a batch's refused item
    elif isinstance(doc, dict) and "reason" in doc:
        message = str(doc["reason"])
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        index = None
    return api_error(status, code if isinstance(code, str) else None, message, index)

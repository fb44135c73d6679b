"""PulseDB: the HTTP API of one PulseDB-C node, method by method.

Every method returns the server's JSON as plain dicts and lists (lists are
unwrapped from their {"collectives": [...]}-style envelope) and raises a
pulsedb.errors exception on failure.
"""
import os
import ssl
import urllib.parse
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from ._http import Transport
from .errors import PulseDBError
from .bulk import BATCH_MAX, CONCURRENCY_DEFAULT, ImportProgress, ImportResult, run_import
from .watch import READ_TIMEOUT_S, Watch

JSON = Dict[str, Any]
Vector = Sequence[float]

DEFAULT_URL = "http://127.0.0.1:7070"
TOKEN_ENV = "PULSEDB_TOKEN"       # as the `pulsedb` command reads it
URL_ENV = "PULSEDB_URL"
TIMEOUT_S = 30.0


def _seg(value: str) -> str:
    """One path segment: ids and peer names never reach into other paths."""
    return urllib.parse.quote(str(value), safe="")


def _fields(given: Dict[str, Any]) -> JSON:
    return {k: v for k, v in given.items() if v is not None}


class _Group:
    def __init__(self, http: Transport) -> None:
        self._http = http

    def _json(self, method: str, path: str, body: Any = None,
              query: Optional[Dict[str, Any]] = None) -> JSON:
        """A request whose reply is a JSON object."""
        value = self._http.request(method, path, body, query=query)
        if not isinstance(value, dict):
            raise PulseDBError(f"{method} {path}: expected a JSON object, got {value!r:.80}")
        return value

    def _items(self, method: str, path: str, key: str, body: Any = None) -> List[JSON]:
        """A request whose reply is {key: [objects]}: the list."""
        value = self._json(method, path, body).get(key)
        if not isinstance(value, list):
            raise PulseDBError(f"{method} {path}: expected a list in '{key}'")
        return value


class Collectives(_Group):
    def create(self, name: str, embedding_dim: int, owner: Optional[str] = None) -> JSON:
        """A new collective; Conflict when the name is taken."""
        return self._json("POST", "/v1/collectives", _fields(
            {"name": name, "embedding_dim": embedding_dim, "owner": owner}))

    def list(self) -> List[JSON]:
        return self._items("GET", "/v1/collectives", "collectives")

    def get(self, collective_id: str) -> JSON:
        return self._json("GET", f"/v1/collectives/{_seg(collective_id)}")

    def delete(self, collective_id: str) -> None:
        """Deletes the collective and everything in it (admin role)."""
        self._http.request("DELETE", f"/v1/collectives/{_seg(collective_id)}")

    def digest(self, collective_id: str) -> JSON:
        """{collective_id, digest, experiences, relations, insights}: the digest
        is equal on two nodes exactly when their contents are."""
        return self._json("GET", f"/v1/collectives/{_seg(collective_id)}/digest")


class Experiences(_Group):
    def create(self, collective_id: str, content: str, embedding: Vector, **fields: Any) -> JSON:
        """fields: type ({"kind": ...}), importance, confidence, domain, tags,
        related_files, source_agent, source_task. Returns the stored
        experience without its embedding."""
        body = {"content": content, "embedding": list(embedding), **_fields(fields)}
        return self._json("POST", f"/v1/collectives/{_seg(collective_id)}/experiences",
                                  body)

    def create_batch(self, collective_id: str, items: Sequence[JSON]) -> List[str]:
        """Creates 1 to 1000 experiences with one request, one storage
        transaction and one durable commit; each item is a body as for
        create ({"content", "embedding" or "embedding_b64", ...}), the whole
        request at most 1 MiB. Returns the new ids in item order. All or
        nothing: when one item is refused nothing is written, and the error
        (BadRequest, TooLarge, ...) names it in `index`, its position in
        items; a refusal of the request as a whole (no items, more than
        1000: TooLarge) has index None."""
        value = self._json("POST", f"/v1/collectives/{_seg(collective_id)}/experiences:batch",
                           {"experiences": list(items)})
        ids = value.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise PulseDBError(f"experiences:batch: expected a list of ids, got {value!r:.80}")
        return ids

    def get(self, experience_id: str) -> JSON:
        return self._json("GET", f"/v1/experiences/{_seg(experience_id)}")

    def patch(self, experience_id: str, **fields: Any) -> JSON:
        """Sets importance, confidence, domain, tags, related_files, archived."""
        return self._json("PATCH", f"/v1/experiences/{_seg(experience_id)}", fields)

    def delete(self, experience_id: str) -> None:
        self._http.request("DELETE", f"/v1/experiences/{_seg(experience_id)}")

    def reinforce(self, experience_id: str) -> JSON:
        """Counts one application of the experience by this node."""
        return self._json("POST", f"/v1/experiences/{_seg(experience_id)}/reinforce")

    def relations(self, experience_id: str) -> List[JSON]:
        """The relations from and to the experience."""
        return self._items("GET", f"/v1/experiences/{_seg(experience_id)}/relations",
                           "relations")

    def list(self, collective_id: str, limit: Optional[int] = None, cursor: Optional[str] = None,
             include_embedding: bool = False) -> JSON:
        """One page: {"experiences": [...], "next_cursor": id or None}."""
        return self._json(
            "GET", f"/v1/collectives/{_seg(collective_id)}/experiences",
            query={"limit": limit, "cursor": cursor, "include_embedding": include_embedding})

    def iter(self, collective_id: str, page_size: int = 100,
             include_embedding: bool = False) -> Iterator[JSON]:
        """Every experience of the collective, page by page."""
        cursor: Optional[str] = None
        while True:
            page = self.list(collective_id, page_size, cursor, include_embedding)
            yield from page["experiences"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def import_(self, collective_id: str, items: Iterable[JSON], *,
                batch_size: int = BATCH_MAX, concurrency: int = CONCURRENCY_DEFAULT,
                stop_on_error: bool = False,
                progress: Optional[Callable[[ImportProgress], None]] = None) -> ImportResult:
        """Creates one experience per item (each a body as for create:
        content, embedding or embedding_b64, ...) in batches of up to
        batch_size items (1..1000) and 1 MiB, `concurrency` requests in
        flight; items is read as it goes (a generator is fine). An item the
        server refuses is counted in the result with its index in items and
        the error, and the rest of its batch is sent again without it; the
        import goes on unless stop_on_error (then the items before the
        refused one are still written, none after), and stops when the
        server cannot be reached. progress(ImportProgress) is called after
        each request."""
        return run_import(self._http, _seg(collective_id), items, concurrency, stop_on_error,
                          progress, batch_size)


class Relations(_Group):
    def create(self, source: str, target: str, type: str, strength: Optional[float] = None,
               metadata: Optional[Dict[str, str]] = None) -> JSON:
        """type: supports, contradicts, elaborates, supersedes, implies, related_to."""
        return self._json("POST", "/v1/relations", _fields(
            {"source": source, "target": target, "type": type, "strength": strength,
             "metadata": metadata}))

    def get(self, relation_id: str) -> JSON:
        return self._json("GET", f"/v1/relations/{_seg(relation_id)}")

    def delete(self, relation_id: str) -> None:
        self._http.request("DELETE", f"/v1/relations/{_seg(relation_id)}")


class Insights(_Group):
    def create(self, collective_id: str, content: str, embedding: Vector, type: str,
               **fields: Any) -> JSON:
        """type: pattern, synthesis, abstraction, correlation; fields:
        source_ids, confidence, domain."""
        body = {"content": content, "embedding": list(embedding), "type": type,
                **_fields(fields)}
        return self._json("POST", f"/v1/collectives/{_seg(collective_id)}/insights",
                                  body)

    def get(self, insight_id: str) -> JSON:
        return self._json("GET", f"/v1/insights/{_seg(insight_id)}")

    def delete(self, insight_id: str) -> None:
        self._http.request("DELETE", f"/v1/insights/{_seg(insight_id)}")


class Sync(_Group):
    def status(self) -> JSON:
        """{instance_id, wal: {head, floor, held_back_by}, peers: [...], inbound: [...]}:
        per peer its state, lag_changes, lag_ms, wal_held_back, last success,
        errors and snapshot progress."""
        return self._json("GET", "/v1/sync/status")

    def peers(self) -> List[JSON]:
        """Configured and added peers (admin role)."""
        return self._items("GET", "/v1/sync/peers", "peers")

    def add_peer(self, name: str, address: str, direction: Optional[str] = None,
                 collectives: Optional[Sequence[str]] = None,
                 public_key: Optional[str] = None) -> JSON:
        """address: tcp://HOST:PORT or http(s)://HOST:PORT; direction: push,
        pull or both. The running syncer picks it up within a second."""
        return self._json("POST", "/v1/sync/peers", _fields(
            {"name": name, "address": address, "direction": direction,
             "collectives": list(collectives) if collectives is not None else None,
             "public_key": public_key}))

    def remove_peer(self, name: str) -> None:
        """Forgets an added peer and its cursors."""
        self._http.request("DELETE", f"/v1/sync/peers/{_seg(name)}")


class PulseDB(_Group):
    """A client for one node's gateway.

    url defaults to $PULSEDB_URL or http://127.0.0.1:7070; token (sent as
    'Authorization: Bearer') to $PULSEDB_TOKEN. Safe to share between
    threads: each keeps its own keep-alive connection."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 timeout: float = TIMEOUT_S, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        url = url or os.environ.get(URL_ENV) or DEFAULT_URL
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        super().__init__(Transport(url, token, timeout, ssl_context))
        self.collectives = Collectives(self._http)
        self.experiences = Experiences(self._http)
        self.relations = Relations(self._http)
        self.insights = Insights(self._http)
        self.sync = Sync(self._http)

    @property
    def url(self) -> str:
        return self._http.url

    def close(self) -> None:
        """Closes the kept-alive connections of every thread (a later request
        opens a new one). Streams from watch() have their own: close those."""
        self._http.close_all()

    def __enter__(self) -> "PulseDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None, *,
                query: Optional[Dict[str, Any]] = None, data: Optional[bytes] = None,
                content_type: str = "application/json") -> Any:
        """Any request, for what has no method here: the decoded reply, or an exception."""
        return self._http.request(method, path, body, query=query, data=data,
                                  content_type=content_type)

    def health(self) -> JSON:
        """{"status": "ok"}; Unavailable when storage does not answer."""
        return self._json("GET", "/health")

    def status(self) -> JSON:
        """{instance_id, version, wal: {head, floor}, counts: {...}}."""
        return self._json("GET", "/v1/status")

    def metrics(self) -> str:
        """Prometheus text."""
        return str(self._http.request("GET", "/metrics"))

    def search(self, collective_id: str, embedding: Vector, k: Optional[int] = None, *,
               domain: Optional[Sequence[str]] = None, type: Optional[str] = None,
               min_importance: Optional[float] = None,
               include_archived: Optional[bool] = None, exact: Optional[bool] = None,
               ef: Optional[int] = None) -> List[JSON]:
        """The k nearest experiences by cosine similarity: [{id, score, experience}].
        exact=True scans every vector even where the collective's approximate
        index could answer; ef sets how many candidates that index keeps."""
        body = _fields({"embedding": list(embedding), "k": k,
                        "domain": list(domain) if domain is not None else None, "type": type,
                        "min_importance": min_importance,
                        "include_archived": include_archived, "exact": exact, "ef": ef})
        return self._items("POST", f"/v1/collectives/{_seg(collective_id)}/search",
                           "results", body)

    def watch(self, collective_id: str, from_seq: Optional[int] = None, *,
              last_event_id: Optional[int] = None, reconnect: bool = True,
              read_timeout: float = READ_TIMEOUT_S) -> Watch:
        """The collective's changes after WAL sequence from_seq (0: the whole
        log; None: only new ones), or after last_event_id (the last Event.id
        a previous watch saw). Reconnects by itself, resuming after the last
        event, unless reconnect=False."""
        after = last_event_id if last_event_id is not None else from_seq
        return Watch(self._http, _seg(collective_id), after, reconnect, read_timeout)

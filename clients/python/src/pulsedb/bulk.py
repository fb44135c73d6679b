"""import_: many experiences in batches, a few requests in flight at once.

Items go to POST /v1/collectives/{id}/experiences:batch, up to BATCH_MAX
(and BODY_MAX bytes) a request, each batch written by one storage
transaction and one durable commit, several requests in parallel (each
worker thread keeps its own keep-alive connection). A batch is all or
nothing: when the server refuses one of its items, that item is counted as
failed and the others are sent again without it, as `pulsedb import` does.
Progress goes to a callback.
"""
import collections
import json
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

from ._http import Transport
from .errors import APIError, ConnectionFailed, PulseDBError, TooLarge, api_error

CONCURRENCY_DEFAULT = 4     # enough to fill a group commit, as `pulsedb import` does
CONCURRENCY_MAX = 64
ERRORS_KEPT = 1000          # failures kept with their item's index; the count is exact
BATCH_MAX = 1000            # items per request: the server's limit for a batch
BODY_MAX = 1 << 20          # bytes per request body: the server's limit (1 MiB)

_OPEN, _SEP, _CLOSE = b'{"experiences":[', b",", b"]}"


@dataclass(frozen=True)
class ImportProgress:
    """Where an import stands; passed to the progress callback after every
    request (a batch written, or refused for one of its items)."""

    done: int                 # items finished, imported or failed
    total: Optional[int]      # None when the input has no len()
    failed: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Items per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> Optional[float]:
        """Seconds left at the rate so far; None when unknown."""
        if self.total is None or self.rate == 0:
            return None
        return max(self.total - self.done, 0) / self.rate


@dataclass
class ImportResult:
    imported: int = 0
    failed: int = 0
    #  (index in the input, why) of the first ERRORS_KEPT failures.
    errors: List[Tuple[int, PulseDBError]] = field(default_factory=list)
    #  The import stopped early: stop_on_error, or the server became unreachable.
    stopped: bool = False
    elapsed_s: float = 0.0
    #  Requests sent (batches, and their rests sent again after a refusal).
    requests: int = 0


@dataclass
class _Batch:
    """Items of one request: each one's index in the input and its JSON."""

    indices: List[int] = field(default_factory=list)
    parts: List[bytes] = field(default_factory=list)
    size: int = len(_OPEN) + len(_CLOSE)

    def fits(self, part: bytes, most: int) -> bool:
        more = len(part) + (len(_SEP) if self.parts else 0)
        return len(self.parts) < most and self.size + more <= BODY_MAX

    def add(self, index: int, part: bytes) -> None:
        self.size += len(part) + (len(_SEP) if self.parts else 0)
        self.indices.append(index)
        self.parts.append(part)

    def body(self) -> bytes:
        return _OPEN + _SEP.join(self.parts) + _CLOSE

    def only(self, keep: Iterable[int]) -> "_Batch":
        """A batch of the items at these positions of this one."""
        out = _Batch()
        for i in keep:
            out.add(self.indices[i], self.parts[i])
        return out


def _encode(item: Any) -> bytes:
    """One item as the request carries it (as Transport encodes a body)."""
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _item_error(error: APIError, sent_at: int, index: int) -> APIError:
    """The refusal of one item, as the import reports it: its index in the
    input, the message without the request's "experiences[N]: " prefix."""
    prefix = f"experiences[{sent_at}]: "
    message = error.message[len(prefix):] if error.message.startswith(prefix) else error.message
    return api_error(error.status or 0, error.code, message, index)


def run_import(transport: Transport, collective_id: str, items: Iterable[Any],
               concurrency: int = CONCURRENCY_DEFAULT, stop_on_error: bool = False,
               progress: Optional[Callable[[ImportProgress], None]] = None,
               batch_size: int = BATCH_MAX) -> ImportResult:
    if not 1 <= concurrency <= CONCURRENCY_MAX:
        raise ValueError(f"concurrency must be 1..{CONCURRENCY_MAX}")
    if not 1 <= batch_size <= BATCH_MAX:
        raise ValueError(f"batch_size must be 1..{BATCH_MAX}")
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    path = f"/v1/collectives/{collective_id}/experiences:batch"
    #  A pool of its own, so its workers' connections can be closed at the end.
    transport = transport.clone()
    result = ImportResult()
    started = time.monotonic()
    source: Iterator[Tuple[int, Any]] = iter(enumerate(items))
    carried: List[Tuple[int, bytes]] = []     # read, but did not fit the last batch
    again: Deque[_Batch] = collections.deque()  # rests of refused batches, sent first
    pending: Dict["Future[Any]", _Batch] = {}

    def fail(index: int, error: PulseDBError) -> None:
        result.failed += 1
        if len(result.errors) < ERRORS_KEPT:
            result.errors.append((index, error))

    def next_batch() -> Optional[_Batch]:
        """Items from the input up to a full batch; None when it is used up.
        An item too large for any request fails here, without being sent."""
        batch = _Batch()
        while True:
            if carried:
                index, part = carried.pop()
            else:
                taken = next(source, None)
                if taken is None:
                    break
                index, part = taken[0], _encode(taken[1])
            if batch.fits(part, batch_size):
                batch.add(index, part)
            elif not _Batch().fits(part, 1):
                fail(index, TooLarge(f"item of {len(part)} bytes as JSON: a batch request "
                                     f"carries at most {BODY_MAX} (not sent)", index=index))
            else:
                carried.append((index, part))
                break
        return batch if batch.parts else None

    def fill(pool: ThreadPoolExecutor) -> None:
        #  No more items read than fill the requests in flight: the input is
        #  streamed, and nothing new is read after a stop (what `again`
        #  holds then is only the items before a refused one).
        while len(pending) < concurrency:
            if again:
                batch: Optional[_Batch] = again.popleft()
            elif result.stopped:
                return
            else:
                batch = next_batch()
            if batch is None:
                return
            future = pool.submit(transport.request, "POST", path, None, data=batch.body())
            pending[future] = batch
            result.requests += 1

    def refused(batch: _Batch, error: APIError) -> None:
        at = error.index
        if at is None or at >= len(batch.indices):
            #  The request as a whole: every item of it fails alike.
            for index in batch.indices:
                fail(index, error)
            result.stopped = result.stopped or stop_on_error
            return
        fail(batch.indices[at], _item_error(error, at, batch.indices[at]))
        #  Nothing of the batch was written. The items before the refused
        #  one passed; after a stop only they go again.
        keep = range(at) if stop_on_error else [i for i in range(len(batch.indices)) if i != at]
        if keep:
            again.appendleft(batch.only(keep))
        if stop_on_error:
            result.stopped = True

    def finish(future: "Future[Any]") -> None:
        batch = pending.pop(future)
        error = future.exception()
        if error is None:
            result.imported += len(batch.indices)
            return
        if isinstance(error, APIError):
            refused(batch, error)
            return
        if not isinstance(error, PulseDBError):
            raise error
        for index in batch.indices:
            fail(index, error)
        #  Unreachable: every further item would fail the same way (those
        #  waiting to go again are not sent, like the rest of the input).
        if isinstance(error, ConnectionFailed):
            result.stopped = True
            again.clear()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pulsedb-import") as pool:
        fill(pool)
        while pending:
            done, _ = wait(set(pending), return_when=FIRST_COMPLETED)
            for future in done:
                finish(future)
                if progress:
                    progress(ImportProgress(result.imported + result.failed, total,
                                            result.failed, time.monotonic() - started))
            fill(pool)
    transport.close_all()
    result.elapsed_s = time.monotonic() - started
    return result

"""import_: many experiences, a few requests in flight at once.

The API has no batch endpoint: each experience is one POST, and several run
in parallel (each worker thread keeps its own keep-alive connection) so
storage can commit them together. Progress goes to a callback.
"""
import itertools
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from ._http import Transport
from .errors import APIError, ConnectionFailed, PulseDBError

CONCURRENCY_DEFAULT = 4     # enough to fill a group commit, as `pulsedb import` does
CONCURRENCY_MAX = 64
ERRORS_KEPT = 1000          # failures kept with their item's index; the count is exact


@dataclass(frozen=True)
class ImportProgress:
    """Where an import stands; passed to the progress callback after every item."""

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


def run_import(transport: Transport, collective_id: str, items: Iterable[Dict[str, Any]],
               concurrency: int = CONCURRENCY_DEFAULT, stop_on_error: bool = False,
               progress: Optional[Callable[[ImportProgress], None]] = None) -> ImportResult:
    if not 1 <= concurrency <= CONCURRENCY_MAX:
        raise ValueError(f"concurrency must be 1..{CONCURRENCY_MAX}")
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    path = f"/v1/collectives/{collective_id}/experiences"
    #  A pool of its own, so its workers' connections can be closed at the end.
    transport = transport.clone()
    result = ImportResult()
    started = time.monotonic()
    source = iter(enumerate(items))
    pending: Set["Future[Any]"] = set()
    index_of: Dict["Future[Any]", int] = {}

    def fill(pool: ThreadPoolExecutor) -> None:
        #  No more items taken than requests in flight: the input is
        #  streamed, and nothing is sent after a stop.
        for index, item in itertools.islice(source, concurrency - len(pending)):
            future = pool.submit(transport.request, "POST", path, item)
            pending.add(future)
            index_of[future] = index

    def finish(future: "Future[Any]") -> None:
        index = index_of.pop(future)
        error = future.exception()
        if error is None:
            result.imported += 1
            return
        if not isinstance(error, PulseDBError):
            raise error
        result.failed += 1
        if len(result.errors) < ERRORS_KEPT:
            result.errors.append((index, error))
        #  Unreachable: every further item would fail the same way.
        if isinstance(error, ConnectionFailed) or (stop_on_error and isinstance(error, APIError)):
            result.stopped = True

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pulsedb-import") as pool:
        fill(pool)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                pending.discard(future)
                finish(future)
                if progress:
                    progress(ImportProgress(result.imported + result.failed, total,
                                            result.failed, time.monotonic() - started))
            if not result.stopped:
                fill(pool)
    transport.close_all()
    result.elapsed_s = time.monotonic() - started
    return result

"""Connecting to dask.distributed: a running scheduler by address, or a LocalCluster started here.

Used by the association scan (``AssocConfig.scheduler``) and the search's
evaluator (``SearchConfig.scheduler``). ``"local"`` starts a LocalCluster of
single-threaded worker processes on this machine and shuts it down with the
client; any other string is the address of a running scheduler
(``tcp://host:8786``), whose workers must see the same files as this process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from genopt.cores import usable_cores
from genopt.errors import GenoptError

#: How long :func:`connect` waits for a dask scheduler address to answer.
CONNECT_TIMEOUT = "30s"


def connect(scheduler: str, workers: int = 0) -> tuple[Any, list[Any]]:
    """A ``distributed.Client`` for ``scheduler`` and the objects to close when done (client first).

    Parameters
    ----------
    scheduler
        ``"local"``: start a LocalCluster of ``workers`` single-threaded worker
        processes (0: one per core this process may use), without dashboard
        and without the active memory manager.
        Otherwise the address of a running scheduler.
    workers
        Size of a local cluster; ignored for an address.

    Raises
    ------
    GenoptError
        dask.distributed is not installed, or the scheduler does not answer
        within :data:`CONNECT_TIMEOUT`.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is in the test extra
        raise GenoptError(f"scheduler {scheduler!r} needs dask.distributed: pip install 'genopt[dask]'") from exc
    if scheduler == "local":
        import dask

        # Without the active memory manager every worker keeps its copy of data broadcast to all (the search's
        # fitness, the scan's null model); with it dask trims them to one within seconds.
        with dask.config.set({"distributed.scheduler.active-memory-manager.start": False}):
            cluster = LocalCluster(
                n_workers=workers or usable_cores(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
        return Client(cluster), [cluster]
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise GenoptError(f"cannot connect to the dask scheduler {scheduler!r}: {exc}") from exc
    return client, []


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int = 0) -> Iterator[Any]:
    """Yield a client for ``scheduler`` (see :func:`connect`), or None when ``scheduler`` is None; close on exit."""
    if scheduler is None:
        yield None
        return
    client, owned = connect(scheduler, workers)
    try:
        yield client
    finally:
        client.close()
        for obj in owned:
            obj.close()

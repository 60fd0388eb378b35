"""Where candidates are evaluated: in-process, in local worker processes, or on dask.distributed.

An :class:`Evaluator` maps a list of candidates to their
:class:`~genopt.search.types.Evaluation` s, in the same order. The engines
hand it each generation's new candidates in one :meth:`Evaluator.map` call
(through :meth:`genopt.search.engine.BudgetedFitness.batch`); which
candidates are evaluated, and in what order the results are recorded, is
decided in the main process, so a search gives the same result for any
evaluator and any number of workers.

The fitness object (e.g. :class:`~genopt.search.fitness.CVFitness`, which
holds the pool genotype matrix) is sent to each worker once, when the
evaluator starts (on a dask cluster: see :class:`DaskEvaluator`), never
with each candidate. Evaluations run with BLAS
single-threaded (threadpoolctl), in the workers and in this process alike:
``jobs`` workers use ``jobs`` cores, and no evaluator splits a BLAS sum
differently from another.

Worker-side fitness caches are invisible to the main process: an
evaluator is meant to serve one fitness for one search (open it, run the
search, close it). Within a search every candidate is sent at most once
(again, to another worker, only if the worker that had it died), so a
worker reports ``cached`` True only for what the fitness had cached
before the evaluator started, as the in-process evaluator does; candidates
whose every CV fold was already fitted (the fitness's ``fold_keys``) are
served by :class:`~genopt.search.engine.BudgetedFitness` in the main
process and never sent. Results computed in workers are not added to the
main process's fitness cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from genopt.cluster import connect
from genopt.errors import GenoptError
from genopt.search.types import Candidate, Evaluation

__all__ = ["DaskEvaluator", "Evaluator", "ProcessEvaluator", "SerialEvaluator", "make_evaluator"]

#: Seconds a :class:`DaskEvaluator` waits on a cluster without workers before giving up.
NO_WORKERS_TIMEOUT = 300.0
#: Times a :class:`DaskEvaluator` scatters the fitness again within one batch after losing every copy.
MAX_RESCATTERS = 3


class _Fitness(Protocol):
    def evaluate(self, candidate: Candidate) -> Evaluation: ...


class Evaluator(Protocol):
    """Evaluates batches of candidates; results in input order."""

    def map(self, candidates: Sequence[Candidate]) -> list[Evaluation]: ...

    def close(self) -> None: ...


class SerialEvaluator:
    """Evaluate in this process, one candidate after another (``jobs = 1``).

    BLAS runs single-threaded here too, as in the workers of the parallel
    evaluators, so that no floating-point sum is split differently between
    threads and the fold AUCs agree bit for bit whatever the evaluator.
    """

    def __init__(self, fitness: _Fitness) -> None:
        self.fitness = fitness

    def map(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        with _one_thread():
            return [self.fitness.evaluate(c) for c in candidates]

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> SerialEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- worker side
#: The fitness a worker process evaluates with (set once by :func:`_init_worker`).
_WORKER_FITNESS: Any = None
#: threadpoolctl limiter kept alive for the worker's lifetime.
_THREAD_LIMIT: Any = None


def _load_compiled_libraries() -> None:
    """Import what loads the fitness's thread pools (BLAS via scipy, OpenMP via scikit-learn's boosting).

    threadpoolctl limits only libraries already loaded, so they are loaded first.
    """
    import scipy.linalg  # noqa: F401
    import sklearn.ensemble  # noqa: F401


def _one_thread() -> Any:
    """threadpoolctl limiter: BLAS and OpenMP pools at one thread (a context manager)."""
    from threadpoolctl import threadpool_limits

    _load_compiled_libraries()
    return threadpool_limits(limits=1)


def _single_threaded_blas() -> None:
    """Limit this (worker) process's BLAS/OpenMP pools to one thread, once for its lifetime."""
    global _THREAD_LIMIT
    if _THREAD_LIMIT is None:
        _THREAD_LIMIT = _one_thread()


def _init_worker(fitness: _Fitness) -> None:
    global _WORKER_FITNESS
    _WORKER_FITNESS = fitness
    _single_threaded_blas()


def _evaluate_in_worker(candidate: Candidate) -> Evaluation:
    result: Evaluation = _WORKER_FITNESS.evaluate(candidate)
    return result


def _evaluate_with(fitness: _Fitness, candidate: Candidate) -> Evaluation:
    """Dask task: evaluate with the worker's copy of the scattered fitness."""
    _single_threaded_blas()
    return fitness.evaluate(candidate)


# --------------------------------------------------------------------------- evaluators
class ProcessEvaluator:
    """Evaluate in ``jobs`` local worker processes.

    Workers are loky processes (joblib's executor: fresh interpreters, no
    fork of a process that may run threads, and no ``if __name__ ==
    "__main__"`` guard needed in the calling script); each receives
    ``fitness`` once, through the pool's initializer. Candidates are sent in
    chunks of about ``len(candidates) / (4 jobs)``.
    """

    def __init__(self, fitness: _Fitness, jobs: int) -> None:
        from joblib.externals.loky import ProcessPoolExecutor

        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.jobs = int(jobs)
        self._pool = ProcessPoolExecutor(max_workers=self.jobs, initializer=_init_worker, initargs=(fitness,))

    def map(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        if not candidates:
            return []
        chunk = max(1, len(candidates) // (4 * self.jobs))
        return list(self._pool.map(_evaluate_in_worker, candidates, chunksize=chunk))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ProcessEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskEvaluator:
    """Evaluate on a dask.distributed cluster.

    ``fitness`` is scattered to every worker (``broadcast=True``); each
    candidate is one task (``pure=False``: unique keys) taking the scattered
    future. dask's active memory manager, when running (its default; not
    in the ``"local"`` cluster of :func:`make_evaluator`), soon drops all
    copies but one, and a worker then fetches the fitness from another when
    it first needs it. Results are fetched as soon as each task finishes
    and the task is then released, so no result of a batch waits on a
    worker for the rest of the batch. ``owned`` objects (the client and a
    LocalCluster this evaluator started) are closed by :meth:`close`.

    When a worker dies (killed, out of memory, its machine lost), the
    scheduler re-runs the tasks it was running, or held unfetched results
    of, on the other workers (or on the replacement a nanny starts, which
    fetches the fitness from a worker holding it). A lost worker therefore
    costs only its own in-flight evaluations: the rest of the batch is not
    redone, the search does not restart, and the results are identical,
    since an evaluation is a pure function of the candidate and the
    fitness. If the dead worker held the last copy of the fitness, the
    batch's unfinished tasks are cancelled (one running on another worker
    is then repeated too), and this evaluator scatters the fitness again and
    resubmits the unfinished candidates (at most :data:`MAX_RESCATTERS`
    times per batch). dask gives a task up once more workers than its
    ``distributed.scheduler.allowed-failures`` setting (default 3) died
    while running it: a :class:`~genopt.errors.GenoptError` naming the
    candidate. A cluster left without workers for
    :data:`NO_WORKERS_TIMEOUT` seconds, and a lost scheduler, are
    GenoptErrors too, not endless waits.
    """

    def __init__(self, client: Any, fitness: _Fitness, owned: Sequence[Any] = ()) -> None:
        self.client = client
        self.address: str = client.scheduler.address
        self._owned = list(owned)
        self._fitness_object = fitness
        self._fitness = self._scatter()

    def map(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        results: dict[int, Evaluation] = {}
        rescattered = 0
        while len(results) < len(candidates):
            if self._fitness.status != "finished":  # every copy was lost with its workers
                if self.client.status != "running":
                    raise GenoptError(f"lost the connection to the dask scheduler at {self.address}")
                if rescattered == MAX_RESCATTERS:
                    raise GenoptError(
                        f"the dask cluster at {self.address} lost every copy of the fitness "
                        f"{MAX_RESCATTERS + 1} times in one batch ({len(candidates) - len(results)} candidates left)"
                    )
                self._fitness = self._scatter()
                rescattered += 1
            results.update(self._evaluate(candidates, [i for i in range(len(candidates)) if i not in results]))
        return [results[i] for i in range(len(candidates))]

    def _scatter(self) -> Any:
        """Send the fitness to every worker; a future for it."""
        try:
            return self.client.scatter(self._fitness_object, broadcast=True, hash=False, timeout=NO_WORKERS_TIMEOUT)
        except TimeoutError as exc:
            raise self._no_workers() from exc

    def _evaluate(self, candidates: Sequence[Candidate], todo: Sequence[int]) -> dict[int, Evaluation]:
        """Results of ``candidates[i]`` for ``i`` in ``todo``, except those cancelled because the fitness was lost."""
        from distributed import as_completed

        futures = self.client.map(
            _evaluate_with, [self._fitness] * len(todo), [candidates[i] for i in todo], pure=False
        )
        index = {future.key: i for future, i in zip(futures, todo, strict=True)}
        results: dict[int, Evaluation] = {}
        for done in as_completed(futures, with_results=True, raise_errors=False).batches():
            for future, result in done:
                if future.status == "error":
                    _raise_failure(future, candidates[index[future.key]])
                if future.status == "finished":  # else cancelled with the lost fitness: left to map to resubmit
                    results[index[future.key]] = result
                future.release()
        return results

    def _no_workers(self) -> GenoptError:
        return GenoptError(f"the dask cluster at {self.address} has had no workers for {NO_WORKERS_TIMEOUT:g} s")

    def close(self) -> None:
        for obj in self._owned:
            obj.close()
        self._owned = []

    def __enter__(self) -> DaskEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_failure(future: Any, candidate: Candidate) -> None:
    """Raise the error of a failed dask task: a GenoptError if its workers kept dying, else the fitness's own."""
    from distributed import KilledWorker

    exc = future.exception()
    if isinstance(exc, KilledWorker):
        raise GenoptError(
            f"dask gave up evaluating {candidate}: {exc.allowed_failures + 1} worker(s) died running it "
            f"(distributed.scheduler.allowed-failures = {exc.allowed_failures}); out of memory?"
        ) from None
    future.result()  # re-raises with the remote traceback


def make_evaluator(fitness: _Fitness, jobs: int = 1, scheduler: str | None = None) -> Evaluator:
    """The evaluator ``SearchConfig.jobs`` and ``SearchConfig.scheduler`` ask for.

    Parameters
    ----------
    fitness
        Object with ``evaluate(candidate) -> Evaluation``; picklable unless
        ``jobs == 1`` and ``scheduler`` is None.
    jobs
        Worker processes (1 and no scheduler: :class:`SerialEvaluator`).
    scheduler
        None: local processes (:class:`ProcessEvaluator` for ``jobs > 1``);
        ``"local"``: a dask ``LocalCluster`` of ``jobs`` single-threaded
        worker processes (no dashboard, no active memory manager, so that
        every worker keeps its copy of the fitness), closed with the
        evaluator; any other string: the address of a running dask
        scheduler to connect to (:func:`genopt.cluster.connect`).

    Raises
    ------
    GenoptError
        ``jobs < 1``, dask.distributed not installed, or the scheduler
        cannot be reached.
    """
    if jobs < 1:
        raise GenoptError(f"search jobs must be >= 1, got {jobs}")
    if scheduler is None:
        return SerialEvaluator(fitness) if jobs == 1 else ProcessEvaluator(fitness, jobs)
    client, owned = connect(scheduler, jobs)
    return DaskEvaluator(client, fitness, owned=[client, *owned])

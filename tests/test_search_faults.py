"""A dask worker lost mid-search costs only its own evaluations.

A GA search (the small synthetic setup of ``test_search_parallel``) runs on a
LocalCluster of two single-threaded worker processes. The fitness is wrapped
so that every evaluation logs ``start``/``done`` lines (worker pid, candidate)
to a file, and so that the first evaluation of one chosen candidate, in the
middle of a mid-search generation, SIGKILLs its own worker process (and, in
the second test, the other worker first: the scattered fitness is then lost
entirely). The kill waits :data:`DIES_AFTER` seconds into that evaluation, as
a worker dying during a long fit would: the results finished before it have
reached the client by then. The nannies start replacement workers.

From the log: every candidate of the serial run was evaluated; a candidate
evaluated twice ("re-executed") was first started in the generation of the
kill on a worker that was killed; and there are at most as many re-executed
candidates as killed workers (each single-threaded worker had one
evaluation running when it died). Had the search restarted, or the
generation been redone, or the dead worker's finished results of that
generation been recomputed, these would fail.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from test_search_parallel import BUDGET, assert_same_search, ga, pool_fitness  # noqa: E402

from genopt.search.evaluate import DaskEvaluator, make_evaluator  # noqa: E402
from genopt.search.fitness import CVFitness  # noqa: E402
from genopt.search.types import Candidate, Evaluation  # noqa: E402

#: Seconds the chosen evaluation runs before its worker is killed.
DIES_AFTER = 0.5


@dataclass
class DyingFitness:
    """CVFitness that logs each evaluation and kills its worker on the first evaluation of ``trigger``.

    ``victims`` are other worker pids killed (SIGKILL) first. ``marker`` is
    created exclusively by the one evaluation that kills, so the re-run of
    ``trigger`` on a replacement worker does not kill again.
    """

    fitness: CVFitness
    log: Path
    trigger: Candidate
    marker: Path
    victims: Sequence[int] = field(default_factory=tuple)

    def evaluate(self, candidate: Candidate) -> Evaluation:
        write(self.log, "start", os.getpid(), candidate)
        if candidate == self.trigger and self._claim():
            time.sleep(DIES_AFTER)
            for pid in set(self.victims) - {os.getpid()}:
                os.kill(pid, signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        result = self.fitness.evaluate(candidate)
        write(self.log, "done", os.getpid(), candidate)
        return result

    def _claim(self) -> bool:
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


class MarkingEvaluator:
    """Writes a ``map`` line to the log before each generation's batch goes to ``inner``."""

    def __init__(self, inner: DaskEvaluator, log: Path) -> None:
        self.inner = inner
        self.log = log

    def map(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        write(self.log, "map", os.getpid(), len(candidates))
        return self.inner.map(candidates)

    def close(self) -> None:
        self.inner.close()


def write(log: Path, event: str, pid: int, what: object) -> None:
    """Append one line (a single O_APPEND write, so lines of concurrent processes do not interleave)."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{event}\t{pid}\t{what!r}\n".encode())
    finally:
        os.close(fd)


def read_log(log: Path) -> list[tuple[str, int, str]]:
    rows = [line.split("\t") for line in log.read_text().splitlines()]
    return [(event, int(pid), what) for event, pid, what in rows]


def run_with_a_kill(tmp_path: Path, kill_all: bool) -> tuple[int, int]:
    """Search on a 2-worker cluster killing one (or both) workers; check the result and the cost.

    Returns
    -------
    tuple of int
        Evaluations executed in the workers (``start`` lines, including the
        killed ones) and distinct candidates evaluated.
    """
    serial = ga().run(pool_fitness(), BUDGET, seed=4)
    order = [e.candidate for e in serial.evaluations]
    trigger = order[BUDGET // 2 + 10]  # mid-search, in the middle of a generation of 20
    log = tmp_path / "evaluations.log"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    try:
        with distributed.Client(cluster) as probe:
            pids = sorted(probe.run(os.getpid).values())
        assert len(pids) == 2
        fitness = DyingFitness(pool_fitness(), log, trigger, tmp_path / "killed", tuple(pids) if kill_all else ())
        evaluator = make_evaluator(fitness, jobs=2, scheduler=cluster.scheduler_address)
        assert isinstance(evaluator, DaskEvaluator)
        try:
            on_dask = ga().run(fitness, BUDGET, seed=4, evaluator=MarkingEvaluator(evaluator, log))
        finally:
            evaluator.close()
    finally:
        cluster.close()
    assert_same_search(serial, on_dask)

    rows = read_log(log)
    starts = [(pid, what) for event, pid, what in rows if event == "start"]
    killer = next(pid for pid, what in starts if what == repr(trigger))
    killed = set(pids) if kill_all else {killer}
    assert killer in pids and (tmp_path / "killed").exists()  # the kill happened, in a first-generation worker
    assert {what for _, what in starts} == {repr(c) for c in order}  # each candidate evaluated...
    repeated = {what for what in {w for _, w in starts} if sum(w == what for _, w in starts) > 1}
    assert repr(trigger) in repeated  # ...the killed evaluation again, elsewhere

    # the generation of the kill: its map line and its first executions
    maps = [i for i, (event, _, _) in enumerate(rows) if event == "map"]
    kill_row = rows.index(("start", killer, repr(trigger)))
    batch_start = max(i for i in maps if i < kill_row)
    first_runs = {}
    for i, (event, pid, what) in enumerate(rows):
        if event == "start":
            first_runs.setdefault(what, (i, pid))
    for what in repeated:
        row, pid = first_runs[what]
        assert row > batch_start and pid in killed, f"{what} first ran in row {row} on pid {pid}"
    assert len(repeated) <= len(killed)
    assert len(starts) - len(first_runs) <= len(killed)  # nothing evaluated three times
    return len(starts), len(first_runs)


def test_a_worker_killed_mid_search_costs_only_its_evaluation(tmp_path: Path) -> None:
    executed, distinct = run_with_a_kill(tmp_path, kill_all=False)
    assert distinct == BUDGET and executed == BUDGET + 1


def test_losing_every_worker_and_the_scattered_fitness_mid_search(tmp_path: Path) -> None:
    executed, distinct = run_with_a_kill(tmp_path, kill_all=True)
    assert distinct == BUDGET and BUDGET + 1 <= executed <= BUDGET + 2

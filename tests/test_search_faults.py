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
generation been recomputed (as when results were gathered once the whole
batch had finished: 6 more in one run of the first test), these would fail. The search's evaluations,
best and chosen candidates are those of the serial run.

What cannot be survived ends in a one-line GenoptError, not a hang: a
cluster left without workers, a candidate whose evaluation kills every
worker that runs it (dask's ``allowed-failures``), a lost scheduler.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pytest

from genopt.errors import GenoptError

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402
from test_search_parallel import BUDGET, assert_same_search, ga, pool_fitness  # noqa: E402

from genopt.search.evaluate import DaskEvaluator, make_evaluator  # noqa: E402
from genopt.search.fitness import CVFitness  # noqa: E402
from genopt.search.types import Candidate, Evaluation  # noqa: E402

#: Seconds the chosen evaluation runs before its worker is killed.
DIES_AFTER = 1.0


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

    #: Times this class was pickled in this process (the main one: each scatter).
    pickled: ClassVar[int] = 0

    def __getstate__(self) -> dict[str, Any]:
        type(self).pickled += 1
        return self.__dict__.copy()

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


class Cost(NamedTuple):
    """What a search with a kill cost."""

    executed: int  # evaluations started in the workers, the killed ones included
    distinct: int  # distinct candidates evaluated
    scattered_again: bool  # whether the evaluator sent the fitness again after the kill


def run_with_a_kill(tmp_path: Path, kill_all: bool, memory_manager: bool = True) -> Cost:
    """Search on a 2-worker cluster killing one (or both) workers; check the result and the cost.

    ``memory_manager``: whether dask's active memory manager runs (it drops
    all copies of the scattered fitness but one between batches).
    """
    serial = ga().run(pool_fitness(), BUDGET, seed=4)
    order = [e.candidate for e in serial.evaluations]
    trigger = order[BUDGET // 2 + 10]  # mid-search, in the middle of a generation of 20
    log = tmp_path / "evaluations.log"
    with dask.config.set({"distributed.scheduler.active-memory-manager.start": memory_manager}):
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
        pickled = DyingFitness.pickled
        try:
            on_dask = ga().run(fitness, BUDGET, seed=4, evaluator=MarkingEvaluator(evaluator, log))
        finally:
            evaluator.close()
        scattered_again = DyingFitness.pickled > pickled
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
    first_runs: dict[str, tuple[int, int]] = {}
    for i, (event, pid, what) in enumerate(rows):
        if event == "start":
            first_runs.setdefault(what, (i, pid))
    for what in repeated:
        row, pid = first_runs[what]
        assert row > batch_start and pid in killed, f"{what} first ran in row {row} on pid {pid}"
    assert len(repeated) <= len(killed)
    assert len(starts) - len(first_runs) <= len(killed)  # nothing evaluated three times
    return Cost(len(starts), len(first_runs), scattered_again)


@pytest.mark.parametrize("memory_manager", [False, True])
def test_a_worker_killed_mid_search_costs_only_its_evaluation(tmp_path: Path, memory_manager: bool) -> None:
    cost = run_with_a_kill(tmp_path, kill_all=False, memory_manager=memory_manager)
    assert cost.distinct == BUDGET and cost.executed == BUDGET + 1
    if not memory_manager:  # every worker kept its copy: the survivor's served, none was sent again
        assert not cost.scattered_again


def test_losing_every_worker_and_the_scattered_fitness_mid_search(tmp_path: Path) -> None:
    cost = run_with_a_kill(tmp_path, kill_all=True)
    assert cost.distinct == BUDGET and BUDGET + 1 <= cost.executed <= BUDGET + 2
    assert cost.scattered_again


def test_the_local_cluster_keeps_a_copy_of_the_fitness_on_every_worker() -> None:
    evaluator = make_evaluator(pool_fitness(), jobs=2, scheduler="local")
    try:
        assert isinstance(evaluator, DaskEvaluator)
        evaluator.map([Candidate((i, i + 1), "ridge", (("alpha", 1.0),)) for i in range(8)])
        time.sleep(3)  # > the memory manager's 2 s interval, had it run
        held = evaluator.client.has_what()
    finally:
        evaluator.close()
    assert len(held) == 2 and all(len(keys) == 1 for keys in held.values())  # the fitness, results released


# ---------------------------------------------------------------- what cannot be survived: one-line errors
def test_a_cluster_left_without_workers_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    import genopt.search.evaluate as evaluate

    monkeypatch.setattr(evaluate, "NO_WORKERS_TIMEOUT", 1.0)
    cluster = distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None, silence_logs=50)
    try:
        address = cluster.scheduler_address
        evaluator = make_evaluator(pool_fitness(), jobs=1, scheduler=address)
        cands = [Candidate((i, i + 1), "ridge", (("alpha", 1.0),)) for i in range(6)]
        assert len(evaluator.map(cands)) == 6
        cluster.sync(cluster.workers[0].close)  # the only worker, holding the only copy of the fitness
        with pytest.raises(GenoptError, match=f"^the dask cluster at {re.escape(address)} has had no workers for 1 s$"):
            evaluator.map(cands)
        evaluator.close()
    finally:
        cluster.close()


def test_a_candidate_that_keeps_killing_workers_is_an_error(tmp_path: Path) -> None:
    trigger = Candidate((3, 4), "ridge", (("alpha", 1.0),))
    fitness = DyingFitness(pool_fitness(), tmp_path / "log", trigger, tmp_path / "killed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        )
    try:
        evaluator = make_evaluator(fitness, jobs=1, scheduler=cluster.scheduler_address)
        with pytest.raises(GenoptError, match=r"^dask gave up evaluating Candidate\(subset=\(3, 4\).*: 1 worker"):
            evaluator.map([Candidate((1, 2), "ridge", (("alpha", 1.0),)), trigger])
        evaluator.close()
    finally:
        cluster.close()


def test_losing_the_scheduler_mid_search_is_an_error_not_a_hang(tmp_path: Path) -> None:
    dask_cli = Path(sys.executable).with_name("dask")
    address_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    scheduler = subprocess.Popen(
        [dask_cli, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", address_file],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    worker = subprocess.Popen(
        [dask_cli, "worker", "--scheduler-file", address_file, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        with distributed.Client(scheduler_file=str(address_file), timeout=30) as probe:
            probe.wait_for_workers(1, timeout=30)
            address = probe.scheduler.address
        cands = [Candidate((i, i + 1), "ridge", (("alpha", 1.0),)) for i in range(6)]
        fitness = DyingFitness(pool_fitness(), tmp_path / "log", cands[3], tmp_path / "killed", (scheduler.pid,))
        evaluator = make_evaluator(fitness, jobs=1, scheduler=address)
        with pytest.raises(GenoptError, match=f"^lost the connection to the dask scheduler at {re.escape(address)}$"):
            evaluator.map(cands)
        evaluator.close()
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait()

"""Search checkpoints and deterministic resume: a crashed or killed search ends as an uninterrupted one.

Compared: evaluations (candidates, fold AUCs bit for bit, order), budget and
cache-hit counts, best, one-SE choice, Pareto front, and history apart from
``seconds``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genopt.errors import GenoptError
from genopt.search.checkpoint import Checkpoint, CheckpointState, read_checkpoint, write_checkpoint
from genopt.search.engine import GAEngine, GridSearch, RandomSearch, SearchEngine, SearchResult
from genopt.search.fitness import CVFitness, make_folds
from genopt.search.space import SearchSpace
from genopt.search.types import Candidate, Evaluation

TESTS = Path(__file__).resolve().parent


def pool_fitness() -> CVFitness:
    """The real fitness on a synthetic pool: 300 samples x 40 variants, 5 causal."""
    rng = np.random.default_rng(11)
    n, p = 300, 40
    g = rng.binomial(2, 0.35, size=(n, p)).astype(np.float64)
    liability = (g[:, [1, 8, 15, 22, 36]] - 0.7).sum(axis=1) + rng.normal(0, 1.2, n)
    y = (liability > np.median(liability)).astype(int)
    return CVFitness(g, rng.normal(size=(n, 2)), y, make_folds(y, k=3, seed=0), seed=0)


def space() -> SearchSpace:
    return SearchSpace(pool_size=40, max_variants=10, families=("ridge",))


class Crashing:
    """Delegates to a fitness; raises after ``after`` evaluations (a crash mid-search)."""

    def __init__(self, fitness: Any, after: int | None = None, sleep: float = 0.0) -> None:
        self.fitness = fitness
        self.after = after
        self.sleep = sleep
        self.calls = 0

    def evaluate(self, candidate: Candidate) -> Evaluation:
        if self.after is not None and self.calls >= self.after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        time.sleep(self.sleep)
        result: Evaluation = self.fitness.evaluate(candidate)
        return result


def assert_same_search(a: SearchResult, b: SearchResult) -> None:
    assert [e.candidate for e in a.evaluations] == [e.candidate for e in b.evaluations]
    for ea, eb in zip(a.evaluations, b.evaluations, strict=True):
        assert np.array_equal(ea.fold_aucs, eb.fold_aucs) and ea.cached == eb.cached
    assert (a.n_evaluations, a.n_cache_hits) == (b.n_evaluations, b.n_cache_hits)
    assert a.best.candidate == b.best.candidate and a.choose_one_se().candidate == b.choose_one_se().candidate
    assert [e.candidate for e in a.pareto_front()] == [e.candidate for e in b.pareto_front()]
    drop = [c for c in a.history_table().columns if c != "seconds"]
    assert a.history_table()[drop].equals(b.history_table()[drop])


def engines() -> list[SearchEngine]:
    sp = space()
    return [
        GAEngine(sp, population=16, size_penalty=0.002),
        GAEngine(sp, population=16, multi_objective=True),
        RandomSearch(sp, size_penalty=0.002, population=16),
        GridSearch(sp, family="ridge", population=16),
    ]


@pytest.mark.parametrize("engine", engines(), ids=["ga", "nsga2", "random", "grid"])
def test_resume_after_a_crash_ends_as_an_uninterrupted_run(engine: SearchEngine, tmp_path: Path) -> None:
    budget = 150
    whole = engine.run(pool_fitness(), budget, seed=3)
    path = tmp_path / "search.ckpt.json"
    with pytest.raises(RuntimeError, match="simulated crash"):
        engine.run(Crashing(pool_fitness(), after=90), budget, seed=3, checkpoint=Checkpoint(path, "inputs-1", every=2))
    state = read_checkpoint(path)
    assert not state.complete and state.generation >= 1 and (state.generation + 1) % 2 == 0
    assert 0 < len(state.evaluations) <= 90
    saved = len(state.evaluations)
    resumed_fitness = Crashing(pool_fitness())
    resumed = engine.run(resumed_fitness, budget, seed=3, checkpoint=Checkpoint(path, "inputs-1", every=2, resume=True))
    assert_same_search(whole, resumed)
    assert resumed_fitness.calls == budget - saved  # the checkpointed evaluations were not repeated
    final = read_checkpoint(path)
    assert final.complete and len(final.evaluations) == budget
    assert [h["seconds"] for h in resumed.history[: state.generation + 1]] == [
        h["seconds"] for h in state.history
    ]  # the replayed generations keep their original times
    assert np.all(np.diff([h["seconds"] for h in resumed.history]) >= 0)


def test_resuming_a_finished_search_evaluates_nothing(tmp_path: Path) -> None:
    engine = GAEngine(space(), population=16)
    path = tmp_path / "ck.json"
    first = engine.run(pool_fitness(), 100, seed=0, checkpoint=Checkpoint(path, "x", every=1))
    again_fitness = Crashing(pool_fitness(), after=0)  # any evaluation would raise
    again = engine.run(again_fitness, 100, seed=0, checkpoint=Checkpoint(path, "x", every=1, resume=True))
    assert_same_search(first, again)
    assert again_fitness.calls == 0


def test_resume_without_a_checkpoint_starts_afresh(tmp_path: Path) -> None:
    engine = GAEngine(space(), population=16)
    fresh = engine.run(pool_fitness(), 60, seed=2, checkpoint=Checkpoint(tmp_path / "none.json", "x", resume=True))
    assert_same_search(engine.run(pool_fitness(), 60, seed=2), fresh)
    assert read_checkpoint(tmp_path / "none.json").complete


def test_checkpoint_refuses_another_search(tmp_path: Path) -> None:
    engine = GAEngine(space(), population=16)
    path = tmp_path / "ck.json"
    engine.run(pool_fitness(), 40, seed=0, checkpoint=Checkpoint(path, "config-A", every=1))
    with pytest.raises(GenoptError, match="search inputs") as err:
        engine.run(pool_fitness(), 40, seed=0, checkpoint=Checkpoint(path, "config-B", resume=True))
    assert str(path) in str(err.value)
    with pytest.raises(GenoptError, match="seed: checkpoint 0, now 1"):
        engine.run(pool_fitness(), 40, seed=1, checkpoint=Checkpoint(path, "config-A", resume=True))
    with pytest.raises(GenoptError, match="engine"):
        RandomSearch(space()).run(pool_fitness(), 40, seed=0, checkpoint=Checkpoint(path, "config-A", resume=True))
    # a checkpoint this run does not reproduce (here: an edited candidate) is refused, not silently mixed in
    doc = json.loads(path.read_text())
    doc["evaluations"][5]["subset"] = [0, 1, 2]
    path.write_text(json.dumps(doc))
    with pytest.raises(GenoptError, match="evaluation 6 of this run") as err:
        engine.run(pool_fitness(), 40, seed=0, checkpoint=Checkpoint(path, "config-A", resume=True))
    assert str(path) in str(err.value)
    path.write_text("{not json")
    with pytest.raises(GenoptError, match="cannot read the search checkpoint"):
        engine.run(pool_fitness(), 40, seed=0, checkpoint=Checkpoint(path, "config-A", resume=True))


def test_checkpoint_file_round_trips_floats_exactly(tmp_path: Path) -> None:
    aucs = np.array([0.1 + 0.2, 2.0 / 3.0, np.nextafter(0.7, 1.0)])
    cand = Candidate((3, 17), "logistic_enet", (("C", 0.0316228), ("l1_ratio", 0.35)))
    state = CheckpointState(
        engine="ga",
        seed=9,
        budget=50,
        fingerprint="abc",
        generation=0,
        evaluations=[Evaluation(cand, aucs, cached=True)],
        history=[{"generation": 0, "best_fitness": float("nan"), "mean_fitness": -float("inf"), "seconds": 0.25}],
        initial=[cand],
    )
    write_checkpoint(tmp_path / "c.json", state)
    back = read_checkpoint(tmp_path / "c.json")
    assert back.evaluations[0].candidate == cand and back.evaluations[0].cached
    assert back.evaluations[0].fold_aucs.tobytes() == aucs.tobytes()
    assert np.isnan(back.history[0]["best_fitness"]) and back.history[0]["mean_fitness"] == -np.inf
    assert (back.engine, back.seed, back.budget, back.fingerprint, back.initial) == ("ga", 9, 50, "abc", [cand])
    assert not list(tmp_path.glob(".c.json.*"))  # written through a temporary file, renamed


# ---------------------------------------------------------------- a real kill
def kill_test_search(path: str, resume: bool, sleep: float) -> SearchResult:
    """The search the kill test runs (also in a subprocess): GA, checkpoint every generation."""
    engine = GAEngine(space(), population=16, size_penalty=0.002)
    fitness = Crashing(pool_fitness(), sleep=sleep)
    return engine.run(fitness, 200, seed=5, checkpoint=Checkpoint(Path(path), "kill-test", every=1, resume=resume))


def test_a_killed_search_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    path = tmp_path / "ck.json"
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); "
        f"from test_search_checkpoint import kill_test_search; kill_test_search({str(path)!r}, False, 0.02)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        generation = -1
        while generation < 2:
            assert proc.poll() is None, "the search ended before it could be killed"
            time.sleep(0.05)
            if path.exists():
                generation = read_checkpoint(path).generation
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = read_checkpoint(path)
    assert not killed_at.complete and 0 < len(killed_at.evaluations) < 200
    resumed = kill_test_search(str(path), True, 0.0)
    whole = kill_test_search(str(tmp_path / "other.json"), False, 0.0)
    assert_same_search(whole, resumed)
    assert resumed.n_evaluations == 200


def test_fingerprint_changes_with_any_input() -> None:
    import pandas as pd

    from genopt.config import SearchConfig
    from genopt.search.checkpoint import fingerprint

    y = np.array([0, 1, 1, 0, 1])
    ids = ["rs1", "rs2", "rs3"]
    base = fingerprint(SearchConfig(), ids, y)
    assert base == fingerprint(SearchConfig(), list(ids), y.copy()) == fingerprint(SearchConfig(), ids, pd.Series(y))
    flipped = y.copy()
    flipped[2] = 0
    others = [
        fingerprint(SearchConfig(budget=999), ids, y),
        fingerprint(SearchConfig(), ["rs1", "rs3", "rs2"], y),
        fingerprint(SearchConfig(), ids, flipped),
        fingerprint(SearchConfig(), ids, y.astype(np.float64)),
        fingerprint(SearchConfig(), [*ids, ""], y),
    ]
    assert len({base, *others}) == 1 + len(others)

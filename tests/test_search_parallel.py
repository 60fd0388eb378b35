"""Batched and parallel evaluation: the same search result for any evaluator and worker count.

The pool is synthetic (300 samples x 40 variants, 5 causal); the fitness is
the real :class:`CVFitness`: the searches use the ridge fast path (fast
enough for the default suite), the evaluator test also scikit-learn's
logistic regression.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from genopt.errors import GenoptError
from genopt.search.engine import BudgetedFitness, BudgetExhausted, GAEngine, RandomSearch, SearchResult
from genopt.search.evaluate import DaskEvaluator, ProcessEvaluator, SerialEvaluator, make_evaluator
from genopt.search.fitness import CVFitness, make_folds
from genopt.search.space import SearchSpace
from genopt.search.types import Candidate, Evaluation

BUDGET = 120


class CountingFitness(CVFitness):
    """CVFitness that counts how often it is pickled (in the process that pickles it)."""

    pickled = 0

    def __getstate__(self) -> dict[str, Any]:
        type(self).pickled += 1
        return self.__dict__.copy()


def pool_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Genotypes (300 x 40, 5 causal), covariates, outcome and 3 stratified folds."""
    rng = np.random.default_rng(7)
    n, p = 300, 40
    g = rng.binomial(2, 0.3, size=(n, p)).astype(np.float64)
    liability = (g[:, [2, 9, 17, 23, 31]] - 0.6).sum(axis=1) + rng.normal(0, 1.2, n)
    y = (liability > np.median(liability)).astype(int)
    return g, rng.normal(size=(n, 2)), y, make_folds(y, k=3, seed=0)


def pool_fitness(cls: type[CVFitness] = CVFitness) -> CVFitness:
    return cls(*pool_data(), seed=0)


def space() -> SearchSpace:
    return SearchSpace(pool_size=40, max_variants=10, families=("ridge",))


def ga() -> GAEngine:
    return GAEngine(space(), population=20, size_penalty=0.002)


def assert_same_search(a: SearchResult, b: SearchResult) -> None:
    assert [e.candidate for e in a.evaluations] == [e.candidate for e in b.evaluations]
    for ea, eb in zip(a.evaluations, b.evaluations, strict=True):
        assert np.array_equal(ea.fold_aucs, eb.fold_aucs) and ea.cached == eb.cached
    assert (a.n_evaluations, a.n_cache_hits) == (b.n_evaluations, b.n_cache_hits)
    assert a.best.candidate == b.best.candidate and a.choose_one_se().candidate == b.choose_one_se().candidate
    assert [e.candidate for e in a.pareto_front()] == [e.candidate for e in b.pareto_front()]
    drop = [c for c in a.history_table().columns if c != "seconds"]
    assert a.history_table()[drop].equals(b.history_table()[drop])


# ---------------------------------------------------------------- batch accounting
class Spy:
    """Evaluator recording its map calls; the fitness marks ``cached_for`` candidates as its own cache hits."""

    def __init__(self, cached_for: frozenset[Candidate] = frozenset()) -> None:
        self.calls: list[list[Candidate]] = []
        self.cached_for = cached_for

    def evaluate(self, candidate: Candidate) -> Evaluation:
        return Evaluation(candidate, np.array([0.5 + 0.01 * len(candidate.subset)] * 2), candidate in self.cached_for)

    def map(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        self.calls.append(list(candidates))
        return [self.evaluate(c) for c in candidates]

    def close(self) -> None:
        pass


def one_by_one(budgeted: BudgetedFitness, candidates: Sequence[Candidate]) -> list[Evaluation | None]:
    out: list[Evaluation | None] = []
    for c in candidates:
        try:
            out.append(budgeted(c))
        except BudgetExhausted:
            out.append(None)
    return out


def _outcome(results: Sequence[Evaluation | None]) -> list[Any]:
    return [None if e is None else (e.candidate, e.cached, tuple(e.fold_aucs)) for e in results]


def batched_vs_one_by_one(
    spy_type: type[Spy], n_pool: int, batch_size: int, n_batches: int, cached_every: int, budget: int, seed: int
) -> tuple[BudgetedFitness, Spy, list[Evaluation | None]]:
    """Request random batches (repeats within and across) in batches and one by one; assert equal outcomes.

    Returns the batched BudgetedFitness, its evaluator and the last batch's results.
    """
    rng = np.random.default_rng(seed)
    pool = [Candidate((i,), "ridge", (("alpha", 1.0),)) for i in range(n_pool)]
    batches = [[pool[i] for i in rng.integers(0, n_pool, size=batch_size)] for _ in range(n_batches)]
    cached_for = frozenset(pool[::cached_every]) if cached_every else frozenset()
    spy = spy_type(cached_for)
    batched = BudgetedFitness(spy, budget=budget, evaluator=spy)
    serial = BudgetedFitness(spy_type(cached_for), budget=budget)
    got: list[Evaluation | None] = []
    for batch in batches:
        got = batched.batch(batch)
        assert _outcome(got) == _outcome(one_by_one(serial, batch))
        assert (batched.evaluations, batched.cache_hits) == (serial.evaluations, serial.cache_hits)
        assert list(batched.seen) == list(serial.seen)
    return batched, spy, got


@pytest.mark.parametrize("cached", [False, True])
def test_batch_equals_one_by_one_requests(cached: bool) -> None:
    n_batches = 5
    batched, spy, got = batched_vs_one_by_one(Spy, 30, 12, n_batches, 4 if cached else 0, budget=17, seed=3)
    assert batched.evaluations == 17 and any(e is None for e in got)
    if not cached:  # the new candidates of a batch go to the evaluator in one call, none twice
        assert len(spy.calls) <= n_batches
        flat = [c for call in spy.calls for c in call]
        assert len(flat) == len(set(flat)) == 17


# ---------------------------------------------------------------- evaluators
def test_process_evaluator_sends_the_fitness_once_per_worker_and_keeps_order() -> None:
    fitness = pool_fitness(CountingFitness)
    cands = [Candidate(tuple(range(i % 7, i % 7 + 3)), "ridge", (("alpha", float(i + 1)),)) for i in range(60)]
    cands += [Candidate((1, 2, i), "logistic_l2", (("C", 0.1),)) for i in (5, 9)]
    CountingFitness.pickled = 0
    with ProcessEvaluator(fitness, jobs=2) as evaluator:
        got = evaluator.map(cands)
        again = evaluator.map(cands[::-1])
    assert 1 <= CountingFitness.pickled <= 2  # once per worker, not per candidate
    want = [fitness.evaluate(c) for c in cands]
    assert [e.candidate for e in got] == cands
    assert all(np.array_equal(g.fold_aucs, w.fold_aucs) for g, w in zip(got, want, strict=True))
    assert [e.candidate for e in again] == cands[::-1]


def test_make_evaluator_choices() -> None:
    fitness = pool_fitness()
    assert isinstance(make_evaluator(fitness, 1, None), SerialEvaluator)
    with pytest.raises(GenoptError, match="jobs must be >= 1"):
        make_evaluator(fitness, 0, None)
    evaluator = make_evaluator(fitness, 2, None)
    try:
        assert isinstance(evaluator, ProcessEvaluator) and evaluator.jobs == 2
    finally:
        evaluator.close()


def test_ga_gives_the_same_result_serial_with_two_processes_and_on_dask() -> None:
    fitness = pool_fitness()
    serial = ga().run(pool_fitness(), BUDGET, seed=4)
    assert serial.n_evaluations == BUDGET
    with ProcessEvaluator(fitness, jobs=2) as evaluator:
        two = ga().run(fitness, BUDGET, seed=4, evaluator=evaluator)
    assert_same_search(serial, two)
    assert fitness.evaluations == 0  # the workers evaluated (on their copies)

    CountingFitness.pickled = 0
    counting = pool_fitness(CountingFitness)
    evaluator = make_evaluator(counting, jobs=2, scheduler="local")
    try:
        assert isinstance(evaluator, DaskEvaluator)
        assert len(evaluator.client.scheduler_info()["workers"]) == 2
        on_dask = ga().run(counting, BUDGET, seed=4, evaluator=evaluator)
    finally:
        evaluator.close()
    assert_same_search(serial, on_dask)
    assert CountingFitness.pickled < 10  # scattered once (dask pickles it 3 times), not sent with each of 120 tasks


def test_random_search_gives_the_same_result_with_two_processes() -> None:
    engine = RandomSearch(space(), size_penalty=0.002, population=25)
    serial = engine.run(pool_fitness(), BUDGET, seed=1)
    fitness = pool_fitness()
    with ProcessEvaluator(fitness, jobs=2) as evaluator:
        two = engine.run(fitness, BUDGET, seed=1, evaluator=evaluator)
    assert_same_search(serial, two)
    assert len(serial.history) == math.ceil(BUDGET / 25)


def test_an_unreachable_scheduler_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import genopt.cluster as cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(GenoptError, match=r"cannot connect to the dask scheduler 'tcp://127\.0\.0\.1:9'"):
        make_evaluator(pool_fitness(), 2, "tcp://127.0.0.1:9")


def fold_pool_fitness() -> Any:
    """A per-fold-pool fitness (each column in a fold's pool with probability 0.7; columns 30-39 in none, as
    whole-part pool variants can be): a candidate's folds are often all fitted before, by different candidates."""
    from genopt.search.run import FoldPoolFitness

    in_pool = np.random.default_rng(3).random((3, 40)) < 0.7
    in_pool[:, 30:] = False
    g, covariates, y, folds = pool_data()
    return FoldPoolFitness(g, covariates, y, folds, in_pool, seed=0)


class FreshWorkerEvaluator:
    """Evaluates every batch on a new copy of the fitness, as a worker that joined a dask cluster just now."""

    def __init__(self, fitness: Any) -> None:
        self._state = pickle.dumps(fitness)

    def map(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        worker = pickle.loads(self._state)
        return [worker.evaluate(c) for c in candidates]

    def close(self) -> None:
        pass


def test_equivalent_candidates_count_the_same_whatever_the_workers_have_cached() -> None:
    """Workers cannot see this process's fitness caches; fold-level hits are served here, so the search is the same."""
    serial = ga().run(fold_pool_fitness(), BUDGET, seed=4)
    assert sum(e.cached for e in serial.evaluations) >= 2, "the setting should produce equivalent candidates"
    fresh = ga().run(fold_pool_fitness(), BUDGET, seed=4, evaluator=FreshWorkerEvaluator(fold_pool_fitness()))
    assert_same_search(serial, fresh)
    fitness = fold_pool_fitness()
    with ProcessEvaluator(fitness, jobs=2) as evaluator:
        two = ga().run(fitness, BUDGET, seed=4, evaluator=evaluator)
    assert_same_search(serial, two)


def test_a_candidate_whose_folds_were_all_fitted_by_others_is_free_here_and_on_fresh_workers() -> None:
    """Fold 0's pool is {0, 1}, fold 1's {0, 2}: (0, 1, 2) is (0, 1) in fold 0 and (0, 2) in fold 1."""
    from genopt.search.run import FoldPoolFitness

    g, covariates, y, folds = pool_data()
    in_pool = np.array([[True, True, False], [True, False, True]])

    def fitness() -> FoldPoolFitness:
        return FoldPoolFitness(g[:, :3], covariates, y, folds[:2], in_pool, seed=0)

    a, b, c = (Candidate(s, "ridge", (("alpha", 1.0),)) for s in ((0, 1), (0, 2), (0, 1, 2)))
    here = BudgetedFitness(fitness(), budget=10)
    fresh = BudgetedFitness(fitness(), budget=10, evaluator=FreshWorkerEvaluator(fitness()))
    for budgeted in (here, fresh):
        budgeted.batch([a, b])
        (got,) = budgeted.batch([c])
        assert got is not None and got.cached and (budgeted.evaluations, budgeted.cache_hits) == (2, 1)
    direct = fitness().evaluate(c)  # fitted from scratch: the same fold AUCs
    assert np.array_equal(here.seen[c].fold_aucs, direct.fold_aucs)
    assert np.array_equal(fresh.seen[c].fold_aucs, direct.fold_aucs)


class FoldSpy(Spy):
    """A Spy whose two folds depend on ``i // 2`` and ``i // 3`` of a one-variant candidate ``(i,)``."""

    def fold_keys(self, candidate: Candidate) -> list[int]:
        i = candidate.subset[0]
        return [i // 2, i // 3]

    def evaluate(self, candidate: Candidate) -> Evaluation:
        k0, k1 = self.fold_keys(candidate)
        return Evaluation(candidate, np.array([0.5 + 0.001 * k0, 0.6 + 0.001 * k1]), candidate in self.cached_for)


@pytest.mark.parametrize("cached", [False, True])
def test_batch_equals_one_by_one_requests_with_fold_level_hits(cached: bool) -> None:
    """Candidates whose folds were all fitted by others are free, in a batch as one by one, up to the budget."""
    batched, spy, got = batched_vs_one_by_one(FoldSpy, 60, 15, 6, 6 if cached else 0, budget=20, seed=5)
    free = [e for e in batched.seen.values() if e.cached and e.candidate not in spy.cached_for]
    assert free and batched.evaluations == 20 and any(e is None for e in got)
    sent = {c for call in spy.calls for c in call}
    assert not sent & {e.candidate for e in free}  # fold-level hits never reached the evaluator

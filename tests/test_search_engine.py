"""Search space encoding, the GA / random / grid engines, budget accounting, and the pygad behaviour they rely on.

The fitness here is a cheap deterministic stand-in with a planted optimum
(the real ``CVFitness`` is tested on its own): mean AUC rises 0.02 per
planted variant, falls 0.002 per other variant, and is best for
``logistic_l2`` at C = 0.1.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pygad
import pytest

from genopt.config import SearchConfig
from genopt.errors import GenoptError
from genopt.search.engine import (
    BudgetedFitness,
    BudgetExhausted,
    GAEngine,
    GridSearch,
    RandomSearch,
    SearchEngine,
    choose_one_se,
    make_engine,
    pareto_front,
)
from genopt.search.space import SearchSpace, mean_jaccard_distance
from genopt.search.types import Candidate, Evaluation

PLANTED = tuple(range(5, 300, 30))  # 10 planted variants of a 300-variant pool


class StandIn:
    """Deterministic fitness with a known optimum; counts its calls."""

    def __init__(self, planted: tuple[int, ...] = PLANTED, cached_for: frozenset[Candidate] = frozenset()) -> None:
        self.planted = set(planted)
        self.calls = 0
        self.cached_for = cached_for

    def evaluate(self, candidate: Candidate) -> Evaluation:
        self.calls += 1
        chosen = set(candidate.subset)
        auc = 0.5 + 0.02 * len(chosen & self.planted) - 0.002 * len(chosen - self.planted)
        if candidate.family == "logistic_l2":
            auc += 0.01 * (1.0 - abs(math.log10(candidate.param("C")) + 1.0) / 3.0)
        folds = np.array([auc - 0.004, auc - 0.001, auc + 0.001, auc + 0.004])
        return Evaluation(candidate, folds, cached=candidate in self.cached_for)


def space(**kw: Any) -> SearchSpace:
    return SearchSpace(pool_size=300, max_variants=50, **kw)


# ---------------------------------------------------------------- space
def test_decode_encode_round_trip_for_every_family() -> None:
    sp = space()
    candidates = [
        Candidate((3, 7, 299), "ridge", (("alpha", 10.0),)),
        Candidate((0,), "logistic_l2", (("C", 0.01),)),
        Candidate((1, 2), "logistic_l1", (("C", 3.16228),)),
        Candidate(tuple(range(50)), "logistic_enet", (("C", 0.1), ("l1_ratio", 0.35))),
        Candidate((10, 20), "gbm", (("learning_rate", 0.3), ("max_depth", 1.0))),
        Candidate((), "ridge", (("alpha", 1.0),)),
    ]
    for cand in candidates:
        solution = sp.encode(cand)
        assert len(solution) == sp.n_genes
        assert sp.decode(solution) == cand
    # and solution -> candidate -> solution -> same candidate for random genomes
    pop = sp.random_population(200, np.random.default_rng(3))
    for row in pop:
        cand = sp.decode(row)
        assert sp.decode(sp.encode(cand)) == cand
        assert (
            set(p for p, _ in cand.params)
            == {
                "ridge": {"alpha"},
                "logistic_l2": {"C"},
                "logistic_l1": {"C"},
                "logistic_enet": {"C", "l1_ratio"},
                "gbm": {"learning_rate", "max_depth"},
            }[cand.family]
        )


def test_decode_rounds_so_nearby_genes_share_a_cache_key() -> None:
    sp = space(families=("logistic_enet",))
    a = sp.encode(Candidate((1, 2), "logistic_enet", (("C", 0.1), ("l1_ratio", 0.5))))
    b = list(a)
    b[sp.family_gene + 2] = -1.04  # log10 C
    b[sp.family_gene + 3] = 0.51  # l1_ratio
    b[0], b[1] = 2, 1  # slot order and duplicates do not matter
    b[2] = 2
    assert sp.decode(b) == sp.decode(a)
    b[sp.family_gene + 2] = -1.06
    assert sp.decode(b).param("C") == pytest.approx(10**-1.1, rel=1e-5)


def test_encode_rejects_what_does_not_fit() -> None:
    sp = space(families=("ridge", "logistic_l2"))
    with pytest.raises(ValueError, match="max_variants"):
        sp.encode(Candidate(tuple(range(51)), "ridge", (("alpha", 1.0),)))
    with pytest.raises(ValueError, match="not searched"):
        sp.encode(Candidate((1,), "gbm", (("learning_rate", 0.1), ("max_depth", 2.0))))
    with pytest.raises(ValueError, match="outside"):
        sp.encode(Candidate((1,), "logistic_l2", (("C", 1e6),)))
    with pytest.raises(ValueError, match="outside the pool"):
        sp.encode(Candidate((300,), "ridge", (("alpha", 1.0),)))


def test_initial_population_holds_small_subsets() -> None:
    sp = space()
    pop = sp.random_population(2000, np.random.default_rng(0))
    sizes = np.array([sp.decode(row).n_variants for row in pop])
    assert sizes.min() >= 1 and sizes.max() <= 50
    assert np.median(sizes) <= 10  # log-uniform on [1, 50]: median 7
    assert 0.25 < np.mean(sizes <= 3) < 0.45  # P(size <= 3) = ln 4 / ln 51 = 0.35
    assert np.mean(sizes > 25) < 0.25
    gs = sp.gene_space()
    assert len(gs) == len(sp.gene_type()) == sp.n_genes
    assert np.all((pop[:, :50] >= -1) & (pop[:, :50] <= 299))


def test_mutation_does_not_drift_subsets_towards_half_the_slots() -> None:
    sp = space()
    rng = np.random.default_rng(1)
    pop = sp.random_population(300, rng)
    start = np.median([sp.decode(r).n_variants for r in pop])
    for _ in range(40):
        pop = sp.mutate(pop, rng)
    sizes = np.array([sp.decode(r).n_variants for r in pop])
    assert np.median(sizes) < start + 8  # uniform per-slot resampling would reach ~25
    assert np.all(sizes >= 1)


def test_mean_jaccard_distance() -> None:
    member = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    # pairs: (0,1) distance 0, (0,2) 1, (1,2) 1
    assert mean_jaccard_distance(member) == pytest.approx(2 / 3)
    assert mean_jaccard_distance(np.array([[1, 0, 1], [1, 1, 0]], dtype=bool)) == pytest.approx(1 - 1 / 3)


# ---------------------------------------------------------------- pygad behaviour relied on
def test_pygad_calls_fitness_with_three_arguments_and_keeps_elites_unevaluated() -> None:
    """What GAEngine relies on in pygad 3.

    fitness_func(ga, solution, index) with a per-gene-typed solution; elites
    (keep_elitism) are copied unchanged and not re-evaluated, so the best
    fitness of each generation never decreases; "stop" from on_generation
    stops the run; random_seed alone fixes the trajectory.
    """
    sp = SearchSpace(pool_size=40, max_variants=8, families=("logistic_l2", "ridge"))
    init = sp.random_population(12, np.random.default_rng(0))

    def run(seed: int, stop_at: int | None = None) -> tuple[list[Any], list[float], pygad.GA]:
        calls: list[Any] = []
        best: list[float] = []

        def fitness(ga: Any, solution: Any, index: Any) -> float:
            calls.append((tuple(solution), index))
            assert isinstance(index, int | np.integer)
            assert isinstance(solution[0], int | np.integer)
            assert isinstance(solution[sp.family_gene + 2], float | np.floating)
            return float(len(set(sp.decode(solution).subset) & {1, 2, 3, 4, 5}))

        def on_generation(ga: Any) -> str | None:
            best.append(float(np.max(ga.last_generation_fitness)))
            return "stop" if stop_at is not None and ga.generations_completed >= stop_at else None

        from genopt.search.engine import _to_object

        ga = pygad.GA(
            num_generations=6,
            num_parents_mating=6,
            fitness_func=fitness,
            initial_population=_to_object(init, sp),
            gene_space=sp.gene_space(),
            gene_type=sp.gene_type(),
            keep_elitism=2,
            parent_selection_type="tournament",
            crossover_type="uniform",
            mutation_type="random",
            mutation_num_genes=2,
            on_generation=on_generation,
            random_seed=seed,
            suppress_warnings=True,
        )
        ga.run()
        return calls, best, ga

    calls, best, ga = run(5)
    assert ga.generations_completed == 6
    # 12 initial evaluations, then at most 12 - 2 elites per generation
    assert len(calls) <= 12 + 6 * 10
    assert len(calls) >= 12 + 6 * 8
    assert all(b2 >= b1 for b1, b2 in itertools.pairwise(best))
    calls2, _, _ = run(5)
    assert calls2 == calls
    calls3, _, _ = run(6)
    assert calls3[:12] == calls[:12] and calls3 != calls  # same initial population, other trajectory
    _, best4, ga4 = run(5, stop_at=2)
    assert ga4.generations_completed == 2 and len(best4) == 2


# ---------------------------------------------------------------- budget
def test_budgeted_fitness_counts_evaluations_and_hits() -> None:
    warm = Candidate((1,), "ridge", (("alpha", 1.0),))
    fit = StandIn(cached_for=frozenset({warm}))
    budgeted = BudgetedFitness(fit, budget=2)
    a = Candidate((5,), "ridge", (("alpha", 1.0),))
    b = Candidate((6,), "ridge", (("alpha", 1.0),))
    budgeted(a)
    budgeted(a)  # repeat: served by the engine, fitness not called
    budgeted(warm)  # the fitness's own cache: free
    budgeted(b)
    assert (budgeted.evaluations, budgeted.cache_hits, fit.calls) == (2, 2, 3)
    with pytest.raises(BudgetExhausted):
        budgeted(Candidate((7,), "ridge", (("alpha", 1.0),)))
    budgeted(b)  # seen candidates stay available past the budget
    assert budgeted.cache_hits == 3 and fit.calls == 3


@pytest.mark.parametrize("budget", [7, 120, 333])
def test_every_engine_spends_exactly_the_budget(budget: int) -> None:
    sp = space(families=("ridge", "logistic_l2"))
    engines: list[SearchEngine] = [GAEngine(sp, population=30), RandomSearch(sp, population=30), GridSearch(sp)]
    for engine in engines:
        fit = StandIn()
        result = engine.run(fit, budget, seed=0)
        assert result.n_evaluations == budget == fit.calls, type(engine).__name__
        assert len(result.evaluations) == budget
        assert len({e.candidate for e in result.evaluations}) == budget
        assert result.history[-1]["evaluations"] == budget


# ---------------------------------------------------------------- GA
def test_ga_same_seed_same_result_other_seed_other_trajectory() -> None:
    sp = space()
    runs = [GAEngine(sp, population=30).run(StandIn(), 400, seed) for seed in (11, 11, 12)]
    key = [[e.candidate for e in r.evaluations] for r in runs]
    assert key[0] == key[1]
    assert runs[0].best.candidate == runs[1].best.candidate
    assert [h["best_fitness"] for h in runs[0].history] == [h["best_fitness"] for h in runs[1].history]
    assert key[0] != key[2]
    assert key[0][:30] != key[2][:30]


def test_ga_history_rows() -> None:
    sp = space()
    result = GAEngine(sp, population=30, keep_elitism=2).run(StandIn(), 300, seed=1)
    table = result.history_table()
    assert list(table["generation"]) == list(range(len(table)))
    assert table["evaluations"].iloc[0] == 30  # generation 0 = the initial population
    assert table["evaluations"].is_monotonic_increasing
    assert table["best_so_far"].is_monotonic_increasing
    # elitism: the best fitness in each generation's population never falls
    assert np.all(np.diff(table["best_fitness"].to_numpy()) >= -1e-12)
    assert table["diversity"].between(0.0, 1.0).all()
    assert table["diversity"].iloc[0] > 0.9  # random small subsets barely overlap
    assert table["seconds"].is_monotonic_increasing
    assert result.extra["generations"] == len(table) - 1


def test_ga_patience_and_generation_cap() -> None:
    sp = space()
    capped = GAEngine(sp, population=20, max_generations=3).run(StandIn(), 10_000, seed=0)
    assert capped.extra["generations"] == 3 and capped.n_evaluations <= 20 + 3 * 18
    flat = GAEngine(sp, population=20, patience=2).run(_Flat(), 10_000, seed=0)
    assert flat.extra["generations"] <= 3


class _Flat:
    def evaluate(self, candidate: Candidate) -> Evaluation:
        return Evaluation(candidate, np.array([0.6, 0.6]))


def test_ga_beats_random_search_on_a_planted_optimum() -> None:
    sp = space()
    budget = 1500
    ga_found, rs_found, ga_auc, rs_auc = [], [], [], []
    for seed in range(3):
        ga = GAEngine(sp, population=40, size_penalty=0.001).run(StandIn(), budget, seed)
        rs = RandomSearch(sp, population=40, size_penalty=0.001).run(StandIn(), budget, seed)
        ga_found.append(len(set(ga.best.candidate.subset) & set(PLANTED)))
        rs_found.append(len(set(rs.best.candidate.subset) & set(PLANTED)))
        ga_auc.append(ga.best.mean_auc)
        rs_auc.append(rs.best.mean_auc)
    # measured (seeds 0-4): GA best holds 9-10 of the 10 planted variants, random search 2-6
    assert min(ga_found) >= 8
    assert min(ga_found) > max(rs_found)
    assert min(ga_auc) > max(rs_auc) + 0.05


# ---------------------------------------------------------------- grid, random
def test_grid_is_top_k_by_order_times_strengths() -> None:
    sp = space(families=("ridge", "logistic_l2"))
    order = list(range(299, -1, -1))  # best p last column first
    grid = GridSearch(sp, "logistic_l2", ks=(1, 3), log10_strengths=(-2.0, 0.0), order=order).grid(100)
    assert [(c.subset, c.param("C")) for c in grid] == [
        ((299,), 0.01),
        ((299,), 1.0),
        ((297, 298, 299), 0.01),
        ((297, 298, 299), 1.0),
    ]
    auto = GridSearch(sp, "ridge").grid(100)
    assert 100 <= len(auto) <= 110
    assert {c.n_variants for c in auto} >= {1, 50}
    planted_first = PLANTED + tuple(i for i in range(300) if i not in PLANTED)
    result = GridSearch(sp, "logistic_l2", order=planted_first).run(StandIn(), 100, 0)
    assert set(result.best.candidate.subset) >= set(PLANTED)


def test_random_search_draws_from_the_space() -> None:
    sp = space(families=("gbm",))
    result = RandomSearch(sp, population=25).run(StandIn(), 100, seed=4)
    assert {e.candidate.family for e in result.evaluations} == {"gbm"}
    assert np.median([e.candidate.n_variants for e in result.evaluations]) <= 10
    again = RandomSearch(sp, population=25).run(StandIn(), 100, seed=4)
    assert [e.candidate for e in again.evaluations] == [e.candidate for e in result.evaluations]


def test_make_engine_from_config() -> None:
    sp = space()
    assert isinstance(make_engine(sp, SearchConfig()), GAEngine)
    assert isinstance(make_engine(sp, SearchConfig(engine="random")), RandomSearch)
    assert isinstance(make_engine(sp, SearchConfig(engine="grid")), GridSearch)
    with pytest.raises(GenoptError, match="engine = 'annealing'"):  # the config refuses it before make_engine
        SearchConfig(engine="annealing")


# ---------------------------------------------------------------- choosing
def _ev(n: int, mean: float, se: float, family: str = "ridge") -> Evaluation:
    # 4 folds with SD such that SD / 2 = se
    sd = 2 * se
    folds = mean + sd * np.array([-1.0, -1.0, 1.0, 1.0]) * math.sqrt(3 / 4)
    return Evaluation(Candidate(tuple(range(n)), family, (("alpha", 1.0),)), folds)


def test_one_se_rule_on_a_hand_made_example() -> None:
    evs = [
        _ev(30, 0.700, 0.010),
        _ev(12, 0.695, 0.020),
        _ev(5, 0.691, 0.005),
        _ev(5, 0.692, 0.030),
        _ev(2, 0.689, 0.001),
        _ev(40, 0.650, 0.001),
    ]
    assert evs[0].se_auc == pytest.approx(0.010)
    # best 0.700 +- 0.010 -> threshold 0.690: eligible sizes 30, 12, 5, 5; smallest 5, tie -> higher AUC
    assert choose_one_se(evs) is evs[3]
    evs.append(_ev(2, 0.690, 0.0))  # exactly on the threshold counts
    assert choose_one_se(evs) is evs[-1]
    assert choose_one_se([evs[5]]) is evs[5]
    with pytest.raises(ValueError):
        choose_one_se([])


def test_pareto_front_and_best_by_objective() -> None:
    evs = [_ev(30, 0.700, 0.01), _ev(12, 0.695, 0.01), _ev(12, 0.69, 0.01), _ev(20, 0.69, 0.01), _ev(1, 0.6, 0.01)]
    front = pareto_front(evs)
    assert front == [evs[4], evs[1], evs[0]]
    from genopt.search.engine import SearchResult

    result = SearchResult(evs, [], size_penalty=0.001, n_evaluations=5, n_cache_hits=0, engine="x")
    assert result.best is evs[1]  # 0.695 - 0.012 beats 0.700 - 0.030
    assert SearchResult(evs, [], 0.0, 5, 0, "x").best is evs[0]
    assert list(result.best_so_far()) == [0.7] * 5


# ---------------------------------------------------------------- NSGA-II
def test_nsga2_front_is_taken_over_all_evaluations_not_pygads_last_population() -> None:
    """pygad's ``pareto_fronts[0]`` covers only the final population; ours covers every evaluation."""
    sp = space()
    fit = StandIn()
    result = GAEngine(sp, population=30, multi_objective=True).run(fit, 600, seed=0)
    assert result.n_evaluations == 600 == fit.calls
    front = result.pareto_front()
    sizes = [e.candidate.n_variants for e in front]
    aucs = [e.mean_auc for e in front]
    assert sizes == sorted(set(sizes)) and aucs == sorted(aucs) and len(front) >= 3
    # nothing evaluated dominates a front point
    for point in front:
        assert not any(
            e.mean_auc >= point.mean_auc
            and e.candidate.n_variants <= point.candidate.n_variants
            and (e.mean_auc > point.mean_auc or e.candidate.n_variants < point.candidate.n_variants)
            for e in result.evaluations
        )
    theirs = result.extra["pygad_front"]
    assert theirs and all(any(e is t for e in result.evaluations) for t in theirs)
    # every point of pygad's front is matched or dominated by ours
    for t in theirs:
        best_at_size = max(e.mean_auc for e in front if e.candidate.n_variants <= t.candidate.n_variants)
        assert best_at_size >= t.mean_auc
    # the pitfall is real: in this seeded run 4 of pygad's 5 front points are dominated by earlier evaluations
    dominated = [
        t
        for t in theirs
        if any(e.mean_auc > t.mean_auc and e.candidate.n_variants <= t.candidate.n_variants for e in front)
    ]
    assert len(dominated) >= 1
    again = GAEngine(sp, population=30, multi_objective=True).run(StandIn(), 600, seed=0)
    assert [e.candidate for e in again.evaluations] == [e.candidate for e in result.evaluations]


# ---------------------------------------------------------------- with the real fitness
def test_ga_with_cv_fitness_on_simulated_genotypes() -> None:
    """GAEngine driving the real CVFitness (ridge fast path): budget and cache accounting agree."""
    from genopt.search.fitness import CVFitness, make_folds

    rng = np.random.default_rng(0)
    n, p = 400, 60
    g = rng.binomial(2, 0.3, size=(n, p)).astype(np.float64)
    causal = [3, 17, 29, 41, 55]
    liability = (g[:, causal] - 0.6).sum(axis=1) + rng.normal(0, 1.0, n)
    y = (liability > np.median(liability)).astype(int)
    cov = rng.normal(size=(n, 2))
    fit = CVFitness(g, cov, y, make_folds(y, k=4, seed=0))
    sp = SearchSpace(pool_size=p, max_variants=20, families=("ridge",))
    result = GAEngine(sp, population=30, size_penalty=0.002).run(fit, 300, seed=0)
    assert result.n_evaluations == 300 == fit.evaluations
    assert fit.cache_hits == 0  # in-run repeats are served by the engine
    best = set(result.best.candidate.subset)
    assert len(best & set(causal)) >= 4
    chosen = result.choose_one_se()
    assert chosen.candidate.n_variants <= result.best.candidate.n_variants
    # a second run on the same fitness replays the first run's candidates free from its cache,
    # then spends its own budget on new ones
    again = GAEngine(sp, population=30, size_penalty=0.002).run(fit, 300, seed=0)
    assert [e.candidate for e in again.evaluations][:300] == [e.candidate for e in result.evaluations]
    assert all(e.cached for e in again.evaluations[:300]) and not any(e.cached for e in again.evaluations[300:])
    assert again.n_evaluations == 300 and again.n_cache_hits >= 300 and fit.evaluations == 600
    assert again.best.mean_auc >= result.best.mean_auc


# ---------------------------------------------------------------- warm start, early stopping, progress
def test_encode_decode_round_trip_on_random_genomes() -> None:
    sp = space(families=("ridge", "logistic_l2", "logistic_l1", "logistic_enet", "gbm"))
    for row in sp.random_population(200, np.random.default_rng(4)):
        cand = sp.decode(row)
        assert sp.decode(sp.encode(cand)) == cand


@pytest.mark.parametrize("multi_objective", [False, True])
def test_warm_started_ga_holds_the_seeds_in_generation_0(multi_objective: bool) -> None:
    sp = space(families=("ridge", "logistic_l2"))
    seeds = [
        Candidate(PLANTED[:6], "logistic_l2", (("C", 0.1),)),
        Candidate(PLANTED[2:9], "ridge", (("alpha", 10.0),)),
        Candidate((1, 2), "logistic_l2", (("C", 1.0),)),
    ]
    cold = GAEngine(sp, population=20, multi_objective=multi_objective).run(StandIn(), 200, seed=0)
    warm = GAEngine(sp, population=20, multi_objective=multi_objective).run(StandIn(), 200, seed=0, initial=seeds)
    # generation 0 = the first 20 evaluations: the seeds first, then the same random draws as a cold start
    assert [e.candidate for e in warm.evaluations[:3]] == seeds
    assert [e.candidate for e in warm.evaluations[3:20]] == [e.candidate for e in cold.evaluations[3:20]]
    assert warm.history[0]["best_so_far"] >= StandIn().evaluate(seeds[1]).mean_auc - 0.002 * 7 - 1e-12
    rs = RandomSearch(sp, population=20).run(StandIn(), 50, seed=0, initial=seeds)
    assert [e.candidate for e in rs.evaluations[:3]] == seeds
    grid = GridSearch(sp, family="ridge", population=20).run(StandIn(), 50, seed=0, initial=seeds)
    assert [e.candidate for e in grid.evaluations[:3]] == seeds and grid.n_evaluations == 50


class _Slow(StandIn):
    def evaluate(self, candidate: Candidate) -> Evaluation:
        import time

        time.sleep(0.002)
        return super().evaluate(candidate)


def test_max_seconds_stops_the_run_before_the_budget() -> None:
    result = GAEngine(space(), population=20, max_seconds=0.5).run(_Slow(), 100_000, seed=0)
    seconds = [h["seconds"] for h in result.history]
    assert result.n_evaluations < 100_000
    # it stopped at the first generation that reached max_seconds, not before and not later
    assert seconds[-1] >= 0.5 and all(s < 0.5 for s in seconds[:-1])
    assert result.extra["generations"] == len(result.history) - 1
    assert result.history[-1]["evaluations"] == result.n_evaluations == len(result.evaluations)


def test_patience_stops_after_that_many_stale_generations() -> None:
    for patience in (1, 4):
        # without a size penalty every candidate scores 0.6: generation 0 sets the best, then all are stale
        result = GAEngine(space(), population=20, patience=patience, size_penalty=0.0).run(_Flat(), 100_000, seed=0)
        best = [h["best_so_far"] for h in result.history]
        assert result.extra["generations"] == patience == len(best) - 1
        assert result.n_evaluations < 100_000
    # a fitness that keeps improving is not stopped by the same patience
    improving = GAEngine(space(), population=20, patience=4, max_generations=12).run(StandIn(), 100_000, seed=0)
    best = np.array([h["best_so_far"] for h in improving.history])
    stale = [0]
    for prev, cur in itertools.pairwise(best):
        stale.append(0 if cur > prev + 1e-12 else stale[-1] + 1)
    assert all(s < 4 for s in stale[:-1])  # it ran on while improvements kept coming
    assert len(best) - 1 == 12 or stale[-1] == 4
    assert improving.extra["generations"] == len(best) - 1


def test_progress_callback_and_bar(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from genopt.search.engine import ProgressBar

    rows: list[tuple[dict[str, float], int]] = []
    result = GAEngine(space(), population=20).run(
        StandIn(), 120, seed=0, progress=lambda r, b: rows.append((dict(r), b))
    )
    assert [r for r, _ in rows] == result.history and {b for _, b in rows} == {120}
    GAEngine(space(), population=20).run(StandIn(), 120, seed=0, progress=True)
    assert capsys.readouterr().err == ""  # stderr is not a terminal here: no bar
    out = io.StringIO()
    bar = ProgressBar(force=True, file=out)
    GAEngine(space(), population=20).run(StandIn(), 120, seed=0, progress=bar)
    text = out.getvalue()
    assert "120/120" in text and f"best={result.history[-1]['best_so_far']:.4f}" in text
    assert f"hits={result.n_cache_hits}" in text and "evals=120" in text


def test_top_k_seeds_walk_the_pool_in_p_order() -> None:
    space = SearchSpace(pool_size=300, families=("ridge", "logistic_l1"), max_variants=40)
    seeds = space.top_k(8)
    sizes = [c.n_variants for c in seeds]
    assert sizes[0] == 1 and sizes[-1] == 40 and sizes == sorted(set(sizes))
    assert all(c.subset == tuple(range(c.n_variants)) for c in seeds)  # nested prefixes of the pool (best p first)
    assert [c.family for c in seeds] == ["ridge", "logistic_l1"] * 4
    assert all(space.decode(space.encode(c)) == c for c in seeds)
    small = SearchSpace(pool_size=3, families=("ridge",), max_variants=40)
    assert [c.subset for c in small.top_k(8)] == [(0,), (0, 1), (0, 1, 2)]  # sizes coincide: fewer seeds
    assert space.top_k(0) == []

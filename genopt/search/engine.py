"""Search engines over a :class:`SearchSpace`: pygad GA, random search, grid search.

All three implement :class:`SearchEngine` (``run(fitness, budget, seed) ->
SearchResult``) and share :class:`BudgetedFitness`, so they spend the same
evaluation budget the same way:

* an *evaluation* is a call of ``fitness.evaluate`` that fitted models
  (``Evaluation.cached`` False); the budget is a number of evaluations and is
  never exceeded: once it is spent, a candidate not seen before in this run is
  not evaluated (the GA gets fitness ``-inf`` for it and stops at the end of
  that generation);
* a *cache hit* is a candidate already evaluated in this run (served by the
  engine without calling the fitness again) or one the fitness served from
  its own cache (``cached`` True, e.g. from an earlier run); hits are free.

Single objective: ``mean CV AUC - size_penalty * n_variants``. The final pick
among all evaluations is made by :func:`choose_one_se` (smallest subset within
one standard error of the best mean AUC).

This is the only module that imports pygad.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import SearchConfig
from genopt.search.space import SearchSpace, mean_jaccard_distance
from genopt.search.types import Candidate, Evaluation

#: Columns of :meth:`SearchResult.history_table` (``history.tsv``).
HISTORY_COLUMNS = (
    "generation",
    "best_fitness",
    "mean_fitness",
    "best_so_far",
    "diversity",
    "distinct",
    "evaluations",
    "cache_hits",
    "seconds",
)


#: Engine defaults are SearchConfig's (one place for them).
_DEFAULT = SearchConfig()


class Fitness(Protocol):
    """What the engines need from a fitness function (e.g. ``CVFitness``)."""

    def evaluate(self, candidate: Candidate) -> Evaluation: ...


def objective(evaluation: Evaluation, size_penalty: float) -> float:
    """Single objective: mean CV AUC minus ``size_penalty`` per variant."""
    return evaluation.mean_auc - size_penalty * evaluation.candidate.n_variants


def choose_one_se(evaluations: Sequence[Evaluation]) -> Evaluation:
    """The one-standard-error rule.

    Among evaluations whose mean AUC is at least ``best.mean_auc -
    best.se_auc`` (``best``: highest mean AUC, ties to the smaller subset),
    return the one with the fewest variants; ties go to the higher mean AUC,
    then to the earlier evaluation.
    """
    if not evaluations:
        raise ValueError("no evaluations to choose from")
    order = list(range(len(evaluations)))
    best_i = min(order, key=lambda i: (-evaluations[i].mean_auc, evaluations[i].candidate.n_variants, i))
    best = evaluations[best_i]
    threshold = best.mean_auc - best.se_auc
    eligible = [i for i in order if evaluations[i].mean_auc >= threshold]
    pick = min(eligible, key=lambda i: (evaluations[i].candidate.n_variants, -evaluations[i].mean_auc, i))
    return evaluations[pick]


def pareto_front(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Non-dominated evaluations for (maximise mean AUC, minimise number of variants).

    One evaluation per front point, sorted by number of variants (ascending);
    among equal points the earliest evaluation is kept.
    """
    order = sorted(
        range(len(evaluations)), key=lambda i: (evaluations[i].candidate.n_variants, -evaluations[i].mean_auc, i)
    )
    front: list[Evaluation] = []
    best_auc = -math.inf
    for i in order:
        if evaluations[i].mean_auc > best_auc:
            front.append(evaluations[i])
            best_auc = evaluations[i].mean_auc
    return front


class BudgetExhausted(Exception):
    """Raised by :meth:`BudgetedFitness.__call__` when a new candidate would exceed the budget."""


class BudgetedFitness:
    """A fitness with a hard evaluation budget and this run's own memo.

    Parameters
    ----------
    fitness
        Object with ``evaluate(candidate) -> Evaluation``.
    budget
        Maximum number of evaluations that fit models (``cached`` False).

    Attributes
    ----------
    evaluations
        Evaluations spent so far (<= ``budget``).
    cache_hits
        Requests answered without fitting: repeats within this run plus
        results the fitness returned from its own cache.
    seen
        Every distinct candidate evaluated in this run, in first-request order.
    """

    def __init__(self, fitness: Fitness, budget: int) -> None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget}")
        self.fitness = fitness
        self.budget = int(budget)
        self.evaluations = 0
        self.cache_hits = 0
        self.seen: dict[Candidate, Evaluation] = {}

    @property
    def exhausted(self) -> bool:
        return self.evaluations >= self.budget

    def __call__(self, candidate: Candidate) -> Evaluation:
        """Evaluate ``candidate``; raises :class:`BudgetExhausted` for a new one past the budget."""
        known = self.seen.get(candidate)
        if known is not None:
            self.cache_hits += 1
            return known
        if self.exhausted:
            raise BudgetExhausted(candidate)
        result = self.fitness.evaluate(candidate)
        if result.cached:
            self.cache_hits += 1
        else:
            self.evaluations += 1
        self.seen[candidate] = result
        return result


@dataclass
class SearchResult:
    """What a search found.

    Attributes
    ----------
    evaluations
        Every distinct candidate evaluated, in first-evaluation order (for the
        Pareto front of AUC vs size, and for best-so-far curves).
    history
        Per-generation rows (dicts with :data:`HISTORY_COLUMNS`); for random
        and grid search one row per batch of ``population`` candidates.
    size_penalty
        The single objective's penalty per variant.
    n_evaluations, n_cache_hits
        Budget accounting (see :class:`BudgetedFitness`).
    engine
        ``"ga"``, ``"random"`` or ``"grid"``.
    """

    evaluations: list[Evaluation]
    history: list[dict[str, float]]
    size_penalty: float
    n_evaluations: int
    n_cache_hits: int
    engine: str
    extra: dict[str, Any] = field(default_factory=dict)

    def objective(self, evaluation: Evaluation) -> float:
        return objective(evaluation, self.size_penalty)

    @property
    def best(self) -> Evaluation:
        """Best evaluation by the single objective (ties: fewer variants, then earlier)."""
        if not self.evaluations:
            raise ValueError("the search evaluated nothing")
        i = min(
            range(len(self.evaluations)),
            key=lambda i: (-self.objective(self.evaluations[i]), self.evaluations[i].candidate.n_variants, i),
        )
        return self.evaluations[i]

    def choose_one_se(self) -> Evaluation:
        """:func:`choose_one_se` over all evaluations."""
        return choose_one_se(self.evaluations)

    def pareto_front(self) -> list[Evaluation]:
        """:func:`pareto_front` over all evaluations."""
        return pareto_front(self.evaluations)

    def best_so_far(self) -> npt.NDArray[np.float64]:
        """Best mean AUC after each evaluation, shape ``(len(evaluations),)``."""
        return np.maximum.accumulate(np.array([e.mean_auc for e in self.evaluations], dtype=np.float64))

    def history_table(self) -> pd.DataFrame:
        """History as a table with :data:`HISTORY_COLUMNS` (``history.tsv``)."""
        return pd.DataFrame(self.history, columns=list(HISTORY_COLUMNS))


class SearchEngine(Protocol):
    """One interface for the GA, random search and grid search."""

    def run(self, fitness: Fitness, budget: int, seed: int) -> SearchResult: ...


def _row(
    generation: int,
    values: Sequence[float],
    member: npt.NDArray[np.bool_],
    distinct: int,
    budgeted: BudgetedFitness,
    best_so_far: float,
    start: float,
) -> dict[str, float]:
    finite = np.array([v for v in values if np.isfinite(v)], dtype=np.float64)
    return {
        "generation": generation,
        "best_fitness": float(finite.max()) if finite.size else float("nan"),
        "mean_fitness": float(finite.mean()) if finite.size else float("nan"),
        "best_so_far": best_so_far,
        "diversity": mean_jaccard_distance(member),
        "distinct": distinct,
        "evaluations": budgeted.evaluations,
        "cache_hits": budgeted.cache_hits,
        "seconds": round(time.perf_counter() - start, 6),
    }


def _best_objective(budgeted: BudgetedFitness, size_penalty: float) -> float:
    return max((objective(e, size_penalty) for e in budgeted.seen.values()), default=float("nan"))


@dataclass
class GAEngine:
    """pygad genetic algorithm over ``space``.

    Population from :meth:`SearchSpace.random_population`; parents by
    tournament; uniform crossover (pygad's); mutation by
    :meth:`SearchSpace.mutate` (variant add/drop/swap moves, size-neutral);
    ``keep_elitism`` best solutions copied unchanged. Runs until the budget is
    spent, or ``max_generations`` / ``patience`` / ``max_seconds`` end it.
    Deterministic for a given seed: pygad gets ``random_seed=seed`` and the
    population and mutation draw from generators seeded from ``seed``.
    """

    space: SearchSpace
    size_penalty: float = _DEFAULT.size_penalty
    population: int = _DEFAULT.population
    parents_mating: int = _DEFAULT.parents_mating
    keep_elitism: int = _DEFAULT.keep_elitism
    tournament_k: int = _DEFAULT.tournament_k
    crossover_probability: float = _DEFAULT.crossover_probability
    mutations: float = _DEFAULT.mutations
    hyper_mutation: float = _DEFAULT.hyper_mutation
    max_generations: int | None = _DEFAULT.max_generations
    patience: int | None = _DEFAULT.patience
    max_seconds: float | None = _DEFAULT.max_seconds
    multi_objective: bool = _DEFAULT.multi_objective

    @classmethod
    def from_config(cls, space: SearchSpace, config: SearchConfig) -> GAEngine:
        return cls(
            space=space,
            size_penalty=config.size_penalty,
            population=config.population,
            parents_mating=config.parents_mating,
            keep_elitism=config.keep_elitism,
            tournament_k=config.tournament_k,
            crossover_probability=config.crossover_probability,
            mutations=config.mutations,
            hyper_mutation=config.hyper_mutation,
            max_generations=config.max_generations,
            patience=config.patience,
            max_seconds=config.max_seconds,
            multi_objective=config.multi_objective,
        )

    def generations_for(self, budget: int) -> int:
        """Generations the budget pays for if every new offspring is new.

        ``ceil((budget - population) / (population - keep_elitism))``; with
        repeats (cache hits) the budget lasts longer, so the run goes on until
        the budget is spent (capped by ``max_generations`` and at 20x this number).
        """
        per_generation = max(self.population - self.keep_elitism, 1)
        return max(math.ceil((budget - self.population) / per_generation), 1)

    def run(self, fitness: Fitness, budget: int, seed: int) -> SearchResult:
        import pygad

        space = self.space
        budgeted = BudgetedFitness(fitness, budget)
        init_rng, mutation_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        initial = space.random_population(self.population, init_rng)
        penalty = self.size_penalty
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        state = {"best": -math.inf, "stale": 0}

        def fitness_func(ga: Any, solution: Any, index: Any) -> float | list[float]:
            try:
                evaluation = budgeted(space.decode(solution))
            except BudgetExhausted:
                # pygad needs finite objective vectors: AUC 0 with one variant more than a genome holds
                return [0.0, -float(space.max_variants + 1)] if self.multi_objective else -math.inf
            if self.multi_objective:
                return [evaluation.mean_auc, -float(evaluation.candidate.n_variants)]
            return objective(evaluation, penalty)

        def mutation(offspring: Any, ga: Any) -> Any:
            mutated = space.mutate(offspring, mutation_rng, self.mutations, self.hyper_mutation)
            return mutated.astype(offspring.dtype) if offspring.dtype != object else _to_object(mutated, space)

        def record(ga: Any) -> str | None:
            pop = np.asarray(ga.population, dtype=np.float64)
            best = _best_objective(budgeted, penalty)
            distinct = len({tuple(r) for r in pop.tolist()})
            values = (
                [
                    objective(budgeted.seen[space.decode(r)], penalty)
                    if space.decode(r) in budgeted.seen
                    else -math.inf
                    for r in pop
                ]
                if self.multi_objective
                else list(ga.last_generation_fitness)
            )
            member = space.subset_matrix(pop)
            history.append(_row(ga.generations_completed, values, member, distinct, budgeted, best, start))
            if best > state["best"] + 1e-12:
                state["best"], state["stale"] = best, 0
            else:
                state["stale"] += 1
            if budgeted.exhausted:
                return "stop"
            if self.patience is not None and state["stale"] >= self.patience:
                return "stop"
            if self.max_seconds is not None and time.perf_counter() - start >= self.max_seconds:
                return "stop"
            return None

        def on_fitness(ga: Any, values: Any) -> None:
            if ga.generations_completed == 0 and not history:
                record(ga)

        n_generations = self.generations_for(budget) * 20
        if self.max_generations is not None:
            n_generations = min(n_generations, self.max_generations)
        ga = pygad.GA(
            num_generations=n_generations,
            num_parents_mating=min(self.parents_mating, self.population),
            fitness_func=fitness_func,
            initial_population=_to_object(initial, space),
            gene_space=space.gene_space(),
            gene_type=space.gene_type(),
            parent_selection_type="nsga2" if self.multi_objective else "tournament",
            K_tournament=self.tournament_k,
            keep_elitism=self.keep_elitism,
            crossover_type="uniform",
            crossover_probability=self.crossover_probability,
            mutation_type=mutation,
            on_generation=record,
            on_fitness=on_fitness,
            random_seed=seed,
            suppress_warnings=True,
            save_solutions=False,
            save_best_solutions=False,
        )
        ga.run()
        return SearchResult(
            evaluations=list(budgeted.seen.values()),
            history=history,
            size_penalty=penalty,
            n_evaluations=budgeted.evaluations,
            n_cache_hits=budgeted.cache_hits,
            engine="ga",
            extra={"generations": ga.generations_completed, "pygad_front": _pygad_front(ga, space, budgeted)},
        )


def _pygad_front(ga: Any, space: SearchSpace, budgeted: BudgetedFitness) -> list[Evaluation]:
    """The candidates of pygad's own first Pareto front (multi-objective runs; else empty).

    pygad's ``pareto_fronts[0]`` is the non-dominated set of the *final
    population* only (computed by its last parent selection), not of every
    solution evaluated during the run: use :meth:`SearchResult.pareto_front`
    (over all evaluations) for the front; this is kept for comparison.
    """
    fronts = getattr(ga, "pareto_fronts", None)
    if not fronts or ga.parent_selection_type != "nsga2":
        return []
    out: list[Evaluation] = []
    for row in fronts[0]:
        candidate = space.decode(ga.population[int(row[0])])
        if candidate in budgeted.seen and budgeted.seen[candidate] not in out:
            out.append(budgeted.seen[candidate])
    return out


def _to_object(values: npt.NDArray[np.float64], space: SearchSpace) -> npt.NDArray[Any]:
    """Solutions as pygad keeps mixed-type populations: an object array of Python ints and floats."""
    out = np.empty(values.shape, dtype=object)
    int_genes = [i for i, t in enumerate(space.gene_type()) if t is int]
    float_genes = [i for i, t in enumerate(space.gene_type()) if t is not int]
    out[:, int_genes] = np.rint(values[:, int_genes]).astype(np.int64).astype(object)
    out[:, float_genes] = values[:, float_genes].astype(object)
    return out


@dataclass
class RandomSearch:
    """Random candidates from the space, drawn as the GA's initial population is, until the budget is spent."""

    space: SearchSpace
    size_penalty: float = _DEFAULT.size_penalty
    population: int = _DEFAULT.population

    def run(self, fitness: Fitness, budget: int, seed: int) -> SearchResult:
        budgeted = BudgetedFitness(fitness, budget)
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        batches = 0
        max_batches = 100 * max(math.ceil(budget / self.population), 1)
        while not budgeted.exhausted and batches < max_batches:
            pop = self.space.random_population(self.population, rng)
            values = []
            for row in pop:  # one candidate per individual
                try:
                    values.append(objective(budgeted(self.space.decode(row)), self.size_penalty))
                except BudgetExhausted:
                    values.append(-math.inf)
            batches += 1
            history.append(
                _row(
                    batches - 1,
                    values,
                    self.space.subset_matrix(pop),
                    len({tuple(r) for r in pop.tolist()}),
                    budgeted,
                    _best_objective(budgeted, self.size_penalty),
                    start,
                )
            )
        return SearchResult(
            list(budgeted.seen.values()),
            history,
            self.size_penalty,
            budgeted.evaluations,
            budgeted.cache_hits,
            "random",
        )


def _log_grid(lo: float, hi: float, n: int) -> list[float]:
    return [round(float(x), 1) for x in np.linspace(lo, hi, n)] if n > 1 else [round((lo + hi) / 2.0, 1)]


@dataclass
class GridSearch:
    """Top-k pool variants by association p (``order``) x a grid of the family's regularisation strength.

    ``ks`` defaults to about sqrt(budget) distinct, roughly log-spaced sizes
    in [1, min(pool, max_variants)] and ``log10_strengths`` to an even grid
    over the family's bound (log10 alpha for ridge, log10 C otherwise) with
    ``ceil(budget / len(ks))`` points, so the grid covers the budget.
    Evaluated k-major (each k with all strengths) and stopped when the budget
    is spent (the largest k may then miss its last strengths); a grid given
    explicitly that is smaller than the budget spends less.
    ``order`` lists pool columns best p first (default: column order, as the
    pool builder writes it).
    """

    space: SearchSpace
    family: str = "logistic_l2"
    size_penalty: float = _DEFAULT.size_penalty
    population: int = _DEFAULT.population
    ks: Sequence[int] | None = None
    log10_strengths: Sequence[float] | None = None
    order: Sequence[int] | None = None

    def grid(self, budget: int) -> list[Candidate]:
        """The grid's candidates in evaluation order."""
        space = self.space
        if self.family not in space.families:
            raise ValueError(f"grid family {self.family!r} is not in the space's families {space.families}")
        order = list(self.order) if self.order is not None else list(range(space.pool_size))
        k_max = min(len(order), space.max_variants)
        if self.ks is not None:
            ks = [int(k) for k in self.ks]
        else:
            n_k = max(1, min(k_max, math.ceil(math.sqrt(budget))))
            ks = sorted({round(float(k)) for k in np.geomspace(1, k_max, n_k)})
        if self.log10_strengths is not None:
            strengths = [round(float(s), 1) for s in self.log10_strengths]
        else:
            bounds = space.log10_alpha if self.family == "ridge" else space.log10_C
            strengths = _log_grid(bounds[0], bounds[1], max(1, math.ceil(budget / len(ks))))
        out = []
        for k in ks:
            subset = tuple(sorted(order[:k]))
            for s in strengths:
                params: dict[str, float] = {"alpha" if self.family == "ridge" else "C": float(f"{10.0**s:.6g}")}
                if self.family == "logistic_enet":
                    params["l1_ratio"] = 0.5
                if self.family == "gbm":
                    raise ValueError("grid search is over linear families (ridge, logistic_*)")
                out.append(Candidate(subset, self.family, tuple(sorted(params.items()))))
        return out

    def run(self, fitness: Fitness, budget: int, seed: int) -> SearchResult:
        budgeted = BudgetedFitness(fitness, budget)
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        grid = self.grid(budget)
        for b in range(0, len(grid), self.population):
            batch = grid[b : b + self.population]
            values = []
            for cand in batch:
                try:
                    values.append(objective(budgeted(cand), self.size_penalty))
                except BudgetExhausted:
                    values.append(-math.inf)
            member = np.zeros((len(batch), self.space.pool_size), dtype=bool)
            for i, cand in enumerate(batch):
                member[i, list(cand.subset)] = True
            history.append(
                _row(
                    b // self.population,
                    values,
                    member,
                    len(set(batch)),
                    budgeted,
                    _best_objective(budgeted, self.size_penalty),
                    start,
                )
            )
            if budgeted.exhausted:
                break
        return SearchResult(
            list(budgeted.seen.values()),
            history,
            self.size_penalty,
            budgeted.evaluations,
            budgeted.cache_hits,
            "grid",
            extra={"grid_size": len(grid)},
        )


def make_engine(space: SearchSpace, config: SearchConfig, order: Sequence[int] | None = None) -> SearchEngine:
    """The engine ``config.engine`` names, configured from ``config``."""
    if config.engine == "ga":
        return GAEngine.from_config(space, config)
    if config.engine == "random":
        return RandomSearch(space, config.size_penalty, config.population)
    if config.engine == "grid":
        family = "logistic_l2" if "logistic_l2" in space.families else space.families[0]
        return GridSearch(space, family, config.size_penalty, config.population, order=order)
    raise ValueError(f"unknown search engine {config.engine!r}; expected ga, random or grid")

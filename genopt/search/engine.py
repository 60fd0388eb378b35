"""Search engines over a :class:`SearchSpace`: pygad GA, random search, grid search.

All three implement :class:`SearchEngine` (``run(fitness, budget, seed, *,
evaluator, checkpoint, progress, initial) -> SearchResult``) and share
:class:`BudgetedFitness`, so they spend the same evaluation budget the same way:

* an *evaluation* is a call of ``fitness.evaluate`` that fitted models
  (``Evaluation.cached`` False); the budget is a number of evaluations and is
  never exceeded: once it is spent, a candidate not seen before in this run is
  not evaluated (the GA gets fitness ``-inf`` for it and stops at the end of
  that generation);
* a *cache hit* is a candidate already evaluated in this run (served by the
  engine without calling the fitness again) or one the fitness served from
  its own cache (``cached`` True, e.g. from an earlier run); hits are free.

Each generation (GA) or batch of ``population`` candidates (random, grid)
goes to :meth:`BudgetedFitness.batch` at once: which candidates are repeats
and which new ones fit in the budget is decided in the main process, in
order, and the new ones are evaluated by one
:meth:`~genopt.search.evaluate.Evaluator.map` call, in this process or in
worker processes / on dask (:mod:`genopt.search.evaluate`). The result is
the same for every evaluator and worker count, and the same as evaluating
one candidate after another.

A :class:`~genopt.search.checkpoint.Checkpoint` writes the evaluations and
history every few generations; a resumed run replays the search from the
same seed, serving the checkpointed results in order (counted as they were
counted then), and continues with real evaluations once they run out, so
it ends exactly as an uninterrupted run (apart from the ``seconds`` column).

Single objective: ``mean CV AUC - size_penalty * n_variants``. The final pick
among all evaluations is made by :func:`choose_one_se` (smallest subset within
one standard error of the best mean AUC).

This is the only module that imports pygad.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import SearchConfig
from genopt.errors import GenoptError
from genopt.search.checkpoint import Checkpoint, CheckpointState, same_history, write_checkpoint
from genopt.search.evaluate import Evaluator, SerialEvaluator
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
        Object with ``evaluate(candidate) -> Evaluation``, and optionally
        ``fold_keys(candidate) -> Sequence[Hashable]``, one key per CV fold:
        fold ``i``'s AUC depends only on key ``i``, so a candidate whose every
        key was met before is not fitted again.
    budget
        Maximum number of evaluations that fit models (``cached`` False).
    evaluator
        Evaluates the new candidates of a batch (default: in this process,
        :class:`~genopt.search.evaluate.SerialEvaluator` of ``fitness``).
    replay
        Results of an earlier run of the same search (a checkpoint's
        evaluations, in order): the first new candidates must be these, in
        this order, and are served from here, counted as they were counted
        then (evaluation, or cache hit if ``cached``).
    replay_source
        Where ``replay`` came from (named in the error if the run departs from it).

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

    def __init__(
        self,
        fitness: Fitness,
        budget: int,
        evaluator: Evaluator | None = None,
        replay: Sequence[Evaluation] = (),
        replay_source: str | Path | None = None,
    ) -> None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget}")
        self.fitness = fitness
        self.budget = int(budget)
        self.evaluator: Evaluator = evaluator if evaluator is not None else SerialEvaluator(fitness)
        self.evaluations = 0
        self.cache_hits = 0
        self.seen: dict[Candidate, Evaluation] = {}
        self._fold_keys: Callable[[Candidate], Sequence[Hashable]] | None = getattr(fitness, "fold_keys", None)
        self._fold_auc: dict[tuple[int, Hashable], float] = {}
        self._replay = list(replay)
        self._replay_source = replay_source

    @property
    def exhausted(self) -> bool:
        return self.evaluations >= self.budget

    @property
    def replaying(self) -> bool:
        """Whether results of the replayed run remain to be served."""
        return len(self.seen) < len(self._replay)

    def __call__(self, candidate: Candidate) -> Evaluation:
        """Evaluate ``candidate``; raises :class:`BudgetExhausted` for a new one past the budget."""
        result = self.batch([candidate])[0]
        if result is None:
            raise BudgetExhausted(candidate)
        return result

    def batch(self, candidates: Sequence[Candidate]) -> list[Evaluation | None]:
        """Evaluate a generation's candidates; None where the budget was spent.

        The outcome (results, counters, order of :attr:`seen`) is that of
        requesting the candidates one by one in order, in this process: a
        candidate seen before, or repeated within the batch, is a cache hit;
        so is one whose every fold the fitness has fitted before (its
        ``fold_keys``, e.g. the candidate's variants in each fold's pool,
        all met in earlier candidates), served with those folds' AUCs; each
        other new one is evaluated while evaluations < budget, else gets
        None. The new ones are evaluated in one :meth:`Evaluator.map` call
        (more only when the fitness answers some from its own cache, which
        frees budget for the next ones, or when replayed results run out
        within the batch). Fold-level hits are decided here and never reach
        the evaluator, so worker processes, whose fitness caches this process
        cannot see, give the same outcome as this process.
        """
        fresh = list(dict.fromkeys(c for c in candidates if c not in self.seen))  # new ones, first-request order
        known_before = set(self.seen)
        pos = 0
        while pos < len(fresh) and not self.exhausted:
            if self.replaying:
                self._record(fresh[pos], self._replayed(fresh[pos]))
                pos += 1
                continue
            # The next candidates, of which at most the remaining budget need fitting.
            chunk: list[Candidate] = []
            pending: set[tuple[int, Hashable]] = set()  # fold keys the chunk's candidates will fit
            end = pos
            while end < len(fresh) and len(chunk) < self.budget - self.evaluations:
                keys = self._keys(fresh[end])
                if not (keys and all(k in self._fold_auc or k in pending for k in keys)):
                    chunk.append(fresh[end])
                    pending.update(keys)
                end += 1
            results = dict(zip(chunk, self.evaluator.map(chunk), strict=True))
            for c in fresh[pos:end]:
                evaluated = results.get(c)
                if evaluated is None:  # every fold fitted before (or earlier in this chunk)
                    aucs = np.array([self._fold_auc[k] for k in self._keys(c)], dtype=np.float64)
                    evaluated = Evaluation(c, aucs, cached=True)
                self._record(c, evaluated)
            pos = end
        out: list[Evaluation | None] = []
        first: set[Candidate] = set()
        for c in candidates:
            result = self.seen.get(c)
            if result is not None and (c in known_before or c in first):
                self.cache_hits += 1
            first.add(c)
            out.append(result)
        return out

    def _replayed(self, candidate: Candidate) -> Evaluation:
        stored = self._replay[len(self.seen)]
        if stored.candidate != candidate:
            raise GenoptError(
                f"cannot resume: evaluation {len(self.seen) + 1} of this run is {candidate}, "
                f"the checkpoint has {stored.candidate} (code or inputs changed since it was written)",
                self._replay_source,
            )
        return stored

    def _record(self, candidate: Candidate, result: Evaluation) -> None:
        if result.cached:
            self.cache_hits += 1
        else:
            self.evaluations += 1
        self.seen[candidate] = result
        for key, auc in zip(self._keys(candidate), result.fold_aucs, strict=False):
            self._fold_auc.setdefault(key, float(auc))

    def _keys(self, candidate: Candidate) -> list[tuple[int, Hashable]]:
        """(fold, key) pairs of the fitness's ``fold_keys`` (none when the fitness has no such method)."""
        return [] if self._fold_keys is None else list(enumerate(self._fold_keys(candidate)))


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
    """One interface for the GA, random search and grid search.

    ``run(fitness, budget, seed, *, evaluator=None, checkpoint=None,
    progress=None, initial=None)``: ``evaluator`` evaluates each
    generation's new candidates (default: in this process; the result does
    not depend on it); ``checkpoint`` writes and resumes from a
    :class:`~genopt.search.checkpoint.Checkpoint`; ``progress`` is True for
    a :class:`ProgressBar` or a callback ``(history_row, budget)``;
    ``initial`` are warm-start candidates evaluated first.
    """

    def run(
        self,
        fitness: Fitness,
        budget: int,
        seed: int,
        *,
        evaluator: Evaluator | None = None,
        checkpoint: Checkpoint | None = None,
        progress: bool | ProgressCallback | None = None,
        initial: Sequence[Candidate] | None = None,
    ) -> SearchResult: ...


#: A progress callback: called with each new history row and the budget.
ProgressCallback = Callable[[Mapping[str, float], int], None]


class ProgressBar:
    """A tqdm bar over the evaluation budget, one update per generation.

    Postfix: generation, best objective so far, evaluations, cache hits.
    Shown on ``file`` (default stderr) only if it is a terminal, or if ``force``.
    """

    def __init__(self, force: bool = False, file: TextIO | None = None) -> None:
        self.force = force
        self.file = file
        self._bar: Any = None

    def __call__(self, row: Mapping[str, float], budget: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            out = self.file if self.file is not None else sys.stderr
            shown = self.force or (hasattr(out, "isatty") and out.isatty())
            self._bar = tqdm(total=budget, unit="eval", desc="search", file=out, disable=not shown)
        self._bar.update(int(row["evaluations"]) - self._bar.n)
        self._bar.set_postfix(
            gen=int(row["generation"]),
            best=f"{row['best_so_far']:.4f}",
            evals=int(row["evaluations"]),
            hits=int(row["cache_hits"]),
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _Session:
    """What the engines share in one run: budget, history rows, checkpoints, progress, the clock.

    On resume, history rows of generations the checkpoint holds take their
    ``seconds`` from it (and must otherwise equal it); later rows count on
    from the last stored ``seconds``, so ``seconds`` and ``max_seconds``
    cover the whole search across restarts.
    """

    def __init__(
        self,
        engine: str,
        fitness: Fitness,
        budget: int,
        seed: int,
        evaluator: Evaluator | None,
        checkpoint: Checkpoint | None,
        progress: bool | ProgressCallback | None,
        initial: Sequence[Candidate] | None,
    ) -> None:
        self.engine = engine
        self.seed = int(seed)
        self.initial = list(initial or [])
        self.checkpoint = checkpoint
        self.stored = checkpoint.load(engine, self.seed, budget, self.initial) if checkpoint is not None else None
        self.budgeted = BudgetedFitness(
            fitness,
            budget,
            evaluator,
            replay=self.stored.evaluations if self.stored is not None else (),
            replay_source=checkpoint.path if checkpoint is not None else None,
        )
        self.history: list[dict[str, float]] = []
        self.progress: ProgressCallback | None = ProgressBar() if progress is True else (progress or None)
        self._offset = 0.0
        self._start = time.perf_counter()

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        close = getattr(self.progress, "close", None)
        if close is not None:
            close()

    def row(
        self, values: Sequence[float], member: npt.NDArray[np.bool_], distinct: int, size_penalty: float
    ) -> dict[str, float]:
        """Append the next history row (generation = its index), report it, checkpoint if due."""
        budgeted = self.budgeted
        finite = np.array([v for v in values if np.isfinite(v)], dtype=np.float64)
        generation = len(self.history)
        row: dict[str, float] = {
            "generation": generation,
            "best_fitness": float(finite.max()) if finite.size else float("nan"),
            "mean_fitness": float(finite.mean()) if finite.size else float("nan"),
            "best_so_far": _best_objective(budgeted, size_penalty),
            "diversity": mean_jaccard_distance(member),
            "distinct": distinct,
            "evaluations": budgeted.evaluations,
            "cache_hits": budgeted.cache_hits,
        }
        stored = self.stored.history if self.stored is not None else []
        if generation < len(stored):
            if not same_history(row, stored[generation]):
                raise GenoptError(
                    f"cannot resume: generation {generation} of this run differs from the checkpoint's "
                    "(code or inputs changed since it was written)",
                    self.checkpoint.path if self.checkpoint is not None else None,
                )
            row["seconds"] = float(stored[generation]["seconds"])
            self._offset, self._start = row["seconds"], time.perf_counter()
        else:
            row["seconds"] = round(self._offset + time.perf_counter() - self._start, 6)
        self.history.append(row)
        if self.progress is not None:
            self.progress(row, budgeted.budget)
        ck = self.checkpoint
        if ck is not None and ck.every and generation >= len(stored) and (generation + 1) % ck.every == 0:
            self._write(complete=False)
        return row

    def _write(self, complete: bool) -> None:
        assert self.checkpoint is not None
        state = CheckpointState(
            engine=self.engine,
            seed=self.seed,
            budget=self.budgeted.budget,
            fingerprint=self.checkpoint.fingerprint,
            generation=len(self.history) - 1,
            evaluations=list(self.budgeted.seen.values()),
            history=self.history,
            initial=self.initial,
            complete=complete,
        )
        write_checkpoint(self.checkpoint.path, state)

    def result(self, size_penalty: float, extra: dict[str, Any] | None = None) -> SearchResult:
        """The run's :class:`SearchResult`; writes the final checkpoint."""
        if self.checkpoint is not None and self.checkpoint.every:
            self._write(complete=True)
        return SearchResult(
            evaluations=list(self.budgeted.seen.values()),
            history=self.history,
            size_penalty=size_penalty,
            n_evaluations=self.budgeted.evaluations,
            n_cache_hits=self.budgeted.cache_hits,
            engine=self.engine,
            extra=extra or {},
        )


def _best_objective(budgeted: BudgetedFitness, size_penalty: float) -> float:
    return max((objective(e, size_penalty) for e in budgeted.seen.values()), default=float("nan"))


def _warm_start(population: npt.NDArray[np.float64], space: SearchSpace, initial: Sequence[Candidate]) -> None:
    """Replace the first rows of ``population`` (in place) by the encoded ``initial`` candidates.

    At most ``len(population)`` candidates are used (the first ones).
    """
    rows = [space.encode(c) for c in list(initial)[: len(population)]]
    if rows:
        population[: len(rows)] = np.asarray(rows, dtype=np.float64)


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

    def run(
        self,
        fitness: Fitness,
        budget: int,
        seed: int,
        *,
        evaluator: Evaluator | None = None,
        checkpoint: Checkpoint | None = None,
        progress: bool | ProgressCallback | None = None,
        initial: Sequence[Candidate] | None = None,
    ) -> SearchResult:
        """Run the GA (see :class:`SearchEngine`).

        pygad passes each generation's unevaluated solutions in one batch
        (``fitness_batch_size = population``), evaluated through
        :meth:`BudgetedFitness.batch`. ``initial`` candidates replace the
        first members of the random initial population (at most
        ``population``; the random draw is made in full either way).
        """
        import pygad

        space = self.space
        penalty = self.size_penalty
        init_rng, mutation_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        population = space.random_population(self.population, init_rng)
        _warm_start(population, space, initial or [])
        state = {"best": -math.inf, "stale": 0}
        with _Session("ga", fitness, budget, seed, evaluator, checkpoint, progress, initial) as session:
            budgeted = session.budgeted

            def value(evaluation: Evaluation | None) -> float | list[float]:
                if evaluation is None:  # budget spent
                    # pygad needs finite objective vectors: AUC 0 with one variant more than a genome holds
                    return [0.0, -float(space.max_variants + 1)] if self.multi_objective else -math.inf
                if self.multi_objective:
                    return [evaluation.mean_auc, -float(evaluation.candidate.n_variants)]
                return objective(evaluation, penalty)

            def fitness_func(ga: Any, solutions: Any, indices: Any) -> list[float | list[float]]:
                return [value(e) for e in budgeted.batch([space.decode(s) for s in solutions])]

            def mutation(offspring: Any, ga: Any) -> Any:
                mutated = space.mutate(offspring, mutation_rng, self.mutations, self.hyper_mutation)
                return mutated.astype(offspring.dtype) if offspring.dtype != object else _to_object(mutated, space)

            def record(ga: Any) -> str | None:
                pop = np.asarray(ga.population, dtype=np.float64)
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
                row = session.row(values, space.subset_matrix(pop), distinct, penalty)
                best = row["best_so_far"]
                if best > state["best"] + 1e-12:
                    state["best"], state["stale"] = best, 0
                else:
                    state["stale"] += 1
                if budgeted.exhausted:
                    return "stop"
                if self.patience is not None and state["stale"] >= self.patience:
                    return "stop"
                if self.max_seconds is not None and row["seconds"] >= self.max_seconds:
                    return "stop"
                return None

            def on_fitness(ga: Any, values: Any) -> None:
                if ga.generations_completed == 0 and not session.history:
                    record(ga)

            n_generations = self.generations_for(budget) * 20
            if self.max_generations is not None:
                n_generations = min(n_generations, self.max_generations)
            ga = pygad.GA(
                num_generations=n_generations,
                num_parents_mating=min(self.parents_mating, self.population),
                fitness_func=fitness_func,
                fitness_batch_size=self.population,
                initial_population=_to_object(population, space),
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
            return session.result(
                penalty,
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

    def run(
        self,
        fitness: Fitness,
        budget: int,
        seed: int,
        *,
        evaluator: Evaluator | None = None,
        checkpoint: Checkpoint | None = None,
        progress: bool | ProgressCallback | None = None,
        initial: Sequence[Candidate] | None = None,
    ) -> SearchResult:
        """Run random search (see :class:`SearchEngine`); ``initial`` replace the first batch's first draws."""
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
        max_batches = 100 * max(math.ceil(budget / self.population), 1)
        with _Session("random", fitness, budget, seed, evaluator, checkpoint, progress, initial) as session:
            budgeted = session.budgeted
            while not budgeted.exhausted and len(session.history) < max_batches:
                pop = self.space.random_population(self.population, rng)
                if not session.history:
                    _warm_start(pop, self.space, initial or [])
                results = budgeted.batch([self.space.decode(row) for row in pop])  # one candidate per individual
                values = [-math.inf if e is None else objective(e, self.size_penalty) for e in results]
                distinct = len({tuple(r) for r in pop.tolist()})
                session.row(values, self.space.subset_matrix(pop), distinct, self.size_penalty)
            return session.result(self.size_penalty)


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

    def run(
        self,
        fitness: Fitness,
        budget: int,
        seed: int,
        *,
        evaluator: Evaluator | None = None,
        checkpoint: Checkpoint | None = None,
        progress: bool | ProgressCallback | None = None,
        initial: Sequence[Candidate] | None = None,
    ) -> SearchResult:
        """Run the grid (see :class:`SearchEngine`); ``initial`` candidates are evaluated before it."""
        grid = self.grid(budget)
        order = list(initial or []) + grid
        with _Session("grid", fitness, budget, seed, evaluator, checkpoint, progress, initial) as session:
            budgeted = session.budgeted
            for b in range(0, len(order), self.population):
                batch = order[b : b + self.population]
                results = budgeted.batch(batch)
                values = [-math.inf if e is None else objective(e, self.size_penalty) for e in results]
                member = np.zeros((len(batch), self.space.pool_size), dtype=bool)
                for i, cand in enumerate(batch):
                    member[i, list(cand.subset)] = True
                session.row(values, member, len(set(batch)), self.size_penalty)
                if budgeted.exhausted:
                    break
            return session.result(self.size_penalty, extra={"grid_size": len(grid)})


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

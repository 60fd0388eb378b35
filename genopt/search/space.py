"""The search space as a fixed-length genome (pygad's encoding).

Layout of one solution (``n_genes = max_variants + 6``)::

    [slot_0 ... slot_{m-1} | family | log10_alpha | log10_C | l1_ratio | lr_index | depth_index]

* ``slot_i`` is an integer in ``[-1, pool_size - 1]``: a pool column index, or
  -1 for an empty slot. The subset is the sorted set of distinct non-negative
  slot values, so a genome holds 0 to ``max_variants`` variants whatever the
  pool size (random individuals are small, not half the pool).
* ``family`` indexes :attr:`SearchSpace.families`.
* ``log10_alpha`` (ridge) and ``log10_C`` (logistic families) are continuous
  and bounded, kept to one decimal (so the cache can hit); ``l1_ratio``
  (elastic net) is continuous in [0, 1], kept to steps of 0.05;
  ``lr_index`` / ``depth_index`` index the gradient-boosting choices.

Genes a family does not use are carried but ignored by :meth:`SearchSpace.decode`.
Hyperparameter names in :class:`Candidate.params`: ``alpha`` (ridge), ``C``
(``logistic_l2``, ``logistic_l1``), ``C`` and ``l1_ratio``
(``logistic_enet``), ``learning_rate`` and ``max_depth`` (``gbm``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from genopt.config import SearchConfig
from genopt.search.types import FAMILIES, Candidate

#: Space bounds default to SearchConfig's (one place for them).
_DEFAULT = SearchConfig()

#: Number of hyperparameter genes after the variant slots.
N_HYPER_GENES = 6


def _round_sig(value: float, digits: int = 6) -> float:
    """``value`` rounded to ``digits`` significant digits (stable cache keys)."""
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True)
class SearchSpace:
    """Variant subsets of a candidate pool x model families x hyperparameters.

    Parameters
    ----------
    pool_size
        Number of pool columns (variants the search may choose from).
    families
        Model families searched (each in :data:`FAMILIES`).
    max_variants
        Variant slots per genome: the largest subset a genome can hold.
    log10_alpha, log10_C
        Inclusive bounds of log10 ridge alpha and of log10 logistic C.
    learning_rates, max_depths
        Gradient-boosting choices.
    """

    pool_size: int
    families: tuple[str, ...] = FAMILIES
    max_variants: int = _DEFAULT.max_variants
    log10_alpha: tuple[float, float] = _DEFAULT.log10_alpha
    log10_C: tuple[float, float] = _DEFAULT.log10_C
    learning_rates: tuple[float, ...] = _DEFAULT.learning_rates
    max_depths: tuple[int, ...] = _DEFAULT.max_depths

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {self.pool_size}")
        if self.max_variants < 1:
            raise ValueError(f"max_variants must be >= 1, got {self.max_variants}")
        if not self.families or len(set(self.families)) != len(self.families):
            raise ValueError(f"families must be distinct and non-empty, got {self.families}")
        for family in self.families:
            if family not in FAMILIES:
                raise ValueError(f"unknown model family {family!r}; expected one of {FAMILIES}")
        for name in ("log10_alpha", "log10_C"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"{name} bounds must be (low, high) with low <= high, got {(lo, hi)}")
        if not self.learning_rates or not self.max_depths:
            raise ValueError("learning_rates and max_depths must not be empty")

    @classmethod
    def from_config(cls, pool_size: int, config: SearchConfig) -> SearchSpace:
        """The space a :class:`~genopt.config.SearchConfig` describes over a pool of ``pool_size`` variants."""
        return cls(
            pool_size=int(pool_size),
            families=tuple(config.families),
            max_variants=config.max_variants,
            log10_alpha=config.log10_alpha,
            log10_C=config.log10_C,
            learning_rates=tuple(config.learning_rates),
            max_depths=tuple(config.max_depths),
        )

    # ------------------------------------------------------------------ layout
    @property
    def n_genes(self) -> int:
        """Genes per solution: ``max_variants`` slots + 6 hyperparameter genes."""
        return self.max_variants + N_HYPER_GENES

    @property
    def family_gene(self) -> int:
        """Index of the family gene (the first after the slots)."""
        return self.max_variants

    def gene_space(self) -> list[Any]:
        """pygad ``gene_space``: one entry per gene.

        Slots: ``range(-1, pool_size)``; family / learning rate / depth:
        ``range(n_choices)``; continuous genes: ``{"low": ., "high": .}``.
        """
        slot = range(-1, self.pool_size)
        return [slot] * self.max_variants + [
            range(len(self.families)),
            {"low": float(self.log10_alpha[0]), "high": float(self.log10_alpha[1])},
            {"low": float(self.log10_C[0]), "high": float(self.log10_C[1])},
            {"low": 0.0, "high": 1.0},
            range(len(self.learning_rates)),
            range(len(self.max_depths)),
        ]

    def gene_type(self) -> list[Any]:
        """pygad ``gene_type``: ``int`` for discrete genes, ``[float, digits]`` for continuous."""
        return [int] * self.max_variants + [int, [float, 1], [float, 1], [float, 2], int, int]

    # ------------------------------------------------------------ decode/encode
    def decode(self, solution: Sequence[Any] | npt.NDArray[Any]) -> Candidate:
        """The candidate a solution stands for.

        Continuous genes are clipped to their bounds and rounded (log10 values
        to 0.1, ``l1_ratio`` to 0.05); parameter values are rounded to 6
        significant digits, so equal rounded genes give equal (cacheable)
        candidates. Only the parameters the family uses are kept.
        """
        values = np.asarray(solution, dtype=np.float64)
        if values.shape != (self.n_genes,):
            raise ValueError(f"solution must have {self.n_genes} genes, got shape {values.shape}")
        slots = np.rint(values[: self.max_variants]).astype(np.int64)
        subset = tuple(int(v) for v in np.unique(slots[(slots >= 0) & (slots < self.pool_size)]))
        h = values[self.max_variants :]
        family = self.families[int(np.clip(np.rint(h[0]), 0, len(self.families) - 1))]
        params: dict[str, float] = {}
        if family == "ridge":
            x = round(float(np.clip(h[1], *self.log10_alpha)), 1)
            params["alpha"] = _round_sig(10.0**x)
        elif family in ("logistic_l2", "logistic_l1", "logistic_enet"):
            x = round(float(np.clip(h[2], *self.log10_C)), 1)
            params["C"] = _round_sig(10.0**x)
            if family == "logistic_enet":
                params["l1_ratio"] = round(round(float(np.clip(h[3], 0.0, 1.0)) * 20.0) / 20.0, 2)
        elif family == "gbm":
            lr = int(np.clip(np.rint(h[4]), 0, len(self.learning_rates) - 1))
            depth = int(np.clip(np.rint(h[5]), 0, len(self.max_depths) - 1))
            params["learning_rate"] = float(self.learning_rates[lr])
            params["max_depth"] = float(self.max_depths[depth])
        return Candidate(subset=subset, family=family, params=tuple(sorted(params.items())))

    def top_k(self, n: int) -> list[Candidate]:
        """``n`` nested candidates: the first ``k`` pool columns, ``k`` log-spaced in [1, max_variants].

        Pool columns are ordered best association p first, so these walk the
        clumping + thresholding path. Families are taken in turn; the
        hyperparameter genes sit in the middle of their ranges (as
        :meth:`encode` fills unused genes). Fewer than ``n`` when the sizes
        coincide (small pools).
        """
        k_max = min(self.max_variants, self.pool_size)
        sizes = sorted({round(k) for k in np.geomspace(1, k_max, max(n, 1))}) if n > 0 else []
        out = []
        for i, k in enumerate(sizes):
            genome = [*range(k), *([-1] * (self.max_variants - k)), *self._middle_hyper(i % len(self.families))]
            out.append(self.decode(np.asarray(genome, dtype=np.float64)))
        return out

    def _middle_hyper(self, family_index: int) -> list[float | int]:
        """Hyperparameter genes of family ``family_index`` with every other gene in the middle of its range."""
        return [
            family_index,
            round(sum(self.log10_alpha) / 2.0, 1),
            round(sum(self.log10_C) / 2.0, 1),
            0.5,
            len(self.learning_rates) // 2,
            len(self.max_depths) // 2,
        ]

    def encode(self, candidate: Candidate) -> list[float | int]:
        """A solution that decodes to ``candidate`` (the inverse of :meth:`decode`).

        Variants fill the first slots in order, the rest are -1; genes the
        family does not use take the middle of their range. Raises
        ``ValueError`` if the candidate does not fit the space (too many
        variants, index outside the pool, family not searched, parameter
        outside its bounds or choices).
        """
        subset = list(candidate.subset)
        if len(subset) > self.max_variants:
            raise ValueError(f"candidate has {len(subset)} variants, more than max_variants={self.max_variants}")
        if subset and (subset[0] < 0 or subset[-1] >= self.pool_size):
            raise ValueError(f"candidate subset has indices outside the pool [0, {self.pool_size})")
        if candidate.family not in self.families:
            raise ValueError(f"family {candidate.family!r} is not searched (searched: {self.families})")
        slots: list[float | int] = [*subset, *([-1] * (self.max_variants - len(subset)))]
        hyper = self._middle_hyper(self.families.index(candidate.family))
        params = dict(candidate.params)

        def log_gene(name: str, bounds: tuple[float, float]) -> float:
            x = round(math.log10(params[name]), 1)
            if not bounds[0] - 1e-9 <= x <= bounds[1] + 1e-9:
                raise ValueError(f"{name} = {params[name]} is outside 10^{bounds}")
            return x

        if "alpha" in params:
            hyper[1] = log_gene("alpha", self.log10_alpha)
        if "C" in params:
            hyper[2] = log_gene("C", self.log10_C)
        if "l1_ratio" in params:
            hyper[3] = float(params["l1_ratio"])
        if "learning_rate" in params:
            hyper[4] = self._choice_index("learning_rate", params["learning_rate"], self.learning_rates)
        if "max_depth" in params:
            hyper[5] = self._choice_index("max_depth", params["max_depth"], self.max_depths)
        return slots + hyper

    @staticmethod
    def _choice_index(name: str, value: float, choices: Sequence[float]) -> int:
        for i, choice in enumerate(choices):
            if math.isclose(float(choice), float(value)):
                return i
        raise ValueError(f"{name} = {value} is not one of {tuple(choices)}")

    # ------------------------------------------------------------ random draws
    def random_sizes(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Numbers of active slots for ``n`` new genomes.

        Log-uniform on [1, ``max_variants``]: ``floor(exp(U(0, ln(m + 1))))``
        clipped to [1, m], so P(size <= s) ~ ln(s + 1) / ln(m + 1): with
        m = 50 the median is 7 and a third of genomes hold 1-3 variants.
        Never more than ``pool_size``.
        """
        m = self.max_variants
        sizes = np.floor(np.exp(rng.uniform(0.0, math.log(m + 1), size=n))).astype(np.int64)
        return np.clip(sizes, 1, min(m, self.pool_size))

    def random_population(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        """``n`` random solutions, shape ``(n, n_genes)``.

        Subset sizes from :meth:`random_sizes`; variants drawn uniformly
        without replacement from the pool and placed in random slots;
        family uniform over :attr:`families`; continuous genes uniform
        within bounds (rounded as :meth:`gene_type` says); discrete choices uniform.
        """
        pop = np.full((n, self.n_genes), -1.0)
        sizes = self.random_sizes(n, rng)
        m = self.max_variants
        for i, size in enumerate(sizes):  # loop over individuals, not variants
            positions = rng.choice(m, size=size, replace=False)
            pop[i, positions] = rng.choice(self.pool_size, size=size, replace=False)
        h = m
        pop[:, h] = rng.integers(0, len(self.families), size=n)
        pop[:, h + 1] = np.round(rng.uniform(*self.log10_alpha, size=n), 1)
        pop[:, h + 2] = np.round(rng.uniform(*self.log10_C, size=n), 1)
        pop[:, h + 3] = np.round(rng.uniform(0.0, 1.0, size=n), 2)
        pop[:, h + 4] = rng.integers(0, len(self.learning_rates), size=n)
        pop[:, h + 5] = rng.integers(0, len(self.max_depths), size=n)
        return pop

    def mutate(
        self,
        offspring: npt.NDArray[Any],
        rng: np.random.Generator,
        mutations: float = 1.5,
        hyper_mutation: float = 0.15,
    ) -> npt.NDArray[np.float64]:
        """Mutated copies of ``offspring`` (shape ``(n, n_genes)``).

        Each genome gets ``1 + Poisson(mutations - 1)`` variant moves, each
        equally likely to *add* a variant to an empty slot, *drop* an active
        slot, or *swap* an active slot for another pool variant. Add and drop
        are equally likely, so the subset size does a symmetric random walk
        and does not drift towards half the slots as per-slot uniform
        resampling would. Each hyperparameter gene is mutated with
        probability ``hyper_mutation``: the family and discrete choices are
        redrawn, continuous genes take a Gaussian step of 1/6 of their range
        (clipped, rounded).
        """
        out = np.array(offspring, dtype=np.float64, copy=True)
        m = self.max_variants
        n_moves = 1 + rng.poisson(max(mutations - 1.0, 0.0), size=len(out))
        for i in range(len(out)):  # loop over offspring (tens), not variants
            slots = out[i, :m]
            for _ in range(int(n_moves[i])):
                active = np.flatnonzero(slots >= 0)
                empty = np.flatnonzero(slots < 0)
                move = rng.integers(3)
                if move == 0 and len(empty):
                    slots[rng.choice(empty)] = rng.integers(self.pool_size)
                elif move == 1 and len(active) > 1:
                    slots[rng.choice(active)] = -1
                elif len(active):
                    slots[rng.choice(active)] = rng.integers(self.pool_size)
        hit = rng.random((len(out), N_HYPER_GENES)) < hyper_mutation
        h = m
        n = len(out)
        out[:, h] = np.where(hit[:, 0], rng.integers(0, len(self.families), size=n), out[:, h])
        for j, (lo, hi), digits in ((1, self.log10_alpha, 1), (2, self.log10_C, 1), (3, (0.0, 1.0), 2)):
            step = rng.normal(0.0, (hi - lo) / 6.0, size=n)
            moved = np.round(np.clip(out[:, h + j] + step, lo, hi), digits)
            out[:, h + j] = np.where(hit[:, j], moved, out[:, h + j])
        out[:, h + 4] = np.where(hit[:, 4], rng.integers(0, len(self.learning_rates), size=n), out[:, h + 4])
        out[:, h + 5] = np.where(hit[:, 5], rng.integers(0, len(self.max_depths), size=n), out[:, h + 5])
        return out

    def subset_matrix(self, solutions: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
        """Membership matrix ``(n_solutions, pool_size)``: True where a solution holds a variant."""
        slots = np.rint(np.asarray(solutions, dtype=np.float64)[:, : self.max_variants]).astype(np.int64)
        member = np.zeros((len(slots), self.pool_size), dtype=bool)
        rows, cols = np.nonzero(slots >= 0)
        member[rows, slots[rows, cols]] = True
        return member


def mean_jaccard_distance(member: npt.NDArray[np.bool_]) -> float:
    """Mean pairwise Jaccard distance of the subsets (rows of a membership matrix).

    Two empty subsets are at distance 0. Returns 0 for fewer than two rows.
    """
    n = len(member)
    if n < 2:
        return 0.0
    x = member.astype(np.float64)
    inter = x @ x.T
    size = x.sum(axis=1)
    union = size[:, None] + size[None, :] - inter
    dist = np.where(union > 0, 1.0 - inter / np.where(union > 0, union, 1.0), 0.0)
    iu = np.triu_indices(n, k=1)
    return float(dist[iu].mean())

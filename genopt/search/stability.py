"""How often each variant is chosen when the whole search is repeated on subsamples.

:func:`selection_frequency` draws ``B`` stratified subsamples of discovery
(without replacement, a fraction ``fraction`` of each outcome class), reruns
the whole honest procedure of :func:`genopt.search.run.run_search` on each
(split, PCA, pool, search, choice on the resample's own validation part) and
counts, per variant, the resamples whose chosen candidate holds it. This is
the stability-selection style estimate of Meinshausen & Bühlmann (2010,
J. R. Stat. Soc. B 72:417-473): a variant selected in most subsamples is
unlikely to be an artefact of one particular sample. The numbers depend on
``fraction`` (smaller subsamples have less power, so frequencies drop) and on
the search budget per resample (a small budget explores less and chooses more
erratically); report both with the frequencies. They are not error-controlled
inclusion probabilities: no threshold or bound of the 2010 paper is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.cohort import Cohort
from genopt.config import PCAConfig, PoolConfig, SearchConfig
from genopt.errors import GenoptError
from genopt.search.run import run_search

__all__ = [
    "RESAMPLE_COLUMNS",
    "STABILITY_COLUMNS",
    "Resample",
    "StabilityResult",
    "selection_frequency",
    "stratified_subsample",
]

#: Columns of :attr:`StabilityResult.table` (one row per variant in any resample's pool).
STABILITY_COLUMNS = (
    "id",
    "variant_index",
    "n_selected",
    "selection_frequency",
    "n_in_pool",
    "in_pool_frequency",
)
#: Columns of :meth:`StabilityResult.resample_table` (one row per resample).
RESAMPLE_COLUMNS = (
    "resample",
    "seed",
    "n_samples",
    "n_cases",
    "family",
    "n_variants",
    "n_evaluations",
    "inner_cv_auc",
    "validation_auc",
    "validation_se",
    "pool_size",
    "chosen_ids",
)


def stratified_subsample(y: npt.ArrayLike, fraction: float, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Rows drawn without replacement, ``round(fraction * n_c)`` of each outcome class ``c``.

    Parameters
    ----------
    y
        Outcome per cohort row, shape ``(n,)``.
    fraction
        Fraction of each class drawn, in (0, 1).
    rng
        Generator the draw uses (classes in increasing order of value).

    Returns
    -------
    Sorted intp row indices.
    """
    yy = np.asarray(y).ravel()
    if not 0.0 < fraction < 1.0:
        raise GenoptError(f"resample fraction = {fraction!r} must be in (0, 1)")
    parts = []
    for value in np.unique(yy):
        rows = np.flatnonzero(yy == value)
        parts.append(rng.choice(rows, size=round(fraction * rows.size), replace=False))
    return np.sort(np.concatenate(parts)).astype(np.intp)


@dataclass(frozen=True)
class Resample:
    """One repetition of the search on a subsample.

    Attributes
    ----------
    index
        0-based resample number.
    seed
        Seed of its :func:`~genopt.search.run.run_search` (split, PCA, folds, estimators, engine).
    rows
        Cohort rows drawn (sorted), shape ``(n_samples,)``.
    n_cases
        Drawn rows with outcome 1 (cooperate).
    chosen_ids
        .bim IDs of the chosen candidate's variants (pool order).
    pool_ids
        .bim IDs of the variants the search could choose from (its searched columns).
    family
        Model family of the chosen candidate.
    n_evaluations
        Models the resample's search fitted (at most the budget).
    inner_cv_auc, validation_auc, validation_se
        As :class:`~genopt.search.run.SearchOutcome` reports them inside the
        resample (inner CV AUC optimistic unless ``pool_per_fold``).
    """

    index: int
    seed: int
    rows: npt.NDArray[np.intp] = field(repr=False)
    n_cases: int
    chosen_ids: tuple[str, ...]
    pool_ids: tuple[str, ...] = field(repr=False)
    family: str
    n_evaluations: int
    inner_cv_auc: float
    validation_auc: float
    validation_se: float


@dataclass(frozen=True)
class StabilityResult:
    """Selection frequencies over ``n_resamples`` repeated searches.

    Attributes
    ----------
    table
        One row per variant that was in at least one resample's searched pool,
        columns :data:`STABILITY_COLUMNS`: ``n_selected`` resamples chose it,
        ``selection_frequency = n_selected / n_resamples``; ``n_in_pool``
        resamples could choose it, ``in_pool_frequency = n_in_pool /
        n_resamples``. Sorted by selection frequency, then pool frequency
        (both descending), then .bim row. A variant absent from the table has
        both frequencies 0.
    n_resamples
        ``B``.
    fraction
        Fraction of each outcome class drawn per resample.
    budget
        Evaluation budget of each resampled search.
    resamples
        Per-resample details.
    """

    table: pd.DataFrame
    n_resamples: int
    fraction: float
    budget: int
    resamples: tuple[Resample, ...] = field(repr=False)

    @property
    def how(self) -> str:
        """How the frequencies were computed (for output headers and summaries)."""
        return (
            f"fraction of {self.n_resamples} resamples whose chosen candidate held the variant; each resample drew "
            f"{self.fraction:g} of each outcome class without replacement and reran split, PCA, pool, search "
            f"(budget {self.budget}) and choice on it (stability-selection style, Meinshausen & Buehlmann 2010; "
            "depends on the fraction and the budget)"
        )

    def frequencies(self, ids: Sequence[str]) -> npt.NDArray[np.float64]:
        """Selection frequency of each ID in ``ids``, shape ``(len(ids),)``; 0 where no resample pooled it."""
        freq = dict(zip(self.table["id"], self.table["selection_frequency"], strict=True))
        return np.array([float(freq.get(str(i), 0.0)) for i in ids], dtype=np.float64)

    def resample_table(self) -> pd.DataFrame:
        """One row per resample, columns :data:`RESAMPLE_COLUMNS` (``chosen_ids`` joined by ``;``)."""
        return pd.DataFrame(
            {
                "resample": [r.index for r in self.resamples],
                "seed": [r.seed for r in self.resamples],
                "n_samples": [r.rows.size for r in self.resamples],
                "n_cases": [r.n_cases for r in self.resamples],
                "family": [r.family for r in self.resamples],
                "n_variants": [len(r.chosen_ids) for r in self.resamples],
                "n_evaluations": [r.n_evaluations for r in self.resamples],
                "inner_cv_auc": [r.inner_cv_auc for r in self.resamples],
                "validation_auc": [r.validation_auc for r in self.resamples],
                "validation_se": [r.validation_se for r in self.resamples],
                "pool_size": [len(r.pool_ids) for r in self.resamples],
                "chosen_ids": [";".join(r.chosen_ids) for r in self.resamples],
            },
            columns=list(RESAMPLE_COLUMNS),
        )


def selection_frequency(
    cohort: Cohort,
    search_config: SearchConfig,
    pool_config: PoolConfig,
    pca_config: PCAConfig,
    seed: int,
    n_resamples: int,
    fraction: float,
    budget: int | None = None,
    progress: bool = False,
    variants: npt.ArrayLike | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> StabilityResult:
    """Selection frequency of each variant over ``n_resamples`` repeated honest searches.

    Stability-selection style estimate (Meinshausen & Bühlmann 2010): for
    ``b = 1..B`` a stratified subsample of ``fraction`` of each outcome class is
    drawn without replacement and :func:`~genopt.search.run.run_search` is run
    on it (its own split, PCA, pool, search and choice; the rows not drawn are
    not used at all). The frequencies depend on ``fraction`` and ``budget``.

    Parameters
    ----------
    cohort
        Discovery cohort (outcome 1 = cooperate).
    search_config, pool_config, pca_config
        As for :func:`run_search` (folds, validation fraction and
        ``pool_per_fold`` come from ``search_config``).
    seed
        Spawns one :class:`numpy.random.SeedSequence` child per resample; each
        child spawns the subsample's generator and the seed of its search.
        Same seed, same result.
    n_resamples
        ``B`` >= 1.
    fraction
        Fraction of each outcome class drawn per resample, in (0, 1).
    budget
        Evaluation budget of each resampled search (None: ``search_config.budget``).
    progress
        Show a tqdm progress bar over the resamples (stderr).
    variants
        bool mask over the .bim rows (e.g. QC-passed) passed to :func:`run_search`.
    checkpoint_dir, resume
        Each resample's search checkpoints to ``checkpoint_dir/resample_<b>.json``
        and, with ``resume``, continues from it (see :func:`run_search`); None: no checkpoints.

    Returns
    -------
    :class:`StabilityResult`.
    """
    if n_resamples < 1:
        raise GenoptError(f"number of resamples = {n_resamples!r} must be at least 1")
    config = search_config if budget is None else replace(search_config, budget=int(budget))
    ids = cohort.variants["id"].astype(str).to_numpy()
    children = np.random.SeedSequence(seed).spawn(n_resamples)
    iterator: Sequence[np.random.SeedSequence] = children
    if progress:
        from tqdm import tqdm

        iterator = tqdm(children, desc="resamples", unit="search")
    resamples: list[Resample] = []
    selected = np.zeros(len(ids), dtype=np.int64)
    pooled = np.zeros(len(ids), dtype=np.int64)
    for b, child in enumerate(iterator):
        draw_seq, search_seq = child.spawn(2)
        rows = stratified_subsample(cohort.y, fraction, np.random.default_rng(draw_seq))
        keep = np.zeros(cohort.n, dtype=bool)
        keep[rows] = True
        search_seed = int(search_seq.generate_state(1)[0])
        outcome = run_search(
            cohort.subset(keep, f"not drawn in resample {b}"),
            config,
            pool_config,
            pca_config,
            seed=search_seed,
            variants=variants,
            checkpoint=None if checkpoint_dir is None else Path(checkpoint_dir) / f"resample_{b}.json",
            resume=resume,
        )
        if outcome.columns is None:
            raise RuntimeError("run_search returned no searched columns")
        selected[outcome.chosen_variant_idx] += 1
        pooled[outcome.columns] += 1
        resamples.append(
            Resample(
                index=b,
                seed=search_seed,
                rows=rows,
                n_cases=int(cohort.y[rows].sum()),
                chosen_ids=tuple(outcome.chosen_variant_ids),
                pool_ids=tuple(ids[outcome.columns]),
                family=outcome.chosen.candidate.family,
                n_evaluations=int(outcome.result.n_evaluations),
                inner_cv_auc=outcome.inner_cv_auc,
                validation_auc=outcome.validation_auc,
                validation_se=outcome.validation_se,
            )
        )
    seen = np.flatnonzero(pooled > 0)
    table = pd.DataFrame(
        {
            "id": ids[seen],
            "variant_index": seen,
            "n_selected": selected[seen],
            "selection_frequency": selected[seen] / n_resamples,
            "n_in_pool": pooled[seen],
            "in_pool_frequency": pooled[seen] / n_resamples,
        },
        columns=list(STABILITY_COLUMNS),
    )
    table = table.sort_values(
        ["selection_frequency", "in_pool_frequency", "variant_index"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    return StabilityResult(
        table=table, n_resamples=n_resamples, fraction=float(fraction), budget=config.budget, resamples=tuple(resamples)
    )

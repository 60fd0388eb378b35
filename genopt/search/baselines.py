"""Baseline genetic scores the search is compared against: clumping + thresholding, and the lasso.

Both are fitted on discovery rows only and return an object that scores another
cohort (variants matched to discovery by ID with :func:`genopt.harmonise.harmonise`,
counts expressed as copies of the **discovery .bim A1** allele) and lists its variants.

:func:`clump_threshold` (C+T, as PRSice's default)
    Association scan of the training rows (:func:`genopt.assoc.scan.scan`,
    cohort covariates plus any extra ones such as PCs), LD clumping of every
    variant with p <= the largest threshold (:func:`genopt.assoc.clump.clump`,
    r^2 0.1 within 250 kb from the training rows' genotypes), and the score
    ``sum_j beta_j x_j`` over clump index variants with ``p_j < t``
    (``beta_j``: the scan's log odds ratio per A1 copy; ``x_j``: A1 count,
    missing calls = ``2 p_j`` of the training rows). The threshold ``t`` is
    the one with the highest mean AUC over ``k`` stratified folds of the
    training rows, where **scan and clumping are redone on each fold's
    training rows** and the score alone (no covariates) is ranked on the
    fold's validation rows. The scan's ``beta`` is the exact Wald estimate for
    its ``exact_top`` best variants (and every variant with screening p below
    ``exact_p``) and the one-step score estimate ``U/V`` for the others.

:func:`lasso`
    L1-penalised logistic regression of the outcome on the given variants
    (default: every variant of the cohort's .bim) with the covariates always
    in (``CVFitness``'s ``logistic_l1`` model: standardised columns,
    covariates scaled by :data:`~genopt.search.fitness.COVARIATE_SCALE` so
    their L1 penalty is 1,000 times weaker). ``C`` is the grid value with the
    highest mean inner-CV AUC (full model, covariates included) over ``k``
    stratified folds of the training rows, standardisation fitted on each
    fold's training rows (missing calls are imputed once, with the mean of
    all training rows: genotypes only, no outcome); the final model is
    refitted on all training rows with :func:`genopt.search.final.fit_final`.
    Its listed variants are those with a non-zero coefficient.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.assoc.clump import clump
from genopt.cohort import Cohort
from genopt.config import AssocConfig, ClumpConfig, HarmoniseConfig
from genopt.errors import GenoptError
from genopt.io.plink import PlinkFileset
from genopt.search.final import FinalModel, GeneticScore, fit_final, score_fileset
from genopt.search.fitness import CVFitness, auc, make_folds
from genopt.search.types import Candidate

__all__ = [
    "CT_CLUMP",
    "CT_THRESHOLDS",
    "LASSO_CS",
    "ClumpThresholdFit",
    "LassoFit",
    "LinearScore",
    "clump_threshold",
    "lasso",
]

#: P-value thresholds of C+T (PRSice's ``--bar-levels`` plus genome-wide significance).
CT_THRESHOLDS: tuple[float, ...] = (5e-8, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
#: Clumping of C+T: PRSice's defaults (r^2 0.1 within 250 kb); p1 = p2 = the largest threshold.
CT_CLUMP = ClumpConfig(p1=0.5, p2=0.5, r2=0.1, kb=250)
#: Inverse L1 penalties searched by :func:`lasso` (on standardised variant columns).
LASSO_CS: tuple[float, ...] = tuple(float(f"{c:.4g}") for c in np.logspace(-3, 0, 10))

ScanFn = Callable[..., Any]


# ---------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class LinearScore:
    """An additive score ``sum_j weight_j x_j`` over discovery variants.

    Attributes
    ----------
    variant_id, chromosome, a1, a2
        Discovery .bim ID, chromosome, A1 (the counted, effect allele) and A2, shape ``(m,)``.
    position
        Discovery base-pair position, int64 ``(m,)``.
    bim_index
        Row of each variant in the discovery .bim, int64 ``(m,)``.
    weights
        Weight per copy of A1, float64 ``(m,)``.
    a1_freq
        A1 frequency among the called discovery training rows, float64 ``(m,)``;
        a missing call (or an unmatched variant) counts ``2 * a1_freq``.
    """

    variant_id: tuple[str, ...]
    chromosome: tuple[str, ...]
    position: npt.NDArray[np.int64]
    a1: tuple[str, ...]
    a2: tuple[str, ...]
    bim_index: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    a1_freq: npt.NDArray[np.float64]

    @property
    def n_variants(self) -> int:
        return len(self.variant_id)

    @property
    def variants(self) -> pd.DataFrame:
        """``chrom id cm pos a1 a2 weight`` of the score's variants (discovery alleles)."""
        return pd.DataFrame(
            {
                "chrom": list(self.chromosome),
                "id": list(self.variant_id),
                "cm": np.zeros(self.n_variants),
                "pos": self.position,
                "a1": list(self.a1),
                "a2": list(self.a2),
                "weight": self.weights,
            }
        )

    @classmethod
    def from_rows(
        cls, cohort: Cohort, bim_rows: npt.ArrayLike, weights: npt.ArrayLike, a1_freq: npt.ArrayLike
    ) -> LinearScore:
        """The score of the given discovery .bim rows (in that order)."""
        rows = np.asarray(bim_rows, dtype=np.int64).reshape(-1)
        bim = cohort.variants.iloc[rows]
        return cls(
            variant_id=tuple(str(x) for x in bim["id"]),
            chromosome=tuple(str(x) for x in bim["chrom"]),
            position=bim["pos"].to_numpy(dtype=np.int64),
            a1=tuple(str(x) for x in bim["a1"]),
            a2=tuple(str(x) for x in bim["a2"]),
            bim_index=rows,
            weights=np.asarray(weights, dtype=np.float64).reshape(-1),
            a1_freq=np.asarray(a1_freq, dtype=np.float64).reshape(-1),
        )

    def score(self, target: Cohort | PlinkFileset, config: HarmoniseConfig | None = None) -> GeneticScore:
        """Score another cohort's samples (variants matched by ID, counts of the discovery A1).

        As :meth:`genopt.search.final.FinalModel.genetic_score`: swapped alleles
        flip to ``2 - g``; missing calls and unmatched variants count
        ``2 * a1_freq`` (discovery).
        """
        if self.n_variants == 0:
            if isinstance(target, Cohort):
                fileset, samples = target.fileset, target.sample_idx
            else:
                fileset, samples = target, np.arange(target.n_samples, dtype=np.intp)
            ids = fileset.samples.iloc[samples][["fid", "iid"]].astype(str).reset_index(drop=True)
            return GeneticScore(np.zeros(samples.size), ids, {}, 0, 0)
        return score_fileset(self.variants, self.a1_freq, self.weights, 2.0 * self.a1_freq, target, config)


# ---------------------------------------------------------------------------- C+T


@dataclass(frozen=True)
class ClumpThresholdFit:
    """A fitted C+T score.

    Attributes
    ----------
    score
        The chosen threshold's score (clump index variants of the scan of all
        training rows with ``p < threshold``, weight = scan beta per A1 copy).
    threshold
        The chosen p-value threshold (argmax of ``cv_auc.mean(axis=0)``, ties to the smaller).
    thresholds
        The grid, shape ``(T,)``.
    cv_auc
        AUC of the score alone on each fold's validation rows, ``(k, T)``
        (scan and clumping redone on each fold's training rows).
    cv_n_variants
        Variants in each fold's score per threshold, ``(k, T)``.
    n_variants
        Variants per threshold in the final (all training rows) clumping, ``(T,)``.
    assoc
        The final scan's table (all training rows).
    """

    score: LinearScore
    threshold: float
    thresholds: npt.NDArray[np.float64]
    cv_auc: npt.NDArray[np.float64]
    cv_n_variants: npt.NDArray[np.int64]
    n_variants: npt.NDArray[np.int64]
    assoc: pd.DataFrame = field(repr=False)

    @property
    def mean_cv_auc(self) -> npt.NDArray[np.float64]:
        """Mean fold AUC per threshold, ``(T,)``."""
        return np.asarray(self.cv_auc.mean(axis=0), dtype=np.float64)

    def table(self) -> pd.DataFrame:
        """``threshold mean_cv_auc se_cv_auc n_variants chosen`` per threshold."""
        k = self.cv_auc.shape[0]
        se = self.cv_auc.std(axis=0, ddof=1) / np.sqrt(k) if k > 1 else np.zeros(self.thresholds.size)
        return pd.DataFrame(
            {
                "threshold": self.thresholds,
                "mean_cv_auc": self.mean_cv_auc,
                "se_cv_auc": se,
                "n_variants": self.n_variants,
                "chosen": self.thresholds == self.threshold,
            }
        )


def _scan_and_clump(
    cohort: Cohort,
    rows: npt.NDArray[np.intp],
    covariates: npt.NDArray[np.float64] | None,
    assoc_config: AssocConfig,
    clump_config: ClumpConfig,
    scan_fn: ScanFn | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan the rows, clump with their genotypes; returns (scan table, index variants' rows of it, best p first)."""
    from genopt.assoc.scan import scan

    run: ScanFn = scan if scan_fn is None else scan_fn
    res = run(cohort, assoc_config, samples=rows, covariates=covariates)
    table: pd.DataFrame = res.table
    clumps = clump(table, cohort.fileset, clump_config, samples=cohort.sample_idx[rows])
    by_variant = table.set_index("variant_index", drop=False)
    index = by_variant.loc[clumps.index_variants].reset_index(drop=True)
    return table, index


def _threshold_scores(
    index: pd.DataFrame, genotypes: npt.NDArray[np.float64], thresholds: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Scores ``(n, T)`` and variant counts ``(T,)``: sum of beta x A1 count over index rows with p < t.

    ``genotypes`` are the index variants' A1 counts, ``(n, m)``, NaN = missing
    (imputed with ``2 x effect_allele_frequency`` of the scan).
    """
    p = index["p_value"].to_numpy(dtype=np.float64)
    beta = index["beta"].to_numpy(dtype=np.float64)
    impute = 2.0 * index["effect_allele_frequency"].to_numpy(dtype=np.float64)
    g = np.where(np.isnan(genotypes), impute, genotypes)
    use = (p[:, None] < thresholds[None, :]) & np.isfinite(beta)[:, None]  # (m, T)
    return g @ (np.where(np.isfinite(beta), beta, 0.0)[:, None] * use), use.sum(axis=0).astype(np.int64)


def _rows_and_covariates(
    cohort: Cohort, train_idx: npt.ArrayLike | None, covariates: npt.ArrayLike | None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64] | None]:
    rows = np.arange(cohort.n, dtype=np.intp) if train_idx is None else np.sort(np.asarray(train_idx, dtype=np.intp))
    if rows.size == 0 or rows.min() < 0 or rows.max() >= cohort.n or np.unique(rows).size != rows.size:
        raise GenoptError(f"training rows must be distinct indices into the cohort's {cohort.n} rows")
    if covariates is None:
        return rows, None
    cov = np.asarray(covariates, dtype=np.float64)
    cov = cov[:, None] if cov.ndim == 1 else cov
    if cov.shape[0] == cohort.n:
        cov = cov[rows]
    elif cov.shape[0] != rows.size:
        raise GenoptError(f"covariates have {cov.shape[0]} rows; expected {rows.size} or {cohort.n}")
    return rows, cov


def clump_threshold(
    cohort: Cohort,
    train_idx: npt.ArrayLike | None = None,
    covariates: npt.ArrayLike | None = None,
    thresholds: Sequence[float] = CT_THRESHOLDS,
    folds: int = 5,
    seed: int = 0,
    assoc_config: AssocConfig | None = None,
    clump_config: ClumpConfig = CT_CLUMP,
    scan_fn: ScanFn | None = None,
) -> ClumpThresholdFit:
    """Clumping + thresholding with the threshold chosen by CV AUC inside the training rows.

    Parameters
    ----------
    cohort
        Discovery cohort (outcome 1 = cooperate).
    train_idx
        Cohort rows to fit on (None: all). No other row is read.
    covariates
        Extra covariates of the scan (e.g. PCs), rows for ``train_idx`` (in
        sorted order) or for every cohort row; the cohort's covariates are
        always in.
    thresholds
        P-value thresholds (a variant is in the score when ``p < t``).
    folds, seed
        Stratified k-fold CV of the training rows (:func:`make_folds`).
    assoc_config
        Scan settings (default :class:`~genopt.config.AssocConfig`; its
        ``n_pcs`` is not used: pass PCs in ``covariates``).
    clump_config
        Clumping (default :data:`CT_CLUMP`); ``p1`` should be at least the
        largest threshold.
    scan_fn
        Association scan (default :func:`genopt.assoc.scan.scan`).

    Returns
    -------
    :class:`ClumpThresholdFit`.
    """
    rows, cov = _rows_and_covariates(cohort, train_idx, covariates)
    grid = np.asarray(sorted(float(t) for t in thresholds), dtype=np.float64)
    if grid.size == 0 or grid[0] <= 0 or grid[-1] > 1:
        raise GenoptError(f"C+T thresholds must be in (0, 1], got {list(thresholds)}")
    assoc_config = assoc_config or AssocConfig()
    y = cohort.y[rows].astype(np.int64)
    fold_list = make_folds(y, folds, seed)
    cv_auc = np.empty((len(fold_list), grid.size))
    cv_n = np.empty((len(fold_list), grid.size), dtype=np.int64)
    for f, (t, v) in enumerate(fold_list):
        _, index = _scan_and_clump(
            cohort, rows[t], None if cov is None else cov[t], assoc_config, clump_config, scan_fn
        )
        vidx = index["variant_index"].to_numpy(dtype=np.intp)
        g = cohort.fileset.read(variants=vidx, samples=cohort.sample_idx[rows[v]], dtype=np.float64)
        scores, cv_n[f] = _threshold_scores(index, g, grid)
        cv_auc[f] = [auc(y[v], scores[:, j]) for j in range(grid.size)]
    best = int(np.argmax(cv_auc.mean(axis=0)))  # first maximum: the smallest threshold among ties
    table, index = _scan_and_clump(cohort, rows, cov, assoc_config, clump_config, scan_fn)
    p = index["p_value"].to_numpy(dtype=np.float64)
    beta = index["beta"].to_numpy(dtype=np.float64)
    n_final = ((p[:, None] < grid[None, :]) & np.isfinite(beta)[:, None]).sum(axis=0).astype(np.int64)
    keep = (p < grid[best]) & np.isfinite(beta)
    chosen = index[keep]
    score = LinearScore.from_rows(
        cohort,
        chosen["variant_index"].to_numpy(dtype=np.int64),
        chosen["beta"].to_numpy(dtype=np.float64),
        chosen["effect_allele_frequency"].to_numpy(dtype=np.float64),
    )
    return ClumpThresholdFit(
        score=score,
        threshold=float(grid[best]),
        thresholds=grid,
        cv_auc=cv_auc,
        cv_n_variants=cv_n,
        n_variants=n_final,
        assoc=table,
    )


# ---------------------------------------------------------------------------- lasso


@dataclass(frozen=True)
class LassoFit:
    """A fitted lasso score.

    Attributes
    ----------
    model
        The final model (family ``logistic_l1``, chosen ``C``) fitted on all
        training rows, over every candidate variant (most weights are 0).
    score
        Its variants with a non-zero weight, as a :class:`LinearScore`
        (``weights`` = ``model.weights``, per discovery A1 copy).
    C
        The chosen inverse penalty.
    Cs
        The grid, ``(K,)``.
    cv_auc
        Fold AUCs (full model: covariates + variants) per C, ``(k, K)``.
    variant_idx
        Discovery .bim rows of the candidate variants (the model's columns).
    """

    model: FinalModel = field(repr=False)
    score: LinearScore
    C: float
    Cs: npt.NDArray[np.float64]
    cv_auc: npt.NDArray[np.float64]
    variant_idx: npt.NDArray[np.intp] = field(repr=False)

    @property
    def mean_cv_auc(self) -> npt.NDArray[np.float64]:
        """Mean fold AUC per C, ``(K,)``."""
        return np.asarray(self.cv_auc.mean(axis=0), dtype=np.float64)


def lasso(
    cohort: Cohort,
    train_idx: npt.ArrayLike | None = None,
    covariates: npt.ArrayLike | None = None,
    variants: npt.ArrayLike | None = None,
    Cs: Sequence[float] = LASSO_CS,
    folds: int = 5,
    seed: int = 0,
) -> LassoFit:
    """L1-logistic regression on ``variants`` with covariates always in; C by inner CV AUC.

    Parameters
    ----------
    cohort
        Discovery cohort (outcome 1 = cooperate).
    train_idx
        Cohort rows to fit on (None: all). No other row is read.
    covariates
        Extra covariates (e.g. PCs), rows for ``train_idx`` (sorted) or for
        every cohort row; appended to the cohort's covariates.
    variants
        Discovery .bim rows of the candidate variants (None: all).
    Cs
        Inverse penalties searched.
    folds, seed
        Stratified k-fold CV of the training rows (:func:`make_folds`);
        ``seed`` is also liblinear's ``random_state``.

    Returns
    -------
    :class:`LassoFit`. Memory: the training rows' genotypes of all candidate
    variants as float64 (4,000 x 14,079: 450 MB) plus one fold's design.
    """
    rows, cov = _rows_and_covariates(cohort, train_idx, covariates)
    vidx = (
        np.arange(len(cohort.variants), dtype=np.intp)
        if variants is None
        else np.unique(np.asarray(variants, dtype=np.intp))
    )
    grid = np.asarray([float(c) for c in Cs], dtype=np.float64)
    if grid.size == 0 or (grid <= 0).any():
        raise GenoptError(f"lasso Cs must be positive, got {list(Cs)}")
    sub = cohort.subset(np.isin(np.arange(cohort.n), rows), "lasso training rows") if rows.size < cohort.n else cohort
    g = sub.genotypes(variants=vidx).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(g, axis=0)
    if np.isnan(mean).any():
        raise GenoptError(
            f"{int(np.isnan(mean).sum())} candidate variants have no called genotype in the training rows"
        )
    g = np.where(np.isnan(g), mean, g)  # the model's final imputation (2p of all training rows)
    base = sub.covariates.to_numpy(dtype=np.float64).reshape(sub.n, -1)
    cmat = base if cov is None else np.column_stack([base, cov])
    y = sub.y.astype(np.int64)
    fitness = CVFitness(g, cmat, y, make_folds(y, folds, seed), seed=seed)
    all_cols = tuple(range(vidx.size))
    cv_auc = np.column_stack(
        [fitness.evaluate(Candidate(all_cols, "logistic_l1", (("C", float(c)),))).fold_aucs for c in grid]
    )
    best = int(np.argmax(cv_auc.mean(axis=0)))  # first maximum: the smallest C (strongest penalty) among ties
    del fitness, g
    chosen = Candidate(all_cols, "logistic_l1", (("C", float(grid[best])),))
    model = fit_final(sub, vidx, chosen, covariates=cov, seed=seed)
    if model.weights is None:
        raise RuntimeError("fit_final returned no weights for a logistic_l1 model")
    nz = np.flatnonzero(model.weights != 0.0)
    score = LinearScore.from_rows(sub, model.bim_index[nz], model.weights[nz], model.a1_freq[nz])
    return LassoFit(model=model, score=score, C=float(grid[best]), Cs=grid, cv_auc=cv_auc, variant_idx=vidx)

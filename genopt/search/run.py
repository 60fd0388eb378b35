"""The honest search: split discovery, search on one part, choose on the other.

:func:`run_search` orchestrates the candidate pool, the fitness and the engine
so that the internal validation part of the discovery cohort is never seen by
anything that is fitted or chosen before the final pick among the Pareto front:

1. The discovery rows are split (stratified by ``y``, seeded) into a *search*
   part and an internal *validation* part (``validation_fraction``).
2. Principal components are fitted on the search part's genotypes only
   (:func:`genopt.structure.pca_variants` then :func:`genopt.structure.fit_pca`
   with ``samples`` = the search part's .fam rows) and projected onto the
   validation part (:meth:`genopt.structure.PCAModel.transform`).
3. The candidate pool is built on the search part only
   (:func:`genopt.assoc.pool.build_pool` with ``train_idx`` = search rows and
   the search part's PCs as covariates).
4. :class:`~genopt.search.fitness.CVFitness` runs k-fold CV inside the search
   part (pool genotypes of the search rows; missing calls imputed with the
   search-part mean of the variant; covariates = cohort covariates + PCs);
   the engine of :func:`genopt.search.engine.make_engine` spends the budget.
5. Each Pareto-front candidate (mean CV AUC vs number of variants, over all
   evaluations) is fitted on the whole search part and scored on the
   validation part; the chosen candidate is the smallest front candidate whose
   validation AUC is within one DeLong standard error (of the best validation
   AUC) of the best validation AUC.

Honesty
-------
By default (``SearchConfig.pool_per_fold``) the pool is rebuilt on each CV
fold's training rows (:class:`FoldPoolFitness`): the searchable columns are
the union of the fold pools, and in fold ``f`` a candidate uses only those of
its variants that are in fold ``f``'s pool, so no fold's validation outcomes
ever chose the variants scored on it (label :data:`INNER_CV_LABEL_PER_FOLD`).
The PCs stay those of the whole search part (genotypes only, no outcome).

With ``pool_per_fold=False`` one pool is selected on the whole search part, so
the inner CV AUC is optimistic (the pool saw the outcomes of every CV fold's
validation rows); it is labelled :data:`INNER_CV_LABEL`.

Either way the validation AUC of the chosen candidate is honest for the pool,
the PCs and the search, but it is the maximum-ish of a few front candidates
scored on the same rows (the one-SE rule limits that selection). Optimism =
inner CV AUC - validation AUC.

The GA's first generation holds, besides random subsets, the pool's best-k-by-p
subsets (``SearchConfig.top_k_seeds``) and any warm-start candidates
(:func:`warm_start_candidates`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.assoc.pool import CandidatePool, build_pool, write_pool
from genopt.cohort import Cohort
from genopt.config import PCAConfig, PoolConfig, SearchConfig, to_dict
from genopt.errors import GenoptError
from genopt.io.atomic import write_text, write_tsv
from genopt.search.checkpoint import Checkpoint, fingerprint
from genopt.search.engine import SearchResult, make_engine
from genopt.search.evaluate import make_evaluator
from genopt.search.fitness import CVFitness, fit_predict, make_folds, standardised_design
from genopt.search.space import SearchSpace
from genopt.search.types import Candidate, Evaluation

if TYPE_CHECKING:
    from genopt.structure import PCAModel

__all__ = [
    "INNER_CV_LABEL",
    "INNER_CV_LABEL_PER_FOLD",
    "PARETO_COLUMNS",
    "FoldPoolFitness",
    "SearchOutcome",
    "auc_delong_se",
    "choose_on_validation",
    "fit_and_score",
    "run_search",
    "split_discovery",
]

#: How the inner CV AUC is labelled in every output.
INNER_CV_LABEL = "inner_cv_auc (optimistic: pool selected on the same samples)"
#: The label with ``pool_per_fold=True`` (each fold's pool from its training rows only).
INNER_CV_LABEL_PER_FOLD = "inner_cv_auc (pool rebuilt inside each fold's training rows)"

#: Columns of ``pareto.tsv``.
PARETO_COLUMNS = (
    "n_variants",
    "mean_auc",
    "se_auc",
    "validation_auc",
    "validation_se",
    "chosen",
    "family",
    "params",
    "variant_ids",
)


def split_discovery(
    y: npt.ArrayLike, validation_fraction: float, seed: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Stratified split of cohort rows into a search part and a validation part.

    Parameters
    ----------
    y
        Outcome per cohort row, shape ``(n,)`` (1 = cooperate, 0 = defect).
    validation_fraction
        Fraction of rows (rounded as :func:`sklearn.model_selection.train_test_split`)
        held out for validation, in (0, 1).
    seed
        ``random_state`` of the shuffle.

    Returns
    -------
    ``(search_idx, validation_idx)``: sorted, disjoint intp cohort row indices
    covering all rows; each part holds the class proportions of ``y`` (to
    within one sample per class).
    """
    from sklearn.model_selection import train_test_split

    yy = np.asarray(y).ravel()
    if not 0.0 < validation_fraction < 1.0:
        raise GenoptError(f"validation_fraction = {validation_fraction!r} must be in (0, 1)")
    rows = np.arange(yy.size, dtype=np.intp)
    search, valid = train_test_split(rows, test_size=validation_fraction, stratify=yy, random_state=seed, shuffle=True)
    return np.sort(search).astype(np.intp), np.sort(valid).astype(np.intp)


def auc_delong_se(y: npt.ArrayLike, score: npt.ArrayLike) -> tuple[float, float]:
    """ROC AUC and its DeLong (1988) standard error.

    Parameters
    ----------
    y
        0/1 labels, shape ``(n,)``.
    score
        Scores, shape ``(n,)``, higher = more likely 1.

    Returns
    -------
    ``(auc, se)``. With structural components ``V10_i`` (fraction of negatives
    scored below positive ``i``, ties one half) and ``V01_j`` (fraction of
    positives scored above negative ``j``), ``var = var(V10)/m + var(V01)/n``
    (sample variances, ``ddof=1``; ``m`` positives, ``n`` negatives).
    """
    yy = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    pos, neg = s[yy], s[~yy]
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    neg_sorted, pos_sorted = np.sort(neg), np.sort(pos)
    v10 = (np.searchsorted(neg_sorted, pos, "left") + np.searchsorted(neg_sorted, pos, "right")) / (2.0 * n)
    v01 = 1.0 - (np.searchsorted(pos_sorted, neg, "left") + np.searchsorted(pos_sorted, neg, "right")) / (2.0 * m)
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    return float(v10.mean()), float(np.sqrt(var))


def fit_and_score(
    fitness: CVFitness | FoldPoolFitness,
    candidate: Candidate,
    genotypes_fit: npt.NDArray[np.float64],
    covariates_fit: npt.NDArray[np.float64],
    y_fit: npt.ArrayLike,
    genotypes_score: npt.NDArray[np.float64],
    covariates_score: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Fit ``candidate`` on one set of rows and score another.

    Uses ``fitness``'s estimator (:meth:`CVFitness.estimator`) and its
    conventions: columns ``[C, G_S]`` standardised with the fitting rows' means
    and population SDs (constant column: SD 1), covariates multiplied by
    :meth:`CVFitness.covariate_scale`; score = linear predictor (``ridge``),
    decision function (logistic families) or P(y = 1) (``gbm``).

    Parameters
    ----------
    genotypes_fit, genotypes_score
        Pool genotypes (A1 counts, imputed, no NaN), ``(n_fit, p)`` and ``(n_score, p)``.
    covariates_fit, covariates_score
        ``(n_fit, c)`` and ``(n_score, c)``.
    y_fit
        Outcome of the fitting rows, ``(n_fit,)``.

    Returns
    -------
    float64 scores of the scoring rows, ``(n_score,)`` (constant 0 for a model
    with no column at all).
    """
    cols = np.asarray(candidate.subset, dtype=np.intp)
    xf = np.column_stack([covariates_fit, genotypes_fit[:, cols]]).astype(np.float64)
    xs = np.column_stack([covariates_score, genotypes_score[:, cols]]).astype(np.float64)
    if xf.shape[1] == 0:
        return np.zeros(xs.shape[0])
    xf, xs = standardised_design(xf, xs, covariates_fit.shape[1], fitness.covariate_scale(candidate.family))
    return fit_predict(fitness.estimator(candidate), candidate.family, xf, y_fit, xs)


class FoldPoolFitness:
    """CV fitness whose pool is rebuilt inside each fold's training rows.

    Parameters
    ----------
    genotypes
        Genotypes of the union of the fold pools, ``(n, U)`` (A1 counts, imputed).
    covariates, y, seed
        As :class:`~genopt.search.fitness.CVFitness`.
    folds
        ``(train_idx, valid_idx)`` pairs.
    in_pool
        bool ``(k, U)``: column ``j`` is in fold ``f``'s pool.

    Notes
    -----
    Fold ``f`` evaluates the candidate restricted to its columns with
    ``in_pool[f]`` (an empty restriction is the covariates-only model) with a
    one-fold :class:`~genopt.search.fitness.CVFitness` (ridge fast path,
    caches). ``cached`` is True when every fold was a cache hit.
    """

    def __init__(
        self,
        genotypes: npt.NDArray[np.float64],
        covariates: npt.NDArray[np.float64],
        y: npt.ArrayLike,
        folds: Any,
        in_pool: npt.NDArray[np.bool_],
        seed: int = 0,
    ) -> None:
        self.in_pool = np.asarray(in_pool, dtype=bool)
        self.per_fold = [CVFitness(genotypes, covariates, y, [fold], seed=seed) for fold in folds]
        if self.in_pool.shape != (len(self.per_fold), genotypes.shape[1]):
            raise ValueError(f"in_pool must be (k, U) = ({len(self.per_fold)}, {genotypes.shape[1]})")
        self.evaluations = 0
        self.cache_hits = 0

    def estimator(self, candidate: Candidate) -> Any:
        return self.per_fold[0].estimator(candidate)

    def covariate_scale(self, family: str) -> float:
        return self.per_fold[0].covariate_scale(family)

    def _restricted(self, candidate: Candidate) -> list[Candidate]:
        """The candidate as each fold fits it: its variants that are in that fold's pool."""
        return [
            Candidate(tuple(j for j in candidate.subset if self.in_pool[f, j]), candidate.family, candidate.params)
            for f in range(len(self.per_fold))
        ]

    def fold_keys(self, candidate: Candidate) -> list[Candidate]:
        """Fold ``f``'s AUC depends only on the candidate restricted to fold ``f``'s pool (see BudgetedFitness)."""
        return self._restricted(candidate)

    def evaluate(self, candidate: Candidate) -> Evaluation:
        aucs = np.empty(len(self.per_fold))
        cached = True
        for f, (fit, restricted) in enumerate(zip(self.per_fold, self._restricted(candidate), strict=True)):
            ev = fit.evaluate(restricted)
            aucs[f] = ev.fold_aucs[0]
            cached = cached and ev.cached
        if cached:
            self.cache_hits += 1
        else:
            self.evaluations += 1
        return Evaluation(candidate, aucs, cached=cached)


def _union_pools(pools: list[CandidatePool]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_], pd.DataFrame]:
    """Union of fold pools ordered by best rank in any fold (ties by .bim row); membership mask; table."""
    best: dict[int, int] = {}
    count: dict[int, int] = {}
    for pool in pools:
        for rank, v in enumerate(pool.variant_idx.tolist()):
            best[v] = min(best.get(v, rank), rank)
            count[v] = count.get(v, 0) + 1
    union = np.array(sorted(best, key=lambda v: (best[v], v)), dtype=np.intp)
    in_pool = np.vstack([np.isin(union, pool.variant_idx) for pool in pools])
    table = pd.DataFrame(
        {
            "column": np.arange(union.size),
            "variant_index": union,
            "best_fold_rank": [best[int(v)] + 1 for v in union],
            "n_fold_pools": [count[int(v)] for v in union],
        }
    )
    return union, in_pool, table


@dataclass
class SearchOutcome:
    """Everything :func:`run_search` found and how.

    Attributes
    ----------
    pool
        The candidate pool (built on the search part only); column ``j`` of the
        search is ``pool.variant_idx[j]`` (.bim row).
    chosen
        The chosen front evaluation (its candidate's ``subset`` indexes the pool).
    chosen_variant_idx
        .bim rows of the chosen variants (pool order of the subset).
    chosen_variant_ids
        Their .bim IDs.
    inner_cv_auc, inner_cv_se
        Mean and SE of the chosen candidate's fold AUCs inside the search part
        (optimistic: see :data:`INNER_CV_LABEL`).
    validation_auc, validation_se
        AUC of the chosen candidate (fitted on the whole search part) on the
        validation part, and its DeLong SE.
    optimism
        ``inner_cv_auc - validation_auc``.
    front
        Pareto front table (:data:`PARETO_COLUMNS`), smallest subset first.
    result
        The engine's :class:`~genopt.search.engine.SearchResult`.
    search_idx, validation_idx
        Cohort row indices of the two parts (sorted).
    timings
        Seconds per step: ``split``, ``pca``, ``pool``, ``genotypes``, ``search``, ``choose``, ``write``, ``total``.
    summary
        JSON-ready dict written as ``search_summary.json`` (every number with a "how").
    pcs_search, pcs_validation
        PC scores of the two parts, ``(n_search, n_pcs)`` and ``(n_validation, n_pcs)``.
    columns
        .bim rows of the searched columns (candidate subsets index it):
        ``pool.variant_idx``, or with ``pool_per_fold`` the union of the fold pools.
    fold_pools, fold_pool_table
        With ``pool_per_fold``: each fold's pool, and the union table
        (``column variant_index id best_fold_rank n_fold_pools``).
    pca_model
        The :class:`~genopt.structure.PCAModel` fitted on the search part's
        genotypes (None with ``n_pcs`` = 0): project other samples with it,
        e.g. the outer-test rows of :func:`genopt.search.outer.outer_cv`.
    """

    pool: CandidatePool
    chosen: Evaluation
    chosen_variant_idx: npt.NDArray[np.intp]
    chosen_variant_ids: list[str]
    inner_cv_auc: float
    inner_cv_se: float
    validation_auc: float
    validation_se: float
    optimism: float
    front: pd.DataFrame
    result: SearchResult
    search_idx: npt.NDArray[np.intp]
    validation_idx: npt.NDArray[np.intp]
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    pcs_search: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    pcs_validation: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    columns: npt.NDArray[np.intp] | None = None
    fold_pools: list[CandidatePool] = field(default_factory=list, repr=False)
    fold_pool_table: pd.DataFrame | None = field(default=None, repr=False)
    pca_model: PCAModel | None = field(default=None, repr=False)

    @property
    def chosen_candidate(self) -> Candidate:
        return self.chosen.candidate

    def discovery_pcs(self) -> npt.NDArray[np.float64]:
        """PC scores of every row of the searched cohort, ``(n_search + n_validation, n_pcs)``.

        Search-part rows carry the PCA's own scores, validation rows their
        projection onto it; rows in cohort order.
        """
        if self.pcs_search is None or self.pcs_validation is None:
            raise ValueError("this outcome holds no PC scores")
        pcs = np.empty((self.search_idx.size + self.validation_idx.size, self.pcs_search.shape[1]))
        pcs[self.search_idx] = self.pcs_search
        pcs[self.validation_idx] = self.pcs_validation
        return pcs


def _format_params(candidate: Candidate) -> str:
    return ";".join(f"{k}={v:g}" for k, v in candidate.params)


def _fit_pcs(
    cohort: Cohort,
    pca_config: PCAConfig,
    search_idx: npt.NDArray[np.intp],
    validation_idx: npt.NDArray[np.intp],
    variants: npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], dict[str, Any], PCAModel | None]:
    """PCs fitted on the search part's genotypes, projected onto the validation part; the fitted model."""
    from genopt.structure import fit_pca, pca_variants

    n_search, n_valid = search_idx.size, validation_idx.size
    if pca_config.n_pcs <= 0:
        return np.zeros((n_search, 0)), np.zeros((n_valid, 0)), {"n_pcs": 0}, None
    rows_search = cohort.sample_idx[search_idx]
    mask = pca_variants(cohort.fileset, pca_config, samples=rows_search, variants=variants)
    model = fit_pca(cohort.fileset, pca_config, samples=rows_search, variants=mask)
    scores = np.asarray(model.scores, dtype=np.float64)
    if scores.shape[0] != n_search:
        raise GenoptError(f"PCA returned {scores.shape[0]} score rows for {n_search} search samples")
    proj = model.transform(cohort.fileset, samples=cohort.sample_idx[validation_idx])
    pv = np.asarray(proj.scores, dtype=np.float64)
    # projection follows the order of the rows asked for (sorted .fam rows): check by ID
    fam = cohort.fileset.samples.iloc[cohort.sample_idx[validation_idx]]
    if not (proj.samples["iid"].astype(str).to_numpy() == fam["iid"].astype(str).to_numpy()).all():
        raise GenoptError("PCA projection returned the validation samples in another order")
    info = {"n_pcs": int(scores.shape[1]), "n_pca_variants": int(mask.sum()), **proj.summary()}
    return scores, pv, info, model


def choose_on_validation(front: Sequence[Evaluation], val: npt.NDArray[np.float64]) -> int:
    """Index of the smallest front candidate within one DeLong SE of the best validation AUC.

    ``val`` is ``(len(front), 2)``: each candidate's validation AUC and its
    DeLong SE. Ties go to the higher validation AUC, then to the earlier
    front point.
    """
    best_i = int(np.nanargmax(val[:, 0]))
    threshold = val[best_i, 0] - val[best_i, 1]
    eligible = [i for i in range(len(front)) if val[i, 0] >= threshold]
    return min(eligible, key=lambda i: (front[i].candidate.n_variants, -val[i, 0], i))


def warm_start_candidates(
    run_dir: str | Path, pool_ids: npt.ArrayLike, space: SearchSpace
) -> tuple[list[Candidate], dict[str, Any]]:
    """Candidates of a previous run's ``pareto.tsv``, re-expressed over this pool.

    Parameters
    ----------
    run_dir
        A previous ``genopt search`` output directory (or its ``pareto.tsv``).
    pool_ids
        .bim IDs of this search's columns, shape ``(p,)``.
    space
        This search's space: candidates are kept only if they fit it.

    Returns
    -------
    ``(candidates, info)``: distinct candidates in front order, each with the
    variants of its ``variant_ids`` that are in this pool (a candidate with
    none left is dropped); ``info`` counts what was read, kept and dropped and why.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / "pareto.tsv"
    if not path.is_file():
        raise GenoptError("warm start: no pareto.tsv found", path)
    front = pd.read_csv(path, sep="\t", dtype={"variant_ids": str, "params": str, "family": str}, keep_default_na=False)
    missing = {"family", "params", "variant_ids"} - set(front.columns)
    if missing:
        raise GenoptError(f"warm start: pareto.tsv lacks column(s) {', '.join(sorted(missing))}", path)
    index = {v: i for i, v in enumerate(np.asarray(pool_ids, dtype=str).tolist())}
    out: list[Candidate] = []
    info: dict[str, Any] = {"run": str(path), "read": len(front), "kept": 0, "no_variant_in_pool": 0}
    info["outside_space"] = 0
    for row in front.itertuples(index=False):
        ids = [v for v in str(row.variant_ids).split(";") if v]
        subset = tuple(sorted({index[v] for v in ids if v in index}))
        if not subset:
            info["no_variant_in_pool"] += 1
            continue
        try:
            params = tuple(
                sorted((k, float(v)) for k, v in (kv.split("=", 1) for kv in str(row.params).split(";") if kv))
            )
            candidate = Candidate(subset, str(row.family), params)
            space.encode(candidate)
        except ValueError:
            info["outside_space"] += 1
            continue
        if candidate not in out:
            out.append(candidate)
    info["kept"] = len(out)
    return out, info


def _pool_genotypes(
    cohort: Cohort,
    variant_idx: npt.NDArray[np.intp],
    search_idx: npt.NDArray[np.intp],
    validation_idx: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pool genotypes of both parts; missing calls take the search-part mean (A1 counts)."""
    order = np.argsort(variant_idx, kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    sorted_v = variant_idx[order]
    gs = cohort.fileset.read(variants=sorted_v, samples=cohort.sample_idx[search_idx]).astype(np.float64)[:, inverse]
    gv = cohort.fileset.read(variants=sorted_v, samples=cohort.sample_idx[validation_idx]).astype(np.float64)[
        :, inverse
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(gs, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    gs = np.where(np.isnan(gs), mean, gs)
    gv = np.where(np.isnan(gv), mean, gv)
    return gs, gv


def run_search(
    cohort: Cohort,
    search_config: SearchConfig,
    pool_config: PoolConfig,
    pca_config: PCAConfig,
    seed: int,
    validation_fraction: float | None = None,
    out_dir: str | Path | None = None,
    folds: int | None = None,
    scan_fn: Callable[..., Any] | None = None,
    split: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    pool_per_fold: bool | None = None,
    variants: npt.ArrayLike | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool | Callable[..., Any] | None = None,
) -> SearchOutcome:
    """Search on a stratified search part of discovery, choose on its validation part.

    Parameters
    ----------
    cohort
        Discovery cohort (genotypes, outcome 1 = cooperate, covariates).
    search_config
        Engine, budget and search space bounds.
    pool_config
        Candidate pool settings (``max_size``, scan, clumping). The scan's own
        ``assoc.n_pcs`` is not used to fit PCs: the PCs of ``pca_config``
        (fitted on the search part) are passed to it as covariates.
    pca_config
        PCs fitted on the search part (``n_pcs`` = 0: none).
    seed
        Seeds the split, the PCA's randomized SVD (replacing ``pca_config.seed``),
        the CV folds, the estimators and the engine. Same seed, same result.
    validation_fraction
        Fraction of discovery held out as the internal validation part
        (None: ``search_config.validation_fraction``).
    out_dir
        If given, ``history.tsv``, ``pareto.tsv``, ``pool.tsv`` and
        ``search_summary.json`` are written there atomically.
    folds
        k of the inner k-fold CV (:func:`make_folds` on the search part;
        None: ``search_config.folds``).
    scan_fn
        Association scan passed to :func:`build_pool` (default: genopt's scan).
    split
        ``(search_idx, validation_idx)`` cohort rows to use instead of
        :func:`split_discovery` (disjoint; e.g. to repeat a run's split, or to
        change validation outcomes without moving the split).
    pool_per_fold
        Rebuild the pool inside each CV fold's training rows
        (:class:`FoldPoolFitness`), so that the inner CV AUC is not inflated by
        pool selection; ``pool`` is still the whole search part's pool (for
        ``pool.tsv``), and ``fold_pools.tsv`` lists the searched union.
        None: ``search_config.pool_per_fold``.
    variants
        bool mask over the .bim rows (e.g. those passing QC): the only
        variants the PCA and the pool may use; None: all.
    checkpoint
        Checkpoint file of the search (written every
        ``search_config.checkpoint_every`` generations); None: none.
    resume
        Continue from ``checkpoint`` if it exists: the steps before the search
        are deterministic and are recomputed, the search replays the
        checkpoint and goes on; the result equals an uninterrupted run's. A
        checkpoint of other inputs or settings is refused.
    progress
        Progress bar of the search (True, or a callable; see
        :meth:`genopt.search.engine.GAEngine.run`).

    Evaluation runs on ``search_config.jobs`` local processes or on
    dask.distributed (``search_config.scheduler``); the result does not
    depend on either.

    Returns
    -------
    :class:`SearchOutcome`.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    folds = search_config.folds if folds is None else folds
    if validation_fraction is None:
        validation_fraction = search_config.validation_fraction
    pool_per_fold = search_config.pool_per_fold if pool_per_fold is None else pool_per_fold

    def lap(name: str, t0: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - t0, 4)
        return now

    t = time.perf_counter()
    if split is None:
        search_idx, validation_idx = split_discovery(cohort.y, validation_fraction, seed)
    else:
        search_idx = np.sort(np.asarray(split[0], dtype=np.intp))
        validation_idx = np.sort(np.asarray(split[1], dtype=np.intp))
        if np.intersect1d(search_idx, validation_idx).size:
            raise GenoptError("the search and validation parts of the given split share rows")
    y_search = cohort.y[search_idx].astype(np.int64)
    y_valid = cohort.y[validation_idx].astype(np.int64)
    t = lap("split", t)

    pca_conf = replace(pca_config, seed=seed)
    pcs_s, pcs_v, pca_info, pca_model = _fit_pcs(cohort, pca_conf, search_idx, validation_idx, variants)
    t = lap("pca", t)

    pool = build_pool(
        cohort,
        pool_config,
        train_idx=search_idx,
        covariates=pcs_s if pcs_s.shape[1] else None,
        scan_fn=scan_fn,
        fit_pcs=False,
        variants=variants,
    )
    if len(pool) == 0:
        raise GenoptError("the candidate pool is empty: no variant passed the pool's clumping p-value threshold")
    fold_list = make_folds(y_search, folds, seed)
    fold_pools: list[CandidatePool] = []
    fold_table: pd.DataFrame | None = None
    columns = pool.variant_idx
    if pool_per_fold:
        for train, _ in fold_list:
            fold_pools.append(
                build_pool(
                    cohort,
                    pool_config,
                    train_idx=search_idx[train],
                    covariates=pcs_s[train] if pcs_s.shape[1] else None,
                    scan_fn=scan_fn,
                    fit_pcs=False,
                    variants=variants,
                )
            )
        columns, in_pool, fold_table = _union_pools(fold_pools)
        fold_table.insert(2, "id", cohort.variants["id"].astype(str).to_numpy()[columns])
    t = lap("pool", t)

    gs, gv = _pool_genotypes(cohort, columns, search_idx, validation_idx)
    cov_all = cohort.covariates.to_numpy(dtype=np.float64)
    cs = np.hstack([cov_all[search_idx], pcs_s])
    cv = np.hstack([cov_all[validation_idx], pcs_v])
    t = lap("genotypes", t)

    fitness: CVFitness | FoldPoolFitness
    if pool_per_fold:
        fitness = FoldPoolFitness(gs, cs, y_search, fold_list, in_pool, seed=seed)
    else:
        fitness = CVFitness(gs, cs, y_search, fold_list, seed=seed)
    space = SearchSpace.from_config(int(columns.size), search_config)
    ids = cohort.variants["id"].astype(str).to_numpy()
    initial: list[Candidate] = []
    warm_info: dict[str, Any] = {"run": None}
    if search_config.warm_start is not None:
        initial, warm_info = warm_start_candidates(search_config.warm_start, ids[columns], space)
    if search_config.engine == "ga" and search_config.top_k_seeds > 0:
        initial += [c for c in space.top_k(search_config.top_k_seeds) if c not in initial]
    check = None
    if checkpoint is not None:
        # what shapes the trajectory; not jobs/scheduler/checkpointing/time limits, which leave the result alone
        settings = replace(search_config, jobs=1, scheduler=None, checkpoint_every=1, max_seconds=None)
        fold_of = np.concatenate([np.full(v.size, f) for f, (_, v) in enumerate(fold_list)])
        fold_rows = np.concatenate([v for _, v in fold_list])
        key = fingerprint(to_dict(settings), ids[columns].astype(str), y_search, fold_rows, fold_of, seed)
        check = Checkpoint(Path(checkpoint), key, search_config.checkpoint_every, resume)
    engine = make_engine(space, search_config, order=list(range(columns.size)))
    evaluator = make_evaluator(fitness, search_config.jobs, search_config.scheduler)
    try:
        result = engine.run(
            fitness, search_config.budget, seed, evaluator=evaluator, checkpoint=check, progress=progress,
            initial=initial or None,
        )  # fmt: skip
    finally:
        evaluator.close()
    t = lap("search", t)

    front = result.pareto_front()
    val = np.empty((len(front), 2))
    for i, ev in enumerate(front):
        score = fit_and_score(fitness, ev.candidate, gs, cs, y_search, gv, cv)
        val[i] = auc_delong_se(y_valid, score)
    best_i = int(np.nanargmax(val[:, 0]))
    pick = choose_on_validation(front, val)
    chosen = front[pick]
    t = lap("choose", t)

    pool_ids = ids[columns]
    front_table = pd.DataFrame(
        {
            "n_variants": [e.candidate.n_variants for e in front],
            "mean_auc": [e.mean_auc for e in front],
            "se_auc": [e.se_auc for e in front],
            "validation_auc": val[:, 0],
            "validation_se": val[:, 1],
            "chosen": [i == pick for i in range(len(front))],
            "family": [e.candidate.family for e in front],
            "params": [_format_params(e.candidate) for e in front],
            "variant_ids": [";".join(pool_ids[list(e.candidate.subset)]) for e in front],
        },
        columns=list(PARETO_COLUMNS),
    )
    chosen_vidx = columns[list(chosen.candidate.subset)].astype(np.intp)
    inner = chosen.mean_auc
    v_auc, v_se = float(val[pick, 0]), float(val[pick, 1])
    optimism = inner - v_auc
    n_front = len(front)

    def item(value: Any, how: str) -> dict[str, Any]:
        return {"value": value, "how": how}

    summary: dict[str, Any] = {
        "seed": item(seed, "seeds the split, PCA randomized SVD, CV folds, estimators and engine"),
        "n_discovery": item(int(cohort.n), "discovery cohort rows"),
        "n_search": item(int(search_idx.size), "rows of the search part (stratified by outcome)"),
        "n_search_cases": item(int(y_search.sum()), "cooperate (y=1) in the search part"),
        "n_validation": item(
            int(validation_idx.size),
            "rows held out for internal validation"
            + (f" ({validation_fraction:g} of discovery, stratified)" if split is None else " (split given)"),
        ),
        "n_validation_cases": item(int(y_valid.sum()), "cooperate (y=1) in the validation part"),
        "n_pcs": item(
            int(pcs_s.shape[1]), "PCs fitted on the search part's genotypes only, projected onto the validation part"
        ),
        "pca": item(pca_info, "PCA variants (MAF + LD pruning on the search part) and projection counts"),
        "n_covariates": item(int(cs.shape[1]), "cohort covariates + PCs, in every model, never selected"),
        "pool_size": item(
            len(pool), "clump index variants of the association scan of the search part only, best p first"
        ),
        "pool_record": item(pool.record, "how the pool was built (genopt.assoc.pool.build_pool)"),
        "folds": item(int(folds), "stratified k-fold CV inside the search part (make_folds)"),
        "engine": item(result.engine, "search engine (SearchConfig.engine)"),
        "budget": item(int(search_config.budget), "fitness evaluations allowed"),
        "n_evaluations": item(int(result.n_evaluations), "models actually fitted (all CV folds each)"),
        "n_cache_hits": item(int(result.n_cache_hits), "repeat candidates served without fitting"),
        "n_front": item(n_front, "Pareto front size (mean inner CV AUC vs number of variants, over all evaluations)"),
        "chosen_rule": item(
            "smallest front candidate with validation_auc >= best validation_auc - DeLong SE of that best",
            "each front candidate fitted on the whole search part, scored on the validation part",
        ),
        "chosen_family": item(chosen.candidate.family, "model family of the chosen candidate"),
        "chosen_params": item(dict(chosen.candidate.params), "hyperparameters of the chosen candidate"),
        "chosen_n_variants": item(chosen.candidate.n_variants, "variants in the chosen candidate"),
        "chosen_variant_ids": item([str(x) for x in ids[chosen_vidx]], ".bim IDs of the chosen variants (pool order)"),
        "inner_cv_auc": item(
            inner, (INNER_CV_LABEL_PER_FOLD if pool_per_fold else INNER_CV_LABEL) + "; mean of the fold AUCs"
        ),
        "pool_per_fold": item(
            pool_per_fold,
            "pool rebuilt on each CV fold's training rows; searched columns = union of the fold pools"
            if pool_per_fold
            else "one pool from all search rows (inner CV AUC optimistic)",
        ),
        "n_columns": item(int(columns.size), "variants the search could choose from"),
        "inner_cv_se": item(chosen.se_auc, "SD of the fold AUCs / sqrt(k)"),
        "validation_auc": item(
            v_auc, "AUC on the validation part of the chosen candidate fitted on the whole search part"
        ),
        "validation_se": item(v_se, "DeLong standard error of the validation AUC"),
        "best_validation_auc": item(
            float(val[best_i, 0]), "highest validation AUC over the front (not the chosen one unless equal)"
        ),
        "optimism": item(optimism, "inner_cv_auc - validation_auc of the chosen candidate"),
        "warm_start": item(
            warm_info,
            "candidates of a previous run's pareto.tsv placed in the first generation (variants matched by ID "
            "to this pool; candidates with no variant in it, or a family or parameter outside the space, left out)",
        ),
        "top_k_seeds": item(
            int(search_config.top_k_seeds) if search_config.engine == "ga" else 0,
            "GA first-generation members that hold the pool's best k variants by p (k log-spaced up to "
            "max_variants), after any warm-start candidates; the rest of the generation is random",
        ),
    }
    if not pool_per_fold:
        summary["warning"] = item(
            "the inner CV AUC is optimistic: the pool was chosen on all search rows, the CV folds' test rows included",
            "set pool_per_fold = true to rebuild the pool inside every fold's training rows",
        )
    outcome = SearchOutcome(
        pool=pool,
        chosen=chosen,
        chosen_variant_idx=chosen_vidx,
        chosen_variant_ids=[str(x) for x in ids[chosen_vidx]],
        inner_cv_auc=inner,
        inner_cv_se=chosen.se_auc,
        validation_auc=v_auc,
        validation_se=v_se,
        optimism=optimism,
        front=front_table,
        result=result,
        search_idx=search_idx,
        validation_idx=validation_idx,
        timings=timings,
        summary=summary,
        pcs_search=pcs_s,
        pcs_validation=pcs_v,
        columns=columns,
        fold_pools=fold_pools,
        fold_pool_table=fold_table,
        pca_model=pca_model,
    )
    timings["total"] = round(time.perf_counter() - t_start, 4)
    summary["timings_seconds"] = item(dict(timings), "wall time per step in seconds (writing the outputs not included)")
    if out_dir is not None:
        write_outputs(outcome, out_dir)
        timings["write"] = round(time.perf_counter() - t, 4)
    return outcome


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    return str(obj)


def write_outputs(outcome: SearchOutcome, out_dir: str | Path) -> None:
    """Write ``history.tsv``, ``pareto.tsv``, ``pool.tsv`` and ``search_summary.json`` atomically into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tsv(out / "history.tsv", outcome.result.history_table())
    front = outcome.front.copy()
    front["chosen"] = front["chosen"].astype(int)
    write_tsv(out / "pareto.tsv", front)
    write_pool(outcome.pool, out / "pool.tsv")
    if outcome.fold_pool_table is not None:
        write_tsv(out / "fold_pools.tsv", outcome.fold_pool_table)
    write_text(out / "search_summary.json", json.dumps(outcome.summary, indent=2, default=_json_default) + "\n")

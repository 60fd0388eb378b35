"""The frozen final model: the chosen candidate refitted on all of discovery.

:func:`fit_final` fits the search's chosen :class:`~genopt.search.types.Candidate`
on every sample of the discovery cohort with exactly the estimator and the
standardisation of :class:`~genopt.search.fitness.CVFitness` (it builds a
``CVFitness`` with one "fold" whose training part is every sample and reuses
its design, estimator and, for ``ridge``, its Cholesky solve), and freezes in a
:class:`FinalModel` everything needed to score another cohort without the
discovery data.

Scales
------
Genotypes are counts of the **discovery .bim A1** allele (0, 1, 2). Missing
discovery calls are imputed with ``2p`` (``p`` = discovery A1 frequency among
called samples) before fitting; new cohorts are imputed with the same ``2p``.
The fitted linear predictor of a linear family is::

    eta = intercept + sum_j weight_j * g_j + sum_k covariate_coef_k * c_k

with ``weight_j = beta_std_j / sd_j`` (per A1 copy; ``beta_std_j`` on the
standardised column, ``sd_j`` its population SD in discovery) and
``covariate_coef_k`` per unit of covariate ``k`` on its original scale; the
intercept absorbs every mean. ``ridge``: ``eta`` is the least-squares fit of
the 0/1 outcome; ``logistic_*``: ``eta`` is the log-odds of cooperate.
:meth:`FinalModel.genetic_score` is ``sum_j weight_j * g_j`` only (no intercept,
no covariates): the number PLINK's ``--score score.tsv 1 2 3 header-read
cols=+scoresums`` reports as ``SCORE1_SUM``.

``gbm`` has no additive per-allele weight: its :class:`FinalModel` holds the
variants, frequencies and hyperparameters but ``weights`` is None, the
booster itself is not frozen, and :meth:`FinalModel.genetic_score` and
:func:`genopt.export.write_score_tsv` raise :class:`~genopt.errors.GenoptError`
(a score file would not reproduce the model).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt import __version__
from genopt.cohort import Cohort
from genopt.config import HarmoniseConfig
from genopt.errors import GenoptError
from genopt.harmonise import read_harmonised
from genopt.io.plink import PlinkFileset
from genopt.search.fitness import DEFAULT_PARAMS, CVFitness, _fit_std
from genopt.search.types import Candidate

__all__ = ["LINEAR_FAMILIES", "FinalModel", "GeneticScore", "fit_final", "score_fileset"]

#: Families whose final model is additive in the A1 counts (per-allele weights exist).
LINEAR_FAMILIES: tuple[str, ...] = ("ridge", "logistic_l2", "logistic_l1", "logistic_enet")


@dataclass(frozen=True)
class GeneticScore:
    """A genetic score of one cohort and how its variants were matched.

    Attributes
    ----------
    score
        float64 ``(n_samples,)``: ``sum_j weight_j * (discovery-A1 count)_j``.
    sample_ids
        ``(fid, iid)`` DataFrame of the scored samples in ``score`` order
        (empty columns when scored from a plain array).
    harmonisation
        Variants per match status and drop reason
        (:meth:`genopt.harmonise.Harmonisation.counts`; for a plain array
        every variant counts as ``as-is``).
    n_unmatched
        Model variants absent from (or dropped in) the scored cohort; every
        sample gets ``weight * 2p`` (discovery mean) for them.
    n_missing_calls
        Missing genotype calls imputed with the discovery mean ``2p``.
    """

    score: npt.NDArray[np.float64]
    sample_ids: pd.DataFrame = field(repr=False)
    harmonisation: dict[str, int]
    n_unmatched: int
    n_missing_calls: int


@dataclass(frozen=True, eq=False)
class FinalModel:
    """A model frozen for scoring new cohorts (see the module notes for the scales).

    Per-variant arrays have shape ``(m,)`` in the model's variant order
    (increasing discovery .bim row). All alleles and counts refer to the
    discovery .bim **A1** (``a1``), the effect allele.

    Attributes
    ----------
    family, params
        Model family and all its hyperparameters (defaults filled in).
    seed
        ``random_state`` of the estimator.
    variant_id, chromosome, position, a1, a2
        Discovery .bim ID, chromosome code, base-pair position, A1 (effect
        allele) and A2.
    bim_index
        Row of each variant in the discovery .bim.
    a1_freq
        Discovery A1 frequency among called samples.
    impute_mean
        Value imputed for a missing call: ``2 * a1_freq`` (A1 copies).
    std_mean, std_sd
        Standardisation of the A1 counts (after imputation) in discovery:
        mean and population SD (SD 1 for a constant column, as in the fitness).
    beta_std
        Coefficients on the standardised columns; None for ``gbm``.
    weights
        Per A1 copy: ``beta_std / std_sd``; None for ``gbm``.
    intercept
        Intercept on the original scales (absorbs every mean); None for ``gbm``.
    covariate_names
        Names of the covariates (cohort covariates, then extra ones such as PCs).
    covariate_coef
        Per original unit of each covariate; None for ``gbm``. Reported, not part
        of the genetic score.
    covariate_mean, covariate_sd
        Discovery standardisation of the covariates.
    n_samples, n_cases, n_controls
        Discovery samples the model was fitted on (cases = cooperate = 1).
    genopt_version
        Version of genopt that fitted the model.
    """

    family: str
    params: dict[str, float]
    seed: int
    variant_id: tuple[str, ...]
    chromosome: tuple[str, ...]
    position: npt.NDArray[np.int64]
    a1: tuple[str, ...]
    a2: tuple[str, ...]
    bim_index: npt.NDArray[np.int64]
    a1_freq: npt.NDArray[np.float64]
    impute_mean: npt.NDArray[np.float64]
    std_mean: npt.NDArray[np.float64]
    std_sd: npt.NDArray[np.float64]
    beta_std: npt.NDArray[np.float64] | None
    weights: npt.NDArray[np.float64] | None
    intercept: float | None
    covariate_names: tuple[str, ...]
    covariate_coef: npt.NDArray[np.float64] | None
    covariate_mean: npt.NDArray[np.float64]
    covariate_sd: npt.NDArray[np.float64]
    n_samples: int
    n_cases: int
    n_controls: int
    genopt_version: str = __version__

    # ------------------------------------------------------------------ views

    @property
    def n_variants(self) -> int:
        """Number of variants in the model."""
        return len(self.variant_id)

    @property
    def is_linear(self) -> bool:
        """True when the model has per-allele weights (every family but ``gbm``)."""
        return self.weights is not None

    @property
    def variants(self) -> pd.DataFrame:
        """.bim-like table (``chrom id cm pos a1 a2``) of the model's variants (discovery alleles)."""
        return pd.DataFrame(
            {
                "chrom": list(self.chromosome),
                "id": list(self.variant_id),
                "cm": np.zeros(self.n_variants),
                "pos": self.position,
                "a1": list(self.a1),
                "a2": list(self.a2),
            }
        )

    def _require_weights(self) -> npt.NDArray[np.float64]:
        if self.weights is None:
            raise GenoptError(
                f"model family {self.family!r} has no per-allele weights: a genetic score (and score.tsv) "
                f"exists only for the linear families {', '.join(LINEAR_FAMILIES)}"
            )
        return self.weights

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (floats kept exact by Python's shortest repr)."""

        def arr(a: npt.NDArray[Any] | None) -> list[Any] | None:
            return None if a is None else a.tolist()

        return {
            "family": self.family,
            "params": {k: float(v) for k, v in sorted(self.params.items())},
            "seed": self.seed,
            "genopt_version": self.genopt_version,
            "samples": {"n": self.n_samples, "n_cases": self.n_cases, "n_controls": self.n_controls},
            "intercept": self.intercept,
            "variants": {
                "id": list(self.variant_id),
                "chromosome": list(self.chromosome),
                "position": arr(self.position),
                "effect_allele": list(self.a1),
                "other_allele": list(self.a2),
                "bim_index": arr(self.bim_index),
                "effect_allele_frequency": arr(self.a1_freq),
                "impute_mean": arr(self.impute_mean),
                "std_mean": arr(self.std_mean),
                "std_sd": arr(self.std_sd),
                "beta_std": arr(self.beta_std),
                "weight": arr(self.weights),
            },
            "covariates": {
                "names": list(self.covariate_names),
                "coef": arr(self.covariate_coef),
                "mean": arr(self.covariate_mean),
                "sd": arr(self.covariate_sd),
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FinalModel:
        """Inverse of :meth:`to_dict` (KeyError/TypeError/ValueError on a malformed dict)."""
        v, c = d["variants"], d["covariates"]

        def f64(x: Any) -> npt.NDArray[np.float64]:
            return np.asarray(x, dtype=np.float64).reshape(-1)

        def opt(x: Any) -> npt.NDArray[np.float64] | None:
            return None if x is None else f64(x)

        return cls(
            family=str(d["family"]),
            params={str(k): float(x) for k, x in d["params"].items()},
            seed=int(d["seed"]),
            variant_id=tuple(str(x) for x in v["id"]),
            chromosome=tuple(str(x) for x in v["chromosome"]),
            position=np.asarray(v["position"], dtype=np.int64).reshape(-1),
            a1=tuple(str(x) for x in v["effect_allele"]),
            a2=tuple(str(x) for x in v["other_allele"]),
            bim_index=np.asarray(v["bim_index"], dtype=np.int64).reshape(-1),
            a1_freq=f64(v["effect_allele_frequency"]),
            impute_mean=f64(v["impute_mean"]),
            std_mean=f64(v["std_mean"]),
            std_sd=f64(v["std_sd"]),
            beta_std=opt(v["beta_std"]),
            weights=opt(v["weight"]),
            intercept=None if d["intercept"] is None else float(d["intercept"]),
            covariate_names=tuple(str(x) for x in c["names"]),
            covariate_coef=opt(c["coef"]),
            covariate_mean=f64(c["mean"]),
            covariate_sd=f64(c["sd"]),
            n_samples=int(d["samples"]["n"]),
            n_cases=int(d["samples"]["n_cases"]),
            n_controls=int(d["samples"]["n_controls"]),
            genopt_version=str(d["genopt_version"]),
        )

    # ------------------------------------------------------------------ scoring

    def genetic_score(
        self,
        genotypes: npt.ArrayLike | PlinkFileset | Cohort,
        config: HarmoniseConfig | None = None,
    ) -> GeneticScore:
        """Genetic score ``sum_j weight_j * g_j`` of another cohort's samples.

        Parameters
        ----------
        genotypes
            Either an array ``(n_samples, m)`` of **discovery-A1** counts in the
            model's variant order (NaN missing), or a :class:`PlinkFileset`
            (all its samples) or :class:`~genopt.cohort.Cohort` (its samples).
            Filesets and cohorts are matched to the model's variants by ID
            with :func:`genopt.harmonise.harmonise` (swapped alleles flip to
            ``2 - g``, strand-complemented alleles are matched, palindromic
            SNPs are told by frequency); each model variant not matched adds
            ``weight * impute_mean`` to every sample and is counted.
        config
            Harmonisation settings (defaults: match by ID).

        Returns
        -------
        GeneticScore
            The scores and the matching counts. Missing calls are imputed with
            the **discovery** mean ``2p`` (PLINK imputes the target cohort's
            frequency instead; the two agree when nothing is missing).

        Raises
        ------
        GenoptError
            For ``gbm`` (no per-allele weights), or an array of the wrong shape.
        """
        w = self._require_weights()
        if isinstance(genotypes, (PlinkFileset, Cohort)):
            return self._score_fileset(genotypes, w, config)
        g = np.asarray(genotypes, dtype=np.float64)
        if g.ndim != 2 or g.shape[1] != self.n_variants:
            raise GenoptError(
                f"genotypes of shape {g.shape} cannot be scored: the model has {self.n_variants} variants"
            )
        missing = np.isnan(g)
        g = np.where(missing, self.impute_mean, g)
        counts = {"as-is": self.n_variants}
        return GeneticScore(g @ w, pd.DataFrame({"fid": [], "iid": []}), counts, 0, int(missing.sum()))

    def _score_fileset(
        self, target: PlinkFileset | Cohort, w: npt.NDArray[np.float64], config: HarmoniseConfig | None
    ) -> GeneticScore:
        return score_fileset(self.variants, self.a1_freq, w, self.impute_mean, target, config)


def score_fileset(
    variants: pd.DataFrame,
    a1_freq: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    impute: npt.NDArray[np.float64],
    target: PlinkFileset | Cohort,
    config: HarmoniseConfig | None = None,
) -> GeneticScore:
    """``sum_j weights_j * g_j`` of ``target``'s samples, ``g`` counting the reference A1.

    Variants are matched with :func:`genopt.harmonise.read_harmonised`; a
    missing call, and every sample for a variant not matched, counts
    ``impute_j`` (the discovery ``2p``). Shapes: ``variants`` has ``m`` rows and
    ``a1_freq``, ``weights``, ``impute`` are ``(m,)``.
    """
    if isinstance(target, Cohort):
        fileset, samples = target.fileset, target.sample_idx
    else:
        fileset, samples = target, np.arange(target.n_samples, dtype=np.intp)
    h, g = read_harmonised(variants, a1_freq, fileset, samples, config)
    ref = h.ref_index
    missing = np.isnan(g)
    g = np.where(missing, impute[ref], g)
    unmatched = np.ones(len(variants), dtype=bool)
    unmatched[ref] = False
    score = g @ weights[ref] + float(weights[unmatched] @ impute[unmatched])
    ids = fileset.samples.iloc[samples][["fid", "iid"]].astype(str).reset_index(drop=True)
    return GeneticScore(score, ids, h.counts(), int(unmatched.sum()), int(missing.sum()))


# ---------------------------------------------------------------------------- fitting


def _covariate_matrix(
    cohort: Cohort, covariates: npt.ArrayLike | None, covariate_names: Sequence[str] | None
) -> tuple[npt.NDArray[np.float64], tuple[str, ...]]:
    base = cohort.covariates.to_numpy(dtype=np.float64).reshape(cohort.n, -1)
    names = [str(c) for c in cohort.covariates.columns]
    if covariates is None:
        return base, tuple(names)
    extra = np.asarray(covariates, dtype=np.float64)
    if extra.ndim == 1:
        extra = extra[:, None]
    if extra.shape[0] != cohort.n:
        raise GenoptError(f"extra covariates have {extra.shape[0]} rows, the cohort {cohort.n} samples")
    k = extra.shape[1]
    extra_names = [f"PC{i + 1}" for i in range(k)] if covariate_names is None else [str(n) for n in covariate_names]
    if len(extra_names) != k:
        raise GenoptError(f"{len(extra_names)} covariate names given for {k} extra covariate columns")
    return np.column_stack([base, extra]), tuple(names + extra_names)


def fit_final(
    cohort: Cohort,
    pool_idx: npt.ArrayLike,
    candidate: Candidate,
    covariates: npt.ArrayLike | None = None,
    covariate_names: Sequence[str] | None = None,
    seed: int = 0,
) -> FinalModel:
    """Fit ``candidate`` on all of the cohort's samples and freeze it.

    Parameters
    ----------
    cohort
        Discovery cohort (genotypes, outcome 1 = cooperate, covariates).
    pool_idx
        Rows of the cohort's .bim forming the candidate pool;
        ``candidate.subset`` indexes into it.
    candidate
        The chosen candidate (family, hyperparameters, subset).
    covariates
        Extra covariates, ``(cohort.n, k)`` (e.g. PCs), appended to
        ``cohort.covariates``; None for none.
    covariate_names
        Names of the extra covariates (default ``PC1..PCk``).
    seed
        ``random_state`` of the scikit-learn estimators (as in the search).

    Returns
    -------
    FinalModel
        Linear families: per-A1 weights, intercept and covariate coefficients
        on the original scales. ``gbm``: no weights (see the module notes).

    Notes
    -----
    The model is exactly the one :class:`~genopt.search.fitness.CVFitness`
    fits on a training fold, with the training fold = every sample:
    missing calls imputed with ``2p``, columns standardised (population SD),
    covariates multiplied by :meth:`CVFitness.covariate_scale`; ``ridge`` is
    solved by :meth:`CVFitness.ridge_coefficients` (the fast path's solve,
    intercept = mean outcome), the other families by
    :meth:`CVFitness.estimator`.
    """
    pool = np.asarray(pool_idx, dtype=np.int64).reshape(-1)
    subset = np.asarray(candidate.subset, dtype=np.intp)
    if subset.size and (subset[0] < 0 or subset[-1] >= pool.size):
        raise GenoptError(f"candidate subset {candidate.subset} indexes outside the pool of {pool.size} variants")
    bim_rows = pool[subset]
    if np.any(np.diff(bim_rows) <= 0):
        order = np.argsort(bim_rows, kind="stable")
        bim_rows = bim_rows[order]
    n_bim = len(cohort.variants)
    if bim_rows.size and (bim_rows.min() < 0 or bim_rows.max() >= n_bim):
        raise GenoptError(f"pool indices must be rows of the .bim ({n_bim} variants); got {bim_rows.max()}")
    if bim_rows.size != np.unique(bim_rows).size:
        raise GenoptError("the candidate's pool variants contain the same .bim row twice")

    g = cohort.genotypes(variants=bim_rows).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        a1_freq = np.nanmean(g, axis=0) / 2.0 if g.shape[0] else np.full(g.shape[1], np.nan)
    if np.isnan(a1_freq).any():
        bad = cohort.variants["id"].to_numpy()[bim_rows[np.isnan(a1_freq)]]
        raise GenoptError(f"variant {bad[0]} has no called genotype in the discovery cohort")
    impute = 2.0 * a1_freq
    g = np.where(np.isnan(g), impute, g)
    cmat, names = _covariate_matrix(cohort, covariates, covariate_names)
    n, c, m = cohort.n, cmat.shape[1], g.shape[1]
    y = cohort.y.astype(np.float64)

    everyone = np.arange(n, dtype=np.intp)
    fit = CVFitness(g, cmat, y, [(everyone, np.empty(0, dtype=np.intp))], seed=seed)
    all_cols = Candidate(tuple(range(m)), candidate.family, candidate.params)
    params = dict(DEFAULT_PARAMS[candidate.family])
    for key, value in candidate.params:
        if key not in params:
            raise GenoptError(f"model family {candidate.family!r} has no hyperparameter {key!r}")
        params[key] = float(value)

    std = _fit_std(np.column_stack([cmat, g]))  # the fitness's standardisation (SD 1 for a constant column)
    mean, sd = std.mean, std.sd

    beta_std: npt.NDArray[np.float64] | None = None
    cov_std: npt.NDArray[np.float64] | None = None
    intercept_std = 0.0
    if candidate.family == "ridge":
        coef = fit.ridge_coefficients(all_cols)[0]  # covariates per SD, then variants per SD
        cov_std, beta_std = coef[:c], coef[c:]
        intercept_std = float(y.mean())  # the fast path centres every column
    elif candidate.family in LINEAR_FAMILIES:
        from sklearn.exceptions import ConvergenceWarning

        if c + m == 0:
            raise GenoptError(f"a {candidate.family} model needs at least one covariate or variant")
        scale = fit.covariate_scale(candidate.family)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = fit.fitted_models(all_cols)[0]  # CVFitness.estimator fitted on its design of the one fold
        coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1)
        cov_std, beta_std = coef[:c] * scale, coef[c:]
        intercept_std = float(np.asarray(est.intercept_).reshape(-1)[0])

    weights = intercept = cov_coef = None
    if beta_std is not None and cov_std is not None:
        weights = beta_std / sd[c:]
        cov_coef = cov_std / sd[:c]
        intercept = intercept_std - float(weights @ mean[c:]) - float(cov_coef @ mean[:c])

    bim = cohort.variants.iloc[bim_rows]
    return FinalModel(
        family=candidate.family,
        params=params,
        seed=int(seed),
        variant_id=tuple(str(x) for x in bim["id"]),
        chromosome=tuple(str(x) for x in bim["chrom"]),
        position=bim["pos"].to_numpy(dtype=np.int64),
        a1=tuple(str(x) for x in bim["a1"]),
        a2=tuple(str(x) for x in bim["a2"]),
        bim_index=bim_rows.astype(np.int64),
        a1_freq=a1_freq,
        impute_mean=impute,
        std_mean=mean[c:].copy(),
        std_sd=sd[c:].copy(),
        beta_std=beta_std,
        weights=weights,
        intercept=intercept,
        covariate_names=names,
        covariate_coef=cov_coef,
        covariate_mean=mean[:c].copy(),
        covariate_sd=sd[:c].copy(),
        n_samples=n,
        n_cases=cohort.n_cases,
        n_controls=cohort.n_controls,
    )

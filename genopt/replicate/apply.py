"""Apply a frozen discovery model to a held-out cohort (no discovery data needed).

:func:`apply_model` harmonises the cohort's variants to the model's discovery
A1 alleles (:func:`genopt.harmonise.harmonise`: swapped alleles flip to
``2 - g``, strand-complemented alleles are matched, A/T and C/G SNPs whose
frequencies cannot tell the strand are dropped; every drop counted with its
reason), reads the matched genotypes, imputes missing calls with the
**discovery** mean ``2p`` for the score, projects the cohort onto the
discovery PCA (:meth:`genopt.structure.PCAModel.transform` with the
discovery loadings) for the model's ``PC1..PCk`` covariates, and computes the
genetic score ``sum_j weight_j * g_j`` exactly as
:meth:`genopt.search.final.FinalModel.genetic_score` does (a model variant
that is not matched adds ``weight_j * 2p_j`` to everyone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.cohort import Cohort
from genopt.config import HarmoniseConfig
from genopt.errors import GenoptError
from genopt.harmonise import read_harmonised
from genopt.search.final import FinalModel
from genopt.structure import PCAModel

__all__ = ["AppliedModel", "apply_model", "split_covariate_names"]

_PC_NAME = re.compile(r"^PC[1-9][0-9]*$")


@dataclass(frozen=True, eq=False)
class AppliedModel:
    """A frozen model applied to one cohort: what the replication statistics need.

    Arrays have ``n`` rows (the cohort's samples, cohort order) and, for
    per-variant arrays, ``m`` entries in the model's variant order.

    Attributes
    ----------
    sample_ids
        ``fid iid`` of the samples.
    y
        int8 ``(n,)``, 1 = cooperate.
    score
        float64 ``(n,)``: genetic score (discovery-A1 counts, discovery-mean imputation).
    covariates
        float64 ``(n, k)`` in the model's covariate order (cohort covariates,
        then the projected PCs).
    covariate_names
        ``(k,)`` names.
    genotypes
        float64 ``(n, m)``: discovery-A1 counts of every model variant, NaN
        for missing calls and for the whole column of an unmatched variant.
    used
        bool ``(m,)``: the variant was harmonised in this cohort.
    status
        ``(m,)`` str: match status (``as-is``, ``swapped``, ...) or drop reason.
    a1_freq
        float64 ``(m,)``: discovery-A1 frequency in this cohort among called
        samples (NaN when unmatched).
    harmonisation
        Model variants per match status and drop reason (all keys, zeros included).
    n_missing_calls
        Missing calls among the used variants (imputed with ``2p`` in the score).
    pca
        :meth:`genopt.structure.PCAProjection.summary` of the PC projection
        (None without PC covariates).
    """

    sample_ids: pd.DataFrame = field(repr=False)
    y: npt.NDArray[np.int8]
    score: npt.NDArray[np.float64]
    covariates: npt.NDArray[np.float64]
    covariate_names: tuple[str, ...]
    genotypes: npt.NDArray[np.float64] = field(repr=False)
    used: npt.NDArray[np.bool_]
    status: npt.NDArray[np.str_]
    a1_freq: npt.NDArray[np.float64]
    harmonisation: dict[str, int]
    n_missing_calls: int
    pca: dict[str, Any] | None = None

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.y.size)

    @property
    def n_used(self) -> int:
        """Model variants harmonised in the cohort."""
        return int(self.used.sum())


def split_covariate_names(model: FinalModel) -> tuple[list[str], int]:
    """The model's cohort covariates and its number of trailing ``PC1..PCk`` covariates.

    The PCs are the longest run ``PC1, PC2, ..., PCk`` at the end of
    ``model.covariate_names`` (:func:`genopt.search.study.search_and_export`
    appends them after the cohort's own covariates).
    """
    names = list(model.covariate_names)
    k = 0
    while k < len(names) and _PC_NAME.match(names[len(names) - 1 - k]):
        k += 1
    tail = names[len(names) - k :]
    if tail != [f"PC{i + 1}" for i in range(k)]:
        k = 0
    return names[: len(names) - k], k


def _covariates(model: FinalModel, cohort: Cohort, pca_model: PCAModel | None) -> tuple[Any, Any]:
    base_names, k = split_covariate_names(model)
    have = [str(c) for c in cohort.covariates.columns]
    missing = [c for c in base_names if c not in have]
    where = cohort.covariate_info.path if cohort.covariate_info is not None else None
    if missing:
        raise GenoptError(
            f"the held-out cohort lacks the model's covariates {missing} (the model uses "
            f"{list(model.covariate_names)}; the cohort has {have or 'none'})",
            where,
        )
    base = cohort.covariates[base_names].to_numpy(dtype=np.float64).reshape(cohort.n, -1)
    if k == 0:
        return base, None
    if pca_model is None:
        raise GenoptError(
            f"the model has {k} PC covariates but the run directory has no pca_model.json to project the cohort with"
        )
    if pca_model.n_pcs < k:
        raise GenoptError(f"the model uses PC1..PC{k} but the PCA model has only {pca_model.n_pcs} PCs")
    proj = pca_model.transform(cohort)
    return np.column_stack([base, proj.scores[:, :k]]), proj.summary()


def apply_model(
    model: FinalModel,
    cohort: Cohort,
    pca_model: PCAModel | None = None,
    harmonise_config: HarmoniseConfig | None = None,
) -> AppliedModel:
    """Harmonise, impute, project and score a held-out cohort with a frozen model.

    Parameters
    ----------
    model
        The frozen model (``model.json``); linear families only.
    cohort
        The held-out cohort; its covariates must include the model's cohort
        covariates by name.
    pca_model
        The discovery PCA whose axes are the model's ``PC1..PCk`` covariates
        (``pca_model.json``); required when the model has PC covariates.
    harmonise_config
        How variants are matched (by ID by default) and aligned.

    Returns
    -------
    AppliedModel

    Raises
    ------
    GenoptError
        ``gbm`` model (no per-allele weights), a missing covariate, a missing
        PCA model, or a PCA projection with too many missing variants.
    """
    if model.weights is None:
        raise GenoptError(
            f"model family {model.family!r} has no per-allele weights: replication needs a linear model "
            "(ridge, logistic_l2, logistic_l1, logistic_enet)"
        )
    w = model.weights
    covariates, pca_info = _covariates(model, cohort, pca_model)
    fileset, samples = cohort.fileset, cohort.sample_idx
    h, read = read_harmonised(model.variants, model.a1_freq, fileset, samples, harmonise_config)
    ref = h.ref_index
    m = model.n_variants
    g = np.full((cohort.n, m), np.nan)
    g[:, ref] = read
    used = np.zeros(m, dtype=bool)
    used[ref] = True
    status = np.empty(m, dtype=object)
    status[ref] = h.matched["status"].to_numpy()
    status[h.drops["ref_index"].to_numpy(dtype=np.intp)] = h.drops["reason"].to_numpy()
    missing = np.isnan(g) & used[None, :]
    imputed = np.where(np.isnan(g), model.impute_mean, g)
    with np.errstate(invalid="ignore"):
        freq = np.where(used, np.nanmean(np.where(used[None, :], g, 0.0), axis=0) / 2.0, np.nan)
    return AppliedModel(
        sample_ids=fileset.samples.iloc[samples][["fid", "iid"]].astype(str).reset_index(drop=True),
        y=cohort.y.astype(np.int8),
        score=imputed @ w,
        covariates=covariates,
        covariate_names=tuple(model.covariate_names),
        genotypes=g,
        used=used,
        status=status.astype(str),
        a1_freq=freq,
        harmonisation=h.counts(),
        n_missing_calls=int(missing.sum()),
        pca=pca_info,
    )

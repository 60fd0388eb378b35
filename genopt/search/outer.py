"""Outer cross-validation of the whole search procedure.

The validation AUC of :func:`genopt.search.run.run_search` is honest for the
pool, the PCs and the search, but the chosen candidate is still picked on those
rows. :func:`outer_cv` estimates what the *whole procedure* achieves on people
it never saw: discovery is split into ``k`` stratified outer folds; for each,
the full honest procedure (split, PCA, pool, search, choice) runs on the
outer-training rows only, the chosen candidate is refitted on all
outer-training rows (as :func:`genopt.search.final.fit_final` refits it on all
of discovery) and the outer-test rows are scored. The outer-test rows'
genotypes and outcomes are not read before that scoring; their PCs are
projections onto the PCA fitted inside the outer-training rows.

``optimism = mean inner CV AUC - mean outer AUC`` is how much the AUC the search
reports for its choice overstates the procedure's AUC on new people of the same
population (it does not cover a shift to another cohort; replication does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.cohort import Cohort
from genopt.config import PCAConfig, PoolConfig, SearchConfig
from genopt.errors import GenoptError
from genopt.search.fitness import CVFitness, make_folds
from genopt.search.run import (
    INNER_CV_LABEL,
    INNER_CV_LABEL_PER_FOLD,
    SearchOutcome,
    _pool_genotypes,
    auc_delong_se,
    fit_and_score,
    run_search,
)
from genopt.search.types import Candidate

__all__ = ["OUTER_COLUMNS", "OuterCVResult", "OuterFold", "outer_cv", "outer_fold"]

#: Columns of :meth:`OuterCVResult.table` (``outer_cv.tsv``), one row per outer fold.
OUTER_COLUMNS = (
    "fold",
    "seed",
    "n_train",
    "n_test",
    "n_test_cases",
    "outer_auc",
    "outer_se",
    "inner_cv_auc",
    "validation_auc",
    "validation_se",
    "n_variants",
    "family",
    "params",
    "variant_ids",
)


@dataclass(frozen=True)
class OuterFold:
    """One outer fold: the procedure run on its training rows, scored on its test rows.

    Attributes
    ----------
    fold
        0-based fold number.
    seed
        Seed of the fold's :func:`~genopt.search.run.run_search` and of the refit.
    train_idx, test_idx
        Cohort rows (sorted, disjoint): outer-training and outer-test.
    outcome
        The search on the outer-training rows; its ``search_idx`` /
        ``validation_idx`` index ``train_idx``.
    candidate
        The chosen candidate (subset indexes ``outcome.columns``).
    variant_ids
        .bim IDs of its variants.
    test_scores
        Score of each outer-test row (order of ``test_idx``), shape ``(n_test,)``:
        linear predictor (``ridge``), decision function (logistic) or P(y = 1)
        (``gbm``) of the candidate refitted on all outer-training rows,
        covariates and PCs included.
    test_y
        Outcome of the outer-test rows (1 = cooperate), shape ``(n_test,)``.
    outer_auc, outer_se
        ROC AUC of ``test_scores`` on the outer-test outcomes and its DeLong SE.
    """

    fold: int
    seed: int
    train_idx: npt.NDArray[np.intp] = field(repr=False)
    test_idx: npt.NDArray[np.intp] = field(repr=False)
    outcome: SearchOutcome = field(repr=False)
    candidate: Candidate
    variant_ids: tuple[str, ...]
    test_scores: npt.NDArray[np.float64] = field(repr=False)
    test_y: npt.NDArray[np.int8] = field(repr=False)
    outer_auc: float
    outer_se: float

    @property
    def inner_cv_auc(self) -> float:
        """Mean inner CV AUC of the chosen candidate inside the outer-training rows (optimistic)."""
        return self.outcome.inner_cv_auc

    @property
    def validation_auc(self) -> float:
        """AUC of the chosen candidate on the internal validation part of the outer-training rows."""
        return self.outcome.validation_auc


@dataclass(frozen=True)
class OuterCVResult:
    """Outer k-fold CV of the whole procedure.

    Attributes
    ----------
    folds
        One :class:`OuterFold` per outer fold.
    k, seed
        Number of outer folds and the seed that split them and spawned each fold's seed.
    """

    folds: tuple[OuterFold, ...]
    k: int
    seed: int

    @property
    def mean_outer_auc(self) -> float:
        """Mean over folds of the outer-test AUC."""
        return float(np.mean([f.outer_auc for f in self.folds]))

    @property
    def se_outer_auc(self) -> float:
        """SD of the fold outer AUCs / sqrt(k) (folds share training rows: a rough, too small SE)."""
        aucs = np.array([f.outer_auc for f in self.folds])
        return float(np.std(aucs, ddof=1) / np.sqrt(aucs.size)) if aucs.size > 1 else float("nan")

    @property
    def mean_inner_cv_auc(self) -> float:
        """Mean over folds of the chosen candidates' inner CV AUCs."""
        return float(np.mean([f.inner_cv_auc for f in self.folds]))

    @property
    def mean_validation_auc(self) -> float:
        """Mean over folds of the chosen candidates' internal validation AUCs."""
        return float(np.mean([f.validation_auc for f in self.folds]))

    @property
    def optimism(self) -> float:
        """``mean_inner_cv_auc - mean_outer_auc``."""
        return self.mean_inner_cv_auc - self.mean_outer_auc

    def table(self) -> pd.DataFrame:
        """One row per outer fold, columns :data:`OUTER_COLUMNS` (``params`` as ``k=v;...``, IDs joined by ``;``)."""
        rows = []
        for f in self.folds:
            rows.append(
                {
                    "fold": f.fold,
                    "seed": f.seed,
                    "n_train": int(f.train_idx.size),
                    "n_test": int(f.test_idx.size),
                    "n_test_cases": int(f.test_y.sum()),
                    "outer_auc": f.outer_auc,
                    "outer_se": f.outer_se,
                    "inner_cv_auc": f.inner_cv_auc,
                    "validation_auc": f.validation_auc,
                    "validation_se": f.outcome.validation_se,
                    "n_variants": f.candidate.n_variants,
                    "family": f.candidate.family,
                    "params": ";".join(f"{k}={v:g}" for k, v in f.candidate.params),
                    "variant_ids": ";".join(f.variant_ids),
                }
            )
        return pd.DataFrame(rows, columns=list(OUTER_COLUMNS))

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers, each ``{"value": ..., "how": ...}``."""
        per_fold = self.folds[0].outcome.summary.get("pool_per_fold", {}).get("value", False) if self.folds else False
        label = INNER_CV_LABEL_PER_FOLD if per_fold else INNER_CV_LABEL
        return {
            "outer_folds": {"value": self.k, "how": "stratified k-fold split of discovery (outer CV), seeded"},
            "mean_outer_auc": {
                "value": self.mean_outer_auc,
                "how": "mean over outer folds of the AUC on the outer-test rows of the candidate chosen and refitted "
                "on the outer-training rows only (split, PCA, pool, search and choice all inside them)",
            },
            "se_outer_auc": {
                "value": self.se_outer_auc,
                "how": "SD of the fold outer AUCs / sqrt(k); folds share training rows, so this understates the SE",
            },
            "mean_inner_cv_auc": {"value": self.mean_inner_cv_auc, "how": f"mean over outer folds of the {label}"},
            "mean_validation_auc": {
                "value": self.mean_validation_auc,
                "how": "mean over outer folds of the chosen candidate's AUC on the internal validation part "
                "(the rows it was chosen on)",
            },
            "optimism": {
                "value": self.optimism,
                "how": "optimism = mean inner CV AUC - mean outer AUC: how much the search's reported AUC overstates "
                "the whole procedure's AUC on people it never saw",
            },
        }


def outer_fold(
    cohort: Cohort,
    train_idx: npt.ArrayLike,
    test_idx: npt.ArrayLike,
    search_config: SearchConfig,
    pool_config: PoolConfig,
    pca_config: PCAConfig,
    seed: int,
    fold: int = 0,
    variants: npt.ArrayLike | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
) -> OuterFold:
    """Run the honest procedure on ``train_idx`` and score ``test_idx``.

    Parameters
    ----------
    cohort
        Discovery cohort.
    train_idx, test_idx
        Disjoint cohort rows: outer-training and outer-test.
    search_config, pool_config, pca_config
        As for :func:`~genopt.search.run.run_search`.
    seed
        Seed of the search and of the refit's estimator.
    fold
        Fold number recorded in the result.
    variants
        bool mask over the .bim rows (e.g. QC-passed) passed to :func:`run_search`.
    checkpoint, resume
        Checkpoint file of this fold's search and whether to continue from it
        (see :func:`~genopt.search.run.run_search`).

    Returns
    -------
    :class:`OuterFold`.

    Notes
    -----
    :func:`run_search` sees ``cohort.subset(train rows)`` only. The chosen
    candidate is refitted on every outer-training row with
    :func:`~genopt.search.run.fit_and_score` (the estimator and standardisation
    of the fitness and of :func:`~genopt.search.final.fit_final`); missing
    calls take the outer-training mean; covariates = cohort covariates + PCs
    (the search's PCs of the outer-training rows, and the outer-test rows
    projected with :attr:`SearchOutcome.pca_model`).
    """
    train = np.sort(np.asarray(train_idx, dtype=np.intp))
    test = np.sort(np.asarray(test_idx, dtype=np.intp))
    if np.intersect1d(train, test).size:
        raise GenoptError("outer-training and outer-test rows overlap")
    keep = np.zeros(cohort.n, dtype=bool)
    keep[train] = True
    outcome = run_search(
        cohort.subset(keep, f"outer CV test fold {fold}"),
        search_config,
        pool_config,
        pca_config,
        seed,
        variants=variants,
        checkpoint=checkpoint,
        resume=resume,
    )
    if outcome.pcs_search is None or outcome.pcs_validation is None or outcome.columns is None:
        raise RuntimeError("run_search returned no PCs or searched columns")
    pcs_train = outcome.discovery_pcs()
    pcs_test = np.zeros((test.size, 0))
    if outcome.pca_model is not None:
        proj = outcome.pca_model.transform(cohort.fileset, samples=cohort.sample_idx[test])
        fam = cohort.fileset.samples.iloc[cohort.sample_idx[test]]
        if not (proj.samples["iid"].astype(str).to_numpy() == fam["iid"].astype(str).to_numpy()).all():
            raise GenoptError("PCA projection returned the outer-test samples in another order")
        pcs_test = np.asarray(proj.scores, dtype=np.float64)
    g_train, g_test = _pool_genotypes(cohort, outcome.columns, train, test)
    cov = cohort.covariates.to_numpy(dtype=np.float64).reshape(cohort.n, -1)
    c_train = np.hstack([cov[train], pcs_train])
    c_test = np.hstack([cov[test], pcs_test])
    y_train = cohort.y[train].astype(np.int64)
    everyone = np.arange(train.size, dtype=np.intp)
    fitness = CVFitness(g_train, c_train, y_train, [(everyone, np.empty(0, dtype=np.intp))], seed=seed)
    candidate = outcome.chosen.candidate
    scores = fit_and_score(fitness, candidate, g_train, c_train, y_train, g_test, c_test)
    auc, se = auc_delong_se(cohort.y[test], scores)
    return OuterFold(
        fold=fold,
        seed=seed,
        train_idx=train,
        test_idx=test,
        outcome=outcome,
        candidate=candidate,
        variant_ids=tuple(outcome.chosen_variant_ids),
        test_scores=scores,
        test_y=cohort.y[test],
        outer_auc=auc,
        outer_se=se,
    )


def outer_cv(
    cohort: Cohort,
    search_config: SearchConfig,
    pool_config: PoolConfig,
    pca_config: PCAConfig,
    seed: int,
    k: int,
    variants: npt.ArrayLike | None = None,
    progress: bool = False,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> OuterCVResult:
    """Outer stratified k-fold CV of the whole procedure (split, PCA, pool, search, choice, refit).

    Parameters
    ----------
    cohort
        Discovery cohort (outcome 1 = cooperate).
    search_config, pool_config, pca_config
        As for :func:`~genopt.search.run.run_search` (inner folds, validation
        fraction and ``pool_per_fold`` from ``search_config``).
    seed
        Seeds the outer split (:func:`~genopt.search.fitness.make_folds`) and
        spawns one seed per fold (:class:`numpy.random.SeedSequence`).
    k
        Number of outer folds (>= 2).
    variants
        bool mask over the .bim rows passed to :func:`run_search`.
    progress
        tqdm progress bar over the folds (stderr).
    checkpoint_dir, resume
        Fold ``f``'s search checkpoints to ``checkpoint_dir/outer_<f>.json``
        and, with ``resume``, continues from it; None: no checkpoints.

    Returns
    -------
    :class:`OuterCVResult`: per fold the outer AUC (DeLong SE), the chosen
    candidate, its inner CV and validation AUCs; overall the mean outer AUC
    and ``optimism = mean inner CV AUC - mean outer AUC``.
    """
    if k < 2:
        raise GenoptError(f"outer_folds = {k!r} must be at least 2")
    splits = make_folds(cohort.y, k, seed)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(k)]
    items: Any = list(enumerate(splits))
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="outer folds", unit="fold")
    folds = [
        outer_fold(
            cohort,
            train,
            test,
            search_config,
            pool_config,
            pca_config,
            seeds[f],
            fold=f,
            variants=variants,
            checkpoint=None if checkpoint_dir is None else Path(checkpoint_dir) / f"outer_{f}.json",
            resume=resume,
        )
        for f, (train, test) in items
    ]
    return OuterCVResult(folds=tuple(folds), k=k, seed=seed)

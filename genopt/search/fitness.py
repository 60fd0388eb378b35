"""Cross-validated fitness of a candidate: fold ROC AUCs inside discovery.

:class:`CVFitness` is built once per search from the candidate-pool genotypes,
the covariates, the outcome and the folds (:func:`make_folds`). Every model
contains all covariates; the candidate chooses which pool columns (variants)
join them, the model family and its hyperparameters.

Standardisation is fitted on each training fold only: the means and SDs of
the pool genotypes and of the covariates are computed on the training rows
(population SD, ``ddof=0``, as :class:`sklearn.preprocessing.StandardScaler`;
a column constant in the training rows keeps SD 1) and applied unchanged to
the validation rows. Nothing computed on a validation fold reaches training.

Covariate penalty
-----------------
Covariates are never selected away and are penalised only negligibly: the
standardised covariate columns are multiplied by :data:`COVARIATE_SCALE`
(1,000) before fitting, so an L2 penalty on their coefficients is 10^6 times
weaker than on a variant's standardised coefficient and an L1 penalty 10^3
times weaker (``logistic_enet``: :data:`ENET_COVARIATE_SCALE`, 10, since saga
converges badly on badly scaled columns: 100 and 10 times weaker).
For ``ridge`` this means the penalty ``alpha * 1e-6`` on each
standardised covariate coefficient and ``alpha`` on each standardised variant
coefficient; the intercept is never penalised.

Families and hyperparameters (names as in :class:`~genopt.search.types.Candidate` params)
----------------------------------------------------------------------------------------
``ridge``
    Linear least squares of ``y`` (0/1) on ``[1, C, G_S]`` with L2 penalty
    ``alpha`` (default 1.0); the score is the fitted linear predictor. Fast
    path (:meth:`CVFitness.evaluate`); the scikit-learn path
    (:meth:`CVFitness.evaluate_sklearn`) fits :class:`sklearn.linear_model.Ridge`
    on the same columns and gives the same fold AUCs.
``logistic_l2``, ``logistic_l1``, ``logistic_enet``
    :class:`sklearn.linear_model.LogisticRegression` with inverse penalty ``C``
    (default 1.0) and, for ``enet``, ``l1_ratio`` (default 0.5); solvers
    newton-cholesky (L2: 5x faster than lbfgs on the badly scaled covariate
    columns), liblinear (L1), saga (elastic net); ``random_state`` = seed.
``gbm``
    :class:`sklearn.ensemble.HistGradientBoostingClassifier` with
    ``learning_rate`` (0.1), ``max_depth`` (3), ``max_iter`` (100),
    ``random_state`` = seed, no early stopping.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from genopt.search.types import Candidate, Evaluation

__all__ = [
    "COVARIATE_SCALE",
    "DEFAULT_PARAMS",
    "ENET_COVARIATE_SCALE",
    "CVFitness",
    "auc",
    "fit_predict",
    "make_folds",
    "standardised_design",
]

#: Standardised covariate columns are multiplied by this before any penalised
#: fit, so their penalty is ``1/COVARIATE_SCALE**2`` (L2) or
#: ``1/COVARIATE_SCALE`` (L1) of a variant's.
COVARIATE_SCALE: float = 1e3
#: The covariate scale of ``logistic_enet`` (saga converges badly on columns
#: 1,000 times larger than the rest): L2 part 100 times, L1 part 10 times weaker.
ENET_COVARIATE_SCALE: float = 10.0

#: Hyperparameter defaults per family (used when a candidate omits one).
DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "ridge": {"alpha": 1.0},
    "logistic_l2": {"C": 1.0},
    "logistic_l1": {"C": 1.0},
    "logistic_enet": {"C": 1.0, "l1_ratio": 0.5},
    "gbm": {"learning_rate": 0.1, "max_depth": 3, "max_iter": 100},
}

Folds = list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]


def make_folds(y: npt.ArrayLike, k: int = 5, seed: int = 0) -> Folds:
    """Stratified k-fold split of the samples, determined by ``y`` and ``seed`` only.

    Parameters
    ----------
    y
        Binary outcome, shape ``(n,)`` (1 = cooperate, 0 = defect).
    k
        Number of folds (at least 2, at most the size of the smaller class).
    seed
        Seed of the shuffle (:class:`sklearn.model_selection.StratifiedKFold`
        with ``shuffle=True``).

    Returns
    -------
    list of ``k`` pairs ``(train_idx, valid_idx)``: sorted intp row indices;
    the validation folds are disjoint, cover every row, and each holds the
    class proportions of ``y`` to within one sample.
    """
    from sklearn.model_selection import StratifiedKFold

    yy = np.asarray(y).ravel()
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(np.sort(t).astype(np.intp), np.sort(v).astype(np.intp)) for t, v in skf.split(np.zeros((yy.size, 1)), yy)]


def auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """ROC AUC by ranks (Mann-Whitney U), ties counted one half.

    Equal to :func:`sklearn.metrics.roc_auc_score` (tested) at a fraction of
    its cost. ``y`` is 0/1, ``score`` higher = more likely 1; NaN if one class
    is absent.
    """
    yy = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    pos = s[yy]
    neg = np.sort(s[~yy])
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    below = np.searchsorted(neg, pos, side="left")
    upto = np.searchsorted(neg, pos, side="right")
    return float((below.sum() + 0.5 * (upto - below).sum()) / (pos.size * neg.size))


@dataclass(frozen=True)
class _FoldStd:
    """Training-fold standardisation of ``[C, G]``: mean and SD per column."""

    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]


def _fit_std(x: npt.NDArray[np.float64]) -> _FoldStd:
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)  # constant column: as StandardScaler (scale 1)
    return _FoldStd(mean, sd)


def _standardise_inplace(x: npt.NDArray[np.float64], std: _FoldStd) -> npt.NDArray[np.float64]:
    """``(x - mean) / sd`` written over ``x`` (the same arithmetic as the out-of-place form); returns ``x``."""
    x -= std.mean
    x /= std.sd
    return x


def standardised_design(
    x_fit: npt.NDArray[np.float64], x_score: npt.NDArray[np.float64], n_covariates: int, cov_scale: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Standardise ``[C, G_S]`` columns with the fitting rows' statistics only.

    Means and population SDs come from ``x_fit`` (a constant column gets SD 1,
    as ``StandardScaler``); both blocks are centred and scaled with them, and
    the first ``n_covariates`` columns are multiplied by ``cov_scale`` so that
    penalised models barely shrink the covariates. Nothing about the scoring
    rows enters the transformation.
    """
    std = _fit_std(x_fit)
    scale = np.ones(x_fit.shape[1])
    scale[:n_covariates] = cov_scale
    return (x_fit - std.mean) / std.sd * scale, (x_score - std.mean) / std.sd * scale


def fit_predict(
    model: Any, family: str, x_fit: npt.NDArray[np.float64], y_fit: npt.ArrayLike, x_score: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Fit a scikit-learn estimator and score other rows the way the fitness ranks them.

    The score is the linear predictor (``ridge``), P(y = 1) (``gbm``) or the
    decision function (logistic families); convergence warnings are silenced
    (the iteration caps are set in :meth:`CVFitness.estimator`).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_fit, np.asarray(y_fit, dtype=np.float64))
    if family == "ridge":
        return np.asarray(model.predict(x_score), dtype=np.float64)
    if family == "gbm":
        return np.asarray(model.predict_proba(x_score)[:, 1], dtype=np.float64)
    return np.asarray(model.decision_function(x_score), dtype=np.float64)


class CVFitness:
    """k-fold cross-validated AUC of candidates, with a cache.

    Parameters
    ----------
    genotypes
        Pool genotypes ``G``, shape ``(n, p)``: A1 allele counts (.bim A1)
        with missing calls already imputed (no NaN); column ``j`` is pool
        index ``j`` of :attr:`Candidate.subset`.
    covariates
        ``C``, shape ``(n, c)`` (sex, age, PCs...; ``c`` may be 0): in every
        model, never selected.
    y
        Outcome, shape ``(n,)``, 1 = cooperate, 0 = defect.
    folds
        ``(train_idx, valid_idx)`` pairs, e.g. :func:`make_folds`.
    seed
        ``random_state`` of the scikit-learn estimators.

    Attributes
    ----------
    evaluations
        Candidates evaluated by :meth:`evaluate` (cache misses; one per candidate, all folds).
    cache_hits
        :meth:`evaluate` calls answered from the cache.
    seconds
        Wall time spent evaluating (cache misses).

    Notes
    -----
    The ``ridge`` fast path precomputes, per fold, the cross-products of the
    standardised training columns ``Z = [C, G]``, ``Z'Z`` (``(c+p)^2``) and
    ``Z'(y - ybar)``,
    and the standardised validation columns. A candidate with subset ``S`` then
    solves the ``(c + |S|)`` system ``(Z_S'Z_S + diag(pen)) b = Z_S'(y - ybar)``
    (``pen`` = ``alpha / COVARIATE_SCALE**2`` for covariates, ``alpha`` for variants)
    for all folds in one batched call (the intercept is ``ybar``: the
    training columns are centred), scores the validation rows with
    ``ybar + Zv_S b`` and takes the rank AUC. Memory: ``k (c+p)^2 + n (c+p)``
    float64 (about 12 MB for 5 folds, 500 variants, 4,000 samples; 1 GB for
    2,000 variants and 50,000 samples), plus one fold's standardised training
    rows and a temporary of the same size while they are prepared (``2 n
    (k-1)/k (c+p)`` float64, freed after).
    """

    def __init__(
        self,
        genotypes: npt.ArrayLike,
        covariates: npt.ArrayLike | None,
        y: npt.ArrayLike,
        folds: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
        seed: int = 0,
    ) -> None:
        g = np.asarray(genotypes, dtype=np.float64)
        if g.ndim != 2:
            raise ValueError(f"genotypes must be 2-D (samples x variants), got shape {g.shape}")
        n = g.shape[0]
        c = np.zeros((n, 0)) if covariates is None else np.asarray(covariates, dtype=np.float64)
        if c.ndim == 1:
            c = c[:, None]
        yy = np.asarray(y).ravel()
        if c.shape[0] != n or yy.size != n:
            raise ValueError(f"rows differ: genotypes {n}, covariates {c.shape[0]}, y {yy.size}")
        if not np.isin(yy, (0, 1)).all():
            raise ValueError("y must be 0/1")
        if np.isnan(g).any() or np.isnan(c).any():
            raise ValueError("genotypes and covariates must not hold NaN (impute first)")
        self.G = g
        self.C = c
        self.y = yy.astype(np.float64)
        self.folds: Folds = [(np.asarray(t, dtype=np.intp), np.asarray(v, dtype=np.intp)) for t, v in folds]
        self.seed = int(seed)
        self.n_pool = g.shape[1]
        self.n_covariates = c.shape[1]
        self.evaluations = 0
        self.cache_hits = 0
        self.seconds = 0.0
        self._cache: dict[Candidate, npt.NDArray[np.float64]] = {}
        self._fast: dict[str, Any] | None = None

    # ------------------------------------------------------------------ shared pieces

    def covariate_scale(self, family: str) -> float:
        """Factor applied to the standardised covariate columns for ``family``."""
        return ENET_COVARIATE_SCALE if family == "logistic_enet" else COVARIATE_SCALE

    def _fold_design(
        self, subset: Sequence[int], f: int, cov_scale: float = COVARIATE_SCALE
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Standardised (training-fold statistics) ``[C * cov_scale, G_S]`` of fold ``f``.

        Returns ``x_train, y_train, x_valid, y_valid``.
        """
        t, v = self.folds[f]
        cols = np.asarray(subset, dtype=np.intp)
        x = np.column_stack([self.C, self.G[:, cols]])
        xt, xv = standardised_design(x[t], x[v], self.n_covariates, cov_scale)
        return xt, self.y[t], xv, self.y[v]

    def _check(self, candidate: Candidate) -> None:
        if candidate.subset and (candidate.subset[0] < 0 or candidate.subset[-1] >= self.n_pool):
            raise ValueError(f"subset indices must be in [0, {self.n_pool}); got {candidate.subset}")

    def _params(self, candidate: Candidate) -> dict[str, float]:
        params = dict(DEFAULT_PARAMS[candidate.family])
        for key, value in candidate.params:
            if key not in params:
                raise ValueError(f"family {candidate.family!r} has no hyperparameter {key!r}")
            params[key] = value
        return params

    # ------------------------------------------------------------------ public API

    def evaluate(self, candidate: Candidate) -> Evaluation:
        """Fold AUCs of ``candidate`` (cached; ``ridge`` by the fast path, others by scikit-learn).

        An empty subset is the covariates-only model.
        """
        hit = self._cache.get(candidate)
        if hit is not None:
            self.cache_hits += 1
            return Evaluation(candidate, hit.copy(), cached=True)
        self._check(candidate)
        t0 = time.perf_counter()
        if candidate.family == "ridge":
            aucs = self._ridge_fast(candidate)
        else:
            aucs = self._sklearn_aucs(candidate)
        self.seconds += time.perf_counter() - t0
        self.evaluations += 1
        self._cache[candidate] = aucs
        return Evaluation(candidate, aucs.copy(), cached=False)

    def evaluate_sklearn(self, candidate: Candidate) -> Evaluation:
        """Fold AUCs through scikit-learn for any family (no cache, no counters).

        For ``ridge`` this is the reference the fast path is tested against.
        """
        self._check(candidate)
        return Evaluation(candidate, self._sklearn_aucs(candidate), cached=False)

    def estimator(self, candidate: Candidate) -> Any:
        """The unfitted scikit-learn estimator of ``candidate``'s family and hyperparameters.

        It expects standardised columns ``[C, G_S]`` with the covariates
        multiplied by :meth:`covariate_scale`.
        """
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression, Ridge

        p = self._params(candidate)
        fam = candidate.family
        if fam == "ridge":
            return Ridge(alpha=p["alpha"], fit_intercept=True, solver="cholesky")
        if fam == "logistic_l2":
            return LogisticRegression(C=p["C"], solver="newton-cholesky", max_iter=1000, random_state=self.seed)
        if fam == "logistic_l1":
            return LogisticRegression(
                C=p["C"],
                l1_ratio=1.0,
                solver="liblinear",
                intercept_scaling=100.0,
                max_iter=5000,
                random_state=self.seed,
            )
        if fam == "logistic_enet":
            return LogisticRegression(
                C=p["C"],
                l1_ratio=p["l1_ratio"],
                solver="saga",
                max_iter=5000,
                tol=1e-4,
                random_state=self.seed,
            )
        return HistGradientBoostingClassifier(
            learning_rate=p["learning_rate"],
            max_depth=int(p["max_depth"]),
            max_iter=int(p["max_iter"]),
            early_stopping=False,
            random_state=self.seed,
        )

    def fitted_models(self, candidate: Candidate) -> list[Any]:
        """One fitted scikit-learn estimator per fold (training rows only), for inspection and tests."""
        out = []
        for f in range(len(self.folds)):
            xt, yt, _, _ = self._fold_design(candidate.subset, f, self.covariate_scale(candidate.family))
            out.append(self.estimator(candidate).fit(xt, yt))
        return out

    # ------------------------------------------------------------------ scikit-learn path

    def _sklearn_aucs(self, candidate: Candidate) -> npt.NDArray[np.float64]:
        aucs = np.empty(len(self.folds))
        for f in range(len(self.folds)):
            xt, yt, xv, yv = self._fold_design(candidate.subset, f, self.covariate_scale(candidate.family))
            if xt.shape[1] == 0:  # no covariate and no variant: constant score
                aucs[f] = 0.5
                continue
            aucs[f] = auc(yv, fit_predict(self.estimator(candidate), candidate.family, xt, yt, xv))
        return aucs

    # ------------------------------------------------------------------ ridge fast path

    def _prepare_fast(self) -> dict[str, Any]:
        """Per-fold cross-products of the whole pool (done once, on first use)."""
        k = len(self.folds)
        c, p = self.n_covariates, self.n_pool
        q = c + p
        nv_max = max(v.size for _, v in self.folds)
        gram = np.empty((k, q, q))
        zy = np.empty((k, q))
        zvt = np.zeros((k, q, nv_max))  # validation columns, transposed, zero-padded
        ybar = np.empty(k)
        yv = np.full((k, nv_max), -1, dtype=np.int8)  # validation labels, -1 = padding
        scale = np.ones(q)
        scale[:c] = COVARIATE_SCALE
        for f, (t, v) in enumerate(self.folds):
            zt = self._design_rows(t)
            std = _fit_std(zt)
            _standardise_inplace(zt, std)
            yt = self.y[t]
            ybar[f] = yt.mean()
            gram[f] = zt.T @ zt
            zy[f] = zt.T @ (yt - ybar[f])
            del zt
            zvt[f, :, : v.size] = _standardise_inplace(self._design_rows(v), std).T
            yv[f, : v.size] = self.y[v]
        return {"gram": gram, "zy": zy, "zvt": zvt, "ybar": ybar, "scale": scale, "yv": yv}

    def _design_rows(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """``[C, G]`` of ``rows``, a new C-contiguous ``(rows, c + p)`` array."""
        return np.column_stack([self.C[rows], self.G[rows]])

    def _ridge_fast(self, candidate: Candidate) -> npt.NDArray[np.float64]:
        fast = self._fast if self._fast is not None else self._prepare_fast()
        self._fast = fast
        idx = self._fast_index(candidate)
        k = len(self.folds)
        if idx.size == 0:
            return np.full(k, 0.5)
        beta = self._fast_solve(candidate, idx)  # (k, m)
        scores = np.matmul(beta[:, None, :], fast["zvt"].take(idx, axis=1))[:, 0, :]  # (k, nv_max)
        scores += fast["ybar"][:, None]
        return _batched_auc(scores, fast["yv"])

    def _fast_index(self, candidate: Candidate) -> npt.NDArray[np.intp]:
        c = self.n_covariates
        return np.concatenate([np.arange(c, dtype=np.intp), c + np.asarray(candidate.subset, dtype=np.intp)])

    def _fast_solve(self, candidate: Candidate, idx: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """Ridge coefficients per fold, ``(k, m)``: Cholesky (LAPACK dposv), least squares if not definite."""
        from scipy.linalg import lapack

        assert self._fast is not None
        fast = self._fast
        alpha = self._params(candidate)["alpha"]
        a = fast["gram"].take(idx, axis=1).take(idx, axis=2)  # fresh copy, (k, m, m)
        diag = np.arange(idx.size)
        a[:, diag, diag] += alpha / fast["scale"][idx] ** 2
        rhs = fast["zy"].take(idx, axis=1)
        beta = np.empty_like(rhs)
        for f in range(a.shape[0]):
            _, x, info = lapack.dposv(a[f], rhs[f], lower=1, overwrite_a=1, overwrite_b=0)
            if info != 0:  # singular (alpha 0 with collinear columns): minimum-norm solution
                full = fast["gram"][f].take(idx, axis=0).take(idx, axis=1)
                full[diag, diag] += alpha / fast["scale"][idx] ** 2
                x = np.linalg.lstsq(full, rhs[f], rcond=None)[0]
            beta[f] = x
        return beta

    def ridge_coefficients(self, candidate: Candidate) -> npt.NDArray[np.float64]:
        """Fast-path coefficients per fold, shape ``(k, c + |S|)``.

        Covariates first, per training-fold SD of the covariate; then the
        subset's variants, per training-fold SD of the A1 count. The
        scikit-learn ``Ridge`` of :meth:`fitted_models` has the same variant
        coefficients and the covariate ones divided by :data:`COVARIATE_SCALE`.
        """
        if self._fast is None:
            self._fast = self._prepare_fast()
        return self._fast_solve(candidate, self._fast_index(candidate))


def _batched_auc(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
    """Rank AUC of each row of ``scores`` (``(k, m)``); ``labels`` 1/0, -1 = padding (ignored).

    Ties get mid-ranks (count one half), as :func:`auc`.
    """
    k, m = scores.shape
    s = np.where(labels < 0, np.inf, scores)  # padding sorts last and does not move real ranks
    order = np.argsort(s, axis=1)
    sv = np.take_along_axis(s, order, axis=1)
    n1 = (labels == 1).sum(axis=1)
    n0 = (labels == 0).sum(axis=1)
    same = sv[:, 1:] == sv[:, :-1]
    if not (same & np.isfinite(sv[:, 1:])).any():  # no tie among real scores: ranks are positions
        pos_sorted = np.take_along_axis(labels, order, axis=1) == 1
        rank_sum = (pos_sorted * np.arange(1, m + 1)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray((rank_sum - n1 * (n1 + 1) / 2.0) / (n1 * n0), dtype=np.float64)
    new = np.ones((k, m), dtype=bool)
    new[:, 1:] = ~same
    new = new.ravel()
    lab = np.take_along_axis(labels, order, axis=1).ravel()
    gid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], k * m) - 1
    mid = ((starts % m) + (ends % m)) / 2.0 + 1.0  # 1-based mid-rank within the row
    pos = (lab == 1).reshape(k, m)
    rank_sum = np.where(pos, mid[gid].reshape(k, m), 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((rank_sum - n1 * (n1 + 1) / 2.0) / (n1 * n0), dtype=np.float64)

"""A scikit-learn feature selector that runs genopt's honest search on in-memory arrays.

:class:`GeneticSelector` is for notebooks: it takes a genotype matrix (A1
allele counts, NaN = missing) and a 0/1 outcome, and runs the same steps as
:func:`genopt.search.run.run_search` does on a cohort, minus the PCA and the
clumped pool (here every non-covariate column is a candidate):

1. the rows are split, stratified by ``y``, into a *search* part and a
   *validation* part (:func:`~genopt.search.run.split_discovery`);
2. missing values are imputed with the column means of the search part;
3. the features are ranked by genopt's logistic score test adjusted for the
   covariates (:func:`~genopt.assoc.logistic.fit_null` +
   :func:`~genopt.assoc.logistic.score_test`) on the search part only; the
   ranking orders the pool, so the GA's top-k seeds hold the best-p features;
4. :class:`~genopt.search.fitness.CVFitness` (stratified k-fold CV inside the
   search part) is searched by the engine of
   :func:`~genopt.search.engine.make_engine`;
5. every Pareto-front candidate (mean CV AUC vs number of features) is
   fitted on the whole search part (:func:`~genopt.search.run.fit_and_score`)
   and scored on the validation part; the chosen one is the smallest whose
   validation AUC is within one DeLong SE
   (:func:`~genopt.search.run.auc_delong_se`) of the best validation AUC.

The validation rows are seen by nothing fitted or chosen before step 5.
The inner CV AUC is mildly optimistic: the ranking of step 3 (which only
orders the pool for the GA's first generation) used the outcomes of all
search rows, including each CV fold's validation rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from genopt.assoc.logistic import fit_null, score_test
from genopt.config import SearchConfig
from genopt.errors import GenoptError
from genopt.search.engine import SearchResult, make_engine
from genopt.search.evaluate import make_evaluator
from genopt.search.fitness import CVFitness, make_folds
from genopt.search.run import auc_delong_se, choose_on_validation, fit_and_score, split_discovery
from genopt.search.space import SearchSpace
from genopt.search.types import Candidate

__all__ = ["GeneticSelector"]

#: Defaults are SearchConfig's (one place for them).
_DEFAULT = SearchConfig()


def _binary_outcome(y: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """``y`` coded 0/1: the larger of its two values is 1 (0/1 stays 0/1; PLINK's 1/2 becomes 0/1).

    Raises ValueError unless ``y`` holds exactly two distinct values.
    """
    values, coded = np.unique(y, return_inverse=True)
    if values.size != 2:
        shown = ", ".join(str(v) for v in values[:5]) + (", ..." if values.size > 5 else "")
        what = "one class only" if values.size == 1 else f"{values.size} classes"
        raise ValueError(
            "GeneticSelector needs a binary outcome y with two classes (e.g. 0/1, 1 = cooperate; the larger "
            f"value is coded 1); got {what}: {shown}"
        )
    return np.asarray(coded, dtype=np.int64).ravel()


def _search_means(x: npt.NDArray[np.float64], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Column means of ``x[rows]`` ignoring NaN (0 for a column missing in every one of them)."""
    part = x[rows]
    called = (~np.isnan(part)).sum(axis=0)
    return np.nansum(part, axis=0) / np.maximum(called, 1)


class GeneticSelector(SelectorMixin, BaseEstimator):
    """Select features (variants) by genopt's genetic-algorithm search, scikit-learn style.

    Parameters
    ----------
    engine
        ``"ga"`` (pygad genetic algorithm), ``"random"`` or ``"grid"``.
    budget
        Fitness evaluations (models fitted over all CV folds; repeats are free).
    population
        GA population (batch size of random and grid search).
    families
        Model families searched (:data:`genopt.search.types.FAMILIES`).
    max_variants
        Largest number of features a candidate can hold.
    size_penalty
        The GA's single objective is mean CV AUC - ``size_penalty`` x features.
    folds
        k of the stratified inner CV inside the search part.
    n_covariates
        The first ``n_covariates`` columns of ``X`` are covariates (sex, age,
        PCs, ...): in every model, never selected, and always kept by
        :meth:`transform`.
    validation_fraction
        Fraction of the rows (stratified) held out to choose among the Pareto front.
    top_k_seeds
        GA: first-generation members holding the best ``k`` features by the
        score-test p (``k`` log-spaced up to ``max_variants``); 0: random start.
    jobs
        Worker processes evaluating candidates (the result does not depend on it).
    random_state
        int for a reproducible fit (it seeds the split, the folds, the
        estimators and the engine), a ``numpy.random.RandomState``, or None.
        Defaults of the other parameters are :class:`genopt.config.SearchConfig`'s.

    Attributes
    ----------
    n_features_in_ : int
        Columns of ``X`` (covariates included).
    feature_names_in_ : ndarray of str
        Column names, when ``X`` was a DataFrame with string column names.
    support_ : ndarray of bool, shape (n_features_in_,)
        Columns kept by :meth:`transform`: every covariate column and the
        chosen features (:meth:`get_support` returns it).
    ranking_ : ndarray of int, shape (n_features_in_ - n_covariates,)
        Non-covariate column offsets (0 = column ``n_covariates`` of ``X``),
        best score-test p on the search part first (NaN p, e.g. constant, last):
        pool column ``j`` of the search is feature ``ranking_[j]``.
    pvalues_ : ndarray of float, shape (n_features_in_ - n_covariates,)
        Score-test p of each non-covariate column (in ``X`` order) on the search part.
    chosen_ : Candidate
        The chosen candidate; its ``subset`` indexes ``ranking_``.
    search_result_ : SearchResult
        The engine's result (every evaluation, history).
    front_ : list of Evaluation
        The Pareto front (smallest subset first).
    front_validation_ : ndarray, shape (len(front_), 2)
        Validation AUC and DeLong SE of each front candidate (fitted on the search part).
    validation_auc_, validation_se_ : float
        AUC of the chosen candidate on the validation part and its DeLong SE.
    inner_cv_auc_, inner_cv_se_ : float
        Mean and SE (SD / sqrt(k)) of its fold AUCs inside the search part
        (mildly optimistic: see the module notes).
    seed_ : int
        The integer seed drawn from ``random_state`` (rerun with it to repeat a fit).
    search_idx_, validation_idx_ : ndarray of int
        Rows of ``X`` in the two parts.

    Notes
    -----
    ``X`` holds A1 allele counts (or any numeric features; covariates first);
    NaN marks missing values (imputed with search-part means while fitting).
    :meth:`transform` only selects columns: NaN passes through unchanged.
    """

    def __init__(
        self,
        engine: str = _DEFAULT.engine,
        budget: int = _DEFAULT.budget,
        population: int = _DEFAULT.population,
        families: Sequence[str] = _DEFAULT.families,
        max_variants: int = _DEFAULT.max_variants,
        size_penalty: float = _DEFAULT.size_penalty,
        folds: int = _DEFAULT.folds,
        n_covariates: int = 0,
        validation_fraction: float = _DEFAULT.validation_fraction,
        top_k_seeds: int = _DEFAULT.top_k_seeds,
        jobs: int = _DEFAULT.jobs,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.engine = engine
        self.budget = budget
        self.population = population
        self.families = families
        self.max_variants = max_variants
        self.size_penalty = size_penalty
        self.folds = folds
        self.n_covariates = n_covariates
        self.validation_fraction = validation_fraction
        self.top_k_seeds = top_k_seeds
        self.jobs = jobs
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        # binary targets only: the one tag scikit-learn has for it (its estimator checks then pass two-class y)
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags

    def _config(self) -> SearchConfig:
        try:
            return SearchConfig(
                engine=self.engine,
                budget=self.budget,
                population=self.population,
                families=tuple(self.families),
                max_variants=self.max_variants,
                size_penalty=self.size_penalty,
                folds=self.folds,
                validation_fraction=self.validation_fraction,
                top_k_seeds=self.top_k_seeds,
                jobs=self.jobs,
            )
        except GenoptError as exc:
            raise ValueError(str(exc)) from exc

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> GeneticSelector:
        """Search for the feature subset (see the module notes for the steps).

        Parameters
        ----------
        X
            ``(n_samples, n_features)``: the first ``n_covariates`` columns are
            covariates, the rest A1 allele counts; NaN = missing.
        y
            ``(n_samples,)`` binary outcome: two distinct values, the larger coded 1
            (0/1 with 1 = cooperate; PLINK's 1 = control / 2 = case works too).

        Returns
        -------
        self
        """
        x, yy = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        yb = _binary_outcome(yy)
        config = self._config()
        c = int(self.n_covariates)
        if not 0 <= c < x.shape[1]:
            raise ValueError(
                f"n_covariates = {self.n_covariates!r} must be in [0, {x.shape[1]}): X has {x.shape[1]} columns "
                "and at least one must be a feature to select"
            )
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        try:
            search_idx, valid_idx = split_discovery(yb, config.validation_fraction, seed)
            y_search, y_valid = yb[search_idx], yb[valid_idx]
            if min(y_valid.sum(), y_valid.size - y_valid.sum()) < 2:
                raise GenoptError(
                    f"the validation part ({valid_idx.size} rows, "
                    f"validation_fraction = {config.validation_fraction:g}) "
                    f"holds {y_valid.sum()} of class 1 and {y_valid.size - y_valid.sum()} of class 0; the DeLong SE "
                    "of its AUC needs at least 2 of each: use more samples or a larger validation_fraction"
                )
            filled = np.where(np.isnan(x), _search_means(x, search_idx), x)
            cov_s, cov_v = filled[search_idx, :c], filled[valid_idx, :c]
            null = fit_null(y_search, cov_s if c else None, where="GeneticSelector covariates (the first columns of X)")
        except GenoptError as exc:
            raise ValueError(str(exc)) from exc
        pvalues = score_test(x[search_idx, c:], null).p
        ranking = np.argsort(pvalues, kind="stable").astype(np.intp)  # NaN last
        g_search = filled[np.ix_(search_idx, c + ranking)]
        g_valid = filled[np.ix_(valid_idx, c + ranking)]

        fitness = CVFitness(g_search, cov_s, y_search, make_folds(y_search, config.folds, seed), seed=seed)
        space = SearchSpace.from_config(int(ranking.size), config)
        initial = space.top_k(config.top_k_seeds) if config.engine == "ga" else []
        engine = make_engine(space, config, order=list(range(ranking.size)))
        evaluator = make_evaluator(fitness, config.jobs)
        try:
            result: SearchResult = engine.run(
                fitness, config.budget, seed, evaluator=evaluator, initial=initial or None
            )
        finally:
            evaluator.close()

        front = result.pareto_front()
        val = np.array(
            [
                auc_delong_se(y_valid, fit_and_score(fitness, e.candidate, g_search, cov_s, y_search, g_valid, cov_v))
                for e in front
            ],
            dtype=np.float64,
        ).reshape(len(front), 2)
        pick = choose_on_validation(front, val)
        chosen = front[pick]

        support = np.zeros(x.shape[1], dtype=bool)
        support[:c] = True
        support[c + ranking[list(chosen.candidate.subset)]] = True
        self.support_ = support
        self.ranking_ = ranking
        self.pvalues_ = pvalues
        self.chosen_: Candidate = chosen.candidate
        self.search_result_ = result
        self.front_ = front
        self.front_validation_ = val
        self.validation_auc_ = float(val[pick, 0])
        self.validation_se_ = float(val[pick, 1])
        self.inner_cv_auc_ = chosen.mean_auc
        self.inner_cv_se_ = chosen.se_auc
        self.seed_ = seed
        self.search_idx_ = search_idx
        self.validation_idx_ = valid_idx
        return self

    def _get_support_mask(self) -> npt.NDArray[np.bool_]:
        check_is_fitted(self)
        return np.asarray(self.support_, dtype=bool)

"""GeneticSelector: finds informative features, honest numbers, scikit-learn compatibility."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import scipy.stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from genopt.config import SearchConfig
from genopt.selector import GeneticSelector

INFORMATIVE = (3, 11, 25)


def simulate(
    n: int = 300, p: int = 40, seed: int = 0, n_cov: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``n`` x (``n_cov`` covariates + ``p`` A1 counts, MAF 0.3); y depends on features INFORMATIVE (offsets)."""
    rng = np.random.default_rng(seed)
    g = rng.binomial(2, 0.3, size=(n, p)).astype(np.float64)
    cov = rng.normal(size=(n, n_cov))
    eta = 1.2 * (g[:, list(INFORMATIVE)] - 0.6).sum(axis=1) + (0.8 * cov[:, 0] if n_cov else 0.0)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    return np.hstack([cov, g]), y


def small(**kw: object) -> GeneticSelector:
    """A fast selector (budget 60) for 300 x 40 data."""
    params: dict[str, object] = dict(
        budget=60, population=12, families=("ridge", "logistic_l2"), max_variants=10, random_state=0
    )
    params.update(kw)
    return GeneticSelector(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted() -> tuple[GeneticSelector, npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    x, y = simulate(n=600)  # at n = 300 a 60-row validation part let the one-SE rule keep 1 feature in 7 of 24 fits
    return small().fit(x, y), x, y


def test_finds_informative_features(
    fitted: tuple[GeneticSelector, npt.NDArray[np.float64], npt.NDArray[np.int64]],
) -> None:
    sel, x, _ = fitted
    chosen = set(np.flatnonzero(sel.get_support()).tolist())
    assert len(chosen & set(INFORMATIVE)) >= 2
    assert len(chosen - set(INFORMATIVE)) <= 2
    assert sel.transform(x).shape == (x.shape[0], len(chosen))
    assert sel.support_.shape == (40,) and sel.n_features_in_ == 40 and sel.n_features_in_ == x.shape[1]
    # chosen_ indexes ranking_, the features ordered by search-part p
    assert sorted(sel.ranking_[list(sel.chosen_.subset)].tolist()) == sorted(chosen)
    assert sel.chosen_.n_variants <= 10
    assert sel.search_result_.n_evaluations <= 60


def test_ranking_is_the_score_test_on_the_search_part_only(
    fitted: tuple[GeneticSelector, npt.NDArray[np.float64], npt.NDArray[np.int64]],
) -> None:
    sel, x, y = fitted
    s, v = sel.search_idx_, sel.validation_idx_
    assert np.intersect1d(s, v).size == 0 and s.size + v.size == x.shape[0]
    assert v.size == 120  # 0.2 of 600
    # with no covariates the logistic score test is the trend test: chi2 = n r^2 (r: Pearson, g vs y)
    r = np.array([np.corrcoef(x[s, j], y[s])[0, 1] for j in range(x.shape[1])])
    np.testing.assert_allclose(sel.pvalues_, scipy.stats.chi2.sf(s.size * r**2, df=1), rtol=1e-8)
    assert set(sel.ranking_[:3].tolist()) == set(INFORMATIVE)


def test_validation_auc_matches_sklearn_refit(
    fitted: tuple[GeneticSelector, npt.NDArray[np.float64], npt.NDArray[np.int64]],
) -> None:
    """The chosen candidate refitted with scikit-learn on the search rows scores the validation rows alike."""
    sel, x, y = fitted
    s, v = sel.search_idx_, sel.validation_idx_
    cols = np.flatnonzero(sel.support_)
    cand = sel.chosen_
    model = (
        Ridge(alpha=cand.param("alpha"))
        if cand.family == "ridge"
        else LogisticRegression(C=cand.param("C"), max_iter=10_000, tol=1e-10)
    )
    pipe = make_pipeline(StandardScaler(), model).fit(x[np.ix_(s, cols)], y[s])
    xv = x[np.ix_(v, cols)]
    score = pipe.predict(xv) if cand.family == "ridge" else pipe.decision_function(xv)
    assert sel.validation_auc_ == pytest.approx(roc_auc_score(y[v], score), abs=1e-6)
    assert 0.6 < sel.validation_auc_ <= 1.0 and sel.validation_se_ > 0
    # the chosen candidate is the smallest front point within one SE of the best validation AUC
    val = sel.front_validation_
    best = int(np.argmax(val[:, 0]))
    eligible = [
        e.candidate.n_variants for e, a in zip(sel.front_, val[:, 0], strict=True) if a >= val[best, 0] - val[best, 1]
    ]
    assert cand.n_variants == min(eligible)
    (ev,) = [e for e in sel.search_result_.evaluations if e.candidate == cand]
    assert sel.inner_cv_auc_ == pytest.approx(float(np.mean(ev.fold_aucs)))
    assert sel.inner_cv_se_ == pytest.approx(float(np.std(ev.fold_aucs, ddof=1) / np.sqrt(5)))


def test_int_random_state_is_deterministic() -> None:
    x, y = simulate(seed=1)
    a, b = small(random_state=7).fit(x, y), small(random_state=7).fit(x, y)
    assert a.chosen_ == b.chosen_ and a.seed_ == b.seed_
    np.testing.assert_array_equal(a.support_, b.support_)
    assert a.validation_auc_ == b.validation_auc_
    assert [e.candidate for e in a.search_result_.evaluations] == [e.candidate for e in b.search_result_.evaluations]
    c = small(random_state=8).fit(x, y)
    assert not np.array_equal(c.validation_idx_, a.validation_idx_)


@pytest.mark.parametrize("engine", ["random", "grid"])
def test_other_engines(engine: str) -> None:
    x, y = simulate(n=600, seed=6)
    sel = small(engine=engine, budget=40).fit(x, y)
    assert sel.search_result_.engine == engine and sel.search_result_.n_evaluations == 40
    assert len(set(np.flatnonzero(sel.support_).tolist()) & set(INFORMATIVE)) >= 2


def test_same_result_with_two_workers() -> None:
    x, y = simulate(seed=7)
    a, b = small(budget=30).fit(x, y), small(budget=30, jobs=2).fit(x, y)
    assert a.chosen_ == b.chosen_ and a.validation_auc_ == b.validation_auc_
    np.testing.assert_array_equal(
        [e.fold_aucs for e in a.search_result_.evaluations], [e.fold_aucs for e in b.search_result_.evaluations]
    )


def test_covariates_always_kept_and_never_selected() -> None:
    x, y = simulate(n=600, n_cov=2, seed=2)
    names = ["sex", "age"] + [f"rs{j}" for j in range(40)]
    frame = pd.DataFrame(x, columns=names)
    sel = small(n_covariates=2).fit(frame, y)
    support = sel.get_support()
    assert support.shape == (42,) and support[:2].all()
    assert sel.pvalues_.shape == (40,) and sel.ranking_.shape == (40,)
    out = sel.get_feature_names_out()
    assert list(out[:2]) == ["sex", "age"]
    assert len({f"rs{j}" for j in INFORMATIVE} & set(out)) >= 2
    xt = sel.transform(frame)
    np.testing.assert_array_equal(np.asarray(xt)[:, :2], x[:, :2])
    back = sel.inverse_transform(np.asarray(xt))
    np.testing.assert_array_equal(back[:, support], x[:, support])
    assert (back[:, ~support] == 0).all()


def test_missing_values_are_imputed_for_fitting_and_passed_through() -> None:
    x, y = simulate(n=600, seed=3)
    rng = np.random.default_rng(3)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[:, 39] = np.nan  # a column missing everywhere: constant after imputation, p NaN, ranked last
    sel = small().fit(x, y)
    assert np.isnan(sel.pvalues_[39]) and sel.ranking_[-1] == 39 and not sel.support_[39]
    assert len(set(np.flatnonzero(sel.support_).tolist()) & set(INFORMATIVE)) >= 2
    xt = sel.transform(x)
    np.testing.assert_array_equal(np.isnan(xt), np.isnan(x[:, sel.support_]))


def test_pipeline_cross_val_score() -> None:
    x, y = simulate(seed=4)
    pipe = Pipeline([("select", small(budget=30)), ("clf", LogisticRegression())])
    scores = cross_val_score(pipe, x, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    assert scores.mean() > 0.65


def test_clone_and_params_round_trip() -> None:
    sel = small(budget=33, n_covariates=1)
    params = sel.get_params()
    defaults = SearchConfig()
    assert params["budget"] == 33 and params["n_covariates"] == 1
    assert set(params) == {
        "engine", "budget", "population", "families", "max_variants", "size_penalty", "folds",
        "n_covariates", "validation_fraction", "top_k_seeds", "jobs", "random_state",
    }  # fmt: skip
    default = GeneticSelector().get_params()
    assert default["budget"] == defaults.budget and default["families"] == defaults.families
    assert default["validation_fraction"] == defaults.validation_fraction and default["random_state"] is None
    twin = clone(sel)
    assert twin.get_params() == params and not hasattr(twin, "support_")
    assert twin.set_params(budget=10, engine="random") is twin
    assert twin.get_params()["budget"] == 10 and twin.engine == "random"
    assert sel.budget == 33


@pytest.mark.parametrize(
    ("y_change", "match"),
    [(lambda y: y * 0, "one class only"), (lambda y: np.arange(y.size) % 3, "3 classes: 0, 1, 2")],
)
def test_bad_outcome_is_a_clear_value_error(y_change: object, match: str) -> None:
    x, y = simulate(n=60)
    with pytest.raises(ValueError, match=match):
        small().fit(x, y_change(y))  # type: ignore[operator]


def test_plink_coded_outcome_is_binary() -> None:
    x, y = simulate(seed=5)
    a, b = small().fit(x, y), small().fit(x, y + 1)  # 1 = control, 2 = case
    np.testing.assert_array_equal(a.support_, b.support_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_covariates": 40}, "n_covariates"),
        ({"budget": 0}, "budget"),
        ({"families": ("svm",)}, "unknown model family"),
        ({"validation_fraction": 0.02}, "validation part"),
    ],
)
def test_bad_parameters_are_value_errors(params: dict[str, object], match: str) -> None:
    x, y = simulate(n=100)
    with pytest.raises(ValueError, match=match):
        small(**params).fit(x, y)


def _expected_failed(estimator: GeneticSelector) -> dict[str, str]:
    return {
        "check_fit2d_1feature": "10 samples are too few for a stratified validation part with 2 of each class",
    }


@parametrize_with_checks(
    [
        GeneticSelector(
            budget=12,
            population=6,
            families=("ridge",),
            max_variants=3,
            folds=2,
            top_k_seeds=2,
            validation_fraction=0.5,
            random_state=0,
        )
    ],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_estimator_checks(estimator: GeneticSelector, check: object) -> None:
    check(estimator)  # type: ignore[operator]

"""CV fitness of search candidates: ridge fast path vs scikit-learn, folds, leakage, cache."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import roc_auc_score

from genopt.search.fitness import (
    COVARIATE_SCALE,
    CVFitness,
    _batched_auc,
    auc,
    make_folds,
)
from genopt.search.types import FAMILIES, Candidate

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def pool() -> dict[str, np.ndarray]:
    """The bundled discovery cohort: 500 best-screened variants (mean-imputed), sex and age."""
    from genopt.assoc.scan import scan
    from genopt.cohort import Cohort

    co = Cohort.from_files(DATA / "discovery", DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv")
    res = scan(co)
    top = np.argsort(res.screen_p, kind="stable")[:500]
    g = co.genotypes(np.sort(top)).astype(np.float64)
    g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    rank = np.argsort(np.argsort(res.screen_p[np.sort(top)], kind="stable"))  # 0 = best p, per pool column
    return {"G": g, "C": co.covariates.to_numpy(np.float64), "y": co.y.astype(np.int64), "rank": rank}


@pytest.fixture(scope="module")
def fitness(pool: dict[str, np.ndarray]) -> CVFitness:
    return CVFitness(pool["G"], pool["C"], pool["y"], make_folds(pool["y"], k=5, seed=7), seed=7)


def ridge(subset: list[int] | np.ndarray, alpha: float) -> Candidate:
    return Candidate(tuple(sorted(int(i) for i in subset)), "ridge", (("alpha", alpha),))


def test_rank_auc_equals_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.integers(0, 2, 300)
        s = rng.integers(0, 8, 300).astype(float)  # many ties
        assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # batched, rows of different lengths (-1 = padding)
    yb = rng.integers(0, 2, (4, 250)).astype(np.int8)
    sb = np.round(rng.normal(size=(4, 250)), 1)
    yb[1, 200:] = -1
    yb[3, 10:] = -1
    got = _batched_auc(sb, yb)
    want = [roc_auc_score(yb[i][yb[i] >= 0], sb[i][yb[i] >= 0]) for i in range(4)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    sc = rng.normal(size=(4, 250))  # no ties (the other branch)
    want = [roc_auc_score(yb[i][yb[i] >= 0], sc[i][yb[i] >= 0]) for i in range(4)]
    np.testing.assert_allclose(_batched_auc(sc, yb), want, atol=1e-12)
    assert np.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))


def test_folds_stratified_disjoint_cover_and_seeded() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(1003) < 0.3).astype(int)
    folds = make_folds(y, k=5, seed=11)
    assert len(folds) == 5
    valid = np.concatenate([v for _, v in folds])
    assert np.array_equal(np.sort(valid), np.arange(y.size))  # disjoint and covering
    for t, v in folds:
        assert np.intersect1d(t, v).size == 0 and t.size + v.size == y.size
        assert abs(y[v].sum() - y.sum() / 5) <= 1  # stratified
        assert abs((1 - y[v]).sum() - (1 - y).sum() / 5) <= 1
    again = make_folds(y.copy(), k=5, seed=11)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = make_folds(y, k=5, seed=12)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_ridge_fast_path_equals_sklearn_on_real_data(fitness: CVFitness) -> None:
    rng = np.random.default_rng(5)
    worst = 0.0
    for size in (0, 1, 7, 40, 100):
        subset = rng.choice(fitness.n_pool, size, replace=False)
        for alpha in (1e-2, 1.0, 1e2, 1e4):
            cand = ridge(subset, alpha)
            fast = fitness.evaluate(cand).fold_aucs
            slow = fitness.evaluate_sklearn(cand).fold_aucs
            worst = max(worst, float(np.abs(fast - slow).max()))
            assert np.all((fast > 0.45) & (fast < 0.9))
    assert worst < 1e-6, worst
    # coefficients too: scikit-learn's Ridge on the scaled covariates vs the fast solve
    cand = ridge(rng.choice(fitness.n_pool, 25, replace=False), 3.0)
    fast_coef = fitness.ridge_coefficients(cand)
    c = fitness.n_covariates
    for f, model in enumerate(fitness.fitted_models(cand)):
        assert isinstance(model, Ridge)
        np.testing.assert_allclose(model.coef_[c:], fast_coef[f, c:], rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(model.coef_[:c] * COVARIATE_SCALE, fast_coef[f, :c], rtol=1e-6, atol=1e-10)


def test_fast_equals_sklearn_without_covariates_and_with_constant_columns(pool: dict[str, np.ndarray]) -> None:
    g = pool["G"][:, :60].copy()
    folds = make_folds(pool["y"], k=3, seed=2)
    g[folds[0][0], 5] = 1.0  # constant in fold 0's training rows (SD 1 there, as StandardScaler)
    for cov in (None, pool["C"]):
        fit = CVFitness(g, cov, pool["y"], folds)
        for subset, alpha in (([5], 1.0), ([0, 5, 9, 33, 59], 10.0), (list(range(60)), 100.0)):
            cand = ridge(subset, alpha)
            np.testing.assert_allclose(fit.evaluate(cand).fold_aucs, fit.evaluate_sklearn(cand).fold_aucs, atol=1e-6)


def test_penalty_shrinks_variants_not_covariates(fitness: CVFitness) -> None:
    subset = list(range(0, 500, 50))
    weak = fitness.ridge_coefficients(ridge(subset, 1e-3))
    strong = fitness.ridge_coefficients(ridge(subset, 1e6))
    c = fitness.n_covariates
    assert np.abs(strong[:, c:]).max() < 0.01 * np.abs(weak[:, c:]).max()  # variants shrunk to ~0
    # covariate penalty alpha * 1e-6 = 1 against ~3,200 training rows: shrunk by < 0.1 %
    alone = fitness.ridge_coefficients(ridge([], 1e6))
    ols = fitness.ridge_coefficients(ridge([], 1e-9))
    np.testing.assert_allclose(alone, ols, rtol=1e-3)
    assert np.all(np.abs(alone) < np.abs(ols))
    np.testing.assert_allclose(strong[:, :c], ols, rtol=2e-3)  # variants ~0 leave the covariates' OLS fit


def test_validation_rows_do_not_reach_training(pool: dict[str, np.ndarray]) -> None:
    y = pool["y"]
    folds = make_folds(y, k=5, seed=7)
    base = CVFitness(pool["G"], pool["C"], y, folds)
    _, v0 = folds[0]
    y2 = y.copy()
    y2[v0] = 1 - y2[v0]  # flip the labels of fold 0's validation rows
    g2 = pool["G"].copy()
    g2[v0] = 2.0 - g2[v0]  # and their genotypes
    c2 = pool["C"].copy()
    c2[v0, 1] += 50.0  # and their ages
    moved = CVFitness(g2, c2, y2, folds)
    cand = ridge([3, 17, 120, 400], 2.0)
    np.testing.assert_array_equal(base.ridge_coefficients(cand)[0], moved.ridge_coefficients(cand)[0])
    assert not np.allclose(base.ridge_coefficients(cand)[1], moved.ridge_coefficients(cand)[1])  # used there
    for fam, params in (("ridge", (("alpha", 2.0),)), ("logistic_l2", (("C", 0.5),))):
        c = Candidate(cand.subset, fam, params)
        a, b = base.fitted_models(c)[0], moved.fitted_models(c)[0]
        np.testing.assert_array_equal(a.coef_, b.coef_)
    # the flipped labels do change what fold 0 measures
    e0, e1 = base.evaluate(cand).fold_aucs[0], moved.evaluate(cand).fold_aucs[0]
    assert abs(e0 - e1) > 0.01


def test_cache_counts_hits(fitness: CVFitness) -> None:
    n_eval, n_hit = fitness.evaluations, fitness.cache_hits
    first = fitness.evaluate(ridge([5, 9, 11], 0.5))
    again = fitness.evaluate(Candidate((5, 9, 11), "ridge", (("alpha", 0.5),)))
    other = fitness.evaluate(ridge([5, 9, 11], 0.25))
    assert not first.cached and again.cached and not other.cached
    np.testing.assert_array_equal(first.fold_aucs, again.fold_aucs)
    assert (fitness.evaluations - n_eval, fitness.cache_hits - n_hit) == (2, 1)
    again.fold_aucs[:] = 0  # callers cannot corrupt the cache
    assert fitness.evaluate(ridge([5, 9, 11], 0.5)).mean_auc == first.mean_auc


def test_every_family_runs(fitness: CVFitness, pool: dict[str, np.ndarray]) -> None:
    best = np.flatnonzero(pool["rank"] < 15)  # 15 best-screened pool columns
    params = {
        "ridge": (("alpha", 10.0),),
        "logistic_l2": (("C", 0.1),),
        "logistic_l1": (("C", 0.1),),
        "logistic_enet": (("C", 0.1), ("l1_ratio", 0.5)),
        "gbm": (("learning_rate", 0.1), ("max_depth", 2.0), ("max_iter", 30.0)),
    }
    covariates_only = fitness.evaluate(ridge([], 1.0)).mean_auc
    for fam in FAMILIES:
        e = fitness.evaluate(Candidate(tuple(best.tolist()), fam, params[fam]))
        assert e.fold_aucs.shape == (5,)
        assert np.all((e.fold_aucs >= 0) & (e.fold_aucs <= 1))
        assert e.mean_auc > covariates_only + 0.02, (fam, e.mean_auc, covariates_only)  # the variants help
        assert e.se_auc > 0


def test_covariates_only_baseline(fitness: CVFitness, pool: dict[str, np.ndarray]) -> None:
    e = fitness.evaluate(ridge([], 1.0))
    want = []
    for t, v in fitness.folds:
        model = Ridge(alpha=1e-9).fit(pool["C"][t], pool["y"][t])
        want.append(roc_auc_score(pool["y"][v], model.predict(pool["C"][v])))
    np.testing.assert_allclose(e.fold_aucs, want, atol=1e-9)
    empty = CVFitness(pool["G"][:, :3], None, pool["y"], fitness.folds)
    assert empty.evaluate(ridge([], 1.0)).mean_auc == 0.5  # nothing at all: constant score


def test_bad_candidates_refused(fitness: CVFitness) -> None:
    with pytest.raises(ValueError, match="sorted and unique"):
        Candidate((4, 2), "ridge")
    with pytest.raises(ValueError, match="sorted and unique"):
        Candidate((2, 2), "ridge")
    with pytest.raises(ValueError, match="unknown model family"):
        Candidate((2,), "svm")
    with pytest.raises(ValueError, match="subset indices"):
        fitness.evaluate(ridge([1, 500], 1.0))
    with pytest.raises(ValueError, match="no hyperparameter"):
        fitness.evaluate(Candidate((1,), "ridge", (("C", 1.0),)))
    with pytest.raises(ValueError, match="NaN"):
        CVFitness(np.full((4, 2), np.nan), None, [0, 1, 0, 1], [])


def test_ridge_preparation_memory_is_one_fold_not_copies_of_the_pool() -> None:
    """The fast path's per-fold cross-products hold its result plus about two folds' training rows, no more.

    (Before, a standardised copy of the whole ``[C, G]`` and two temporaries of a fold's rows were alive at once:
    711 MB for 20,000 x 1,000, where this bound is 480 MB.)
    """
    rng = np.random.default_rng(5)
    n, p = 6000, 400
    g = rng.binomial(2, rng.uniform(0.05, 0.5, p), size=(n, p)).astype(np.float64)
    cov = rng.normal(size=(n, 2))
    y = (rng.random(n) < 0.5).astype(np.int64)
    fit = CVFitness(g, cov, y, make_folds(y, 5, 0))
    tracemalloc.start()
    fast = fit._prepare_fast()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result = sum(a.nbytes for a in fast.values())
    fold_rows = max(t.size for t, _ in fit.folds) * (p + 2) * 8
    assert peak < result + 2.2 * fold_rows

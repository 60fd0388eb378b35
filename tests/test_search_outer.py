"""Outer CV of the whole procedure: outer-test rows never enter split, PCA, pool, search, choice or refit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from sklearn.metrics import roc_auc_score

from genopt.cohort import Cohort
from genopt.config import AssocConfig, ClumpConfig, PCAConfig, PoolConfig, SearchConfig
from genopt.errors import GenoptError
from genopt.io.plink import open_plink, write_plink
from genopt.search.final import fit_final
from genopt.search.fitness import make_folds
from genopt.search.outer import OUTER_COLUMNS, OuterCVResult, outer_cv, outer_fold
from genopt.search.run import INNER_CV_LABEL_PER_FOLD

DATA = REPO / "data"
POOL = PoolConfig(
    max_size=30, assoc=AssocConfig(n_pcs=0, exact_top=30), clump=ClumpConfig(p1=1e-2, p2=5e-2, r2=0.1, kb=250)
)
SEARCH = SearchConfig(budget=40, population=10, parents_mating=4, families=("ridge",), max_variants=15, folds=3)
PCA = PCAConfig(n_pcs=2)
K, SEED = 3, 2


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """1500 discovery people x 2500 random variants + the 30 causal ones (fixed draw)."""
    fs = open_plink(DATA / "discovery")
    ids = fs.variants["id"].astype(str).to_numpy()
    truth = pd.read_csv(DATA / "truth.tsv", sep="\t")
    rng = np.random.default_rng(1)
    keep = np.zeros(ids.size, dtype=bool)
    keep[rng.choice(ids.size, 2500, replace=False)] = True
    keep |= np.isin(ids, truth["rsid"])
    samples = np.sort(rng.choice(fs.n_samples, 1500, replace=False))
    prefix = Path(tmp_path_factory.mktemp("outer")) / "small"
    g = fs.read(variants=np.flatnonzero(keep), samples=samples)
    write_plink(prefix, g, fs.variants[keep].reset_index(drop=True), fs.samples.iloc[samples].reset_index(drop=True))
    return Cohort.from_files(
        prefix, pheno=DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv", allow_ungenotyped=True
    )


@pytest.fixture(scope="module")
def result(small: Cohort) -> OuterCVResult:
    return outer_cv(small, SEARCH, POOL, PCA, seed=SEED, k=K)


def test_folds_partition_discovery_and_test_rows_stay_out(result: OuterCVResult, small: Cohort) -> None:
    assert len(result.folds) == K
    tests = np.concatenate([f.test_idx for f in result.folds])
    assert np.array_equal(np.sort(tests), np.arange(small.n))  # each row is an outer-test row exactly once
    iids = small.samples["iid"].astype(str).to_numpy()
    for f in result.folds:
        assert np.intersect1d(f.train_idx, f.test_idx).size == 0
        assert f.train_idx.size + f.test_idx.size == small.n
        o = f.outcome
        # the search's parts index the outer-training rows only
        assert o.search_idx.size + o.validation_idx.size == f.train_idx.size
        assert o.pool.record["n_train"] == o.search_idx.size
        # the PCA saw outer-training (search-part) people only
        assert o.pca_model is not None
        fitted = set(o.pca_model.sample_iid.tolist())
        assert fitted == set(iids[f.train_idx[o.search_idx]])
        assert not fitted & set(iids[f.test_idx])
        assert f.test_scores.shape == f.test_idx.shape
        assert np.array_equal(f.test_y, small.y[f.test_idx])


def test_outer_auc_matches_sklearn_and_summary_is_labelled(result: OuterCVResult) -> None:
    for f in result.folds:
        assert f.outer_auc == pytest.approx(roc_auc_score(f.test_y, f.test_scores), abs=1e-12)
        assert 0 < f.outer_se < 0.1
    table = result.table()
    assert list(table.columns) == list(OUTER_COLUMNS) and len(table) == K
    np.testing.assert_allclose(table["outer_auc"], [f.outer_auc for f in result.folds])
    assert result.mean_outer_auc == pytest.approx(table["outer_auc"].mean())
    assert result.mean_inner_cv_auc == pytest.approx(table["inner_cv_auc"].mean())
    assert result.optimism == pytest.approx(table["inner_cv_auc"].mean() - table["outer_auc"].mean())
    assert (table["n_variants"] == table["variant_ids"].str.split(";").map(len)).all()
    summary = result.summary()
    assert all(set(v) == {"value", "how"} for v in summary.values())
    assert summary["optimism"]["how"].startswith("optimism = mean inner CV AUC - mean outer AUC")
    assert INNER_CV_LABEL_PER_FOLD in summary["mean_inner_cv_auc"]["how"]  # SearchConfig's default pool per fold
    print(table[["fold", "outer_auc", "outer_se", "inner_cv_auc", "validation_auc", "n_variants"]])
    print(f"mean outer AUC {result.mean_outer_auc:.4f}, optimism {result.optimism:+.4f}")
    assert result.mean_outer_auc > 0.6  # the bundled outcome is predictable from the causal variants


def test_refit_equals_the_final_model_on_outer_training_rows(result: OuterCVResult, small: Cohort) -> None:
    """fit_final on the outer-training cohort, applied to the outer-test rows, gives the same scores' ranking."""
    f = result.folds[0]
    o = f.outcome
    assert o.pcs_search is not None and o.pcs_validation is not None and o.columns is not None
    assert o.pca_model is not None
    keep = np.zeros(small.n, dtype=bool)
    keep[f.train_idx] = True
    pcs = np.empty((f.train_idx.size, o.pcs_search.shape[1]))
    pcs[o.search_idx], pcs[o.validation_idx] = o.pcs_search, o.pcs_validation
    model = fit_final(small.subset(keep, "test rows"), o.columns, f.candidate, covariates=pcs, seed=f.seed)
    g = small.fileset.read(variants=model.bim_index, samples=small.sample_idx[f.test_idx])
    pcs_test = o.pca_model.transform(small.fileset, samples=small.sample_idx[f.test_idx]).scores
    cov = np.column_stack([small.covariates.to_numpy()[f.test_idx], pcs_test])
    assert model.intercept is not None and model.covariate_coef is not None
    eta = model.intercept + model.genetic_score(g).score + cov @ model.covariate_coef
    assert np.corrcoef(eta, f.test_scores)[0, 1] > 1 - 1e-9
    assert roc_auc_score(f.test_y, eta) == pytest.approx(f.outer_auc, abs=1e-9)


def test_outer_test_outcomes_do_not_change_the_fold_choice(result: OuterCVResult, small: Cohort) -> None:
    f = result.folds[1]
    y = small.y.copy()
    y[f.test_idx] = 1 - y[f.test_idx]  # every outer-test outcome flipped
    flipped = replace(small, y=y)
    again = outer_fold(flipped, f.train_idx, f.test_idx, SEARCH, POOL, PCA, seed=f.seed, fold=1)
    assert again.candidate == f.candidate
    np.testing.assert_array_equal(again.outcome.pool.variant_idx, f.outcome.pool.variant_idx)
    assert again.outcome.inner_cv_auc == f.outcome.inner_cv_auc
    assert again.outcome.validation_auc == f.outcome.validation_auc
    np.testing.assert_array_equal(again.test_scores, f.test_scores)
    assert again.outer_auc == pytest.approx(1 - f.outer_auc, abs=1e-12)


def test_same_seed_same_folds_and_bad_k(result: OuterCVResult, small: Cohort) -> None:
    splits = make_folds(small.y, K, SEED)
    for f, (train, test) in zip(result.folds, splits, strict=True):
        np.testing.assert_array_equal(f.train_idx, train)
        np.testing.assert_array_equal(f.test_idx, test)
    assert len({f.seed for f in result.folds}) == K
    with pytest.raises(GenoptError, match="outer_folds"):
        outer_cv(small, SEARCH, POOL, PCA, seed=0, k=1)
    with pytest.raises(GenoptError, match="overlap"):
        outer_fold(small, [0, 1, 2], [2, 3], SEARCH, POOL, PCA, seed=0)

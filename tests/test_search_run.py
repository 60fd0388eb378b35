"""The honest search orchestration: the validation part is never seen before the final pick."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from sklearn.metrics import roc_auc_score

from genopt.cohort import Cohort
from genopt.config import AssocConfig, ClumpConfig, PCAConfig, PoolConfig, SearchConfig
from genopt.errors import GenoptError
from genopt.search.fitness import CVFitness, auc, make_folds
from genopt.search.run import (
    INNER_CV_LABEL,
    INNER_CV_LABEL_PER_FOLD,
    PARETO_COLUMNS,
    FoldPoolFitness,
    auc_delong_se,
    fit_and_score,
    run_search,
    split_discovery,
)
from genopt.search.types import Candidate

DATA = REPO / "data"
POOL = PoolConfig(
    max_size=150, assoc=AssocConfig(n_pcs=0, exact_top=50), clump=ClumpConfig(p1=1e-2, p2=5e-2, r2=0.1, kb=250)
)
SEARCH = SearchConfig(  # one pool for the whole search part: the optimistic-label path (per fold: its own test)
    pool_per_fold=False,
    budget=300,
    population=30,
    parents_mating=12,
    families=("ridge", "logistic_l1"),
    max_variants=30,
    multi_objective=True,
)
PCA = PCAConfig(n_pcs=2)
SEED = 1


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return Cohort.from_files(DATA / "discovery", pheno=DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv")


@pytest.fixture(scope="module")
def outcome(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("search_run")
    return run_search(cohort, SEARCH, POOL, PCA, seed=SEED, folds=3, out_dir=out), out


# ---------------------------------------------------------------------- small pieces


def test_split_is_stratified_disjoint_and_seeded() -> None:
    y = np.array([0] * 70 + [1] * 30)
    s, v = split_discovery(y, 0.2, seed=3)
    assert np.intersect1d(s, v).size == 0
    assert np.array_equal(np.sort(np.concatenate([s, v])), np.arange(100))
    assert v.size == 20 and y[v].sum() == 6
    _, v2 = split_discovery(y, 0.2, seed=3)
    assert np.array_equal(v, v2)
    assert not np.array_equal(v, split_discovery(y, 0.2, seed=4)[1])


def test_delong_se_matches_auc_and_bootstrap() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    score = y * 0.8 + rng.normal(size=400)
    score[:20] = np.round(score[:20])  # some ties
    a, se = auc_delong_se(y, score)
    assert a == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    boot = []
    for _ in range(600):
        i = rng.integers(0, 400, 400)
        boot.append(auc(y[i], score[i]))
    assert se == pytest.approx(np.std(boot), rel=0.15)


@pytest.mark.parametrize("family", ["ridge", "logistic_l2", "logistic_l1", "logistic_enet", "gbm"])
def test_fit_and_score_reproduces_fitness_fold_aucs(family: str) -> None:
    """Fitting on a fold's training rows and scoring its validation rows gives CVFitness's fold AUC."""
    rng = np.random.default_rng(1)
    n, p = 300, 12
    g = rng.integers(0, 3, size=(n, p)).astype(np.float64)
    c = np.column_stack([rng.integers(1, 3, n), rng.normal(40, 10, n)])
    y = (g[:, 0] - g[:, 3] + 0.01 * c[:, 1] + rng.normal(size=n) > 0).astype(int)
    folds = make_folds(y, 3, seed=2)
    fit = CVFitness(g, c, y, folds, seed=0)
    params = {"gbm": (("max_iter", 20.0),), "ridge": (("alpha", 3.0),)}.get(family, (("C", 0.5),))
    cand = Candidate((0, 2, 3, 7), family, params)
    ref = fit.evaluate_sklearn(cand).fold_aucs
    for f, (t, v) in enumerate(folds):
        score = fit_and_score(fit, cand, g[t], c[t], y[t], g[v], c[v])
        assert auc(y[v], score) == pytest.approx(ref[f], abs=1e-9)


# ---------------------------------------------------------------------- the whole run


def test_outcome_is_consistent_and_files_written(outcome, cohort) -> None:
    o, out = outcome
    # the two parts are disjoint, cover discovery and are stratified
    assert np.intersect1d(o.search_idx, o.validation_idx).size == 0
    assert o.search_idx.size + o.validation_idx.size == cohort.n
    assert abs(cohort.y[o.validation_idx].mean() - cohort.y.mean()) < 0.01
    # the pool was built on exactly the search rows
    assert o.pool.record["n_train"] == o.search_idx.size
    assert o.result.n_evaluations <= SEARCH.budget
    # the chosen candidate is on the front and obeys the one-SE rule on validation AUC
    front = o.front
    assert list(front.columns) == list(PARETO_COLUMNS)
    assert front["chosen"].sum() == 1
    row = front[front["chosen"]].iloc[0]
    best = front["validation_auc"].idxmax()
    threshold = front.loc[best, "validation_auc"] - front.loc[best, "validation_se"]
    assert row["validation_auc"] >= threshold
    assert (front.loc[front["n_variants"] < row["n_variants"], "validation_auc"] < threshold).all()
    assert row["n_variants"] == o.chosen.candidate.n_variants
    assert o.optimism == pytest.approx(o.inner_cv_auc - o.validation_auc)
    assert o.validation_auc == pytest.approx(row["validation_auc"])
    ids = cohort.variants["id"].to_numpy()[o.chosen_variant_idx]
    assert row["variant_ids"].split(";") == list(ids)
    # files
    for name in ("history.tsv", "pareto.tsv", "pool.tsv", "search_summary.json"):
        assert (out / name).exists()
    assert not list(out.glob(".*.tmp"))
    pareto = pd.read_csv(out / "pareto.tsv", sep="\t")
    assert len(pareto) == len(front) and pareto["chosen"].sum() == 1
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert history["evaluations"].iloc[-1] == o.result.n_evaluations
    assert len(pd.read_csv(out / "pool.tsv", sep="\t")) == len(o.pool)
    summary = json.loads((out / "search_summary.json").read_text())
    assert summary["validation_auc"]["value"] == pytest.approx(o.validation_auc)
    assert summary["optimism"]["value"] == pytest.approx(o.optimism)
    assert summary["inner_cv_auc"]["how"].startswith(INNER_CV_LABEL)
    assert all(isinstance(v, dict) and "how" in v for v in summary.values())
    assert set(summary["timings_seconds"]["value"]) >= {"pca", "pool", "search", "choose", "total"}


def test_chosen_predicts_and_holds_causal_variants(outcome) -> None:
    o, _ = outcome
    truth = pd.read_csv(DATA / "truth.tsv", sep="\t")
    causal = set(truth.loc[truth["standardised_beta"].abs() > 0.05, "rsid"])
    found = causal & set(o.chosen_variant_ids)
    print(
        f"inner CV AUC {o.inner_cv_auc:.4f}, validation AUC {o.validation_auc:.4f} (SE {o.validation_se:.4f}), "
        f"optimism {o.optimism:+.4f}, {o.chosen.candidate.n_variants} variants "
        f"({o.chosen.candidate.family}), causal {len(found)}/{len(causal)}, timings {o.timings}"
    )
    assert o.validation_auc > 0.5 + 3 * o.validation_se
    assert o.validation_auc > 0.6
    assert len(found) >= 3


def test_same_seed_same_result(outcome, cohort) -> None:
    o, _ = outcome
    again = run_search(cohort, SEARCH, POOL, PCA, seed=SEED, folds=3)
    assert again.chosen.candidate == o.chosen.candidate
    assert np.array_equal(again.validation_idx, o.validation_idx)
    pd.testing.assert_frame_equal(
        again.result.history_table().drop(columns="seconds"), o.result.history_table().drop(columns="seconds")
    )
    assert again.validation_auc == o.validation_auc


def test_validation_outcomes_are_never_seen_before_the_pick(outcome, cohort) -> None:
    """Shuffling y on the validation rows leaves PCs, pool, history and front unchanged; only validation AUCs move."""
    o, _ = outcome
    y = cohort.y.copy()
    rng = np.random.default_rng(7)
    y[o.validation_idx] = rng.permutation(y[o.validation_idx])
    assert (y != cohort.y).any()
    scrambled = replace(cohort, y=y)
    s = run_search(scrambled, SEARCH, POOL, PCA, seed=SEED, folds=3, split=(o.search_idx, o.validation_idx))
    assert o.pcs_search is not None and s.pcs_search is not None
    np.testing.assert_array_equal(s.pcs_search, o.pcs_search)
    np.testing.assert_array_equal(s.pcs_validation, o.pcs_validation)
    np.testing.assert_array_equal(s.pool.variant_idx, o.pool.variant_idx)
    pd.testing.assert_frame_equal(
        s.result.history_table().drop(columns="seconds"), o.result.history_table().drop(columns="seconds")
    )
    assert [e.candidate for e in s.result.evaluations] == [e.candidate for e in o.result.evaluations]
    pd.testing.assert_frame_equal(
        s.front[["n_variants", "mean_auc", "se_auc", "family", "params", "variant_ids"]],
        o.front[["n_variants", "mean_auc", "se_auc", "family", "params", "variant_ids"]],
    )
    assert not np.allclose(s.front["validation_auc"], o.front["validation_auc"])
    # with outcomes unrelated to the genotypes, validation AUC collapses towards 0.5
    assert abs(s.front["validation_auc"].max() - 0.5) < 0.1


def test_validation_genotypes_are_never_seen_before_the_pick(outcome, cohort, tmp_path) -> None:
    """Scrambling the validation rows' genotypes leaves the search-part PCs, pool, history and front unchanged."""
    from genopt.io.plink import write_plink

    o, _ = outcome
    g = cohort.fileset.read()
    rows = cohort.sample_idx[o.validation_idx]
    rng = np.random.default_rng(11)
    g[rows] = rng.permutation(g[rows], axis=0)
    g[rows[:100]] = rng.binomial(2, 0.5, size=(100, g.shape[1]))
    write_plink(tmp_path / "scrambled", g, cohort.variants, cohort.fileset.samples)
    del g
    scrambled = Cohort.from_files(
        tmp_path / "scrambled", pheno=DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv"
    )
    s = run_search(scrambled, SEARCH, POOL, PCA, seed=SEED, folds=3)
    np.testing.assert_array_equal(s.validation_idx, o.validation_idx)
    np.testing.assert_array_equal(s.pcs_search, o.pcs_search)
    np.testing.assert_array_equal(s.pool.variant_idx, o.pool.variant_idx)
    pd.testing.assert_frame_equal(
        s.result.history_table().drop(columns="seconds"), o.result.history_table().drop(columns="seconds")
    )
    cols = ["n_variants", "mean_auc", "se_auc", "family", "params", "variant_ids"]
    pd.testing.assert_frame_equal(s.front[cols], o.front[cols])
    assert not np.allclose(s.pcs_validation, o.pcs_validation)
    assert not np.allclose(s.front["validation_auc"], o.front["validation_auc"])


def test_fold_pool_fitness_uses_only_each_folds_pool() -> None:
    rng = np.random.default_rng(3)
    n, p = 240, 10
    g = rng.integers(0, 3, size=(n, p)).astype(np.float64)
    c = rng.normal(size=(n, 2))
    y = (g[:, 1] + g[:, 4] - g[:, 6] + rng.normal(size=n) > 2).astype(int)
    folds = make_folds(y, 3, seed=0)
    in_pool = rng.random((3, p)) < 0.6
    fit = FoldPoolFitness(g, c, y, folds, in_pool, seed=0)
    ref = CVFitness(g, c, y, folds, seed=0)
    for family, params in (("ridge", (("alpha", 2.0),)), ("logistic_l2", (("C", 0.3),))):
        cand = Candidate((1, 4, 6, 8), family, params)
        got = fit.evaluate(cand)
        assert not got.cached and got.candidate == cand
        for f in range(3):
            sub = tuple(j for j in cand.subset if in_pool[f, j])
            want = ref.evaluate_sklearn(Candidate(sub, family, params)).fold_aucs[f]
            assert got.fold_aucs[f] == pytest.approx(want, abs=1e-6)
        assert fit.evaluate(cand).cached
    assert fit.evaluations == 2 and fit.cache_hits == 2


def test_pool_rebuilt_per_fold(cohort, tmp_path) -> None:
    o = run_search(cohort, SEARCH, POOL, PCA, seed=SEED, folds=3, out_dir=tmp_path, pool_per_fold=True)
    assert len(o.fold_pools) == 3
    folds = make_folds(cohort.y[o.search_idx], 3, SEED)
    union: set[int] = set()
    for pool, (train, _) in zip(o.fold_pools, folds, strict=True):
        assert pool.record["n_train"] == train.size  # each fold's pool saw its training rows only
        union |= set(pool.variant_idx.tolist())
    assert o.columns is not None and set(o.columns.tolist()) == union
    assert set(o.chosen_variant_idx.tolist()) <= union
    table = pd.read_csv(tmp_path / "fold_pools.tsv", sep="\t")
    assert table["variant_index"].tolist() == o.columns.tolist()
    assert table["n_fold_pools"].between(1, 3).all()
    summary = json.loads((tmp_path / "search_summary.json").read_text())
    assert summary["inner_cv_auc"]["how"].startswith(INNER_CV_LABEL_PER_FOLD)
    assert o.validation_auc > 0.6
    print(
        f"per-fold pools: union {o.columns.size}, inner CV AUC {o.inner_cv_auc:.4f}, validation AUC "
        f"{o.validation_auc:.4f}, optimism {o.optimism:+.4f}, {o.chosen.candidate.n_variants} variants, {o.timings}"
    )


def test_warm_start_candidates_map_a_previous_front_onto_this_pool(tmp_path) -> None:
    from genopt.search.run import warm_start_candidates
    from genopt.search.space import SearchSpace

    front = pd.DataFrame(
        {
            "n_variants": [2, 3, 1, 2, 2],
            "family": ["ridge", "logistic_l1", "ridge", "gbm", "ridge"],
            "params": ["alpha=10", "C=0.1", "alpha=1", "learning_rate=0.1;max_depth=2", "alpha=1e9"],
            "variant_ids": ["rs2;rs9", "rs1;rs3;rsX", "rsY", "rs1;rs2", "rs1;rs3"],
        }
    )
    front.to_csv(tmp_path / "pareto.tsv", sep="\t", index=False)
    space = SearchSpace(pool_size=4, families=("ridge", "logistic_l1"), max_variants=5)
    pool_ids = np.array(["rs9", "rs3", "rs2", "rs1"])
    cands, info = warm_start_candidates(tmp_path, pool_ids, space)
    assert cands == [
        Candidate((0, 2), "ridge", (("alpha", 10.0),)),
        Candidate((1, 3), "logistic_l1", (("C", 0.1),)),  # rsX is not in this pool: left out of the candidate
    ]
    # rsY: no variant in the pool; gbm: not searched; alpha 1e9: outside the space's bounds
    assert info == {"run": str(tmp_path / "pareto.tsv"), "read": 5, "kept": 2, "no_variant_in_pool": 1,
                    "outside_space": 2}  # fmt: skip
    with pytest.raises(GenoptError, match=r"no pareto\.tsv"):
        warm_start_candidates(tmp_path / "nowhere", pool_ids, space)

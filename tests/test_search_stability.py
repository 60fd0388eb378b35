"""Selection frequency over repeated honest searches on stratified subsamples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from genopt.cohort import Cohort
from genopt.config import AssocConfig, ClumpConfig, PCAConfig, PoolConfig, SearchConfig
from genopt.errors import GenoptError
from genopt.io.plink import open_plink, write_plink
from genopt.search.stability import (
    RESAMPLE_COLUMNS,
    STABILITY_COLUMNS,
    StabilityResult,
    selection_frequency,
    stratified_subsample,
)

DATA = REPO / "data"
POOL = PoolConfig(
    max_size=30, assoc=AssocConfig(n_pcs=0, exact_top=30), clump=ClumpConfig(p1=1e-2, p2=5e-2, r2=0.1, kb=250)
)
SEARCH = SearchConfig(budget=200, population=10, parents_mating=4, families=("ridge",), max_variants=15, folds=3)
PCA = PCAConfig(n_pcs=0)
B, FRACTION, BUDGET, SEED = 5, 0.7, 40, 1
TRUTH = pd.read_csv(DATA / "truth.tsv", sep="\t")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """2000 discovery people x 3000 random variants + the 30 causal ones (fixed draw)."""
    fs = open_plink(DATA / "discovery")
    ids = fs.variants["id"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    keep = np.zeros(ids.size, dtype=bool)
    keep[rng.choice(ids.size, 3000, replace=False)] = True
    keep |= np.isin(ids, TRUTH["rsid"])
    samples = np.sort(rng.choice(fs.n_samples, 2000, replace=False))
    prefix = Path(tmp_path_factory.mktemp("stability")) / "small"
    g = fs.read(variants=np.flatnonzero(keep), samples=samples)
    write_plink(prefix, g, fs.variants[keep].reset_index(drop=True), fs.samples.iloc[samples].reset_index(drop=True))
    return Cohort.from_files(
        prefix, pheno=DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv", allow_ungenotyped=True
    )


@pytest.fixture(scope="module")
def result(small: Cohort) -> StabilityResult:
    return selection_frequency(small, SEARCH, POOL, PCA, seed=SEED, n_resamples=B, fraction=FRACTION, budget=BUDGET)


def test_stratified_subsample_draws_the_fraction_of_each_class() -> None:
    y = np.array([0] * 70 + [1] * 31)
    rows = stratified_subsample(y, 0.5, np.random.default_rng(0))
    assert np.unique(rows).size == rows.size and np.all(np.diff(rows) > 0)
    assert (y[rows] == 0).sum() == 35 and (y[rows] == 1).sum() == round(0.5 * 31)
    again = stratified_subsample(y, 0.5, np.random.default_rng(0))
    np.testing.assert_array_equal(rows, again)
    with pytest.raises(GenoptError, match="fraction"):
        stratified_subsample(y, 1.0, np.random.default_rng(0))


def test_frequencies_are_counts_over_resamples(result: StabilityResult, small: Cohort) -> None:
    table = result.table
    assert list(table.columns) == list(STABILITY_COLUMNS)
    assert result.n_resamples == B == len(result.resamples) and result.budget == BUDGET
    assert table["selection_frequency"].between(0, 1).all() and table["in_pool_frequency"].between(0, 1).all()
    np.testing.assert_allclose(table["selection_frequency"], table["n_selected"] / B)
    np.testing.assert_allclose(table["in_pool_frequency"], table["n_in_pool"] / B)
    # an independent recount from the per-resample lists
    chosen = Counter(i for r in result.resamples for i in r.chosen_ids)
    pooled = Counter(i for r in result.resamples for i in r.pool_ids)
    assert dict(zip(table["id"], table["n_selected"], strict=True)) == {i: chosen.get(i, 0) for i in pooled}
    assert dict(zip(table["id"], table["n_in_pool"], strict=True)) == dict(pooled)
    assert (table["n_selected"] <= table["n_in_pool"]).all()
    ids = small.variants["id"].astype(str).to_numpy()
    assert (ids[table["variant_index"]] == table["id"]).all()
    # each resample drew FRACTION of each class without replacement, and searched only those rows
    for r in result.resamples:
        assert set(r.chosen_ids) <= set(r.pool_ids)
        assert np.unique(r.rows).size == r.rows.size
        for value in (0, 1):
            assert (small.y[r.rows] == value).sum() == round(FRACTION * (small.y == value).sum())
    assert len({tuple(r.rows) for r in result.resamples}) == B
    # frequencies() gives 0 for variants no pool held
    absent = next(i for i in ids if i not in pooled)
    first = table["id"].iloc[0]
    np.testing.assert_array_equal(result.frequencies([first, absent]), [table["selection_frequency"].iloc[0], 0.0])
    per = result.resample_table()
    assert list(per.columns) == list(RESAMPLE_COLUMNS) and len(per) == B
    assert per["chosen_ids"].str.split(";").map(len).tolist() == per["n_variants"].tolist()
    assert (per["n_evaluations"] <= BUDGET).all() and per["n_evaluations"].max() == BUDGET  # not SEARCH.budget
    assert "Meinshausen" in result.how and f"budget {BUDGET}" in result.how


def test_strong_causal_variant_is_selected_more_often_than_nulls(result: StabilityResult, small: Cohort) -> None:
    """The largest true effect is chosen in most resamples; variants far from every causal one rarely."""
    strongest = TRUTH.loc[TRUTH["standardised_beta"].abs().idxmax(), "rsid"]
    bim = small.variants
    far = np.ones(len(bim), dtype=bool)
    for chrom, pos in zip(TRUTH["chromosome"].astype(str), TRUTH["base_pair_location"], strict=True):
        far &= ~((bim["chrom"].astype(str) == chrom) & ((bim["pos"] - pos).abs() < 2_000_000)).to_numpy()
    null_freq = result.frequencies(bim["id"].astype(str).to_numpy()[far].tolist())
    strong = result.frequencies([strongest])[0]
    print(f"{strongest}: {strong:.2f}; far-null max {null_freq.max():.2f}, mean {null_freq.mean():.4f}")
    assert strong >= 0.6
    assert strong > null_freq.max()


def test_same_seed_same_frequencies(small: Cohort) -> None:
    run = [selection_frequency(small, SEARCH, POOL, PCA, seed=4, n_resamples=2, fraction=0.6, budget=20) for _ in "ab"]
    pd.testing.assert_frame_equal(run[0].table, run[1].table)
    pd.testing.assert_frame_equal(run[0].resample_table(), run[1].resample_table())
    other = selection_frequency(small, SEARCH, POOL, PCA, seed=5, n_resamples=1, fraction=0.6, budget=20)
    assert not np.array_equal(other.resamples[0].rows, run[0].resamples[0].rows)
    assert run[0].budget == 20


def test_bad_number_of_resamples(small: Cohort) -> None:
    with pytest.raises(GenoptError, match="resamples"):
        selection_frequency(small, SEARCH, POOL, PCA, seed=0, n_resamples=0, fraction=0.5)

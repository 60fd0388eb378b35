"""Candidate pool: built from the training fold alone."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from scipy import stats

from genopt.assoc.clump import clump
from genopt.assoc.pool import build_pool
from genopt.cohort import Cohort
from genopt.config import AssocConfig, ClumpConfig, PoolConfig
from genopt.errors import GenoptError
from genopt.io.plink import write_plink

DATA = REPO / "data"
CFG = PoolConfig(
    max_size=150,
    assoc=AssocConfig(n_pcs=0, exact_top=50),
    clump=ClumpConfig(p1=1e-2, p2=5e-2, r2=0.01, kb=2000),
    palindromic_maf_max=None,
)


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return Cohort.from_files(DATA / "discovery", pheno=DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv")


_GENOTYPES: dict[str, np.ndarray] = {}


def _all_genotypes(fileset) -> np.ndarray:
    key = str(fileset.prefix)
    if key not in _GENOTYPES:
        _GENOTYPES[key] = fileset.read()
    return _GENOTYPES[key]


def trend_scan(cohort, config, samples=None, covariates=None):
    """Stand-in scan: Armitage trend test (n r^2 of outcome and A1 count) on the given samples only."""
    idx = np.arange(cohort.n) if samples is None else np.asarray(samples)
    g = _all_genotypes(cohort.fileset)[cohort.sample_idx[idx]].astype(np.float64)
    y = cohort.y[idx].astype(np.float64)
    called = ~np.isnan(g)
    n = called.sum(axis=0)
    gz = np.where(called, g, 0.0)
    mg = gz.sum(axis=0) / n
    yc = np.where(called, y[:, None], 0.0)
    my = yc.sum(axis=0) / n
    cov = (gz * yc).sum(axis=0) / n - mg * my
    vg = (gz * gz).sum(axis=0) / n - mg**2
    vy = (yc * yc).sum(axis=0) / n - my**2
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = n * cov**2 / (vg * vy)
    p = stats.chi2.sf(chi2, 1)
    bim = cohort.variants
    table = pd.DataFrame(
        {
            "chromosome": bim["chrom"].to_numpy(),
            "base_pair_location": bim["pos"].to_numpy(),
            "p_value": p,
            "effect_allele_frequency": mg / 2.0,
            "rsid": bim["id"].to_numpy(),
            "n": n,
            "variant_index": np.arange(len(bim)),
        }
    )
    return SimpleNamespace(table=table, lambda_gc=float(np.nanmedian(chi2) / 0.4549364))


def _fold(n: int, seed: int = 0) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size=n // 2, replace=False))


def test_pool_is_best_clump_index_variants(cohort):
    train = _fold(cohort.n)
    pool = build_pool(cohort, CFG, train, scan_fn=trend_scan)
    assert 0 < len(pool) <= CFG.max_size
    # the pool is the first max_size clump index variants of the fold's own scan and LD
    table = trend_scan(cohort, CFG.assoc, samples=train).table
    direct = clump(table, cohort.fileset, CFG.clump, samples=cohort.sample_idx[train])
    np.testing.assert_array_equal(pool.variant_idx, direct.index_variants[: CFG.max_size])
    p = pool.stats["p_value"].to_numpy()
    assert (np.diff(p) >= 0).all() and (p <= CFG.clump.p1).all()
    np.testing.assert_array_equal(pool.stats["variant_index"].to_numpy(), pool.variant_idx)
    assert pool.rsids == cohort.variants["id"].to_numpy()[pool.variant_idx].tolist()
    assert pool.record["n_train"] == train.size
    assert pool.record["n_train_cases"] == int(cohort.y[train].sum())
    assert pool.record["n_pool"] == len(pool)
    assert pool.record["config"]["clump"]["r2"] == 0.01
    assert len(pool.record["train_sha256"]) == 64


def test_pool_leaves_out_palindromic_snps_whose_strand_cannot_be_told(cohort):
    train = _fold(cohort.n, seed=3)
    pool = build_pool(cohort, replace(CFG, palindromic_maf_max=0.4), train, scan_fn=trend_scan)
    # independent: A/T or C/G with training MAF >= 0.4 (A1 frequency from the training genotypes)
    g = _all_genotypes(cohort.fileset)[cohort.sample_idx[train]].astype(np.float64)
    freq = np.nanmean(g, axis=0) / 2.0
    alleles = {frozenset("AT"), frozenset("CG")}
    bim = cohort.variants
    palin = np.array([frozenset((a, b)) in alleles for a, b in zip(bim["a1"], bim["a2"], strict=True)])
    ambiguous = palin & (np.minimum(freq, 1 - freq) >= 0.4)
    assert ambiguous.sum() > 10  # the bundled data has such SNPs, so the check bites
    assert not ambiguous[pool.variant_idx].any()
    assert pool.record["n_palindromic_dropped"] == int(ambiguous.sum())
    table = trend_scan(cohort, CFG.assoc, samples=train).table
    direct = clump(table[~ambiguous], cohort.fileset, CFG.clump, samples=cohort.sample_idx[train])
    np.testing.assert_array_equal(pool.variant_idx, direct.index_variants[: CFG.max_size])
    # palindromic SNPs the frequency can resolve stay eligible
    kept = build_pool(cohort, CFG, train, scan_fn=trend_scan)
    assert kept.record["n_palindromic_dropped"] == 0


def test_pool_ignores_outcome_outside_the_fold(cohort):
    train = _fold(cohort.n, seed=1)
    base = build_pool(cohort, CFG, train, scan_fn=trend_scan)
    out = np.setdiff1d(np.arange(cohort.n), train)
    y = cohort.y.copy()
    y[out] = np.random.default_rng(5).permutation(y[out])
    y[out[:50]] = 1 - y[out[:50]]  # and not just a permutation
    changed = replace(cohort, y=y)
    other = build_pool(changed, CFG, train, scan_fn=trend_scan)
    np.testing.assert_array_equal(base.variant_idx, other.variant_idx)
    pd.testing.assert_frame_equal(base.stats, other.stats)
    assert base.record == other.record
    # sanity: the outcome inside the fold does matter
    y2 = cohort.y.copy()
    y2[train] = np.random.default_rng(6).permutation(y2[train])
    shuffled = build_pool(replace(cohort, y=y2), CFG, train, scan_fn=trend_scan)
    assert not np.array_equal(base.variant_idx, shuffled.variant_idx)


def test_pool_ignores_genotypes_outside_the_fold(cohort, tmp_path):
    train = _fold(cohort.n, seed=2)
    base = build_pool(cohort, CFG, train, scan_fn=trend_scan)
    # rewrite the fileset with the held-out samples' genotypes scrambled
    g = cohort.fileset.read()
    out_rows = cohort.sample_idx[np.setdiff1d(np.arange(cohort.n), train)]
    rng = np.random.default_rng(9)
    g[out_rows] = rng.permutation(g[out_rows], axis=0)
    g[out_rows[:100]] = rng.binomial(2, 0.5, size=(100, g.shape[1]))
    write_plink(tmp_path / "scrambled", g, cohort.variants, cohort.fileset.samples)
    scrambled = Cohort.from_files(
        tmp_path / "scrambled", pheno=DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv"
    )
    other = build_pool(scrambled, CFG, train, scan_fn=trend_scan)
    np.testing.assert_array_equal(base.variant_idx, other.variant_idx)
    pd.testing.assert_frame_equal(base.stats, other.stats)


def test_real_scan_pool_depends_only_on_the_fold(cohort):
    """The same property with genopt.assoc.scan.scan (logistic score/Wald tests with sex and age)."""
    train = _fold(cohort.n, seed=3)
    cfg = replace(CFG, max_size=40)
    base = build_pool(cohort, cfg, train)
    assert len(base) == 40
    assert set(base.stats["test"]) <= {"score", "wald", "firth"}
    out = np.setdiff1d(np.arange(cohort.n), train)
    y = cohort.y.copy()
    y[out] = 1 - y[out]
    other = build_pool(replace(cohort, y=y), cfg, train)
    np.testing.assert_array_equal(base.variant_idx, other.variant_idx)
    np.testing.assert_allclose(base.stats["p_value"], other.stats["p_value"], rtol=0, atol=0)
    # order of train_idx does not matter
    again = build_pool(cohort, cfg, train[::-1])
    np.testing.assert_array_equal(base.variant_idx, again.variant_idx)


def test_pool_extra_covariates_rows_for_fold_or_cohort(cohort):
    train = _fold(cohort.n, seed=4)
    seen = {}

    def spy(c, config, samples=None, covariates=None):
        seen["cov"] = covariates
        return trend_scan(c, config, samples=samples)

    pcs = np.arange(cohort.n * 2, dtype=float).reshape(cohort.n, 2)
    build_pool(cohort, CFG, train, covariates=pcs, scan_fn=spy)
    np.testing.assert_array_equal(seen["cov"], pcs[train])
    build_pool(cohort, CFG, train, covariates=pcs[train], scan_fn=spy)
    np.testing.assert_array_equal(seen["cov"], pcs[train])
    with pytest.raises(GenoptError, match="covariates have 7 rows"):
        build_pool(cohort, CFG, train, covariates=pcs[:7], scan_fn=spy)


def test_pool_bad_folds(cohort):
    with pytest.raises(GenoptError, match="empty"):
        build_pool(cohort, CFG, np.array([], dtype=int), scan_fn=trend_scan)
    with pytest.raises(GenoptError, match="outside the cohort"):
        build_pool(cohort, CFG, [0, cohort.n], scan_fn=trend_scan)
    with pytest.raises(GenoptError, match="duplicates"):
        build_pool(cohort, CFG, [0, 1, 1], scan_fn=trend_scan)
    one_class = np.flatnonzero(cohort.y == 1)[:100]
    with pytest.raises(GenoptError, match="only outcome 1"):
        build_pool(cohort, CFG, one_class, scan_fn=trend_scan)
    with pytest.raises(GenoptError, match="max_size"):
        build_pool(cohort, replace(CFG, max_size=0), _fold(cohort.n), scan_fn=trend_scan)


def test_fit_pcs_reads_only_training_samples(cohort, monkeypatch):
    """fit_pcs passes only the fold's .fam rows to the PCA, and its scores to the scan."""
    import genopt.structure as structure

    train = _fold(cohort.n, seed=10)
    calls = {}

    def fake_variants(fileset, config, samples=None, variants=None):
        calls["variants_samples"] = np.asarray(samples)
        return np.ones(fileset.n_variants, dtype=bool)

    def fake_fit(fileset, config, samples=None, variants=None, **kw):
        calls["fit_samples"] = np.asarray(samples)
        calls["n_pcs"] = config.n_pcs
        return SimpleNamespace(scores=np.arange(len(samples) * config.n_pcs, dtype=float).reshape(len(samples), -1))

    def spy(c, config, samples=None, covariates=None):
        calls["cov"] = covariates
        return trend_scan(c, config, samples=samples)

    monkeypatch.setattr(structure, "pca_variants", fake_variants)
    monkeypatch.setattr(structure, "fit_pca", fake_fit)
    cfg = replace(CFG, assoc=AssocConfig(n_pcs=4))
    extra = np.ones((cohort.n, 1))
    pool = build_pool(cohort, cfg, train, covariates=extra, fit_pcs=True, scan_fn=spy)
    np.testing.assert_array_equal(calls["variants_samples"], cohort.sample_idx[train])
    np.testing.assert_array_equal(calls["fit_samples"], cohort.sample_idx[train])
    assert calls["n_pcs"] == 4
    assert calls["cov"].shape == (train.size, 5)  # the extra column, then the 4 PCs
    np.testing.assert_array_equal(calls["cov"][:, 0], 1.0)
    assert pool.record["n_pcs_fitted_on_fold"] == 4
    build_pool(cohort, cfg, train, scan_fn=spy)  # fit_pcs off: no PCs
    assert calls["cov"] is None


@pytest.mark.slow
def test_pcs_fitted_on_the_fold_only(cohort, tmp_path):
    """fit_pcs: PCs come from the training samples; held-out outcome and genotypes still do not matter."""
    from genopt.assoc.pool import write_pool

    train = _fold(cohort.n, seed=8)
    cfg = replace(CFG, max_size=30, assoc=AssocConfig(n_pcs=3, exact_top=30))
    base = build_pool(cohort, cfg, train, fit_pcs=True)
    assert base.record["n_pcs_fitted_on_fold"] == 3
    assert base.record["n_covariates_extra"] == 3
    out = np.setdiff1d(np.arange(cohort.n), train)
    g = cohort.fileset.read()
    rows = cohort.sample_idx[out]
    g[rows] = np.random.default_rng(1).permutation(g[rows], axis=0)
    write_plink(tmp_path / "s", g, cohort.variants, cohort.fileset.samples)
    other_cohort = Cohort.from_files(
        tmp_path / "s", pheno=DATA / "discovery.pheno.tsv", covar=DATA / "discovery.covar.tsv"
    )
    y = other_cohort.y.copy()
    y[out] = 1 - y[out]
    other = build_pool(replace(other_cohort, y=y), cfg, train, fit_pcs=True)
    np.testing.assert_array_equal(base.variant_idx, other.variant_idx)
    np.testing.assert_allclose(base.stats["p_value"], other.stats["p_value"], rtol=1e-10)
    write_pool(base, tmp_path / "pool.tsv")
    back = pd.read_csv(tmp_path / "pool.tsv", sep="\t")
    assert back["variant_index"].tolist() == base.variant_idx.tolist()
